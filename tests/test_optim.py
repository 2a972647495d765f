"""Optimizers against textbook updates written out in the test, and PyTorch's when installed."""

import numpy as np
import pytest

from numpyvae.nn.optim import SGD, Adam


def problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    params = {"a": rng.normal(size=(3, 4)).astype(dtype), "b": rng.normal(size=4).astype(dtype)}
    grads = [{name: rng.normal(size=p.shape).astype(dtype) for name, p in params.items()} for _ in range(6)]
    return params, grads


def reference_sgd(params, grads, lr, momentum=0.0, nesterov=False):
    params = {k: v.copy() for k, v in params.items()}
    velocity = {k: np.zeros_like(v) for k, v in params.items()}
    for g in grads:
        for k in params:
            velocity[k] = momentum * velocity[k] + g[k]
            step = g[k] + momentum * velocity[k] if nesterov else velocity[k]
            params[k] = params[k] - lr * step
    return params


def reference_adam(params, grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    params = {k: v.copy() for k, v in params.items()}
    m = {k: np.zeros_like(v) for k, v in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    for t, g in enumerate(grads, start=1):
        for k in params:
            m[k] = b1 * m[k] + (1 - b1) * g[k]
            v[k] = b2 * v[k] + (1 - b2) * g[k] ** 2
            params[k] = params[k] - lr * (m[k] / (1 - b1 ** t)) / (np.sqrt(v[k] / (1 - b2 ** t)) + eps)
    return params


@pytest.mark.parametrize("momentum, nesterov", [(0.0, False), (0.9, False), (0.9, True)])
def test_sgd_matches_reference(momentum, nesterov):
    params, grads = problem()
    expected = reference_sgd(params, grads, 0.1, momentum, nesterov)
    arrays = dict(params)
    optimizer = SGD(params, lr=0.1, momentum=momentum, nesterov=nesterov)
    for g in grads:
        optimizer.step(g)
    for k in params:
        assert params[k] is arrays[k]  # updated in place
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-13)


def test_plain_sgd_is_the_seed_update():
    params, grads = problem()
    before = params["a"].copy()
    SGD(params, lr=0.001).step(grads[0])
    np.testing.assert_array_equal(params["a"], before - 0.001 * grads[0]["a"])


def test_adam_matches_textbook():
    params, grads = problem()
    expected = reference_adam(params, grads, 0.01)
    optimizer = Adam(params, lr=0.01)
    for g in grads:
        optimizer.step(g)
    for k in params:
        np.testing.assert_allclose(params[k], expected[k], rtol=1e-12)


def test_adam_in_buffers_is_bit_identical_to_the_plain_expression_in_float32():
    """The step writes into reused buffers; it must round exactly as the formula written out does."""
    rng = np.random.default_rng(3)
    params = {"w": rng.standard_normal((50, 40)).astype(np.float32), "b": rng.standard_normal(40).astype(np.float32)}
    plain = {k: p.copy() for k, p in params.items()}
    m = {k: np.zeros_like(p) for k, p in params.items()}
    v = {k: np.zeros_like(p) for k, p in params.items()}
    optimizer = Adam(params, lr=0.003)
    for t in range(1, 6):
        grads = {k: rng.standard_normal(p.shape).astype(np.float32) for k, p in params.items()}
        optimizer.step(grads)
        step_size = 0.003 * (1 - 0.999 ** t) ** 0.5 / (1 - 0.9 ** t)
        eps = 1e-8 * (1 - 0.999 ** t) ** 0.5
        for k, g in grads.items():
            m[k] = 0.9 * m[k] + (1 - 0.9) * g
            v[k] = 0.999 * v[k] + (1 - 0.999) * g * g
            plain[k] = plain[k] - step_size * m[k] / (np.sqrt(v[k]) + eps)
    for k in params:
        assert params[k].dtype == np.float32
        np.testing.assert_array_equal(params[k], plain[k])


@pytest.mark.parametrize("make", [lambda p: SGD(p, 0.05, momentum=0.9, nesterov=True), lambda p: Adam(p, 0.01)])
def test_state_round_trip_continues_exactly(make):
    params, grads = problem()
    uninterrupted = {k: v.copy() for k, v in params.items()}
    optimizer = make(uninterrupted)
    for g in grads:
        optimizer.step(g)
    first = {k: v.copy() for k, v in params.items()}
    optimizer = make(first)
    for g in grads[:3]:
        optimizer.step(g)
    saved = optimizer.state_dict()
    resumed = make({k: v.copy() for k, v in first.items()})
    resumed.load_state_dict(saved)
    for g in grads[3:]:
        resumed.step(g)
    for k in params:
        np.testing.assert_array_equal(resumed.params[k], uninterrupted[k])


def test_float32_stays_float32():
    params, grads = problem(dtype=np.float32)
    for optimizer in (SGD(params, 0.1, momentum=0.5), Adam(params, 0.1)):
        optimizer.step(grads[0])
        assert all(p.dtype == np.float32 for p in params.values())
        assert all(s.dtype == np.float32 for name, s in optimizer.state.items() if name != "t")


@pytest.mark.parametrize("lr", [0.0, -1.0])
def test_non_positive_lr_rejected(lr):
    with pytest.raises(ValueError):
        SGD({"a": np.zeros(2)}, lr)


def test_quadratic_is_minimised():
    target = np.array([1.0, -2.0, 3.0])
    for make in (lambda p: SGD(p, 0.1, momentum=0.5), lambda p: Adam(p, 0.1)):
        params = {"x": np.zeros(3)}
        optimizer = make(params)
        for _ in range(500):
            optimizer.step({"x": params["x"] - target})  # gradient of 0.5 |x - target|^2
        np.testing.assert_allclose(params["x"], target, atol=1e-3)


def test_torch_optimizers_agree():
    torch = pytest.importorskip("torch")
    for make_ours, make_torch in [
            (lambda p: SGD(p, 0.05, momentum=0.9, nesterov=True),
             lambda t: torch.optim.SGD(t, lr=0.05, momentum=0.9, nesterov=True)),
            (lambda p: Adam(p, 0.01), lambda t: torch.optim.Adam(t, lr=0.01))]:
        params, grads = problem()
        tensors = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
        ours, theirs = make_ours(params), make_torch(list(tensors.values()))
        for g in grads:
            ours.step(g)
            for k, t in tensors.items():
                t.grad = torch.tensor(g[k])
            theirs.step()
        for k in params:
            np.testing.assert_allclose(params[k], tensors[k].detach().numpy(), rtol=1e-10, atol=1e-12)
