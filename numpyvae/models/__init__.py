"""Models: the VAE and its family (``numpyvae.models.vae``) and the shape of its networks (``.architecture``)."""
