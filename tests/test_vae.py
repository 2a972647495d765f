"""The VAE end to end: whole-model gradient checks, the seed's loss by an independent route, and a
PyTorch autograd oracle when torch is installed."""

import math

import numpy as np
import pytest

from numpyvae.models.vae import VAE
from numpyvae.nn.layers import ELU
from numpyvae.nn.losses import LOGIT_CLIP, BernoulliLogLikelihood, GaussianKL
from numpyvae.teaching.gradcheck import check_vae

SMALL = dict(input_dim=12, hidden_dims=(7, 6), latent_dim=3, keep_prob=0.8)
NAMES = [f"{net}.{layer}.{p}" for net, layers in (("encoder", ("fc1", "fc2", "mean", "std")),
                                                  ("decoder", ("fc1", "fc2", "output")))
         for layer in layers for p in ("weight", "bias")]


KINK_MARGIN = 0.02  # ELU is not twice differentiable at 0: a difference step of 2h = 2e-3 must not cross it


def distance_to_elu_kinks(model, x, eps, training):
    """The smallest |input| of any ELU unit in a forward pass (the generator is left as it was)."""
    state = model.rng.bit_generator.state
    model.loss(x, training, eps)
    model.rng.bit_generator.state = state
    distances = []
    for network in (model.encoder, model.decoder):
        for dense, activation in zip(network.layers, network.layers[1:], strict=False):
            if isinstance(activation, ELU):
                distances.append(np.abs(dense.x @ dense.params["weight"] + dense.params["bias"]).min())
    return min(distances)


def small_model(x=None, eps=None, training=False, **options):
    """A float64 model; given a batch, the first seed whose ELU inputs stay clear of the kink."""
    for seed in range(100):
        model = VAE(**SMALL, seed=seed, dtype=np.float64, **options)
        if x is None or distance_to_elu_kinks(model, x, eps, training) > KINK_MARGIN:
            return model
    raise AssertionError("no seed keeps the ELU inputs off the kink")


def batch(n=5, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 1, (n, SMALL["input_dim"])), rng.standard_normal((n, SMALL["latent_dim"]))


def test_parameter_names_and_shapes():
    model = VAE()
    assert sorted(model.params) == sorted(NAMES) and sorted(model.grads) == sorted(NAMES)
    shapes = {"encoder.fc1": (784, 500), "encoder.fc2": (500, 500), "encoder.mean": (500, 20),
              "encoder.std": (500, 20), "decoder.fc1": (20, 500), "decoder.fc2": (500, 500),
              "decoder.output": (500, 784)}
    for layer, shape in shapes.items():
        assert model.params[f"{layer}.weight"].shape == shape
        assert model.params[f"{layer}.bias"].shape == shape[1:]


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("options", [{}, dict(variational=False), dict(reconstruction="mse"), dict(kl_weight=0.3)])
def test_whole_model_gradient_check(training, options):
    x, eps = batch()
    errors = check_vae(small_model(x, eps, training, **options), x, eps, training=training)
    assert sorted(errors) == sorted(NAMES)
    assert max(errors.values()) < 1e-6, errors


def seed_loss(params, x, eps):
    """The seed's loss written out independently, in float64, dropout off."""
    def dense(h, name):
        return h @ params[f"{name}.weight"] + params[f"{name}.bias"]

    def elu(a):
        return np.where(a > 0, a, np.expm1(np.minimum(a, 0)))

    h = np.tanh(dense(elu(dense(x, "encoder.fc1")), "encoder.fc2"))
    mean = dense(h, "encoder.mean")
    std = 1e-6 + np.logaddexp(0, dense(h, "encoder.std"))
    z = mean + std * eps
    y = 1 / (1 + np.exp(-dense(elu(dense(np.tanh(dense(z, "decoder.fc1")), "decoder.fc2")), "decoder.output")))
    y = np.clip(y, 1e-8, 1 - 1e-8)
    likelihood = np.sum(x * np.log(y) + (1 - x) * np.log(1 - y), axis=1)
    kl = 0.5 * np.sum(mean ** 2 + std ** 2 - np.log(1e-8 + std ** 2) - 1, axis=1)
    return -np.mean(likelihood - kl)


def test_loss_equals_the_seed_formula():
    model = small_model()
    x, eps = batch()
    assert model.loss(x, training=False, eps=eps) == pytest.approx(seed_loss(model.params, x, eps), rel=1e-12)


def test_loss_equals_the_seed_formula_for_the_default_float32_model():
    model = VAE()
    rng = np.random.default_rng(0)
    x = (rng.random((16, 784)) < 0.3).astype(np.float32)
    eps = rng.standard_normal((16, 20)).astype(np.float32)
    params64 = {name: p.astype(np.float64) for name, p in model.params.items()}
    expected = seed_loss(params64, x.astype(np.float64), eps.astype(np.float64))
    assert model.loss(x, training=False, eps=eps) == pytest.approx(expected, rel=1e-5)


def test_torch_autograd_agrees():
    torch = pytest.importorskip("torch")
    model = small_model()
    x, eps = batch()
    model.loss(x, training=False, eps=eps)
    model.backward()
    params = {name: torch.tensor(p, requires_grad=True) for name, p in model.params.items()}

    def dense(h, name):
        return h @ params[f"{name}.weight"] + params[f"{name}.bias"]

    tx, teps = torch.tensor(x), torch.tensor(eps)
    h = torch.tanh(dense(torch.nn.functional.elu(dense(tx, "encoder.fc1")), "encoder.fc2"))
    mean, std = dense(h, "encoder.mean"), 1e-6 + torch.nn.functional.softplus(dense(h, "encoder.std"))
    z = mean + std * teps
    y = torch.sigmoid(dense(torch.nn.functional.elu(dense(torch.tanh(dense(z, "decoder.fc1")), "decoder.fc2")),
                            "decoder.output")).clamp(1e-8, 1 - 1e-8)
    likelihood = (tx * torch.log(y) + (1 - tx) * torch.log(1 - y)).sum(1)
    kl = 0.5 * (mean ** 2 + std ** 2 - torch.log(1e-8 + std ** 2) - 1).sum(1)
    (-(likelihood - kl).mean()).backward()
    for name, p in params.items():
        np.testing.assert_allclose(model.grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)


def test_inference_shapes_ranges_and_dtype():
    model = VAE(seed=3)
    x = np.random.default_rng(0).random((6, 784)).astype(np.float32)
    mean, std = model.encode(x)
    assert mean.shape == std.shape == (6, 20) and mean.dtype == std.dtype == np.float32 and np.all(std > 0)
    for images in (model.decode(mean), model.reconstruct(x), model.sample(7)):
        assert images.shape[1] == 784 and images.dtype == np.float32
        assert images.min() >= np.float32(1e-8) and images.max() <= 1
    assert len(model.sample(7)) == 7


def test_decode_clips_like_the_seed():
    model = small_model()
    model.params["decoder.output.bias"][:] = np.linspace(-40, 40, SMALL["input_dim"])
    model.params["decoder.output.weight"][:] = 0
    p = model.decode(np.zeros((1, 3)))[0]
    assert p.min() == pytest.approx(1e-8, rel=1e-6) and p.max() == pytest.approx(1 - 1e-8, abs=1e-15)


def test_same_seed_same_model_and_loss():
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32)
    a, b = VAE(seed=5), VAE(seed=5)
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    assert a.loss(x) == b.loss(x)
    assert VAE(seed=6).loss(x) != a.loss(x)


class Float64Alarm(np.ndarray):
    """An array whose every ufunc result is checked for float64 and carries the check on to its results."""

    made: list[str] = []

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        def plain(arrays):
            return tuple(a.view(np.ndarray) if isinstance(a, Float64Alarm) else a for a in arrays)
        if out is not None:
            kwargs["out"] = plain(out)
        result = getattr(ufunc, method)(*plain(inputs), **kwargs)
        results = result if isinstance(result, tuple) else (result,)
        Float64Alarm.made += [f"{ufunc.__name__}.{method}" for r in results if getattr(r, "dtype", None) == np.float64]
        if out is not None:  # in place: hand back the caller's own arrays
            return out[0] if len(out) == 1 else out
        return result.view(Float64Alarm) if isinstance(result, np.ndarray) else result


def test_float32_training_step_makes_no_float64_array():
    """Every array computed from the batch, forward and backward, stays float32: no silent upcast."""
    model = VAE()
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32).view(Float64Alarm)
    Float64Alarm.made = []
    terms = model.loss_terms(x)
    assert math.isfinite(terms.losses.mean())
    model.backward()
    assert Float64Alarm.made == []
    assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for g in model.grads.values())
    assert isinstance(terms.mean, Float64Alarm)  # the alarm did travel through the network


def test_the_float64_alarm_rings():
    x = np.ones(3, dtype=np.float32).view(Float64Alarm)
    Float64Alarm.made = []
    _ = x * 2.0 + np.ones(3)  # a Python float keeps float32; adding a float64 array upcasts
    assert Float64Alarm.made == ["add.__call__"]


# -- the two ELBO terms against independent formulas ------------------------------------------------

def test_bernoulli_term_matches_clipped_probabilities_and_torch():
    rng = np.random.default_rng(0)
    logits, x = rng.uniform(-25, 25, (6, 10)), rng.uniform(0, 1, (6, 10))
    p = np.clip(1 / (1 + np.exp(-logits)), 1e-8, 1 - 1e-8)
    expected = np.sum(x * np.log(p) + (1 - x) * np.log(1 - p), axis=1)
    term = BernoulliLogLikelihood()
    np.testing.assert_allclose(term.forward(logits, x), expected, rtol=1e-9)
    grad = term.backward(np.ones(6))
    inside = np.abs(logits) < LOGIT_CLIP
    np.testing.assert_array_equal(grad[~inside], 0)  # the clip stops the gradient, as tf.clip_by_value does
    torch = pytest.importorskip("torch")
    t_logits = torch.tensor(logits, requires_grad=True)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(t_logits, torch.tensor(x), reduction="none")
    (-bce.sum()).backward()
    np.testing.assert_allclose(grad[inside], t_logits.grad.numpy()[inside], rtol=1e-10)


def test_bernoulli_term_float32_extremes_are_finite_and_silent():
    logits = np.array([[-1e4, -30, 0, 30, 1e4]] * 2, dtype=np.float32)
    x = np.array([[0, 1, 0, 1, 0], [1, 0, 1, 0, 1]], dtype=np.float32)
    term = BernoulliLogLikelihood()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = term.forward(logits, x), term.backward(1.0)
    assert value.dtype == grad.dtype == np.float32 and np.all(np.isfinite(value)) and np.all(np.isfinite(grad))
    assert value.min() >= 5 * math.log(1e-8) - 1e-3  # each pixel costs at most -log(1e-8)


def test_kl_formula_and_its_minimum():
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=(4, 3)), rng.uniform(0.1, 2, (4, 3))
    expected = 0.5 * np.sum(std ** 2 + mean ** 2 - np.log(1e-8 + std ** 2) - 1, axis=1)
    np.testing.assert_allclose(GaussianKL().forward(mean, std), expected, rtol=1e-13)
    at_prior = GaussianKL().forward(np.zeros((1, 3)), np.ones((1, 3)))[0]
    assert at_prior == pytest.approx(-1.5 * math.log1p(1e-8), rel=1e-6)  # 0 but for the 1e-8 guard
    kl = GaussianKL()
    kl.forward(mean, std)
    grad_mean, grad_std = kl.backward(1.0)
    np.testing.assert_allclose(grad_mean, mean)
    np.testing.assert_allclose(grad_std, std - std / (1e-8 + std ** 2))
