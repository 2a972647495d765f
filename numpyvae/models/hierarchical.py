"""A VAE with L stochastic layers (Burda et al. 2016) and, as its prior, a standard normal or the VampPrior.

With L = 2 (the default, Burda et al.'s two-layer model: z1 = 100, z2 = 50, deterministic layers 200-200
between x and z1 and 100-100 between z1 and z2, tanh):

    inference    q(z1 | x) q(z2 | z1)          encoder1: x -> 200 -> 200 -> (mean, std) of z1
                                               encoder2: z1 -> 100 -> 100 -> (mean, std) of z2
    generative   p(z2) p(z1 | z2) p(x | z1)    decoder2: z2 -> 100 -> 100 -> (mean, std) of z1
                                               decoder1: z1 -> 200 -> 200 -> logits of x (Bernoulli)

Every conditional is a Gaussian whose std is 1e-6 + softplus(.), as in the one-layer model. Samples are drawn
bottom up, each by the reparameterization z_i = mean_i + std_i * eps_i, and give the log-weight

    log w = log p(x | z1) + log p(z1 | z2) + log p(z2) - log q(z1 | x) - log q(z2 | z1).

objective="elbo"   loss = -mean over the batch of [log p(x | z1) - beta KL], one sample per image, with
                   KL = log q(z1 | x) + log q(z2 | z1) - log p(z1 | z2) - log p(z2), which is
                   kl="sampled": all four terms at the sample (an estimate of the KL);
                   kl="analytic": the top layer's log q(z_L | z_{L-1}) - log p(z_L) replaced by its integral
                   KL(q(z_L | z_{L-1}) || N(0, I)) (``GaussianKL``, the seed's guarded form), the other terms
                   sampled: the only KL with a closed form here. The VampPrior has none, so it needs "sampled".
                   The default (kl=None) is "analytic" for the standard prior and "sampled" for the VampPrior.
objective="iwae"   loss = -mean over images of log (1/K) sum_k w_k, K samples through both layers.

prior="vampprior"  p(z_L) = (1/M) sum_m q(z_L | u_m) over M learned pseudo-inputs u_m (``prior.pseudo_inputs``,
                   (M, input_dim), drawn from N(0.05, 0.01^2) as in Tomczak & Welling's code, or set from data
                   by ``init_pseudo_inputs``; unlike their code, not clipped to [0, 1]). With L = 1 it is the
                   posterior q(z | u_m) itself; with L >= 2, q(z_L | u_m) is the inference chain run on u_m
                   with each lower layer at its mean, q(z_L | z_{L-1} = mean_{L-1}(... mean_1(u_m))), since
                   q(z2 | u) = E_{q(z1 | u)} q(z2 | z1) has no closed form. That pass runs without dropout, on
                   the encoders' own weights (``SharedDense``), and its gradient reaches the encoders' weights
                   (added to the data pass's) and the pseudo-inputs.

Shapes: the K samples of the B images are (K, B, D_i) arrays (the ELBO's K = 1); every network past the
first encoder runs on the K*B rows at once (row k*B + b is sample k of image b).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..nn.layers import Dense, Sequential, sigmoid
from ..nn.losses import (
    LIKELIHOODS,
    BernoulliLogLikelihood,
    ExactBernoulliLogLikelihood,
    GaussianKL,
    GaussianLogDensity,
    ImportanceWeightedBound,
    StandardNormalLogDensity,
    clipped_sigmoid,
)
from ..nn.mixture import MixtureLogDensity
from .architecture import resolve
from .gaussian_mlp import GaussianMLP, mlp
from .terms import LossTerms

OBJECTIVES = ("elbo", "iwae")
KL_ESTIMATORS = ("analytic", "sampled")
PRIORS = ("standard", "vampprior")
PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD = 0.05, 0.01  # the initial pseudo-inputs' N(mean, std^2)


def _per_layer(value, levels: int, which: str) -> list:
    """One value for every stochastic layer, or a list of one per layer."""
    if value is None or isinstance(value, str):
        return [value] * levels
    value = list(value)
    if len(value) != levels:
        raise ValueError(f"{which} needs one entry per stochastic layer ({levels}), got {len(value)}")
    return value


class HierarchicalVAE:
    """A VAE with ``len(latent_dims)`` stochastic layers and hand-written backpropagation through all of them.

    ``params`` and ``grads`` are flat dicts keyed ``encoder1.fc1.weight``, ..., ``encoder1.mean``,
    ``encoder1.std``, ``encoder2.*``, ``decoder2.fc1``, ..., ``decoder2.mean``, ``decoder2.std``, ``decoder1.fc1``,
    ..., ``decoder1.output`` (``encoder{i}`` maps layer i-1 to q(z_i | .), ``decoder{i}`` maps z_i to p(z_{i-1} | .)
    or, for i = 1, to the logits of x) and, with the VampPrior, ``prior.pseudo_inputs``; weights are (in, out).
    ``hidden_dims[i]`` are encoder i+1's widths, ``decoder_dims[i]`` decoder i+1's (default: mirrored), and the
    activations go by the rules of ``architecture.resolve`` per layer (one name applies to everything).
    ``config`` rebuilds the architecture: HierarchicalVAE(**config). A forward pass returns its LossTerms;
    what it keeps (``eps``, ``z``, ``posteriors``, and each layer's and density's own) is ``backward``'s cache.
    """

    variational, conditional, num_classes = True, False, 0

    def __init__(self, input_dim: int = 784, latent_dims: Sequence[int] = (100, 50),
                 hidden_dims: Sequence[Sequence[int]] = ((200, 200), (100, 100)), keep_prob: float = 1.0,
                 seed: int = 0, dtype=np.float32, *, decoder_dims=None, activations="tanh",
                 decoder_activations=None, objective: str = "elbo", k: int = 1, kl: str | None = None,
                 likelihood: str = "clipped", prior: str = "standard", components: int = 500,
                 kl_weight: float = 1.0) -> None:
        if kl is None:  # analytic where it can be: the top layer's KL against N(0, I); the VampPrior's is sampled
            kl = "sampled" if prior == "vampprior" else "analytic"
        for name, value, choices in (("objective", objective, OBJECTIVES), ("kl", kl, KL_ESTIMATORS),
                                     ("likelihood", likelihood, LIKELIHOODS), ("prior", prior, PRIORS)):
            if value not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
        latent_dims = [int(width) for width in latent_dims]
        levels = len(latent_dims)
        if not latent_dims or min(latent_dims) < 1:
            raise ValueError(f"latent_dims needs one or more widths of at least 1, got {latent_dims}")
        if int(k) < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if prior == "vampprior" and int(components) < 1:
            raise ValueError(f"the VampPrior needs at least one pseudo-input (components), got {components}")
        if prior == "vampprior" and kl == "analytic":
            raise ValueError("the VampPrior's KL has no closed form: use kl='sampled'")
        shapes = [resolve(hidden, decoder, act, dec_act) for hidden, decoder, act, dec_act in zip(
            _per_layer(hidden_dims, levels, "hidden_dims"), _per_layer(decoder_dims, levels, "decoder_dims"),
            _per_layer(activations, levels, "activations"),
            _per_layer(decoder_activations, levels, "decoder_activations"), strict=True)]
        components = int(components) if prior == "vampprior" else 0
        self.config = dict(input_dim=int(input_dim), latent_dims=latent_dims,
                           hidden_dims=[s.hidden_dims for s in shapes], keep_prob=keep_prob,
                           dtype=np.dtype(dtype).name, decoder_dims=[s.decoder_dims for s in shapes],
                           activations=[s.activations for s in shapes],
                           decoder_activations=[s.decoder_activations for s in shapes], objective=objective,
                           k=int(k), kl=kl, likelihood=likelihood, prior=prior, components=components)
        self.levels, self.latent_dims, self.kl_weight = levels, latent_dims, kl_weight
        self.objective, self.k, self.kl_estimator, self.prior = objective, int(k), kl, prior
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        options = dict(keep_prob=keep_prob, rng=self.rng, dtype=self.dtype)
        widths_in = [int(input_dim), *latent_dims[:-1]]
        # q(z_i | z_{i-1}) bottom up; the first reads data, whose gradient nobody needs
        self.encoders = [GaussianMLP(f"encoder{i + 1}", widths_in[i], s.hidden_dims, s.activations, latent_dims[i],
                                     input_grad=i > 0, **options) for i, s in enumerate(shapes)]
        # p(z_i | z_{i+1}) top down: decoders[i] (i >= 1, 0-based) is decoder{i + 1}, reading z_{i+1} (1-based)
        self.decoders = [None] * levels
        for i in reversed(range(1, levels)):
            s = shapes[i]
            self.decoders[i] = GaussianMLP(f"decoder{i + 1}", latent_dims[i], s.decoder_dims,
                                           s.decoder_activations, latent_dims[i - 1], **options)
        self.dense_layers: dict[str, Dense] = {}
        for network in self.encoders + self.decoders[:0:-1]:
            self.dense_layers.update(network.dense_layers)
        s = shapes[0]
        hidden = mlp("decoder1", latent_dims[0], s.decoder_dims, s.decoder_activations,
                     dense_layers=self.dense_layers, **options)
        self.dense_layers["decoder1.output"] = Dense(s.decoder_dims[-1], int(input_dim), rng=self.rng,
                                                     dtype=self.dtype)
        self.decoder = Sequential(*hidden, self.dense_layers["decoder1.output"])  # p(x | z1)
        self.reconstruction = ExactBernoulliLogLikelihood() if likelihood == "exact" else BernoulliLogLikelihood()
        self.q_densities = [GaussianLogDensity() for _ in range(levels)]
        self.p_densities = [GaussianLogDensity() for _ in range(levels)]  # [i] is log p(z_i | z_{i+1}), i < L
        self.log_prior, self.top_kl, self.bound = StandardNormalLogDensity(), GaussianKL(), ImportanceWeightedBound()
        self.params = {f"{layer}.{name}": array for layer, dense in self.dense_layers.items()
                       for name, array in dense.params.items()}
        self.grads = {f"{layer}.{name}": array for layer, dense in self.dense_layers.items()
                      for name, array in dense.grads.items()}
        if prior == "vampprior":
            self.mixture = MixtureLogDensity()
            self.prior_encoders = [encoder.twin() for encoder in self.encoders]  # on the pseudo-inputs
            pseudo = self.rng.normal(PSEUDO_INPUT_MEAN, PSEUDO_INPUT_STD, (components, int(input_dim)))
            self.params["prior.pseudo_inputs"] = pseudo.astype(self.dtype)
            self.grads["prior.pseudo_inputs"] = np.zeros_like(self.params["prior.pseudo_inputs"])

    def init_pseudo_inputs(self, images: np.ndarray, rng: np.random.Generator | None = None) -> None:
        """Set the pseudo-inputs to the first M ``images`` (rows in [0, 1]) plus N(0, 0.01^2) noise, as Tomczak &
        Welling's ``use_training_data_init``; without ``rng`` the noise comes from the model's generator."""
        if self.prior != "vampprior":
            raise ValueError("only the VampPrior has pseudo-inputs (prior='vampprior')")
        pseudo = self.params["prior.pseudo_inputs"]
        if len(images) < len(pseudo) or np.shape(images)[1:] != pseudo.shape[1:]:
            raise ValueError(f"the pseudo-inputs need {len(pseudo)} images of {pseudo.shape[1]} pixels, "
                             f"got an array of shape {np.shape(images)}")
        noise = (self.rng if rng is None else rng).normal(0, PSEUDO_INPUT_STD, pseudo.shape)
        pseudo[...] = np.asarray(images[:len(pseudo)], np.float64) + noise

    def labels_for(self, labels) -> None:
        """None: the model takes no labels (as ``VAE.labels_for`` for an unconditional VAE)."""
        return None

    def one_hot(self, labels, rows: int) -> None:
        """None: the model is unconditional (ValueError for labels, as VAE.one_hot)."""
        if labels is not None:
            raise ValueError("this model is unconditional: it takes no labels")
        return None

    # -- the prior -------------------------------------------------------------------------------------

    def prior_components(self) -> tuple[np.ndarray, np.ndarray]:
        """The VampPrior's components q(z_L | u_m): means and stds, (M, D_L) each (the lower layers at their
        means, dropout off)."""
        h = self.params["prior.pseudo_inputs"]
        for i, encoder in enumerate(self.prior_encoders):
            h, std = encoder.forward(h, training=False, std=i == self.levels - 1)
        return h, std

    def _prior_components_backward(self, grad_means: np.ndarray, grad_stds: np.ndarray) -> None:
        """Back through the pseudo-input pass into the pseudo-inputs; its weight gradients join the data pass's."""
        grad = self.prior_encoders[-1].backward(grad_means, grad_stds)
        for encoder in reversed(self.prior_encoders[:-1]):
            grad = encoder.backward(grad)  # a lower layer's mean is the next one's input; its std played no part
        self.grads["prior.pseudo_inputs"][...] = grad
        for encoder in self.prior_encoders:  # a weight used twice has the sum of both uses' gradients
            for layer, dense in encoder.dense_layers.items():
                for name, twin_grad in dense.grads.items():
                    self.grads[f"{layer}.{name}"] += twin_grad

    def _log_prior(self, z_top: np.ndarray) -> np.ndarray:
        """log p(z_L) of (K, B, D_L) samples: (K, B)."""
        if self.prior == "standard":
            return self.log_prior.forward(z_top)
        means, stds = self.prior_components()
        return self.mixture.forward(z_top.reshape(-1, z_top.shape[-1]), means, stds).reshape(z_top.shape[:-1])

    # -- training --------------------------------------------------------------------------------------

    def _noise(self, eps, k: int | None, batch: int) -> list[np.ndarray]:
        """eps as a list of L arrays, (B, D_i) for the ELBO (k None) or (K, B, D_i); drawn when None."""
        if eps is None:
            shape = (batch,) if k is None else (k, batch)
            return [self.rng.standard_normal((*shape, width), dtype=self.dtype) for width in self.latent_dims]
        eps = [eps] if isinstance(eps, np.ndarray) else list(eps)
        if len(eps) != self.levels:
            raise ValueError(f"eps needs one array per stochastic layer ({self.levels}), got {len(eps)}")
        return eps

    def loss(self, x: np.ndarray, training: bool = True, eps=None, labels=None) -> float:
        """The model's objective for a batch x (B, input_dim) in [0, 1]: ``elbo`` or ``iwae`` (see each)."""
        return float(self.loss_terms(x, training, eps, labels).losses.mean())

    def loss_terms(self, x: np.ndarray, training: bool = True, eps=None, labels=None) -> LossTerms:
        """The per-image terms of ``loss`` (``elbo_terms`` or ``iwae_terms``); caches for ``backward`` like it."""
        if self.objective == "iwae":
            return self.iwae_terms(x, training, eps, labels)
        return self.elbo_terms(x, training, eps, labels)

    def elbo(self, x: np.ndarray, training: bool = True, eps=None, labels=None, kl: str | None = None) -> float:
        """-mean(log p(x | z1) - kl_weight KL) for a batch x (B, input_dim): the mean of ``elbo_terms``' losses."""
        return float(self.elbo_terms(x, training, eps, labels, kl).losses.mean())

    def elbo_terms(self, x: np.ndarray, training: bool = True, eps=None, labels=None,
                   kl: str | None = None) -> LossTerms:
        """The ELBO's terms for a batch x (B, input_dim), one sample per image; caches for ``backward``.

        ``eps`` is a list of L arrays (B, D_i) (a single array when L = 1); ``kl`` overrides the model's
        estimator ("analytic" or "sampled", module docstring). ``log_likelihood``, ``losses`` and ``kl`` (the KL
        of that estimator, sampled in part or whole) are (B,); ``mean`` and ``std`` are q(z1 | x)'s, (B, D_1).
        """
        self.one_hot(labels, len(x))
        kl = kl or self.kl_estimator
        if kl not in KL_ESTIMATORS:
            raise ValueError(f"kl must be one of {', '.join(KL_ESTIMATORS)}, got {kl!r}")
        if kl == "analytic" and self.prior == "vampprior":
            raise ValueError("the VampPrior's KL has no closed form: use kl='sampled'")
        self.eps = [noise[None] for noise in self._noise(eps, None, len(x))]
        log_likelihood, kl_values = (term[0] for term in self._forward(x, training, analytic=kl == "analytic"))
        self.last_objective = "elbo"
        return LossTerms(log_likelihood, kl_values, *self.posteriors[0],
                         losses=self.kl_weight * kl_values - log_likelihood)

    def iwae(self, x: np.ndarray, training: bool = True, eps=None, labels=None) -> float:
        """-mean over images of log (1/K) sum_k w_k (Burda et al. 2016): the mean of ``iwae_terms``' losses."""
        return float(self.iwae_terms(x, training, eps, labels).losses.mean())

    def iwae_terms(self, x: np.ndarray, training: bool = True, eps=None, labels=None) -> LossTerms:
        """The IWAE bound's terms with K samples through every layer; caches for ``backward``.

        ``eps`` is a list of L arrays (K, B, D_i) (default: drawn, K = ``self.k``). ``log_weights``,
        ``log_likelihood`` and ``kl`` (log q - log p of the latents, sampled) are (K, B), ``losses`` (B,).
        The KL weight plays no part.
        """
        self.one_hot(labels, len(x))
        self.eps = self._noise(eps, self.k, len(x))
        log_likelihood, kl_values = self._forward(x, training, analytic=False)
        log_weights = log_likelihood - kl_values                           # (K, B)
        losses = -self.bound.forward(log_weights)
        self.last_objective = "iwae"
        return LossTerms(log_likelihood, kl_values, *self.posteriors[0], losses, log_weights)

    def _forward(self, x: np.ndarray, training: bool, analytic: bool) -> tuple[np.ndarray, np.ndarray]:
        """log p(x | z1) and the KL, log q - log p of the latents, (K, B) each, for the samples of ``self.eps``
        (K, B, D_i): log w is their difference. Caches for ``backward``."""
        k, batch = self.eps[0].shape[:2]
        self.analytic = analytic
        self.posteriors, self.z = [], []
        h = x
        for i, (encoder, noise) in enumerate(zip(self.encoders, self.eps, strict=True)):
            mean, std = encoder.forward(h, training)          # (B, D_1) for the first, (K*B, D_i) after
            if i > 0:
                mean, std = mean.reshape(noise.shape), std.reshape(noise.shape)
            self.posteriors.append((mean, std))
            self.z.append(mean + std * noise)                 # (K, B, D_i)
            h = self.z[-1].reshape(k * batch, -1)
        logits = self.decoder.forward(self.z[0].reshape(k * batch, -1), training)
        targets = x if k == 1 else np.tile(x, (k, 1))
        log_likelihood = self.reconstruction.forward(logits, targets).reshape(k, batch)
        log_p = 0
        for i in range(self.levels - 1):                      # log p(z_i | z_{i+1})
            mean, std = self.decoders[i + 1].forward(self.z[i + 1].reshape(k * batch, -1), training)
            shape = self.z[i].shape
            log_p = log_p + self.p_densities[i].forward(self.z[i], mean.reshape(shape), std.reshape(shape))
        log_q = 0
        for i in range(self.levels - 1 if analytic else self.levels):
            log_q = log_q + self.q_densities[i].forward(self.z[i], *self.posteriors[i])
        if analytic:  # KL(q(z_L | .) || N(0, I)) in closed form, in place of log q(z_L | .) - log p(z_L)
            mean, std = (part.reshape(batch, -1) for part in self.posteriors[-1])
            return log_likelihood, log_q - log_p + self.top_kl.forward(mean, std)[None]
        return log_likelihood, log_q - log_p - self._log_prior(self.z[-1])

    def backward(self) -> None:
        """Fill ``grads`` with d loss / d param for the batch of the last ``loss`` (``elbo``, ``iwae``) call."""
        k, batch = self.eps[0].shape[:2]
        if self.last_objective == "iwae":  # dL/dlog w_k = -(1/B) softmax_k(log w), for every term of log w
            grad_log_likelihood = grad_log_p = self.bound.backward(-1 / batch)           # (K, B)
        else:                              # dL/dlog p(x | z1) = -1/B; every KL term weighs kl_weight as much
            grad_log_likelihood = np.full((1, batch), -1 / batch, dtype=self.dtype)
            grad_log_p = grad_log_likelihood * self.dtype.type(self.kl_weight)
        rows = k * batch
        grad_z = [np.zeros_like(z) for z in self.z]
        # log p(x | z1)
        grad_logits = self.reconstruction.backward(grad_log_likelihood.reshape(-1))
        grad_z[0] += self.decoder.backward(grad_logits).reshape(grad_z[0].shape)
        # log p(z_i | z_{i+1}): its partials reach z_i directly and z_{i+1} through decoder i+1's mean and std
        for i in range(self.levels - 1):
            p_grad_z, grad_mean, grad_std = self.p_densities[i].backward(grad_log_p)
            grad_z[i] += p_grad_z
            grad_z[i + 1] += self.decoders[i + 1].backward(grad_mean.reshape(rows, -1),
                                                           grad_std.reshape(rows, -1)).reshape(grad_z[i + 1].shape)
        # log p(z_L), unless the analytic KL stands in for it
        if not self.analytic and self.prior == "standard":
            grad_z[-1] += self.log_prior.backward(grad_log_p)
        elif not self.analytic:
            prior_grad_z, grad_means, grad_stds = self.mixture.backward(grad_log_p.reshape(-1))
            grad_z[-1] += prior_grad_z.reshape(grad_z[-1].shape)
        # -log q(z_i | .) and the reparameterizations, top down, so that each z_i has all its gradient when its
        # encoder's turn comes (encoder i+1 reads z_i)
        for i in reversed(range(self.levels)):
            mean, std = self.posteriors[i]
            if self.analytic and i == self.levels - 1:
                kl_grad_mean, kl_grad_std = self.top_kl.backward(-grad_log_p.reshape(-1))
                grad_mean = grad_z[i] + kl_grad_mean.reshape(grad_z[i].shape)
                grad_std = grad_z[i] * self.eps[i] + kl_grad_std.reshape(grad_z[i].shape)
            else:
                q_grad_z, q_grad_mean, q_grad_std = self.q_densities[i].backward(-grad_log_p)
                grad_z[i] += q_grad_z
                # z_i = mean_i + std_i * eps_i: the gradient reaches the mean as is, the std times eps
                grad_mean = grad_z[i] + q_grad_mean
                grad_std = grad_z[i] * self.eps[i] + q_grad_std
            if i == 0:  # q(z1 | x) is shared by the K samples of an image: sum over k
                self.encoders[0].backward(grad_mean.sum(axis=0), grad_std.sum(axis=0))
            else:
                grad_z[i - 1] += self.encoders[i].backward(grad_mean.reshape(rows, -1),
                                                           grad_std.reshape(rows, -1)).reshape(grad_z[i - 1].shape)
        if self.prior == "vampprior" and not self.analytic:  # last: it adds to the encoders' gradients just set
            self._prior_components_backward(grad_means, grad_stds)

    def networks(self) -> list[Sequential]:
        """Every chain of layers of the model (the trunks, p(x | z1)'s network and the pseudo-inputs' twins)."""
        chains = [network.trunk for network in self.encoders + self.decoders[1:]] + [self.decoder]
        return chains + [network.trunk for network in getattr(self, "prior_encoders", [])]

    # -- inference (dropout off) ---------------------------------------------------------------------

    def encode_all(self, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """(mean, std) of q(z_i | .) for every layer, each lower layer at its mean: [(B, D_1) x 2, ...]."""
        layers, h = [], x.astype(self.dtype, copy=False)
        for encoder in self.encoders:
            layers.append(encoder.forward(h, training=False))
            h = layers[-1][0]
        return layers

    def encode(self, x: np.ndarray, labels=None) -> tuple[np.ndarray, np.ndarray]:
        """q(z1 | x) = N(mean, std^2), both (B, D_1): the latent layer next to the data."""
        self.one_hot(labels, len(x))
        return self.encoders[0].forward(x.astype(self.dtype, copy=False), training=False)

    def decoder_logits(self, z: np.ndarray, labels=None, training: bool = False) -> np.ndarray:
        """The logits of p(x | z1) for z1 (rows, D_1)."""
        self.one_hot(labels, len(z))
        return self.decoder.forward(z, training)

    def decode(self, z: np.ndarray, labels=None) -> np.ndarray:
        """Bernoulli means of p(x | z1) for z1 (B, D_1), clipped like the seed's unless the likelihood is exact."""
        logits = self.decoder_logits(z.astype(self.dtype, copy=False), labels)
        return sigmoid(logits) if isinstance(self.reconstruction, ExactBernoulliLogLikelihood) \
            else clipped_sigmoid(logits)[1]

    def reconstruct(self, x: np.ndarray, labels=None) -> np.ndarray:
        """Decode the mean of q(z1 | x): (B, input_dim) -> (B, input_dim)."""
        return self.decode(self.encode(x, labels)[0])

    def sample(self, n: int, labels=None, rng: np.random.Generator | None = None) -> np.ndarray:
        """n images by ancestral sampling: z_L ~ p(z_L) (a uniformly chosen component for the VampPrior),
        z_{i-1} ~ p(z_{i-1} | z_i), down to the Bernoulli means of p(x | z1): (n, input_dim). The draws come
        from ``rng``, by default the model's generator."""
        self.one_hot(labels, n)
        rng = self.rng if rng is None else rng
        top = self.latent_dims[-1]
        z = rng.standard_normal((n, top), dtype=self.dtype)
        if self.prior == "vampprior":
            means, stds = self.prior_components()
            chosen = rng.integers(0, len(means), n)
            z = means[chosen] + stds[chosen] * z
        for decoder in self.decoders[:0:-1]:
            mean, std = decoder.forward(z, training=False)
            z = mean + std * rng.standard_normal(mean.shape, dtype=self.dtype)
        return self.decode(z)
