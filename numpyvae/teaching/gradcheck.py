"""Numerical gradient checks: the proof that every hand-written backward pass is right.

For a scalar function f of an array x, the fourth-order central difference

    df/dx_i ~ [8 (f(x + h e_i) - f(x - h e_i)) - (f(x + 2h e_i) - f(x - 2h e_i))] / 12h

has error O(h^4); in float64 with h = 1e-3 it agrees with a correct analytic gradient to about 1e-10
relative, while a wrong one is off by order 1. The relative error of each element is

    |a - n| / max(|a| + |n|, tiny)

and a check reports the largest one. ``python -m numpyvae.gradcheck`` checks every layer and the
loss terms and exits non-zero if any fails.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..models.hierarchical import HierarchicalVAE
from ..models.vae import VAE
from ..nn.layers import (
    ELU,
    GLU,
    Concat,
    Dense,
    Dropout,
    Layer,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Softplus,
    Tanh,
)
from ..nn.losses import (
    BernoulliLogLikelihood,
    ExactBernoulliLogLikelihood,
    FreeBitsKL,
    GaussianKL,
    GaussianLogDensity,
    GaussianLogLikelihood,
    ImportanceWeightedBound,
    LogImportanceWeight,
    SampledKL,
    StandardNormalLogDensity,
    kl_per_dimension,
)
from ..nn.mixture import MixtureLogDensity

TOLERANCE = 1e-7  # the largest relative error a smooth layer may show in float64
TINY = 1e-300


def relative_error(analytic: np.ndarray, numeric: np.ndarray, tiny: float = TINY) -> float:
    """The largest elementwise |a - n| / max(|a| + |n|, tiny); 0 for two empty arrays."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    if analytic.size == 0:
        return 0.0
    return float(np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), tiny)))


def numerical_gradient(f: Callable[[], np.ndarray | float], x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """d sum(f()) / d x by fourth-order central differences, perturbing x in place one element at a time.

        df/dx ~ [8 (f(x + h) - f(x - h)) - (f(x + 2h) - f(x - 2h))] / 12h,    error O(h^4)

    The O(h^4) error lets h be large enough (1e-3) that rounding, ~1e-16 / h, stays near 1e-13.
    f may return an array of terms: they are differenced before they are summed, so rounding error
    scales with each term rather than with the whole sum. x is restored after each element.
    """
    if x.dtype != np.float64:
        raise TypeError(f"numerical gradients need float64 to be meaningful, got {x.dtype}")
    grad = np.zeros_like(x)
    flat_x, flat_grad = x.reshape(-1), grad.reshape(-1)  # views: writing them writes x and grad

    def f_at(i: int, value: float) -> np.ndarray:
        flat_x[i] = value
        return np.asarray(f(), dtype=np.float64)

    for i in range(flat_x.size):
        original = flat_x[i]
        near = f_at(i, original + h) - f_at(i, original - h)
        far = f_at(i, original + 2 * h) - f_at(i, original - 2 * h)
        flat_x[i] = original
        flat_grad[i] = np.sum(8 * near - far) / (12 * h)
    return grad


def extrapolated_gradient(f: Callable[[], np.ndarray | float], x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Richardson's extrapolation of two fourth-order differences, at h and h/2: error O(h^6).

        N(h) = df/dx + c h^4 + O(h^6)   =>   (16 N(h/2) - N(h)) / 15 = df/dx + O(h^6).

    For whole models whose fifth derivatives are large (an IWAE softmax, a narrow Gaussian), where N(h)'s own
    c h^4 reaches 1e-7 of the gradient; the rounding, ~1e-16 |f| / h, stays near that of N(h/2).
    """
    return (16 * numerical_gradient(f, x, h / 2) - numerical_gradient(f, x, h)) / 15


def check_gradients(forward: Callable[[], np.ndarray], backward: Callable[[np.ndarray], dict[str, np.ndarray]],
                    tensors: dict[str, np.ndarray], *, random_upstream: bool = True, seed: int = 0,
                    rng: np.random.Generator | None = None, h: float = 1e-3,
                    numerical: Callable = numerical_gradient) -> dict[str, float]:
    """Relative error of each analytic gradient against its numerical twin.

    ``forward()`` computes an output y from the arrays in ``tensors``; ``backward(g)`` returns, keyed
    like ``tensors``, the analytic gradients of sum(y * g). g is a fixed random array (or ones, when
    ``random_upstream`` is false, for a backward that differentiates sum(y) only). ``rng``, when
    given, is the generator the forward pass draws from (dropout): its state is replayed before every
    forward pass, which holds the random masks fixed while the tensors move. ``numerical`` is the difference
    scheme (``numerical_gradient`` or ``extrapolated_gradient``).
    """
    replay = rng.bit_generator.state if rng is not None else None

    def run() -> np.ndarray:
        if rng is not None:
            rng.bit_generator.state = replay
        return forward()

    shape = np.shape(run())
    g = np.random.default_rng(seed).standard_normal(shape) if random_upstream else np.ones(shape)
    analytic = {name: np.array(grad, dtype=np.float64) for name, grad in backward(g.copy()).items()}
    return {name: relative_error(analytic[name], numerical(lambda: run() * g, tensor, h))
            for name, tensor in tensors.items()}


def check_layer(layer: Layer, x: np.ndarray, *, training: bool = True, seed: int = 0,
                rng: np.random.Generator | None = None, h: float = 1e-3) -> dict[str, float]:
    """Relative errors of a layer's input gradient ("input") and of each of its parameter gradients."""

    def backward(g: np.ndarray) -> dict[str, np.ndarray]:
        return {"input": layer.backward(g), **layer.grads}

    return check_gradients(lambda: layer.forward(x, training), backward, {"input": x, **layer.params},
                           seed=seed, rng=rng, h=h)


def check_vae(model: VAE, x: np.ndarray, eps: np.ndarray, *, training: bool = True,
              h: float = 1e-3, labels: np.ndarray | None = None,
              numerical: Callable = numerical_gradient) -> dict[str, float]:
    """Relative error of every parameter gradient of ``model.loss(x, training, eps, labels)``, in float64.

    With dropout on, the model's generator is replayed so each evaluation draws the same masks. ``eps`` is
    (B, latent) for the ELBO and (K, B, latent) for the IWAE objective; ``labels`` are for a conditional model.
    """

    def per_example_loss() -> np.ndarray:  # sums to model.loss, term by term
        return model.loss_terms(x, training, eps, labels).losses / len(x)

    def backward(_: np.ndarray) -> dict[str, np.ndarray]:
        model.backward()
        return model.grads

    return check_gradients(per_example_loss, backward, model.params, random_upstream=False,
                           rng=model.rng, h=h, numerical=numerical)


def layer_cases(seed: int = 0) -> list[tuple[str, Layer, np.ndarray, np.random.Generator | None]]:
    """(name, layer, input, generator to replay) for every layer, in float64, on inputs that cover
    the regions where bugs hide: both sides of ELU's kink, the curved parts of the squashing functions."""
    rng = np.random.default_rng(seed)
    f64 = np.float64

    def inputs(low: float, high: float, shape=(4, 6)) -> np.ndarray:
        x = rng.uniform(low, high, shape)
        x[np.abs(x) < 1e-3] = 0.5  # keep central differences off the kink at 0
        return x

    dropout_rng = np.random.default_rng(seed + 1)
    chain_rng = np.random.default_rng(seed + 2)
    chain = Sequential(Dense(6, 5, rng=rng, dtype=f64), ELU(), Dropout(0.7, rng=chain_rng),
                       Dense(5, 4, rng=rng, dtype=f64), Tanh(), Sigmoid(), Softplus())
    return [
        ("Dense", Dense(6, 5, rng=rng, dtype=f64), inputs(-2, 2), None),
        ("ELU", ELU(), inputs(-4, 4), None),
        ("ELU(alpha=0.5)", ELU(alpha=0.5), inputs(-4, 4), None),
        ("Tanh", Tanh(), inputs(-4, 4), None),
        ("Sigmoid", Sigmoid(), inputs(-8, 8), None),
        ("Softplus", Softplus(), inputs(-8, 8), None),
        ("Dropout", Dropout(0.7, rng=dropout_rng), inputs(-2, 2), dropout_rng),
        ("Sequential", chain, inputs(-2, 2), chain_rng),
        ("ReLU", ReLU(), inputs(-4, 4), None),
        ("LeakyReLU", LeakyReLU(), inputs(-4, 4), None),
        ("LeakyReLU(0.2)", LeakyReLU(0.2), inputs(-4, 4), None),
        ("GLU", GLU(), inputs(-4, 4), None),  # (4, 6) -> (4, 3)
    ]


def concat_check(seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """Concat's backward: the output's gradient split back into its inputs' column ranges."""
    rng = np.random.default_rng(seed)
    parts = {"first": rng.normal(size=(4, 3)), "second": rng.normal(size=(4, 5)), "third": rng.normal(size=(4, 2))}
    concat = Concat()
    return [("Concat", check_gradients(lambda: concat.forward(list(parts.values())),
                                       lambda g: dict(zip(parts, concat.backward(g), strict=True)), parts))]


def loss_term_checks(seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """The two ELBO terms on their own, away from the clip (where the gradient is zero by design)."""
    rng = np.random.default_rng(seed)
    logits, targets = rng.uniform(-6, 6, (4, 6)), rng.uniform(0, 1, (4, 6))
    mean, std = rng.normal(size=(4, 3)), rng.uniform(0.05, 2, (4, 3))
    kl = GaussianKL()
    terms = [(name, term()) for name, term in (("BernoulliLL", BernoulliLogLikelihood),
                                               ("GaussianLL", GaussianLogLikelihood))]
    terms.append(("ExactBernoulliLL", ExactBernoulliLogLikelihood()))
    wide_logits = rng.uniform(-40, 40, (4, 6))  # no clip: the gradient is x - sigmoid(a) far out too
    sampled_kl, prior, posterior, bound = SampledKL(), StandardNormalLogDensity(), GaussianLogDensity(), \
        ImportanceWeightedBound()
    log_weight, log_likelihood = LogImportanceWeight(), rng.normal(scale=30, size=(5, 4))
    sample_z, sample_eps = rng.normal(size=(5, 4, 3)), rng.standard_normal((5, 4, 3))  # K = 5 samples, z and eps
    eps, z = rng.standard_normal((4, 3)), rng.normal(size=(4, 3))
    # log q's derivatives scale as 1/std^k: a std near 0.05 would make the differences' own error O(h^4 / std^5)
    q_std = rng.uniform(0.5, 2, (4, 3))
    log_weights = rng.normal(scale=3, size=(5, 4))  # K = 5 samples of 4 images
    # free bits: lambda halfway between the two smallest dimensions' batch-mean KLs, so one dimension sits under
    # its floor (zero gradient) and two above, none at the max's kink
    dimension_kl = np.sort(kl_per_dimension(mean, std).mean(axis=0))
    free_bits = FreeBitsKL((dimension_kl[0] + dimension_kl[1]) / 2)
    return [
        *[(name, check_gradients(lambda term=term: term.forward(logits, targets),
                                 lambda g, term=term: {"logits": term.backward(g)}, {"logits": logits}))
          for name, term in terms],
        ("ExactBernoulli wide", check_gradients(lambda: terms[-1][1].forward(wide_logits, targets),
                                                lambda g: {"logits": terms[-1][1].backward(g)},
                                                {"logits": wide_logits})),
        ("GaussianKL", check_gradients(lambda: kl.forward(mean, std),
                                       lambda g: dict(zip(("mean", "std"), kl.backward(g), strict=True)),
                                       {"mean": mean, "std": std})),
        ("FreeBitsKL", check_gradients(lambda: free_bits.forward(mean, std),
                                       lambda g: dict(zip(("mean", "std"), free_bits.backward(g), strict=True)),
                                       {"mean": mean, "std": std})),
        ("SampledKL", check_gradients(lambda: sampled_kl.forward(mean, std, eps),
                                      lambda g: dict(zip(("mean", "std"), sampled_kl.backward(g), strict=True)),
                                      {"mean": mean, "std": std})),
        ("log p(z)", check_gradients(lambda: prior.forward(z), lambda g: {"z": prior.backward(g)}, {"z": z})),
        ("log q(z|x)", check_gradients(lambda: posterior.forward(z, mean, q_std),
                                       lambda g: dict(zip(("z", "mean", "std"), posterior.backward(g), strict=True)),
                                       {"z": z, "mean": mean, "std": q_std})),
        ("log w (IWAE)", check_gradients(lambda: log_weight.forward(log_likelihood, sample_z, sample_eps, q_std),
                                         lambda g: dict(zip(("log_likelihood", "z", "std"), log_weight.backward(g),
                                                            strict=True)),
                                         {"log_likelihood": log_likelihood, "z": sample_z, "std": q_std})),
        ("IWAE log-mean-exp", check_gradients(lambda: bound.forward(log_weights),
                                              lambda g: {"log_weights": bound.backward(g)},
                                              {"log_weights": log_weights})),
    ]


def vae_checks(seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """A small float64 VAE end to end: dropout off and on (masks held fixed), and its variants."""
    rng = np.random.default_rng(seed)
    x, eps = rng.uniform(0, 1, (5, 12)), rng.standard_normal((5, 3))
    labels = np.arange(5) % 4
    variants = [("VAE dropout off", False, {}), ("VAE dropout on", True, {}),
                ("AE", True, dict(variational=False)), ("VAE mse", True, dict(reconstruction="mse")),
                ("VAE beta=0.3", True, dict(kl_weight=0.3)),
                ("VAE 3 layers", True, dict(hidden_dims=(7, 6, 5))),
                ("VAE relu/leaky", True, dict(hidden_dims=(7, 6, 5), decoder_dims=(6, 8),
                                              activations=("relu", "leaky_relu", "tanh"),
                                              decoder_activations=("leaky_relu", "relu"))),
                ("VAE gated", True, dict(activations=("glu", "tanh"), decoder_activations=("elu", "glu"))),
                ("VAE kl sampled", True, dict(kl="sampled")),
                ("VAE free bits", True, dict(free_bits=0.75)),  # one dimension of three under 0.75 nats
                ("VAE exact LL", True, dict(likelihood="exact")),
                ("CVAE", True, dict(num_classes=4)),
                ("IWAE K=1", True, dict(objective="iwae", k=1)), ("IWAE K=4", True, dict(objective="iwae", k=4)),
                ("CVAE IWAE K=3", True, dict(objective="iwae", k=3, num_classes=4))]
    results = []
    for name, training, options in variants:
        options = {"hidden_dims": (7, 6), **options}
        k = options.get("k", 1)
        noise = rng.standard_normal((k, 5, 3)) if options.get("objective") == "iwae" else eps
        chosen = labels if options.get("num_classes") else None
        for model_seed in range(seed, seed + 100):  # the first weights whose kinked units stay clear of 0
            model = VAE(12, latent_dim=3, keep_prob=0.8, seed=model_seed, dtype=np.float64, **options)
            if distance_to_kinks(model, x, noise, chosen, training) > KINK_MARGIN:
                break
        results.append((name, check_vae(model, x, noise, training=training, labels=chosen)))
    return results


KINK_MARGIN = 0.02  # 10 difference steps: ELU's curvature and ReLU's slope jump at 0


def distance_to_kinks(model: VAE, x: np.ndarray, eps: np.ndarray, labels: np.ndarray | None,
                      training: bool) -> float:
    """The smallest |input| of any ELU, ReLU or leaky ReLU unit in one forward pass (generator left as it was).

    A central difference whose steps carry such an input across 0 measures a different function on each
    side: ReLU's slope jumps there, ELU's curvature does. The check then reports the step, not the gradient.
    With free bits, the distance of each dimension's batch-mean KL from lambda counts too (the max's kink).
    """
    state = model.rng.bit_generator.state
    model.loss(x, training, eps, labels)
    model.rng.bit_generator.state = state
    distances = [np.inf]
    if isinstance(model.kl, FreeBitsKL) and model.objective == "elbo":  # max(lambda, KL_d) has its kink at lambda
        distances.append(np.abs(model.kl.dimension_kl - model.kl.free_bits).min())
    for network in (model.encoder, model.decoder):
        for dense, activation in zip(network.layers, network.layers[1:], strict=False):
            if isinstance(dense, Dense) and isinstance(activation, (ELU, ReLU, LeakyReLU)):
                distances.append(np.abs(dense.x @ dense.params["weight"] + dense.params["bias"]).min())
    return float(min(distances))


# -- two stochastic layers and the VampPrior --------------------------------------------------------------

def mixture_check(seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """The VampPrior's term on its own: log (1/M) sum_m N(z; mu_m, s_m^2) against z, the means and the stds."""
    rng = np.random.default_rng(seed)
    z, means, stds = rng.normal(size=(6, 3)), rng.normal(size=(4, 3)), rng.uniform(0.5, 2, (4, 3))
    mixture = MixtureLogDensity()
    return [("log VampPrior(z)", check_gradients(
        lambda: mixture.forward(z, means, stds),
        lambda g: dict(zip(("z", "means", "stds"), mixture.backward(g), strict=True)),
        {"z": z, "means": means, "stds": stds}))]


SMALL_GRADIENT = 1e-4  # an element this far below its tensor's largest is a near-cancellation over the batch


def smallest_gradient_share(model: HierarchicalVAE, x: np.ndarray, eps, training: bool) -> float:
    """The smallest nonzero |dL/dtheta_i| / max_j |dL/dtheta_j| over every parameter tensor (generator left as it
    was). Exact zeros (a dead ReLU's weights) are left out: there the differences are exactly zero too.

    The differences' rounding, ~1e-16 of the loss over h, is ~1e-12 here: an element below 1e-4 of its tensor's
    largest (~1e-5) would show it as a relative error near 1e-7, a measure of the rounding and not of the
    gradient, which the comparison with PyTorch (tests/test_hierarchical_torch.py) covers without differences.
    """
    state = model.rng.bit_generator.state
    model.loss(x, training, eps)
    model.backward()
    model.rng.bit_generator.state = state
    shares = [np.abs(g[g != 0]) / np.abs(g).max() for g in model.grads.values() if np.any(g)]
    return min(float(share.min()) for share in shares)


STD_MARGIN = 0.1  # the log-densities' k-th derivatives grow as 1 / std^k: keep the checked stds above this


def hierarchical_kink_distance(model: HierarchicalVAE, x: np.ndarray, eps, training: bool) -> float:
    """``distance_to_kinks`` for every chain of layers of a HierarchicalVAE."""
    state = model.rng.bit_generator.state
    model.loss(x, training, eps)
    model.rng.bit_generator.state = state
    distances = [np.inf]
    for network in model.networks():
        for dense, activation in zip(network.layers, network.layers[1:], strict=False):
            if isinstance(dense, Dense) and isinstance(activation, (ELU, ReLU, LeakyReLU)):
                distances.append(np.abs(dense.x @ dense.params["weight"] + dense.params["bias"]).min())
    return float(min(distances))


def smallest_std(model: HierarchicalVAE) -> float:
    """The smallest std of any Gaussian of the last forward pass: q's, p(z_i | z_{i+1})'s, the VampPrior's."""
    stds = [std for _, std in model.posteriors] + [term.std for term in model.p_densities[:model.levels - 1]]
    if model.prior == "vampprior":
        stds.append(model.prior_components()[1])
    return min(float(std.min()) for std in stds)


HIERARCHICAL_VARIANTS = [  # (row name, dropout on, options); two layers 10 -> 6, 5 -> 3 -> 4, 3 -> 2 unless noted
    ("HVAE ELBO", False, {}), ("HVAE ELBO drop", True, {}), ("HVAE ELBO sampled", True, dict(kl="sampled")),
    ("HVAE beta=0.3", True, dict(kl_weight=0.3)), ("HVAE exact LL", True, dict(likelihood="exact")),
    ("HVAE IWAE K=4", False, dict(objective="iwae", k=4)), ("HVAE IWAE K=4 drop", True, dict(objective="iwae", k=4)),
    ("HVAE 3 layers IWAE", True, dict(latent_dims=(3, 3, 2), hidden_dims=[[6], [4], [3]], objective="iwae", k=2)),
    ("Vamp VAE ELBO", False, dict(latent_dims=(3,), hidden_dims=[[6, 5]], activations=None, prior="vampprior")),
    ("Vamp VAE ELBO drop", True, dict(latent_dims=(3,), hidden_dims=[[6, 5]], activations=None, prior="vampprior")),
    ("Vamp VAE IWAE drop", True, dict(latent_dims=(3,), hidden_dims=[[6, 5]], activations=None, prior="vampprior",
                                      objective="iwae", k=3)),
    ("Vamp HVAE ELBO", False, dict(prior="vampprior")), ("Vamp HVAE ELBO drop", True, dict(prior="vampprior")),
    ("Vamp HVAE IWAE", False, dict(prior="vampprior", objective="iwae", k=3)),
    ("Vamp HVAE IWAE drop", True, dict(prior="vampprior", objective="iwae", k=3)),
    ("Vamp HVAE gated IWAE", True, dict(activations="glu", prior="vampprior", objective="iwae", k=3)),
]


def generic_point(model: HierarchicalVAE, rng: np.random.Generator) -> None:
    """Move a fresh model off its special initial point: biases ~ N(0, 0.1^2) (zero biases would leave their
    paths half-tested) and pseudo-inputs uniform in [0, 1], like images."""
    for name, param in model.params.items():
        if name.endswith(".bias"):
            param += rng.normal(0, 0.1, param.shape)
    if "prior.pseudo_inputs" in model.params:
        model.params["prior.pseudo_inputs"][...] = rng.uniform(0, 1, model.params["prior.pseudo_inputs"].shape)


def hierarchical_case(options: dict, training: bool, seed: int = 0):
    """A float64 HierarchicalVAE of ``options`` at a generic point, a batch x (5, 10) and its noise eps: the first
    model seed whose kinked units stay clear of 0, whose stds stay above STD_MARGIN and whose gradients have no
    element below SMALL_GRADIENT of its tensor's largest (criteria on the point, not on the check's outcome)."""
    options = {"latent_dims": (3, 2), "hidden_dims": [[6, 5], [4, 3]], "components": 3, **options}
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (5, 10))
    for model_seed in range(seed, seed + 100):
        model = HierarchicalVAE(10, keep_prob=0.8 if training else 1.0, seed=model_seed, dtype=np.float64, **options)
        generic_point(model, np.random.default_rng([seed, model_seed]))
        k = (model.k,) if model.objective == "iwae" else ()
        eps = [rng.standard_normal((*k, 5, width)) for width in model.latent_dims]
        if (hierarchical_kink_distance(model, x, eps, training) > KINK_MARGIN and smallest_std(model) > STD_MARGIN
                and smallest_gradient_share(model, x, eps, training) > SMALL_GRADIENT):
            return model, x, eps
    raise AssertionError(f"no seed of {options} gives a point fit for differences")


def hierarchical_checks(seed: int = 0) -> list[tuple[str, dict[str, float]]]:
    """Two stochastic layers and the VampPrior end to end, every parameter (pseudo-inputs included), ELBO and
    IWAE, dropout off and on (masks held fixed), by Richardson-extrapolated differences (``extrapolated_gradient``)."""
    results = []
    for name, training, options in HIERARCHICAL_VARIANTS:
        model, x, eps = hierarchical_case(options, training, seed)
        results.append((name, check_vae(model, x, eps, training=training, numerical=extrapolated_gradient)))
    return results
