"""The seed's variational autoencoder: a Gaussian MLP encoder and a Bernoulli MLP decoder.

    encoder  x (B, 784) -> Dense 500, ELU, dropout -> Dense 500, tanh, dropout = h
             z_mean = h W_mean + b_mean,   z_std = 1e-6 + softplus(h W_std + b_std)       (B, 20)
    sample   z = z_mean + z_std * eps,   eps ~ N(0, I)              (the reparameterization trick)
    decoder  z -> Dense 500, tanh, dropout -> Dense 500, ELU, dropout -> Dense 784 = logits
    loss     -mean over the batch of [log p(x | z) - KL(q(z | x) || N(0, I))]

Options of the same model, for the lessons the seed teaches by contrast:
    variational=False          the plain autoencoder: z = z_mean, no sampling, no KL term
    reconstruction="mse"       a Gaussian (squared-error) log-likelihood instead of cross-entropy
    kl_weight=beta             -mean[log p(x | z) - beta KL] (beta-VAE; the trainer anneals it)
"""

from __future__ import annotations

import numpy as np

from .layers import ELU, Dense, Dropout, Sequential, Softplus, Tanh
from .losses import RECONSTRUCTIONS, GaussianKL, clipped_sigmoid

STD_FLOOR = 1e-6  # the seed's z_std = 1e-6 + softplus(.), so the posterior never collapses to a point


class VAE:
    """The seed VAE with hand-written backpropagation.

    ``params`` and ``grads`` are flat dicts keyed ``encoder.fc1.weight``, ``encoder.fc1.bias``, ...,
    ``decoder.output.bias``; weights are shaped (in, out). ``loss`` runs the forward pass and caches
    what ``backward`` needs; ``backward`` fills ``grads``.
    """

    def __init__(self, input_dim: int = 784, hidden_dims: tuple[int, int] = (500, 500),
                 latent_dim: int = 20, keep_prob: float = 0.9, seed: int = 0, dtype=np.float32, *,
                 variational: bool = True, reconstruction: str = "bernoulli", kl_weight: float = 1.0) -> None:
        if reconstruction not in RECONSTRUCTIONS:
            raise ValueError(f"reconstruction must be one of {sorted(RECONSTRUCTIONS)}, got {reconstruction!r}")
        # everything needed to build the same architecture again: VAE(**model.config)
        self.config = dict(input_dim=input_dim, hidden_dims=list(hidden_dims), latent_dim=latent_dim,
                           keep_prob=keep_prob, dtype=np.dtype(dtype).name, variational=variational,
                           reconstruction=reconstruction)
        self.variational = variational
        self.kl_weight = kl_weight
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        first, second = hidden_dims

        def dense(n_in: int, n_out: int, **kwargs) -> Dense:
            return Dense(n_in, n_out, rng=self.rng, dtype=self.dtype, **kwargs)

        def dropout() -> Dropout:
            return Dropout(keep_prob, rng=self.rng)

        self.dense_layers = {
            "encoder.fc1": dense(input_dim, first, input_grad=False),  # its input is data
            "encoder.fc2": dense(first, second),
            "encoder.mean": dense(second, latent_dim),
            "encoder.std": dense(second, latent_dim),
            "decoder.fc1": dense(latent_dim, second),
            "decoder.fc2": dense(second, first),
            "decoder.output": dense(first, input_dim),
        }
        d = self.dense_layers
        self.encoder = Sequential(d["encoder.fc1"], ELU(), dropout(), d["encoder.fc2"], Tanh(), dropout())
        self.mean_head = d["encoder.mean"]
        self.std_head = Sequential(d["encoder.std"], Softplus())
        self.decoder = Sequential(d["decoder.fc1"], Tanh(), dropout(), d["decoder.fc2"], ELU(), dropout(),
                                  d["decoder.output"])
        self.reconstruction = RECONSTRUCTIONS[reconstruction]()
        self.kl = GaussianKL()
        self.params = {f"{layer}.{name}": array for layer, dense_layer in d.items()
                       for name, array in dense_layer.params.items()}
        self.grads = {f"{layer}.{name}": array for layer, dense_layer in d.items()
                      for name, array in dense_layer.grads.items()}

    # -- training -------------------------------------------------------------------------------

    def loss(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None) -> float:
        """-mean(log p(x | z) - kl_weight KL) for a batch x (B, input_dim) in [0, 1]; caches for ``backward``.

        ``eps`` (B, latent_dim) fixes the reparameterization noise; by default it is drawn from the
        model's generator. ``training=False`` turns dropout off. The per-example terms stay behind as
        ``log_likelihood``, ``kl_divergence`` and their weighted difference ``example_losses``, all (B,).
        """
        h = self.encoder.forward(x, training)
        self.z_mean = self.mean_head.forward(h)
        self.z_std = self.std_head.forward(h) + STD_FLOOR
        if not self.variational:  # the plain autoencoder decodes the mean and pays no KL
            eps = np.zeros_like(self.z_mean)
        elif eps is None:
            eps = self.rng.standard_normal(self.z_mean.shape, dtype=self.dtype)
        self.eps = eps
        z = self.z_mean + self.z_std * eps
        logits = self.decoder.forward(z, training)
        self.log_likelihood = self.reconstruction.forward(logits, x)
        self.kl_divergence = self.kl.forward(self.z_mean, self.z_std)
        self.example_losses = self.kl_term_weight() * self.kl_divergence - self.log_likelihood
        return float(self.example_losses.mean())

    def kl_term_weight(self) -> float:
        """The weight of the KL term in the loss: ``kl_weight``, or 0 for the plain autoencoder."""
        return self.kl_weight if self.variational else 0.0

    def backward(self) -> None:
        """Fill ``grads`` with d loss / d param for the batch of the last ``loss`` call."""
        weight = 1 / len(self.eps)  # the loss is a mean over the batch
        grad_z = self.decoder.backward(self.reconstruction.backward(-weight))
        kl_grad_mean, kl_grad_std = self.kl.backward(self.kl_term_weight() * weight)
        # z = z_mean + z_std * eps: the decoder's gradient reaches the mean as is, the std times eps
        grad_mean = grad_z + kl_grad_mean
        grad_std = grad_z * self.eps + kl_grad_std
        # both heads read the same trunk output h, so their gradients with respect to h add up
        grad_h = self.mean_head.backward(grad_mean) + self.std_head.backward(grad_std)
        self.encoder.backward(grad_h)

    # -- inference (dropout off) ------------------------------------------------------------------

    def encode(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The posterior q(z | x) = N(z_mean, z_std^2): both (B, latent_dim)."""
        h = self.encoder.forward(x, training=False)
        return self.mean_head.forward(h), self.std_head.forward(h) + STD_FLOOR

    def decode(self, z: np.ndarray) -> np.ndarray:
        """Bernoulli means p(x | z) (B, input_dim), clipped to [1e-8, 1 - 1e-8] like the seed."""
        return clipped_sigmoid(self.decoder.forward(z.astype(self.dtype, copy=False), training=False))[1]

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Decode the posterior mean of each image: (B, input_dim) -> (B, input_dim)."""
        return self.decode(self.encode(x)[0])

    def sample(self, n: int) -> np.ndarray:
        """n images decoded from the prior N(0, I): (n, input_dim)."""
        return self.decode(self.rng.standard_normal((n, self.config["latent_dim"]), dtype=self.dtype))
