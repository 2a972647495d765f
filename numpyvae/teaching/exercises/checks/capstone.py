"""The capstone's check: the student's ``backward(model, terms, eps)`` for the whole VAE, against central
differences of the real model's loss in every parameter.

The model is numpyvae's own ``VAE`` with small sizes (12 pixels, hidden widths 7 and 6, J = 3 latent
dimensions, float64), dropout on (rho = 0.8) and the KL weighed by beta = 0.5 (so that a beta left out shows):
the forward pass runs with fixed eps, and the generator is replayed before every evaluation of the loss so
that each one draws the same dropout masks. The student gets that pass's LossTerms and eps as arguments. Every gradient
starts as nan, so a parameter the student's code never reaches is reported as such. The rows run from the
loss down (the decoder's output layer first), so the first failing row is where the chain breaks.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from ....models.vae import VAE
from ...gradcheck import numerical_gradient
from ..diagnosis import Row, compare
from .common import StudentError, call

# the model's own backward passes: the capstone asks for them, so calling one is reported
OWN_BACKWARD = ("backward", "_posterior_backward", "_logits_backward", "_iwae_backward")


def capstone_model(seed: int = 0) -> tuple[VAE, np.ndarray, np.ndarray]:
    """The small float64 VAE of the capstone (beta = 0.5), a batch of B = 5 grey-level images and the noise eps
    (B, J)."""
    model = VAE(12, (7, 6), 3, keep_prob=0.8, seed=seed, dtype=np.float64, kl_weight=0.5)
    rng = np.random.default_rng(seed + 100)
    return model, rng.uniform(0, 1, (5, 12)), rng.standard_normal((5, 3))


def backward_order(model: VAE) -> list[str]:
    """The parameters from the loss down: the decoder's layers last to first, the heads, the encoder's trunk."""
    decoder = [name for name in model.params if name.startswith("decoder.")]
    heads = [name for name in model.params if name.startswith(("encoder.mean.", "encoder.std."))]
    trunk = [name for name in model.params if name.startswith("encoder.") and name not in heads]
    return [*reversed(decoder), *heads, *reversed(trunk)]


def check_capstone(module: ModuleType, *, own_backward_allowed: bool = False) -> list[Row]:
    model, x, eps = capstone_model()
    replay = model.rng.bit_generator.state

    def loss_terms() -> np.ndarray:  # the per-image losses / B: they sum to the loss
        model.rng.bit_generator.state = replay
        return model.loss_terms(x, True, eps).losses / len(x)

    names = backward_order(model)
    numeric = {name: numerical_gradient(loss_terms, model.params[name], h=1e-3) for name in names}
    model.rng.bit_generator.state = replay  # the forward pass the student's backward reads, the masks replayed
    terms = model.loss_terms(x, True, eps)
    for grad in model.grads.values():
        grad[...] = np.nan
    called = []
    if not own_backward_allowed:
        for method in OWN_BACKWARD:
            setattr(model, method, lambda *args, method=method, **kwargs: called.append(method))
    try:
        call(module.backward, model, terms, eps.copy())
    except StudentError as error:
        return [error.row(name, with_traceback=index == 0) for index, name in enumerate(names)]
    if called:
        message = (f"your backward called model.{called[0]}(): the capstone asks you to write that chain yourself "
                   "(the layers' own backward methods are yours to use)")
        return [Row(name, None, message=message) for name in names]
    rows = []
    for name in names:
        grad = model.grads[name]
        if np.all(np.isnan(grad)):
            rows.append(Row(name, None, message="never set: no backward pass reached this parameter"))
        else:
            rows.append(compare(name, grad, numeric[name], expected_name="numerical", batch=len(x)))
    return rows


def check_capstone_reference(module: ModuleType) -> list[Row]:
    """The package's own ``VAE.backward`` through the same check (``check capstone --reference``)."""
    return check_capstone(module, own_backward_allowed=True)
