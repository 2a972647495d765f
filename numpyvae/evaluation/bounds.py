"""The numbers papers print for a trained model (``python -m numpyvae.evaluate CHECKPOINT`` prints them).

    -ELBO         = E_q[-log p(x | z)] + KL(q(z | x) || p(z)), split into its two terms (one sample of z
                    per image, dropout off), each with its standard error over the images
    IWAE bound    -log p(x) ~ -log (1/k) sum_k p(x | z_k) p(z_k) / q(z_k | x),   z_k ~ q(z | x)
                    (Burda et al. 2015): a tighter bound that approaches -log p(x) as k grows
    active units  latent dimensions whose posterior mean varies over the test set: Var_x E_q[z_d] > 0.01
    KL per dim    the mean over the images of each latent dimension's share of the KL

All work is batched so memory stays bounded for any number of images and any k, and every random draw
comes from a generator of its own (``seed``), so evaluating never disturbs a training run's stream.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from ..data import to_float
from ..errors import UsageError
from ..models.hierarchical import HierarchicalVAE
from ..models.vae import VAE
from ..nn.losses import kl_per_dimension
from ..progress import progress_bar
from .lean_hierarchical import hierarchical_log_mean_weight
from .lean_iwae import iwae_bound_parallel, iwae_log_mean_weight

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al.: a unit is active when Var_x E_q[z_d] exceeds 0.01


def likelihood_description(config: dict) -> str:
    """What p(x | z) is, so that a report says what its numbers bound (all are in nats)."""
    if config.get("reconstruction") == "mse":
        return ("unit-variance Gaussian density over pixels, its (P/2) log 2pi included: the numbers bound "
                "-log p(x) as a density and are not comparable with Bernoulli numbers")
    if config.get("likelihood") == "exact":
        return "Bernoulli over pixels, exact log sigmoid (no clip)"
    return "Bernoulli over pixels, the seed's probabilities clipped to [1e-8, 1 - 1e-8]"


ROWS_PER_CHUNK = 2_000  # latent samples decoded at once by the IWAE pass: 6 MB per float32 (rows, 784), in cache


def batches(model: VAE, images: np.ndarray, batch_size: int):
    """The stored uint8 rows as float batches in the model's dtype (binarized data comes binarized:
    numpyvae.data.binarization.fixed_binarization)."""
    for start in range(0, len(images), batch_size):
        yield start, to_float(images[start:start + batch_size], model.dtype)


def lean_pass(model: VAE | HierarchicalVAE):
    """The lean IWAE pass of one batch for ``model``, ``f(model, x, k, rng, rows, labels)`` -> log (1/k) sum w
    (B,): ``lean_hierarchical``'s for the model of several stochastic layers, ``lean_iwae``'s for the VAE. The
    one place that tells the two apart; every IWAE bound of this module goes through it."""
    return hierarchical_log_mean_weight if isinstance(model, HierarchicalVAE) else iwae_log_mean_weight


def check_labels(model: VAE, images: np.ndarray, labels: np.ndarray | None) -> np.ndarray | None:
    """The labels a conditional model is evaluated with (its bounds are on -log p(x | y)); None otherwise.

    UsageError when a conditional model gets no labels, or labels that do not go with the images.
    """
    if not model.conditional:
        return None
    if labels is None or len(labels) != len(images):
        raise UsageError("a conditional model bounds -log p(x | y): it needs the label of every image")
    return np.asarray(labels)


def label_rows(labels: np.ndarray | None, start: int, count: int) -> np.ndarray | None:
    """The labels of images start..start + count, or None for an unconditional model."""
    return None if labels is None else labels[start:start + count]


@dataclass
class PosteriorPass:
    """One pass over the images, dropout off, one z ~ q(z | x) per image."""

    log_likelihood: np.ndarray  # (N,) log p(x | z)
    kl: np.ndarray              # (N,) KL(q(z | x) || p(z))
    means: np.ndarray           # (N, D) the posterior means E_q[z]
    kl_per_dim: np.ndarray      # (D,) each latent dimension's KL, averaged over the images

    @property
    def mean_variance(self) -> np.ndarray:
        """(D,) each dimension's variance over the images of its posterior mean; active above ACTIVE_UNIT_THRESHOLD."""
        return np.var(self.means, axis=0)

    @property
    def active_units(self) -> int:
        """How many latent dimensions are active: Var_x E_q[z_d] > ACTIVE_UNIT_THRESHOLD (Burda et al.)."""
        return int(np.sum(self.mean_variance > ACTIVE_UNIT_THRESHOLD))

    def negative_elbo(self, variational: bool = True) -> float:
        """The mean -ELBO = KL - log p(x | z) over the images (the plain autoencoder's: -log p(x | z))."""
        return float(np.mean(self.kl - self.log_likelihood) if variational else -np.mean(self.log_likelihood))


def posterior_pass(model: VAE, images: np.ndarray, *, batch_size: int = 1000, seed: int = 0,
                   labels: np.ndarray | None = None) -> PosteriorPass:
    """Everything the ELBO and the active units need, from one pass through the model (float64 results).

    The KL is the analytic one whatever the model trains with (for a HierarchicalVAE, the top layer's; the
    VampPrior has none, so its KL is sampled); a conditional model is run with ``labels``. The means, the
    active units and the KL per dimension are those of q(z1 | x), the layer next to the data.
    """
    labels = check_labels(model, images, labels)
    rng = np.random.default_rng(seed)
    widths = model.latent_dims  # each stochastic layer's, one for the VAE
    kl = "analytic" if model.prior == "standard" else "sampled"
    result = PosteriorPass(np.empty(len(images)), np.empty(len(images)), np.empty((len(images), widths[0])),
                           np.zeros(widths[0]))
    for start, x in batches(model, images, batch_size):
        noise = [rng.standard_normal((len(x), width), dtype=model.dtype) for width in widths]
        eps = noise[0] if len(noise) == 1 else noise
        terms = model.elbo_terms(x, training=False, eps=eps, labels=label_rows(labels, start, len(x)), kl=kl)
        rows = slice(start, start + len(x))
        result.log_likelihood[rows] = terms.log_likelihood
        result.kl[rows] = terms.kl
        result.means[rows] = terms.mean
        result.kl_per_dim += kl_per_dimension(terms.mean.astype(np.float64), terms.std.astype(np.float64)).sum(axis=0)
    result.kl_per_dim /= len(images)
    return result


def elbo_terms(model: VAE, images: np.ndarray, *, batch_size: int = 1000, seed: int = 0,
               labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-image log p(x | z) and KL(q(z | x) || p(z)), both (N,) float64, one z per image, dropout off."""
    terms = posterior_pass(model, images, batch_size=batch_size, seed=seed, labels=labels)
    return terms.log_likelihood, terms.kl


def negative_elbo(model: VAE, images: np.ndarray, *, batch_size: int = 1000, seed: int = 0,
                  labels: np.ndarray | None = None) -> float:
    """The mean over ``images`` of -ELBO = KL - log p(x | z), in nats (for the plain autoencoder, which
    has no KL term, its reconstruction loss -log p(x | z)); for a conditional model, given ``labels``, the
    bound on -log p(x | y)."""
    terms = posterior_pass(model, images, batch_size=batch_size, seed=seed, labels=labels)
    return terms.negative_elbo(model.variational)


def log_weights(model: VAE, x: np.ndarray, k: int, rng: np.random.Generator, rows: int = ROWS_PER_CHUNK,
                labels: np.ndarray | None = None) -> np.ndarray:
    """log w_k of k samples of each image of x (B, D), (B, k) in float64: the model's own IWAE terms (its
    LogImportanceWeight), dropout off, decoded at most ``rows`` rows at a time. For looking at the weights one
    by one (numpyvae.teaching.intuition); a bound needs only their log-mean-exp, which the lean pass reduces
    on the way."""
    weights, per_chunk = np.empty((len(x), k)), max(1, rows // len(x))
    for first in range(0, k, per_chunk):
        n = min(per_chunk, k - first)
        eps = rng.standard_normal((n, len(x), model.config["latent_dim"]), dtype=model.dtype)
        weights[:, first:first + n] = model.iwae_terms(x, training=False, eps=eps, labels=labels).log_weights.T
    return weights


def iwae_bound(model: VAE, images: np.ndarray, *, k: int = 100, batch_size: int = 100, seed: int = 0,
               progress: bool = False, labels: np.ndarray | None = None) -> np.ndarray:
    """Per-image IWAE estimate of -log p(x) (of -log p(x | y) for a conditional model, given ``labels``) with
    k importance samples: (N,) float64, in nats."""
    if not model.variational:
        raise UsageError("the plain autoencoder (--model ae) has no posterior: IWAE needs a VAE")
    labels = check_labels(model, images, labels)
    rng = np.random.default_rng(seed)
    bound = np.empty(len(images))
    with progress_bar(total=len(images), disable=not progress, unit="image", desc=f"IWAE K={k}") as bar:
        for start, x in batches(model, images, batch_size):
            # the lean pass (numpyvae.evaluation.lean_iwae), its draws from this one generator batch after batch
            bound[start:start + len(x)] = -lean_pass(model)(model, x, k, rng, ROWS_PER_CHUNK,
                                                            label_rows(labels, start, len(x)))
            bar.update(len(x))
    return bound


def posterior_statistics(model: VAE, images: np.ndarray, *, batch_size: int = 1000,
                         seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per latent dimension: the variance over the images of the posterior mean, and the mean KL. (D,) each."""
    terms = posterior_pass(model, images, batch_size=batch_size, seed=seed)
    return terms.mean_variance, terms.kl_per_dim


def mean_and_stderr(values: np.ndarray) -> tuple[float, float]:
    """The mean and its standard error std / sqrt(N) (0 for a single value)."""
    stderr = float(np.std(values, ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return float(np.mean(values)), stderr


def evaluate(model: VAE, images: np.ndarray, *, k: int = 100, iwae_images: int | None = None,
             batch_size: int = 100, seed: int = 0, progress: bool = False,
             labels: np.ndarray | None = None, workers: int = 1) -> dict:
    """Every number of this module for ``images`` (uint8 rows, binarized already if they are to be), as a
    JSON-ready dict.

    ``k = 0`` skips the IWAE pass; ``iwae_images`` limits it to the first that many images; ``workers`` > 1
    runs it in that many processes (numpyvae.evaluation.lean_iwae.iwae_bound_parallel: other draws, the same bound).
    A conditional model needs the images' ``labels``; its bounds are then on -log p(x | y), which
    ``"bounds"`` records.
    """
    if k < 0:
        raise UsageError(f"--k must be at least 1 (0 skips IWAE), got {k}")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {batch_size}")
    labels = check_labels(model, images, labels)
    results: dict = {"images": len(images), "seed": seed,
                     "bounds": "-log p(x | y)" if labels is not None else "-log p(x)",
                     "likelihood": likelihood_description(model.config)}
    started = time.perf_counter()
    terms = posterior_pass(model, images, seed=seed, labels=labels)
    results["reconstruction"], results["reconstruction_stderr"] = mean_and_stderr(-terms.log_likelihood)
    results["kl"], results["kl_stderr"] = mean_and_stderr(terms.kl)
    if model.variational:
        results["negative_elbo"], results["negative_elbo_stderr"] = mean_and_stderr(terms.kl - terms.log_likelihood)
        results["active_units"] = terms.active_units
        results["posterior_mean_variance"] = terms.mean_variance.tolist()
        results["kl_per_dim"] = terms.kl_per_dim.tolist()
    results["elbo_seconds"] = time.perf_counter() - started
    if k and model.variational:
        subset = images[:iwae_images] if iwae_images else images
        started = time.perf_counter()
        subset_labels = None if labels is None else labels[:len(subset)]
        if workers > 1:
            bound = iwae_bound_parallel(model, subset, k=k, batch_size=batch_size, seed=seed, workers=workers,
                                        rows=ROWS_PER_CHUNK, progress=progress, labels=subset_labels,
                                        log_mean_weight=lean_pass(model))
        else:
            bound = iwae_bound(model, subset, k=k, batch_size=batch_size, seed=seed, progress=progress,
                               labels=subset_labels)
        seconds = time.perf_counter() - started
        results["iwae"], results["iwae_stderr"] = mean_and_stderr(bound)
        results.update(iwae_k=k, iwae_images=len(subset), iwae_seconds=seconds,
                       iwae_images_per_second=len(subset) / seconds, iwae_workers=workers)
    return results


def iwae_ladder(model: VAE, images: np.ndarray, ks: list[int], *, batch_size: int = 100, seed: int = 0,
                workers: int = 1, progress: bool = False, labels: np.ndarray | None = None) -> dict:
    """The IWAE bound for each k of ``ks`` (increasing) on the same images, and the paired difference between
    consecutive k per image, each with its standard error: how much each step up in k tightens the bound."""
    bounds = []
    for k in ks:
        if workers > 1:
            bounds.append(iwae_bound_parallel(model, images, k=k, batch_size=batch_size, seed=seed, workers=workers,
                                              rows=ROWS_PER_CHUNK, progress=progress, labels=labels,
                                              log_mean_weight=lean_pass(model)))
        else:
            bounds.append(iwae_bound(model, images, k=k, batch_size=batch_size, seed=seed, progress=progress,
                                     labels=labels))
    ladder = [dict(zip(("k", "iwae", "iwae_stderr"), (k, *mean_and_stderr(b)), strict=True))
              for k, b in zip(ks, bounds, strict=True)]
    differences = [dict(zip(("from_k", "to_k", "difference", "difference_stderr"),
                            (ks[i], ks[i + 1], *mean_and_stderr(bounds[i + 1] - bounds[i])), strict=True))
                   for i in range(len(ks) - 1)]
    return {"iwae_ladder": ladder, "iwae_differences": differences, "iwae_ladder_images": len(images)}


def format_table(results: dict) -> str:
    """The headline numbers as an aligned table: quantity, value, standard error (nats)."""
    rows = [("reconstruction -log p(x|z)", "reconstruction"), ("KL(q(z|x) || p(z))", "kl"),
            ("-ELBO", "negative_elbo")]
    if "iwae" in results:
        rows.append((f"IWAE -log p(x), K={results['iwae_k']}, {results['iwae_images']} images", "iwae"))
    if results.get("bounds") == "-log p(x | y)":  # a conditional model: every bound is on -log p(x | y)
        rows = [(label.replace("p(x)", "p(x|y)").replace("p(x|z)", "p(x|z,y)").replace("q(z|x)", "q(z|x,y)")
                 .replace("-ELBO", "-ELBO, a bound on -log p(x|y)"), key) for label, key in rows]
    lines = [f"{'quantity':<48} {'nats':>10} {'± s.e.':>8}"]
    lines += [f"{label:<48} {results[key]:>10.3f} {results[key + '_stderr']:>8.3f}"
              for label, key in rows if key in results]
    for row in results.get("iwae_ladder", []):
        label = f"IWAE K={row['k']}, {results['iwae_ladder_images']} images"
        lines.append(f"{label:<48} {row['iwae']:>10.3f} {row['iwae_stderr']:>8.3f}")
    for row in results.get("iwae_differences", []):
        label = f"  paired: IWAE(K={row['to_k']}) - IWAE(K={row['from_k']})"
        lines.append(f"{label:<48} {row['difference']:>10.3f} {row['difference_stderr']:>8.3f}")
    if "active_units" in results:
        lines.append(f"{'active units (Var E_q[z_d] > 0.01)':<48} {results['active_units']:>10d} "
                     f"of {len(results['kl_per_dim'])}")
    if "likelihood" in results:
        lines.append(f"p(x | z): {results['likelihood']}")
    return "\n".join(lines)
