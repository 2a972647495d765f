"""The checks of the exercises: ``layers`` (dense, softplus, tanh, elu, dropout), ``losses`` (bernoulli,
gaussian_kl, reparameterize, std_head, iwae_weights), ``capstone`` (the whole VAE), on ``common``'s helpers."""
