"""Models: the VAE and its family (``numpyvae.models.vae``), the shape of its networks (``.architecture``) and its
typed settings (``.config``); the VAE with several stochastic layers (``.hierarchical``) and its Gaussian
conditionals (``.gaussian_mlp``); and ``LossTerms`` (``.terms``), what every model's forward pass returns."""
