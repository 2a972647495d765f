"""Planted bugs for ``python -m numpyvae.explain --bug NAME``: one wrong line each, and where the check catches it.

Each bug replaces one backward method of a layer or a loss, or one of the two places in ``VAE.backward``
where gradients meet (``models.vae.reparameterization_backward`` and ``heads_backward``): code that training
runs. It does so for the length of a ``with planted(name):`` block only, through
``unittest.mock.patch.object``, which puts the original back on the way out; the package is never changed
for good.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from unittest import mock

import numpy as np

from ...models import vae
from ...nn.layers import ELU, Dense, Dropout, Softplus, Tanh
from ...nn.losses import VARIANCE_GUARD, BernoulliLogLikelihood, GaussianKL, _per_example


@dataclass(frozen=True)
class Bug:
    name: str
    wrong_line: str      # what the bug computes, as a student might have written it
    right_line: str      # what it should compute
    owner: object        # the class or module whose attribute is replaced
    attribute: str
    replacement: Callable
    first_failing_row: str  # where the walk's check catches it (for the tiny default network)


def _kl_std(self, grad_out):
    g = _per_example(grad_out, self.mean)
    return g * self.mean, g * (self.std - 0.5 * self.std / (VARIANCE_GUARD + self.std * self.std))


def _tanh(self, grad_out):
    return grad_out * (1 - self.y)


def _dropout_scale(self, grad_out):
    return grad_out if self.scaled_mask is None else grad_out * (self.scaled_mask != 0)


def _elu(self, grad_out):
    return grad_out * (self.slope == 1)


def _softplus(self, grad_out):
    return grad_out * (1 - self.sigmoid)


def _dense_bias(self, grad_out):
    np.matmul(self.x.T, grad_out, out=self.grads["weight"])
    np.mean(grad_out, axis=0, out=self.grads["bias"])
    return grad_out @ self.params["weight"].T if self.input_grad else None


_RIGHT_BERNOULLI_BACKWARD = BernoulliLogLikelihood.backward


def _bernoulli_sign(self, grad_out):
    return -_RIGHT_BERNOULLI_BACKWARD(self, grad_out)


def _reparameterization_no_eps(grad_z, eps, grad_mean, grad_std):
    return grad_z + grad_mean, grad_z + grad_std


def _one_head(grad_h_from_mean, grad_h_from_std):
    return grad_h_from_mean


BUGS = {bug.name: bug for bug in [
    Bug("kl-std", "dKL/dsigma = sigma - 0.5 sigma / (1e-8 + sigma^2)  (the 2 from d log(sigma^2) lost)",
        "dKL/dsigma = sigma - sigma / (1e-8 + sigma^2)", GaussianKL, "backward", _kl_std, "sigma"),
    Bug("tanh", "tanh'(a) = 1 - tanh(a)", "tanh'(a) = 1 - tanh(a)^2", Tanh, "backward", _tanh, "dec.a1"),
    Bug("dropout-scale", "dy/dx = m  (the 1/rho of inverted dropout forgotten)", "dy/dx = m / rho", Dropout,
        "backward", _dropout_scale, "dec.v2"),
    Bug("elu", "ELU'(a) = 1 if a > 0 else 0  (ReLU's derivative)", "ELU'(a) = 1 if a > 0 else e^a", ELU,
        "backward", _elu, "dec.a2"),
    Bug("softplus", "softplus'(a) = sigmoid(-a)", "softplus'(a) = sigmoid(a)", Softplus, "backward", _softplus,
        "a_sigma"),
    Bug("dense-bias", "db = mean over the batch of dy", "db = sum over the batch of dy", Dense, "backward",
        _dense_bias, "decoder.output.bias"),
    Bug("bernoulli-sign", "d log p(x|z) / dlogits = xhat - x", "d log p(x|z) / dlogits = x - xhat",
        BernoulliLogLikelihood, "backward", _bernoulli_sign, "logits"),
    Bug("reparam-eps", "dsigma = dz + dKL/dsigma  (the eps of z = mu + sigma eps forgotten)",
        "dsigma = dz * eps + dKL/dsigma", vae, "reparameterization_backward", _reparameterization_no_eps, "sigma"),
    Bug("heads", "dh = dmu W_mu^T  (the std head's path forgotten)", "dh = dmu W_mu^T + da_sigma W_sigma^T", vae,
        "heads_backward", _one_head, "h"),
]}


@contextlib.contextmanager
def planted(name: str | None) -> Iterator[Bug | None]:
    """Within the block, the named bug replaces the right code; nothing is planted for ``None``."""
    if name is None:
        yield None
        return
    bug = BUGS[name]
    with mock.patch.object(bug.owner, bug.attribute, bug.replacement):
        yield bug


def where_it_fails(names: list[str], failing: list[bool]) -> str:
    """What the checks' pattern says, read from the rows themselves (their names in order, and which fail).

    A node's gradient feeds the rows below it; a parameter's (``.weight``, ``.bias``) feeds none: when only
    parameter rows fail, the error did not travel down the chain.
    """
    first = failing.index(True)
    below = list(zip(names[first + 1:], failing[first + 1:], strict=True))
    failing_below = [name for name, fails in below if fails]
    head = f"the check first fails at '{names[first]}': the rows above it pass"
    if not failing_below:
        return f"{head}, and so do all {len(below)} rows below it: its error reaches no other gradient"
    if all(name.endswith((".weight", ".bias")) for name in [names[first], *failing_below]):
        return (f"{head}; below it {len(failing_below)} more rows fail, all of them parameters', while every node's "
                "gradient passes: the error does not travel down the chain (a parameter's gradient feeds no other)")
    if len(failing_below) == len(below):
        return f"{head}; all {len(below)} rows below it fail too"
    return f"{head}; {len(failing_below)} of the {len(below)} rows below it fail too"
