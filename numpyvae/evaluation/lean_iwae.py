"""The IWAE bound at k = 5000 in minutes: the decoder pass, lean.

For each image x, with z_i = mu + sigma * eps_i (i = 1..k) and the weights of ``nn.losses.LogImportanceWeight``
(the one log-weight that training and ``explain`` compute too)

    log w_i = log p(x | z_i) + log p(z_i) - log q(z_i | x)
            = log p(x | z_i) - |z_i|^2 / 2 + |eps_i|^2 / 2 + sum log sigma      (the 2 pi terms cancel)

it returns log (1/k) sum_i w_i, the negated IWAE bound. Nearly all the work is decoding k latent vectors per
image, 1.3 MFLOP each for the seed's decoder: 65 TFLOP for k = 5000 over the 10,000 test images. So:

- the samples of all the batch's images go through the decoder together, ``rows`` at a time (a few MB, so
  the element-wise passes run in cache), in the model's dtype (float32), into buffers reused chunk to chunk;
- Dense, tanh and ELU run in place (dropout is the identity in evaluation; any other layer runs its own
  ``forward``);
- the Bernoulli log-likelihood of the clipped logits a (the seed's clip, |a| <= 18.42) is computed as

      log p(x | a) = sum_j [x_j a_j - softplus(a_j)],
      sum_j softplus(a_j) = sum_j max(a_j, 0) + log prod_j (1 + e^-|a_j|),   max(a, 0) = (a + |a|) / 2,
      so  log p(x | a) = sum_j (x_j - 1/2) a_j  -  sum_j |a_j| / 2  -  log prod_j (1 + e^-|a_j|)

  with one exponential per pixel and one logarithm per 16 pixels (each factor lies in (1, 2], so a product
  of 16 stays below 2^16); any other likelihood uses its own ``forward``;
- the weights are reduced chunk by chunk with a running log-sum-exp (the maximum so far and the sum of
  e^(w - maximum), rescaled when the maximum grows), in float64, so no (B, k) array is ever held.

The noise is drawn as eps of shape (n, B, latent) per chunk of n = rows // B samples; tests/test_iwae_fast.py
holds the result to an independent float64 reference with the same draws (tests/reference.py) and to a
float64 brute force.
"""

from __future__ import annotations

import numpy as np

from ..data import to_float
from ..nn.layers import ELU, Dense, Dropout, Tanh, row_of_zeros
from ..nn.losses import LOGIT_CLIP, BernoulliLogLikelihood, LogImportanceWeight

LOG_FACTORS = 16  # pixels whose factors (1 + e^-|a|) in (1, 2] are multiplied before one logarithm


def _hidden_forward(layer, h: np.ndarray) -> np.ndarray:
    """One decoder layer in evaluation mode, in place where the layer allows it."""
    if isinstance(layer, Dense):
        out = h @ layer.params["weight"]
        out += layer.params["bias"]
        return out
    if isinstance(layer, Tanh):
        return np.tanh(h, out=h)
    if isinstance(layer, ELU) and layer.alpha == 1:  # max(h, 0) + e^min(h, 0) - 1
        negative = np.minimum(h, row_of_zeros(h))  # np.minimum(h, 0), on the faster loop (see row_of_zeros)
        h -= negative                   # max(h, 0), exactly, and a subtraction costs a fifth of np.maximum
        np.exp(negative, out=negative)
        negative -= 1
        h += negative
        return h
    if isinstance(layer, Dropout):
        return h
    return layer.forward(h, training=False)


def bernoulli_log_likelihood(a: np.ndarray, x: np.ndarray) -> np.ndarray:
    """sum_j [x_j a_j - softplus(a_j)] of clip(a) for logits a (n, B, D) and targets x (B, D): (n, B).

    ``a`` is overwritten (clipped, then used as scratch).
    """
    np.clip(a, -LOGIT_CLIP, LOGIT_CLIP, out=a)
    # sum_j x_j a_j - sum_j max(a_j, 0), with max(a, 0) = (a + |a|) / 2: the a half rides in the product with
    # x - 1/2 (exact in floating point for x in {0, 1}), the |a| half is a sum of its own
    linear = np.einsum("nbj,bj->nb", a, x - np.asarray(0.5, dtype=x.dtype))
    np.abs(a, out=a)
    linear -= 0.5 * a.sum(axis=-1)
    np.negative(a, out=a)
    np.exp(a, out=a)
    a += 1                                          # the factors 1 + e^-|a_j|, each in (1, 2]
    factors, width = a, a.shape[-1]
    for _ in range(LOG_FACTORS.bit_length() - 1):   # halve the width by multiplying its two halves
        if width % 2:
            break
        width //= 2
        factors = np.multiply(factors[..., :width], factors[..., width:2 * width],
                              out=factors[..., :width])
    return linear - np.log(factors).sum(axis=-1)


def iwae_log_mean_weight(model, x: np.ndarray, k: int, rng: np.random.Generator, rows: int,
                         labels: np.ndarray | None = None) -> np.ndarray:
    """log (1/k) sum_i w_i for each image of the batch x (B, D) in the model's dtype: (B,) float64.

    A conditional model takes the images' ``labels`` (B,): the weights are then those of p(x | y), and the
    decoder runs its own ``forward`` on [z | y].
    """
    y = model.one_hot(labels, len(x))  # None for an unconditional model
    mean, std = model.encode(x, y)
    batch, latent = mean.shape
    std64 = std.astype(np.float64)  # so that sum log sigma, and with it every weight, is float64
    log_weight = LogImportanceWeight()
    layers = model.decoder.layers
    fast_output = (y is None and isinstance(layers[-1], Dense)
                   and type(model.reconstruction) is BernoulliLogLikelihood)
    peak = np.full(batch, -np.inf)
    total = np.zeros(batch)
    samples_per_chunk = max(1, rows // batch)
    for first in range(0, k, samples_per_chunk):
        n = min(samples_per_chunk, k - first)
        eps = rng.standard_normal((n, batch, latent), dtype=model.dtype)
        z = mean + std * eps
        h = z.reshape(-1, latent)
        if fast_output:
            for layer in layers[:-1]:
                h = _hidden_forward(layer, h)
            logits = _hidden_forward(layers[-1], h).reshape(n, batch, -1)
            log_likelihood = bernoulli_log_likelihood(logits, x)
        else:
            logits = model.decoder_logits(h, None if y is None else np.tile(y, (n, 1)))
            log_likelihood = model.reconstruction.forward(logits, np.tile(x, (n, 1))).reshape(n, batch)
        weights = log_weight.forward(log_likelihood.astype(np.float64), z, eps, std64)    # (n, B) float64
        new_peak = np.maximum(peak, weights.max(axis=0))
        total = total * np.exp(peak - new_peak) + np.exp(weights - new_peak).sum(axis=0)
        peak = new_peak
    return peak + np.log(total) - np.log(k)


# -- several processes ------------------------------------------------------------------------------
# NumPy runs element-wise work on one core and a third of the time goes there, so one process leaves a core
# idle a third of the time. Worker processes, each with a one-thread BLAS, keep both cores busy. Each batch of
# images draws from its own generator default_rng([seed, batch index]), so the result does not depend on the
# number of workers or the order they finish in.

_WORKER: dict = {}


def _start_worker(model_class: type, config: dict, params: dict, images: np.ndarray, k: int, batch_size: int,
                  seed: int, rows: int, labels: np.ndarray | None, log_mean_weight) -> None:
    """The model rebuilt from its own ``config`` (``model_class(**config)``, the VAE's or the HierarchicalVAE's)
    with ``params``, and what every batch needs, kept for ``_bound_of_batch``."""
    model = model_class(**config)
    for name, param in model.params.items():
        np.copyto(param, params[name])
    _WORKER.update(model=model, images=images, k=k, batch_size=batch_size, seed=seed, rows=rows, labels=labels,
                   log_mean_weight=log_mean_weight)


def _start_pool_worker(*arguments) -> None:
    """A worker process: Ctrl-C and SIGTERM are the parent's to handle (it ends the pool), then _start_worker."""
    import signal
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _start_worker(*arguments)


def _bound_of_batch(index: int) -> np.ndarray:
    w = _WORKER
    model, size = w["model"], w["batch_size"]
    rng = np.random.default_rng([w["seed"], index])
    part = slice(index * size, (index + 1) * size)
    x = to_float(w["images"][part], model.dtype)
    labels = None if w["labels"] is None else w["labels"][part]
    return -w["log_mean_weight"](model, x, w["k"], rng, w["rows"], labels)


def iwae_bound_parallel(model, images: np.ndarray, *, k: int, batch_size: int = 100, seed: int = 0,
                        workers: int = 2, rows: int = 2000, progress: bool = False,
                        labels: np.ndarray | None = None, log_mean_weight=None) -> np.ndarray:
    """Per-image IWAE estimate of -log p(x) for uint8 ``images`` (N, D) as they are (binarize them before):
    (N,) float64, computed by ``workers`` processes (1: in this one).

    The same numbers for any number of workers (per-batch generators); not the draws of ``iwae_bound``.
    ``log_mean_weight(model, x, k, rng, rows, labels)`` is the lean pass of one batch (default: the one-layer
    VAE's, ``iwae_log_mean_weight``; ``lean_hierarchical`` passes its own); each worker rebuilds the model as
    ``type(model)(**model.config)``.
    """
    import multiprocessing
    import os

    from ..progress import progress_bar

    arguments = (type(model), dict(model.config), {name: p.copy() for name, p in model.params.items()}, images, k,
                 batch_size, seed, rows, labels, log_mean_weight or iwae_log_mean_weight)
    batches = range(-(-len(images) // batch_size))
    bar = progress_bar(total=len(images), disable=not progress, unit="image", desc=f"IWAE K={k}", dynamic_ncols=True)
    with bar:
        if workers == 1:
            _start_worker(*arguments)
            results = []
            for index in batches:
                results.append(_bound_of_batch(index))
                bar.update(len(results[-1]))
            _WORKER.clear()
            return np.concatenate(results)
        saved = os.environ.get("OPENBLAS_NUM_THREADS")
        os.environ["OPENBLAS_NUM_THREADS"] = "1"  # read by each worker's BLAS as it starts
        try:
            context = multiprocessing.get_context("spawn")
            with context.Pool(workers, initializer=_start_pool_worker, initargs=arguments) as pool:
                results = []
                for bound in pool.imap(_bound_of_batch, batches):
                    results.append(bound)
                    bar.update(len(bound))
        finally:
            if saved is None:
                os.environ.pop("OPENBLAS_NUM_THREADS", None)
            else:
                os.environ["OPENBLAS_NUM_THREADS"] = saved
    return np.concatenate(results)
