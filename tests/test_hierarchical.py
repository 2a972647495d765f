"""Two stochastic layers and the VampPrior: the identities that tie them to the one-layer model, the mixture term,
float32 throughout, validation, inference, and the gradient checks at 1e-7 (with planted bugs they catch)."""

import json
import math

import numpy as np
import pytest
from test_vae import Float64Alarm

from numpyvae.models.hierarchical import HierarchicalVAE
from numpyvae.models.vae import VAE
from numpyvae.nn.losses import GaussianLogDensity
from numpyvae.nn.mixture import MixtureLogDensity
from numpyvae.teaching import gradcheck
from numpyvae.teaching.gradcheck import (
    HIERARCHICAL_VARIANTS,
    TOLERANCE,
    check_vae,
    extrapolated_gradient,
    hierarchical_case,
    mixture_check,
)

SMALL = dict(latent_dims=(4, 3), hidden_dims=[[7, 6], [5, 4]], components=3)


def small(seed=0, dtype=np.float64, **options):
    return HierarchicalVAE(12, seed=seed, dtype=dtype, **{**SMALL, **options})


def batch(model, k=None, seed=1, rows=5):
    rng = np.random.default_rng(seed)
    x = (rng.uniform(0, 1, (rows, model.config["input_dim"])) > 0.5).astype(model.dtype)
    shape = (rows,) if k is None else (k, rows)
    return x, [rng.standard_normal((*shape, width)).astype(model.dtype) for width in model.latent_dims]


# -- identities ----------------------------------------------------------------------------------------------

def test_one_layer_with_the_standard_prior_is_the_seed_vae():
    """L = 1, the analytic KL, the seed's activations: the same weights from the same seed, the same loss and
    gradients as VAE (whose gradients tests/test_vae.py proves), dropout on."""
    vae = VAE(12, hidden_dims=(7, 6), latent_dim=3, keep_prob=0.8, seed=4, dtype=np.float64)
    model = HierarchicalVAE(12, latent_dims=(3,), hidden_dims=[[7, 6]], activations=None, keep_prob=0.8, seed=4,
                            dtype=np.float64)
    names = {name: name.replace("encoder.", "encoder1.").replace("decoder.", "decoder1.") for name in vae.params}
    for name, twin in names.items():
        np.testing.assert_array_equal(vae.params[name], model.params[twin])
    assert len(names) == len(model.params)
    x, eps = batch(model)
    assert model.loss(x, True, eps) == pytest.approx(vae.loss(x, True, eps[0]), rel=1e-14)
    vae.backward()
    model.backward()
    for name, twin in names.items():
        np.testing.assert_allclose(model.grads[twin], vae.grads[name], rtol=1e-12, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("prior", ["standard", "vampprior"])
def test_sampled_elbo_is_iwae_with_one_sample(prior):
    elbo = small(prior=prior, kl="sampled")
    iwae = small(prior=prior, objective="iwae", k=1)
    x, eps = batch(elbo)
    assert elbo.loss(x, False, eps) == pytest.approx(iwae.loss(x, False, [e[None] for e in eps]), rel=1e-13)
    elbo.backward()
    iwae.backward()
    for name in elbo.grads:
        np.testing.assert_allclose(elbo.grads[name], iwae.grads[name], rtol=1e-11, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("prior", ["standard", "vampprior"])
def test_iwae_is_the_log_mean_of_the_samples_weights(prior):
    """log (1/K) sum_k w_k, with each w_k the one-sample sampled ELBO's weight at the same noise."""
    model = small(prior=prior, objective="iwae", k=4)
    x, eps = batch(model, k=4)
    iwae = model.loss_terms(x, False, eps)
    weights = []
    for k in range(4):
        terms = model.elbo_terms(x, False, [e[k] for e in eps], kl="sampled")
        weights.append(terms.log_likelihood - terms.kl)
    weights = np.array(weights)
    np.testing.assert_allclose(iwae.log_weights, weights, rtol=1e-13)  # (K, B), sample k's weight in row k
    expected = -np.log(np.mean(np.exp(weights - weights.max(0)), axis=0)) - weights.max(0)
    np.testing.assert_allclose(iwae.losses, expected, rtol=1e-13)
    assert iwae.losses.mean() == pytest.approx(expected.mean(), rel=1e-13)


OLD_NAMES = ("z_mean", "z_std", "log_likelihood", "kl_divergence", "example_losses", "log_weights", "kl_term",
             "kl_term_weight")


@pytest.mark.parametrize("objective", ["elbo", "iwae"])
def test_the_terms_are_returned_and_not_left_on_the_model(objective):
    """loss is the mean of the returned terms' losses, the ELBO's losses are beta KL - log p(x | z1), and neither
    model keeps a copy of a term for others to read (what it keeps is backward's cache)."""
    k = 3 if objective == "iwae" else None
    options = dict(objective="iwae", k=3) if k else {}
    model = small(kl_weight=0.3, **options)
    x, eps = batch(model, k=k)
    terms = model.loss_terms(x, False, eps)
    assert model.loss(x, False, eps) == terms.losses.mean()
    assert terms.mean.shape == terms.std.shape == (5, 4)
    np.testing.assert_array_equal(terms.mean, model.encode(x)[0])  # q(z1 | x); no dropout in either
    if k:
        assert terms.log_likelihood.shape == terms.kl.shape == terms.log_weights.shape == (3, 5)
        np.testing.assert_array_equal(terms.log_weights, terms.log_likelihood - terms.kl)
    else:
        assert terms.log_likelihood.shape == terms.kl.shape == (5,) and terms.log_weights is None
        np.testing.assert_array_equal(terms.losses, 0.3 * terms.kl - terms.log_likelihood)
    vae = VAE(12, (7, 6), 3, seed=0, dtype=np.float64, **options)
    vae.loss(x)
    assert [name for name in OLD_NAMES if hasattr(model, name) or hasattr(vae, name)] == []


def test_analytic_and_sampled_elbo_agree_on_average():
    """The sampled top KL is an unbiased estimate of the analytic one: their mean over many draws meet."""
    model = small()
    x, _ = batch(model)
    rng = np.random.default_rng(0)
    analytic, sampled = [], []
    for _ in range(3000):
        eps = [rng.standard_normal((5, width)) for width in model.latent_dims]
        analytic.append(model.elbo(x, False, eps, kl="analytic"))
        sampled.append(model.elbo(x, False, eps, kl="sampled"))
    difference = np.array(sampled) - np.array(analytic)
    assert abs(difference.mean()) < 4 * difference.std() / math.sqrt(len(difference))


# -- the mixture term ---------------------------------------------------------------------------------------

def brute_force_mixture(z, means, stds):
    """log (1/M) sum_m N(z; mu_m, s_m^2) by broadcasting over (N, M, D), in float64."""
    z, means, stds = (np.asarray(a, np.float64) for a in (z, means, stds))
    log_components = np.sum(-0.5 * ((z[:, None] - means) / stds) ** 2 - np.log(stds) - 0.5 * math.log(2 * math.pi),
                            axis=-1)
    peak = log_components.max(1)
    return peak + np.log(np.exp(log_components - peak[:, None]).sum(1)) - math.log(len(means))


def test_mixture_values_against_brute_force_and_one_component():
    rng = np.random.default_rng(0)
    z, means, stds = rng.normal(size=(9, 4)), rng.normal(size=(5, 4)), rng.uniform(0.1, 2, (5, 4))
    np.testing.assert_allclose(MixtureLogDensity().forward(z, means, stds), brute_force_mixture(z, means, stds),
                               rtol=1e-12)
    # M = 1: the Gaussian log-density itself, gradients too
    mixture, gaussian = MixtureLogDensity(), GaussianLogDensity()
    np.testing.assert_allclose(mixture.forward(z, means[:1], stds[:1]), gaussian.forward(z, means[0], stds[0]),
                               rtol=1e-12)
    g = rng.normal(size=9)
    grad_z, grad_means, grad_stds = mixture.backward(g)
    expected_z, expected_mean, expected_std = gaussian.backward(g)
    np.testing.assert_allclose(grad_z, expected_z, rtol=1e-10)
    np.testing.assert_allclose(grad_means[0], expected_mean.sum(0), rtol=1e-10)
    np.testing.assert_allclose(grad_stds[0], expected_std.sum(0), rtol=1e-10)


def test_mixture_in_float32_far_from_any_component():
    """No overflow or log 0 when every component is hundreds of nats away; float32 stays float32, and within
    the accuracy of the expanded square (docstring) of the float64 value."""
    rng = np.random.default_rng(1)
    z = rng.normal(size=(50, 20)).astype(np.float32) + 8
    means, stds = rng.normal(size=(30, 20)).astype(np.float32), rng.uniform(0.1, 1, (30, 20)).astype(np.float32)
    value = MixtureLogDensity().forward(z, means, stds)
    assert value.dtype == np.float32 and np.all(np.isfinite(value)) and value.max() < -500
    np.testing.assert_allclose(value, brute_force_mixture(z, means, stds), rtol=1e-5)


def test_mixture_check_passes_and_catches_a_planted_bug(monkeypatch):
    assert max(mixture_check()[0][1].values()) < TOLERANCE
    original = MixtureLogDensity.backward

    def no_responsibility_in_std(self, grad_out):  # forgets the -1/s term of d log N / ds
        grad_z, grad_means, grad_stds = original(self, grad_out)
        mass = (self.responsibilities * np.asarray(grad_out).reshape(-1, 1)).sum(0)[:, None]
        return grad_z, grad_means, grad_stds + mass / self.stds

    monkeypatch.setattr(MixtureLogDensity, "backward", no_responsibility_in_std)
    errors = mixture_check()[0][1]
    assert errors["z"] < TOLERANCE and errors["means"] < TOLERANCE and errors["stds"] > 1e-3


# -- gradient checks at 1e-7 --------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["HVAE IWAE K=4 drop", "Vamp VAE IWAE drop", "Vamp HVAE ELBO drop",
                                  "Vamp HVAE IWAE drop"])
def test_gradient_checks_pass_for_another_seed(name):
    """The command's rows run at --seed 0; another seed picks other weights, inputs and noise."""
    _, training, options = next(variant for variant in HIERARCHICAL_VARIANTS if variant[0] == name)
    model, x, eps = hierarchical_case(options, training, seed=7)
    errors = check_vae(model, x, eps, training=training, numerical=extrapolated_gradient)
    assert max(errors.values()) < TOLERANCE, errors


def test_gradient_check_catches_a_forgotten_twin_gradient(monkeypatch):
    """The pseudo-input pass's weight gradients must join the data pass's: drop them and the check fails."""
    monkeypatch.setattr(HierarchicalVAE, "_prior_components_backward",
                        lambda self, grad_means, grad_stds: None)
    model, x, eps = hierarchical_case(dict(prior="vampprior"), training=False)
    errors = check_vae(model, x, eps, training=False, numerical=extrapolated_gradient)
    assert errors["encoder1.fc1.weight"] > 1e-3 and errors["decoder1.output.weight"] < TOLERANCE


def test_gradient_check_catches_a_wrong_reparameterization(monkeypatch):
    """The second layer's noise left out of dL/dstd (grad_std = grad_z instead of grad_z * eps) is caught."""
    model, x, eps = hierarchical_case({}, training=False)
    original = model.encoders[1].backward
    monkeypatch.setattr(model.encoders[1], "backward",
                        lambda grad_mean, grad_std: original(grad_mean, grad_std / model.eps[1].reshape(
                            grad_std.shape)))
    errors = check_vae(model, x, eps, training=False, numerical=extrapolated_gradient)
    assert errors["encoder2.std.weight"] > 1e-3


def test_extrapolation_is_more_accurate_than_one_difference():
    x = np.array([0.3, 1.1])
    exact = np.exp(3 * x) * 3
    plain = gradcheck.numerical_gradient(lambda: np.exp(3 * x), x, 1e-2)
    extrapolated = extrapolated_gradient(lambda: np.exp(3 * x), x, 1e-2)
    assert np.max(np.abs(extrapolated - exact) / exact) < np.max(np.abs(plain - exact) / exact) / 100


# -- float32 and the interface -------------------------------------------------------------------------------

@pytest.mark.parametrize("options", [dict(), dict(kl="sampled", keep_prob=0.9), dict(objective="iwae", k=3),
                                     dict(prior="vampprior", components=7, keep_prob=0.9),
                                     dict(prior="vampprior", objective="iwae", k=2)])
def test_float32_training_step_makes_no_float64_array(options):
    model = HierarchicalVAE(40, latent_dims=(6, 4), hidden_dims=[[9, 8], [7, 5]], **options)
    x = (np.random.default_rng(0).random((8, 40)) > 0.5).astype(np.float32).view(Float64Alarm)
    Float64Alarm.made = []
    assert math.isfinite(model.loss(x))
    model.backward()
    assert Float64Alarm.made == []
    assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for g in model.grads.values())


def test_config_rebuilds_the_model_and_is_json():
    model = small(prior="vampprior", objective="iwae", k=3, keep_prob=0.9, activations=[["elu", "tanh"], "relu"])
    config = json.loads(json.dumps(model.config))
    again = HierarchicalVAE(**config)
    assert again.config == model.config
    assert {n: p.shape for n, p in again.params.items()} == {n: p.shape for n, p in model.params.items()}
    for name, param in model.params.items():
        np.copyto(again.params[name], param)
    x, eps = batch(model, k=3)
    assert again.loss(x, False, eps) == model.loss(x, False, eps)


def test_default_is_burdas_two_layer_architecture():
    model = HierarchicalVAE()
    shapes = {name: p.shape for name, p in model.params.items()}
    assert shapes["encoder1.fc1.weight"] == (784, 200) and shapes["encoder1.fc2.weight"] == (200, 200)
    assert shapes["encoder1.mean.weight"] == (200, 100) and shapes["encoder2.fc1.weight"] == (100, 100)
    assert shapes["encoder2.std.weight"] == (100, 50) and shapes["decoder2.fc1.weight"] == (50, 100)
    assert shapes["decoder2.mean.weight"] == (100, 100) and shapes["decoder1.fc1.weight"] == (100, 200)
    assert shapes["decoder1.output.weight"] == (200, 784)
    assert model.config["activations"] == [["tanh", "tanh"], ["tanh", "tanh"]] and model.config["kl"] == "analytic"
    assert HierarchicalVAE(prior="vampprior").config["kl"] == "sampled"
    assert HierarchicalVAE(prior="vampprior").params["prior.pseudo_inputs"].shape == (500, 784)


@pytest.mark.parametrize("options, message", [
    (dict(prior="gmm"), "prior must be one of"), (dict(prior="vampprior", kl="analytic"), "no closed form"),
    (dict(prior="vampprior", components=0), "at least one pseudo-input"), (dict(k=0), "k must be at least 1"),
    (dict(latent_dims=()), "latent_dims needs"), (dict(hidden_dims=[[7]]), "one entry per stochastic layer"),
    (dict(activations=["tanh"]), "one entry per stochastic layer"), (dict(objective="vi"), "objective must be"),
    (dict(activations="swish"), "unknown activation")])
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        small(**options)


def test_bad_calls_are_refused():
    model = small(prior="vampprior")
    x, eps = batch(model)
    with pytest.raises(ValueError, match="no closed form"):
        model.elbo(x, eps=eps, kl="analytic")
    with pytest.raises(ValueError, match="one array per stochastic layer"):
        model.loss(x, eps=eps[:1])
    with pytest.raises(ValueError, match="unconditional"):
        model.loss(x, labels=np.zeros(5, int))
    with pytest.raises(ValueError, match="need 3 images"):
        model.init_pseudo_inputs(x[:2])
    with pytest.raises(ValueError, match="only the VampPrior"):
        small().init_pseudo_inputs(x)


def test_inference_shapes_ranges_and_dtype():
    for model in (HierarchicalVAE(seed=1), HierarchicalVAE(prior="vampprior", components=20, seed=2)):
        x = (np.random.default_rng(0).random((6, 784)) > 0.5).astype(np.float32)
        mean, std = model.encode(x)
        assert mean.shape == std.shape == (6, 100) and mean.dtype == np.float32 and np.all(std > 0)
        np.testing.assert_array_equal(model.elbo_terms(x).mean, mean)  # dropout is off in both (keep_prob 1)
        layers = model.encode_all(x)
        assert [m.shape for m, _ in layers] == [(6, 100), (6, 50)]
        np.testing.assert_array_equal(layers[0][0], mean)
        for images in (model.decode(mean), model.reconstruct(x), model.sample(7)):
            assert images.shape[1] == 784 and images.dtype == np.float32
            assert images.min() >= np.float32(1e-8) and images.max() <= 1
        assert len(model.sample(7)) == 7


def test_pseudo_inputs_from_data_and_their_components():
    model = small(prior="vampprior")
    images = np.random.default_rng(0).random((10, 12))
    model.init_pseudo_inputs(images, np.random.default_rng(1))
    pseudo = model.params["prior.pseudo_inputs"]
    assert np.abs(pseudo - images[:3]).max() < 0.06 and np.abs(pseudo - images[:3]).min() > 0
    # the components are the encoder chain's posteriors at the pseudo-inputs, lower layers at their means
    means, stds = model.prior_components()
    chain = model.encode_all(pseudo)
    np.testing.assert_allclose(means, chain[-1][0], rtol=1e-14)
    np.testing.assert_allclose(stds, chain[-1][1], rtol=1e-14)
    # the twin reads the encoders' own weights: an update of one is an update of the prior
    model.params["encoder2.mean.bias"] += 1
    np.testing.assert_allclose(model.prior_components()[0], means + 1, rtol=1e-12)
