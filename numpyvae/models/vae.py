"""The VAE of the seed and its family: any-depth MLPs, a conditional VAE, and the IWAE objective.

The default is the seed's model exactly:

    encoder  x (B, 784) -> Dense 500, ELU, dropout -> Dense 500, tanh, dropout = h
             z_mean = h W_mean + b_mean,   z_std = 1e-6 + softplus(h W_std + b_std)       (B, 20)
    sample   z = z_mean + z_std * eps,   eps ~ N(0, I)              (the reparameterization trick)
    decoder  z -> Dense 500, tanh, dropout -> Dense 500, ELU, dropout -> Dense 784 = logits
    loss     -mean over the batch of [log p(x | z) - KL(q(z | x) || N(0, I))]

Options (all combine unless noted):
    hidden_dims, decoder_dims   any number of hidden layers in each network (architecture.py has the defaults)
    activations, ...            each hidden layer's activation: elu, tanh, relu, leaky_relu, sigmoid, softplus
    num_classes=C               the conditional VAE: the one-hot label y joins x at the encoder's input and z at
                                the decoder's, q(z | x, y) and p(x | z, y); the loss bounds -log p(x | y)
    objective="iwae", k=K       the IWAE bound of Burda et al. (2016) with K samples per image (below)
    kl="sampled"                the KL replaced by its one-sample estimate log q(z | x) - log p(z) at the same z
                                (Kingma & Welling's estimator A; "analytic", the seed's, is their estimator B)
    likelihood="exact"          log sigmoid written with logaddexp, no clip (the seed's: "clipped")
    variational=False           the plain autoencoder: z = z_mean, no sampling, no KL term
    reconstruction="mse"        a Gaussian (squared-error) log-likelihood instead of cross-entropy
    kl_weight=beta              -mean[log p(x | z) - beta KL] (beta-VAE; the trainer anneals it; ELBO only)
    free_bits=lambda            the KL term replaced by sum_d max(lambda, KL_d), KL_d the batch mean of dimension
                                d's analytic KL (FreeBitsKL; ELBO only); evaluation still reports the true KL

The IWAE objective, per image, with z_k = z_mean + z_std * eps_k, eps_k ~ N(0, I), k = 1..K:

    log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x)
            = log p(x | z_k) + (|eps_k|^2 - |z_k|^2) / 2 + sum_d log z_std_d      (the 2 pi terms cancel),
    loss = -mean over images of log (1/K) sum_k w_k.

Its backward pass: the softmax of the log-weights over k (the normalized weights) hands each sample its share
of the gradient; the K samples of the whole batch go through the decoder as one (K*B)-row batch; log w's own
partials (eps held fixed: -z_k for z_k, 1 / z_std for z_std) join them, and the reparameterization takes
them back to z_mean and z_std, summed over the K samples, which share them.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..config import validate
from ..nn.layers import Concat, Dense, Sequential, Softplus, sigmoid
from ..nn.losses import (
    KL_ESTIMATORS,
    RECONSTRUCTIONS,
    ExactBernoulliLogLikelihood,
    FreeBitsKL,
    ImportanceWeightedBound,
    LogImportanceWeight,
    clipped_sigmoid,
)
from .config import PSEUDO_INPUTS, ModelConfig
from .gaussian_mlp import mlp
from .terms import LossTerms

STD_FLOOR = 1e-6  # the seed's z_std = 1e-6 + softplus(.), so the posterior never collapses to a point


def _ints(widths) -> list[int] | None:
    return None if widths is None else [int(width) for width in widths]


def _names(names) -> list[str] | None:
    """Activation names: one for all layers (a string) or a list of them."""
    return None if names is None else [names] if isinstance(names, str) else [str(name) for name in names]


class VAE:
    """A VAE with hand-written backpropagation; the defaults build the seed's model.

    ``params`` and ``grads`` are flat dicts keyed ``encoder.fc1.weight``, ``encoder.fc1.bias``, ...,
    ``encoder.fcN``, ``encoder.mean``, ``encoder.std``, ``decoder.fc1``, ..., ``decoder.fcM``,
    ``decoder.output``; weights are shaped (in, out). ``loss`` runs the forward pass of the model's objective
    and caches what ``backward`` needs; ``backward`` fills ``grads``. ``config`` rebuilds it: VAE(**config).
    ``loss_terms`` (``elbo_terms``, ``iwae_terms``) runs the same pass and returns its per-image LossTerms.

    The KL, in one vocabulary:

        KL                     KL(q(z | x) || p(z)), one value per image: ``LossTerms.kl``
        kl                     the name of its estimator, "analytic" or "sampled" (a key of KL_ESTIMATORS):
                               ``VAE(kl=...)``, ``config["kl"]``, ``elbo(..., kl=...)``, ``--kl``
        model.kl               the model's KL estimator, GaussianKL, SampledKL or FreeBitsKL (as
                               ``model.reconstruction`` is its likelihood); each takes ``forward(mean, std, eps)``
        model.kl_used          the estimator the last ``elbo_terms`` call ran, with its forward pass cached:
                               ``model.kl``, or the one its ``kl=`` named. ``backward`` differentiates it, and
                               so may another backward pass of the same forward (explain variance's score function)
        kl_weight              beta, the KL's weight in the ELBO as set (the trainer anneals it)
        effective_kl_weight()  the weight the loss applies: kl_weight, or 0 for the plain autoencoder
    """

    def __init__(self, input_dim: int = 784, hidden_dims=(500, 500), latent_dim: int = 20, keep_prob: float = 0.9,
                 seed: int = 0, dtype=np.float32, *, variational: bool = True, reconstruction: str = "bernoulli",
                 kl_weight: float = 1.0, decoder_dims=None, activations=None, decoder_activations=None,
                 num_classes: int = 0, objective: str = "elbo", k: int = 1, kl: str = "analytic",
                 likelihood: str = "clipped", free_bits: float = 0.0, latent_dims=None, upper_hidden_dims=None,
                 prior: str = "standard", pseudo_inputs: int = PSEUDO_INPUTS) -> None:
        if latent_dims is not None or prior != "standard":  # the settings of the model of several layers
            raise ValueError("VAE is the one-layer model: the model of latent_dims (or a VampPrior) is "
                             "HierarchicalVAE; numpyvae.models.build(ModelConfig(...)) builds either")
        # one place checks every setting (models.config.ModelConfig): a SettingError, which is a ValueError
        config = validate(ModelConfig(
            input_dim=int(input_dim), hidden_dims=_ints(hidden_dims), latent_dim=int(latent_dim),
            keep_prob=float(keep_prob), dtype=np.dtype(dtype).name, variational=bool(variational),
            reconstruction=reconstruction, kl_weight=float(kl_weight), decoder_dims=_ints(decoder_dims),
            activations=_names(activations), decoder_activations=_names(decoder_activations),
            num_classes=int(num_classes), objective=objective, k=int(k), kl=kl, likelihood=likelihood,
            free_bits=float(free_bits), upper_hidden_dims=_ints(upper_hidden_dims),
            pseudo_inputs=int(pseudo_inputs))).resolved()
        # everything needed to build the same architecture again: VAE(**model.config)
        self.config = dataclasses.asdict(config)
        self.variational, self.kl_weight, self.prior = variational, kl_weight, prior
        self.num_classes, self.objective, self.k = int(num_classes), objective, int(k)
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.dense_layers: dict[str, Dense] = {}

        def dense(name: str, n_in: int, n_out: int, **kwargs) -> Dense:
            self.dense_layers[name] = Dense(n_in, n_out, rng=self.rng, dtype=self.dtype, **kwargs)
            return self.dense_layers[name]

        stack = dict(keep_prob=keep_prob, rng=self.rng, dtype=self.dtype, dense_layers=self.dense_layers)
        # the first layer's input is data (and the label): nobody needs its gradient
        self.encoder = Sequential(*mlp("encoder", input_dim + self.num_classes, config.hidden_dims, config.activations,
                                       input_grad=False, **stack))
        self.mean_head = dense("encoder.mean", config.hidden_dims[-1], latent_dim)
        self.std_head = Sequential(dense("encoder.std", config.hidden_dims[-1], latent_dim), Softplus())
        self.decoder = Sequential(*mlp("decoder", latent_dim + self.num_classes, config.decoder_dims,
                                       config.decoder_activations, **stack),
                                  dense("decoder.output", config.decoder_dims[-1], input_dim))
        self.input_concat, self.latent_concat = Concat(), Concat()  # used by the conditional model only
        exact = likelihood == "exact"
        self.reconstruction = ExactBernoulliLogLikelihood() if exact else RECONSTRUCTIONS[reconstruction]()
        self.kl = FreeBitsKL(config.free_bits) if config.free_bits > 0 else KL_ESTIMATORS[kl]()
        self.log_weight, self.bound = LogImportanceWeight(), ImportanceWeightedBound()  # the IWAE objective's
        d = self.dense_layers
        self.params = {f"{layer}.{name}": array for layer, dense_layer in d.items()
                       for name, array in dense_layer.params.items()}
        self.grads = {f"{layer}.{name}": array for layer, dense_layer in d.items()
                      for name, array in dense_layer.grads.items()}

    @property
    def conditional(self) -> bool:
        """Whether the model takes labels (num_classes > 0): the one way to ask."""
        return self.num_classes > 0

    def labels_for(self, labels):
        """``labels`` for a conditional model, None for the others (which take none): what to pass as labels=."""
        return labels if self.conditional else None

    # -- the two networks, with the label joined in when the model is conditional ----------------------

    def one_hot(self, labels, rows: int) -> np.ndarray | None:
        """Labels as one-hot rows (rows, num_classes) in the model's dtype; None for an unconditional model.

        ``labels`` are class indices (rows,) or already one-hot (rows, num_classes).
        """
        if not self.conditional:
            if labels is not None:
                raise ValueError("this model is unconditional (num_classes=0): it takes no labels")
            return None
        if labels is None:
            raise ValueError(f"this conditional model needs the labels of its {rows} images")
        labels = np.asarray(labels)
        if labels.ndim == 1:
            if labels.min(initial=0) < 0 or labels.max(initial=0) >= self.num_classes:
                raise ValueError(f"labels must lie in 0..{self.num_classes - 1}")
            labels = np.eye(self.num_classes, dtype=self.dtype)[labels]
        if labels.shape != (rows, self.num_classes):
            raise ValueError(f"labels must be ({rows},) class indices or ({rows}, {self.num_classes}) one-hot rows, "
                             f"got shape {labels.shape}")
        return labels.astype(self.dtype, copy=False)

    def _posterior(self, x: np.ndarray, y: np.ndarray | None, training: bool) -> tuple[np.ndarray, np.ndarray]:
        """q(z | x) or q(z | x, y): its mean and std, (B, latent). x and y are joined side by side first."""
        h = self.encoder.forward(x if y is None else self.input_concat.forward([x, y]), training)
        return self.mean_head.forward(h), self.std_head.forward(h) + STD_FLOOR

    def _posterior_backward(self, grad_mean: np.ndarray, grad_std: np.ndarray, record=None) -> None:
        grad_h_from_mean = self.mean_head.backward(grad_mean)
        if record is not None:
            record("mean_head", grad_h_from_mean)
        grad_h = heads_backward(grad_h_from_mean, network_backward(self.std_head, grad_std, record, "std_head"))
        if record is not None:
            record("h", grad_h)
        # the first layer returns no input gradient, so the [x, y] concatenation's split is not needed here
        network_backward(self.encoder, grad_h, record, "encoder")

    def _logits(self, z: np.ndarray, y: np.ndarray | None, training: bool) -> np.ndarray:
        """The decoder's logits for z (rows, latent), joined with y (rows, C) when conditional."""
        return self.decoder.forward(z if y is None else self.latent_concat.forward([z, y]), training)

    def decoder_logits(self, z: np.ndarray, labels=None, training: bool = False) -> np.ndarray:
        """The decoder's logits for z (rows, latent) and, for a conditional model, the rows' labels."""
        return self._logits(z, self.one_hot(labels, len(z)), training)

    def _logits_backward(self, grad_logits: np.ndarray, record=None) -> np.ndarray:
        """dL/dz from dL/dlogits: back through the decoder, then keep z's columns of [z, y] (the label's are data)."""
        grad_input = network_backward(self.decoder, grad_logits, record, "decoder")
        return grad_input if not self.conditional else self.latent_concat.backward(grad_input)[0]

    # -- training -------------------------------------------------------------------------------

    def loss(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None, labels=None) -> float:
        """The model's objective for a batch x (B, input_dim) in [0, 1]: ``elbo`` or ``iwae`` (see each)."""
        return float(self.loss_terms(x, training, eps, labels).losses.mean())

    def loss_terms(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None,
                   labels=None) -> LossTerms:
        """The per-image terms of ``loss`` (``elbo_terms`` or ``iwae_terms``); caches for ``backward`` like it."""
        if self.objective == "iwae":
            return self.iwae_terms(x, training, eps, labels)
        return self.elbo_terms(x, training, eps, labels)

    def elbo(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None, labels=None,
             kl: str | None = None) -> float:
        """-mean(log p(x | z) - kl_weight KL) for a batch x (B, input_dim) in [0, 1]; caches for ``backward``.

        The arguments are those of ``elbo_terms``, which returns the per-image terms this is the mean of.
        """
        return float(self.elbo_terms(x, training, eps, labels, kl).losses.mean())

    def elbo_terms(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None, labels=None,
                   kl: str | None = None) -> LossTerms:
        """The ELBO's terms for a batch x (B, input_dim) in [0, 1], one value per image; caches for ``backward``.

        ``eps`` (B, latent_dim) fixes the reparameterization noise; by default it is drawn from the
        model's generator. ``training=False`` turns dropout off. ``kl`` overrides the model's KL estimator
        ("analytic" or "sampled"; evaluation reports the analytic one).
        """
        y = self.one_hot(labels, len(x))
        mean, std = self._posterior(x, y, training)
        if not self.variational:  # the plain autoencoder decodes the mean and pays no KL
            eps = np.zeros_like(mean)
        elif eps is None:
            eps = self.rng.standard_normal(mean.shape, dtype=self.dtype)
        self.eps = eps
        z = mean + std * eps
        logits = self._logits(z, y, training)
        log_likelihood = self.reconstruction.forward(logits, x)
        if kl is not None and kl not in KL_ESTIMATORS:
            raise ValueError(f"kl must be one of {', '.join(KL_ESTIMATORS)}, got {kl!r}")
        self.kl_used = self.kl if kl is None else KL_ESTIMATORS[kl]()  # the one backward differentiates
        kl_values = self.kl_used.forward(mean, std, eps)
        losses = self.effective_kl_weight() * kl_values - log_likelihood
        self.last_objective = "elbo"
        return LossTerms(log_likelihood, kl_values, mean, std, losses)

    def iwae(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None, labels=None) -> float:
        """-mean over images of log (1/K) sum_k w_k, the IWAE bound on -log p(x) (Burda et al. 2016).

        The arguments are those of ``iwae_terms``, which returns the per-image terms this is the mean of.
        """
        return float(self.iwae_terms(x, training, eps, labels).losses.mean())

    def iwae_terms(self, x: np.ndarray, training: bool = True, eps: np.ndarray | None = None,
                   labels=None) -> LossTerms:
        """The IWAE bound's terms for a batch x (B, input_dim); caches for ``backward``.

            log w_k = log p(x | z_k) + log p(z_k) - log q(z_k | x),    z_k = z_mean + z_std * eps_k

        (LogImportanceWeight). ``eps`` (K, B, latent_dim) fixes the noise (default: drawn, K = ``self.k``).
        The K samples of every image are decoded as one batch of K*B rows (row k*B + b is sample k of image b).
        The KL weight plays no part: the bound has no KL term to weigh.
        """
        y = self.one_hot(labels, len(x))
        mean, std = self._posterior(x, y, training)
        if eps is None:
            eps = self.rng.standard_normal((self.k, *mean.shape), dtype=self.dtype)
        self.eps = eps
        k, batch, latent = eps.shape
        z = mean + std * eps                                                             # (K, B, latent)
        rows = z.reshape(k * batch, latent)
        logits = self._logits(rows, None if y is None else np.tile(y, (k, 1)), training)  # one (K*B)-row pass
        log_likelihood = self.reconstruction.forward(logits, np.tile(x, (k, 1))).reshape(k, batch)
        log_weights = self.log_weight.forward(log_likelihood, z, eps, std)               # (K, B)
        losses = -self.bound.forward(log_weights)
        self.last_objective = "iwae"
        return LossTerms(log_likelihood, log_likelihood - log_weights, mean, std, losses, log_weights)

    @property
    def latent_dims(self) -> list[int]:
        """The sizes of the stochastic layers: the one, [latent_dim] (as ``HierarchicalVAE.latent_dims``)."""
        return [self.config["latent_dim"]]

    def effective_kl_weight(self) -> float:
        """The weight of the KL term in the loss: ``kl_weight``, or 0 for the plain autoencoder."""
        return self.kl_weight if self.variational else 0.0

    def backward(self, record=None) -> None:
        """Fill ``grads`` with d loss / d param for the batch of the last ``loss`` (``elbo``, ``iwae``) call.

        ``record``, if given, is called as ``record(name, gradient)`` with each intermediate gradient dL/dN, from
        the loss down. The arrays are the pass's own, not copies, and later stages may add to them in place:
        copy what you keep. In order:

            "log_weights"      dL/dlog w (K, B): -(1/B) times the normalized weights (IWAE only)
            "logits"           (B, input_dim); (K*B, input_dim) for the IWAE
            "decoder.{i}"      dL/d(input of decoder.layers[i]), i from the last down to 0 (whose input is z or [z, y])
            "z.decoder", "z.prior", "z.posterior"   the IWAE's three paths to z (K, B, latent), added into "z"
            "z", "z_mean", "z_std"   (B, latent); "z" is (K, B, latent) for the IWAE
            "mean_head"        dL/dh along the mean head
            "std_head.{i}"     dL/d(input of std_head.layers[i]): 1 the softplus's, 0 h's along the std head
            "h"                dL/dh, the two heads' paths added
            "encoder.{i}"      dL/d(input of encoder.layers[i]), i from the last down to 1 (layer 0's input is data)

        Without ``record`` nothing is reported and nothing else changes.
        """
        if self.last_objective == "iwae":
            self._iwae_backward(record)
            return
        weight = 1 / len(self.eps)  # the loss is a mean over the batch
        grad_logits = self.reconstruction.backward(-weight)
        if record is not None:
            record("logits", grad_logits)
        grad_z = self._logits_backward(grad_logits, record)
        kl_grad_mean, kl_grad_std = self.kl_used.backward(self.effective_kl_weight() * weight)
        grad_mean, grad_std = reparameterization_backward(grad_z, self.eps, kl_grad_mean, kl_grad_std)
        if record is not None:
            record("z", grad_z)
            record("z_mean", grad_mean)
            record("z_std", grad_std)
        self._posterior_backward(grad_mean, grad_std, record)

    def _iwae_backward(self, record=None) -> None:
        k, batch, latent = self.eps.shape
        # dL/dlog w_k = -(1/B) softmax_k(log w): each sample's share of its image's gradient
        grad_log_w = self.bound.backward(-1 / batch)                                     # (K, B)
        # log w = log p(x | z) + (|eps|^2 - |z|^2) / 2 + sum log std: its three partials, eps held fixed
        grad_log_likelihood, grad_z, grad_std = self.log_weight.backward(grad_log_w)
        grad_logits = self.reconstruction.backward(grad_log_likelihood.reshape(-1))      # (K*B, input_dim)
        if record is not None:
            record("log_weights", grad_log_w)
            record("logits", grad_logits)
        decoder_grad_z = self._logits_backward(grad_logits, record).reshape(k, batch, latent)
        if record is not None:  # before the sum below adds them up
            record("z.decoder", decoder_grad_z)
            record("z.ratio", grad_z)
        grad_z += decoder_grad_z
        # z_k = z_mean + z_std * eps_k, and all K samples share z_mean and z_std: their gradients add up over k
        grad_mean, grad_std_through_z = reparameterization_backward(grad_z, self.eps, 0.0, 0.0)
        grad_mean, grad_std = grad_mean.sum(axis=0), grad_std + grad_std_through_z.sum(axis=0)
        if record is not None:
            record("z", grad_z)
            record("z_mean", grad_mean)
            record("z_std", grad_std)
        self._posterior_backward(grad_mean, grad_std, record)

    # -- inference (dropout off) ------------------------------------------------------------------

    def encode(self, x: np.ndarray, labels=None) -> tuple[np.ndarray, np.ndarray]:
        """The posterior q(z | x) = N(z_mean, z_std^2) (q(z | x, y) with labels): both (B, latent_dim)."""
        return self._posterior(x, self.one_hot(labels, len(x)), training=False)

    def decode(self, z: np.ndarray, labels=None) -> np.ndarray:
        """Bernoulli means p(x | z) (or p(x | z, y)), (B, input_dim); clipped to [1e-8, 1 - 1e-8] like the seed
        unless the likelihood is "exact"."""
        logits = self._logits(z.astype(self.dtype, copy=False), self.one_hot(labels, len(z)), training=False)
        return sigmoid(logits) if isinstance(self.reconstruction, ExactBernoulliLogLikelihood) \
            else clipped_sigmoid(logits)[1]

    def reconstruct(self, x: np.ndarray, labels=None) -> np.ndarray:
        """Decode the posterior mean of each image: (B, input_dim) -> (B, input_dim)."""
        return self.decode(self.encode(x, labels)[0], labels)

    def sample(self, n: int, labels=None, rng: np.random.Generator | None = None) -> np.ndarray:
        """n images decoded from the prior N(0, I): (n, input_dim). A conditional model decodes each with its
        label (n class indices or one-hot rows; by default 0, 1, ..., C - 1, 0, 1, ... in turn). The draws come
        from ``rng``, by default the model's generator."""
        z = (self.rng if rng is None else rng).standard_normal((n, self.config["latent_dim"]), dtype=self.dtype)
        if self.conditional and labels is None:
            labels = np.arange(n) % self.num_classes
        return self.decode(z, labels)


def network_backward(network: Sequential, grad: np.ndarray, record=None, name: str = "") -> np.ndarray | None:
    """``network.backward(grad)``: its layers' backward passes, last to first (the chain rule).

    ``record``, if given, is called as ``record(f"{name}.{i}", gradient)`` with dL/d(the input of
    ``network.layers[i]``) after each layer that returns one.
    """
    for index in range(len(network.layers) - 1, -1, -1):
        grad = network.layers[index].backward(grad)
        if record is not None and grad is not None:
            record(f"{name}.{index}", grad)
    return grad


def reparameterization_backward(grad_z: np.ndarray, eps: np.ndarray, grad_mean: np.ndarray,
                                grad_std: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z = z_mean + z_std * eps: dz reaches z_mean unchanged and z_std times eps, each added to the gradient
    that reaches it directly (``grad_mean``, ``grad_std``: the KL's, or log q(z | x)'s). Returns both sums."""
    return grad_z + grad_mean, grad_z * eps + grad_std


def heads_backward(grad_h_from_mean: np.ndarray, grad_h_from_std: np.ndarray) -> np.ndarray:
    """dL/dh: both heads read the same trunk output h, so the two paths' gradients add (the multivariate
    chain rule)."""
    return grad_h_from_mean + grad_h_from_std
