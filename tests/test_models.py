"""The model family: any-depth MLPs, the conditional VAE, the IWAE objective, the sampled KL and the exact
likelihood. Their gradients against central differences and PyTorch autograd, and the identities between them."""

import math

import numpy as np
import pytest
from reference import log_normal
from test_vae import Float64Alarm

from numpyvae import load_model
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.architecture import resolve
from numpyvae.models.vae import VAE
from numpyvae.nn.layers import Concat, LeakyReLU, ReLU
from numpyvae.nn.losses import ExactBernoulliLogLikelihood, ImportanceWeightedBound, LogImportanceWeight, SampledKL
from numpyvae.teaching.gradcheck import (
    KINK_MARGIN,
    TOLERANCE,
    check_gradients,
    check_layer,
    check_vae,
    distance_to_kinks,
)

INPUT, LATENT, CLASSES, BATCH = 12, 3, 4, 5
# whole models, element by element, as tests/test_vae.py checks them: an element 1e-7 of the loss's scale (a
# coincidentally small gradient) carries the loss's rounding, ~1e-13 absolute, as a relative error near 1e-6
WHOLE_MODEL_TOLERANCE = 1e-6
VARIANTS = {
    "3 layers": dict(hidden_dims=(7, 6, 5)),
    "relu/leaky, own decoder": dict(hidden_dims=(7, 6, 5), decoder_dims=(6, 8), activations=("relu", "leaky_relu",
                                    "tanh"), decoder_activations=("leaky_relu", "relu")),
    "one layer": dict(hidden_dims=(7,)),
    "gated": dict(hidden_dims=(7, 6, 5), activations=("glu", "elu", "glu"), decoder_activations=("glu", "tanh", "glu")),
    "kl sampled": dict(kl="sampled"),
    "exact likelihood": dict(likelihood="exact"),
    "conditional": dict(num_classes=CLASSES),
    "iwae k=1": dict(objective="iwae", k=1),
    "iwae k=4": dict(objective="iwae", k=4),
    "conditional iwae k=3": dict(objective="iwae", k=3, num_classes=CLASSES),
    "conditional 3 layers kl sampled": dict(hidden_dims=(7, 6, 5), num_classes=CLASSES, kl="sampled"),
}


def batch(k=None, seed=1):
    """x (B, input), eps (B, latent) or (K, B, latent), labels (B,)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (BATCH, INPUT))
    eps = rng.standard_normal((BATCH, LATENT) if k is None else (k, BATCH, LATENT))
    return x, eps, rng.integers(0, CLASSES, BATCH)


def small(options, training=True, seed_from=0):
    """A float64 model of ``options`` with its batch; the first seed whose kinked units stay clear of 0."""
    options = {"hidden_dims": (7, 6), **options}
    x, eps, labels = batch(options.get("k", 1) if options.get("objective") == "iwae" else None)
    labels = labels if options.get("num_classes") else None
    for seed in range(seed_from, seed_from + 100):
        model = VAE(INPUT, latent_dim=LATENT, keep_prob=0.8, seed=seed, dtype=np.float64, **options)
        if distance_to_kinks(model, x, eps, labels, training) > KINK_MARGIN:
            return model, x, eps, labels
    raise AssertionError("no seed keeps the kinked units off 0")


# -- layers -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", [ReLU(), LeakyReLU(), LeakyReLU(0.3)])
def test_relu_family_values_and_gradients(layer):
    x = np.array([[-3.0, -0.5, -0.01, 0.01, 0.5, 3.0]])
    slope = getattr(layer, "slope", 0.0)
    np.testing.assert_array_equal(layer.forward(x), np.where(x > 0, x, slope * x))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.where(x > 0, 1, slope))
    rng = np.random.default_rng(0)
    wide = rng.uniform(-4, 4, (5, 7))
    wide[np.abs(wide) < 1e-2] = 0.5
    assert check_layer(layer, wide)["input"] < TOLERANCE


def test_relu_family_keeps_float32():
    x = np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)
    for layer in (ReLU(), LeakyReLU()):
        assert layer.forward(x).dtype == np.float32 and layer.backward(x).dtype == np.float32


def test_concat_joins_and_splits_its_gradient():
    rng = np.random.default_rng(0)
    parts = {"a": rng.normal(size=(4, 3)), "b": rng.normal(size=(4, 2)), "c": rng.normal(size=(4, 5))}
    concat = Concat()
    joined = concat.forward(list(parts.values()))
    np.testing.assert_array_equal(joined, np.hstack(list(parts.values())))
    g = rng.normal(size=joined.shape)
    a, b, c = concat.backward(g)
    np.testing.assert_array_equal(a, g[:, :3])
    np.testing.assert_array_equal(b, g[:, 3:5])
    np.testing.assert_array_equal(c, g[:, 5:])
    errors = check_gradients(lambda: concat.forward(list(parts.values())),
                             lambda g: dict(zip(parts, concat.backward(g), strict=True)), parts)
    assert max(errors.values()) < TOLERANCE


# -- architecture, names, config, old checkpoints -----------------------------------------------------------

def test_default_activations_generalize_the_seed():
    assert resolve((500, 500)).activations == ["elu", "tanh"]
    assert resolve((500, 500)).decoder_activations == ["tanh", "elu"]
    three = resolve((300, 200, 100))
    assert three.decoder_dims == [100, 200, 300]
    assert three.activations == ["elu", "elu", "tanh"] and three.decoder_activations == ["tanh", "elu", "elu"]
    assert resolve((8,)).activations == ["tanh"]
    assert resolve((8, 8), decoder_dims=(4, 4, 4)).decoder_activations == ["tanh", "elu", "elu"]
    assert resolve((8, 8, 8), activations="relu", decoder_dims=(4,)).decoder_activations == ["relu"]
    assert resolve((8, 8), activations=("relu", "tanh")).decoder_activations == ["tanh", "relu"]


@pytest.mark.parametrize("kwargs, says", [
    (dict(hidden_dims=()), "hidden_dims"), (dict(hidden_dims=(4, 0)), "hidden_dims"),
    (dict(hidden_dims=(4,), activations=("selu",)), "unknown activation"),
    (dict(hidden_dims=(4, 4), activations=("elu", "tanh", "relu")), "3 activations for 2"),
    (dict(hidden_dims=(4, 4), activations=("elu", "tanh"), decoder_dims=(4,)), "decoder_activations"),
])
def test_bad_architectures_are_refused(kwargs, says):
    with pytest.raises(ValueError, match=says):
        resolve(**kwargs)


@pytest.mark.parametrize("kwargs, says", [
    (dict(objective="vi"), "objective"), (dict(kl="mc"), "kl"), (dict(likelihood="soft"), "likelihood"),
    (dict(likelihood="exact", reconstruction="mse"), "bernoulli"), (dict(k=0), "--k must be at least 1"),
    (dict(objective="iwae", variational=False), "posterior"),
])
def test_bad_options_are_refused(kwargs, says):
    with pytest.raises(ValueError, match=says):
        VAE(**kwargs)


def test_three_layer_names_and_shapes():
    model = VAE(hidden_dims=(300, 200, 100), latent_dim=10)
    shapes = {"encoder.fc1": (784, 300), "encoder.fc2": (300, 200), "encoder.fc3": (200, 100),
              "encoder.mean": (100, 10), "encoder.std": (100, 10), "decoder.fc1": (10, 100),
              "decoder.fc2": (100, 200), "decoder.fc3": (200, 300), "decoder.output": (300, 784)}
    assert sorted(model.params) == sorted(f"{name}.{p}" for name in shapes for p in ("weight", "bias"))
    for name, shape in shapes.items():
        assert model.params[f"{name}.weight"].shape == shape


def test_conditional_layers_take_the_label():
    model = VAE(hidden_dims=(16,), latent_dim=3, num_classes=10)
    assert model.params["encoder.fc1.weight"].shape == (784 + 10, 16)
    assert model.params["decoder.fc1.weight"].shape == (3 + 10, 16)


@pytest.mark.parametrize("options", list(VARIANTS.values()), ids=list(VARIANTS))
def test_config_rebuilds_the_same_model(options):
    model = VAE(INPUT, latent_dim=LATENT, seed=3, **{"hidden_dims": (7, 6), **options})
    rebuilt = VAE(**model.config, seed=3)
    assert rebuilt.config == model.config
    for name, param in model.params.items():
        np.testing.assert_array_equal(rebuilt.params[name], param)


def test_checkpoint_written_before_the_model_family_still_loads(tmp_path):
    """A config with only the keys the seed's VAE knew (as base-commit checkpoints hold) builds the seed's model."""
    old_config = {"input_dim": 784, "hidden_dims": [500, 500], "latent_dim": 20, "keep_prob": 0.9,
                  "dtype": "float32", "variational": True, "reconstruction": "bernoulli"}
    trained = VAE(seed=4)
    path = tmp_path / "old.npz"
    save_checkpoint(path, Checkpoint(config={"model": old_config, "run": {}}, step=1,
                                     rng_state=trained.rng.bit_generator.state, params=trained.params,
                                     optimizer={}, batcher={}))
    model = load_model(path)
    assert model.config["activations"] == ["elu", "tanh"] and model.config["decoder_activations"] == ["tanh", "elu"]
    assert model.config["objective"] == "elbo" and model.num_classes == 0
    x = np.random.default_rng(0).random((4, 784)).astype(np.float32)
    eps = np.random.default_rng(1).standard_normal((4, 20), dtype=np.float32)
    assert model.loss(x, False, eps) == trained.loss(x, False, eps)


# -- gradients ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("options", list(VARIANTS.values()), ids=list(VARIANTS))
def test_whole_model_gradient_check(options, training):
    model, x, eps, labels = small(options, training)
    errors = check_vae(model, x, eps, training=training, labels=labels)
    assert sorted(errors) == sorted(model.params)
    assert max(errors.values()) < WHOLE_MODEL_TOLERANCE, errors


def test_exact_likelihood_has_no_clip_and_matches_the_closed_form():
    rng = np.random.default_rng(0)
    logits, x = rng.uniform(-60, 60, (4, 9)), rng.uniform(0, 1, (4, 9))
    term = ExactBernoulliLogLikelihood()
    p = 1 / (1 + np.exp(-logits))
    with np.errstate(divide="ignore"):
        naive = x * np.log(p) + (1 - x) * np.log1p(-p)  # -inf where p rounds to 0 or 1
    stable = x * -np.logaddexp(0, -logits) + (1 - x) * -np.logaddexp(0, logits)
    np.testing.assert_allclose(term.forward(logits, x), stable.sum(axis=1), rtol=1e-12)
    finite = np.all(np.isfinite(naive), axis=1)
    np.testing.assert_allclose(term.forward(logits, x)[finite], naive.sum(axis=1)[finite], rtol=1e-9)
    np.testing.assert_allclose(term.backward(1.0), x - p, rtol=1e-12, atol=1e-300)  # x - sigmoid(a) everywhere
    assert np.all(term.backward(1.0)[np.abs(logits) > 18.5] != 0)


def test_exact_likelihood_float32_extremes_are_finite_and_silent():
    logits = np.array([[-1e4, -30, 0, 30, 1e4]], dtype=np.float32)
    x = np.array([[1, 1, 0, 0, 0]], dtype=np.float32)
    term = ExactBernoulliLogLikelihood()
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        value, grad = term.forward(logits, x), term.backward(1.0)
    assert value.dtype == grad.dtype == np.float32
    assert value[0] == pytest.approx(-(1e4 + 30 + math.log(2) + 30 + 1e4), rel=1e-6)  # no clip at -log(1e-8)


def test_sampled_kl_gradient_closed_form_and_mean():
    """dKL/dmean = z and dKL/dstd = z eps - 1/std; averaged over eps, the value is the analytic KL."""
    rng = np.random.default_rng(0)
    mean, std = rng.normal(size=(3, 2)), rng.uniform(0.3, 2, (3, 2))
    eps = rng.standard_normal((3, 2))
    kl = SampledKL()
    kl.forward(mean, std, eps)
    grad_mean, grad_std = kl.backward(1.0)
    z = mean + std * eps
    np.testing.assert_allclose(grad_mean, z, rtol=1e-12)
    np.testing.assert_allclose(grad_std, z * eps - 1 / std, rtol=1e-12)
    many = rng.standard_normal((200_000, 3, 2))
    estimate = SampledKL().forward(mean, std, many).mean(axis=0)
    analytic = 0.5 * np.sum(std ** 2 + mean ** 2 - 2 * np.log(std) - 1, axis=1)
    np.testing.assert_allclose(estimate, analytic, rtol=0, atol=0.02)


def log_weight_case(seed=0, k=4, batch=3, latent=2):
    rng = np.random.default_rng(seed)
    mean, std = rng.normal(size=(batch, latent)), rng.uniform(0.3, 2, (batch, latent))
    eps = rng.standard_normal((k, batch, latent))
    return rng.normal(scale=20, size=(k, batch)), mean, std, eps


def test_log_weight_is_the_textbook_log_p_plus_log_p_minus_log_q():
    log_likelihood, mean, std, eps = log_weight_case()
    z = mean + std * eps
    expected = log_likelihood + log_normal(z) - log_normal(z, mean, std)  # both densities at z, 2 pi and all
    np.testing.assert_allclose(LogImportanceWeight().forward(log_likelihood, z, eps, std), expected, rtol=1e-13)


def test_log_weight_partials_against_central_differences():
    """Its own partials, eps held fixed and std shared by the K samples: 1, -z and sum over k of 1 / std."""
    log_likelihood, _, std, eps = log_weight_case(1)
    z = np.random.default_rng(2).normal(size=eps.shape)  # z as an input of its own
    term = LogImportanceWeight()
    errors = check_gradients(lambda: term.forward(log_likelihood, z, eps, std),
                             lambda g: dict(zip(("log_likelihood", "z", "std"), term.backward(g), strict=True)),
                             {"log_likelihood": log_likelihood, "z": z, "std": std})
    assert max(errors.values()) < TOLERANCE, errors


def test_log_weight_through_the_reparameterization_against_central_differences():
    """Chained through z = mean + std * eps as VAE._iwae_backward chains it, in float64."""
    log_likelihood, mean, std, eps = log_weight_case(3)
    term = LogImportanceWeight()

    def backward(g):
        _, grad_z, grad_std = term.backward(g)
        return {"mean": grad_z.sum(axis=0), "std": grad_std + (grad_z * eps).sum(axis=0)}

    errors = check_gradients(lambda: term.forward(log_likelihood, mean + std * eps, eps, std), backward,
                             {"mean": mean, "std": std})
    assert max(errors.values()) < TOLERANCE, errors


def test_log_weight_gradient_agrees_with_torch_autograd():
    torch = pytest.importorskip("torch")
    log_likelihood, mean, std, eps = log_weight_case(4, k=5, batch=4, latent=3)
    t_ll, t_mean, t_std = (torch.tensor(a, requires_grad=True) for a in (log_likelihood, mean, std))
    t_z = t_mean + t_std * torch.tensor(eps)
    normal = torch.distributions.Normal
    t_log_w = (t_ll + normal(0.0, 1.0).log_prob(t_z).sum(-1) - normal(t_mean, t_std).log_prob(t_z).sum(-1))
    upstream = np.random.default_rng(5).standard_normal(log_likelihood.shape)
    (t_log_w * torch.tensor(upstream)).sum().backward()
    term = LogImportanceWeight()
    value = term.forward(log_likelihood, mean + std * eps, eps, std)
    grad_ll, grad_z, grad_std = term.backward(upstream)
    np.testing.assert_allclose(value, t_log_w.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_ll, t_ll.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(grad_z.sum(axis=0), t_mean.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad_std + (grad_z * eps).sum(axis=0), t_std.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_log_weight_stays_in_float32():
    log_likelihood, mean, std, eps = (a.astype(np.float32) for a in log_weight_case(6))
    term = LogImportanceWeight()
    assert term.forward(log_likelihood, mean + std * eps, eps, std).dtype == np.float32
    assert all(grad.dtype == np.float32 for grad in term.backward(np.ones((4, 3), np.float32)))


def test_log_mean_exp_is_stable_and_its_gradient_is_the_normalized_weights():
    log_w = np.array([[-1000.0, 3.0], [-1001.0, 5.0], [-999.0, 4.0]])  # K = 3 samples of 2 images
    bound = ImportanceWeightedBound()
    value = bound.forward(log_w)
    shifted = log_w - log_w.max(axis=0)
    np.testing.assert_allclose(value, log_w.max(axis=0) + np.log(np.exp(shifted).mean(axis=0)), rtol=1e-14)
    weights = bound.backward(1.0)
    np.testing.assert_allclose(weights.sum(axis=0), 1, rtol=1e-14)
    np.testing.assert_allclose(weights, np.exp(shifted) / np.exp(shifted).sum(axis=0), rtol=1e-14)


# -- IWAE identities ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("conditional", [False, True])
def test_iwae_with_one_sample_is_the_elbo_with_a_sampled_kl(conditional):
    options = dict(num_classes=CLASSES) if conditional else {}
    iwae, x, eps, labels = small(dict(objective="iwae", k=1, **options), training=True)
    elbo = VAE(**{**iwae.config, "objective": "elbo", "kl": "sampled"}, seed=0)
    for name in elbo.params:
        np.copyto(elbo.params[name], iwae.params[name])
    elbo.rng.bit_generator.state = iwae.rng.bit_generator.state  # the same dropout masks
    iwae_terms = iwae.loss_terms(x, True, eps, labels)
    elbo_terms = elbo.loss_terms(x, True, eps[0], labels)
    assert iwae_terms.losses.mean() == pytest.approx(elbo_terms.losses.mean(), rel=1e-13)
    np.testing.assert_allclose(iwae_terms.losses, elbo_terms.losses, rtol=1e-13)
    np.testing.assert_allclose(iwae_terms.kl[0], elbo_terms.kl, rtol=1e-13)  # log q - log p, sampled alike
    iwae.backward()
    elbo.backward()
    for name in iwae.grads:
        np.testing.assert_allclose(iwae.grads[name], elbo.grads[name], rtol=1e-10, atol=1e-13, err_msg=name)


def test_the_bound_tightens_with_k():
    """E[-log (1/K) sum w_k] falls as K grows (Burda et al., theorem 1): averaged over many draws, K = 1 > 5 > 50."""
    model = VAE(INPUT, (8, 8), LATENT, seed=0, dtype=np.float64, objective="iwae")
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (400, INPUT))
    means = {}
    for k in (1, 5, 50):
        terms = [model.iwae_terms(x, training=False, eps=rng.standard_normal((k, len(x), LATENT)))
                 for _ in range(10)]
        losses = [(t.losses.mean(), t.losses.std() / math.sqrt(len(x))) for t in terms]
        means[k] = (np.mean([loss for loss, _ in losses]), np.mean([se for _, se in losses]))
    (l1, se1), (l5, se5), (l50, se50) = means[1], means[5], means[50]
    assert l1 - l5 > 3 * (se1 + se5) and l5 - l50 > 3 * (se5 + se50), means


def test_iwae_decodes_all_samples_in_one_batched_pass():
    model = VAE(INPUT, (8, 8), LATENT, seed=0, dtype=np.float64, objective="iwae", k=6)
    x = np.random.default_rng(0).uniform(0, 1, (BATCH, INPUT))
    calls = []
    forward = model.decoder.forward
    model.decoder.forward = lambda rows, training=True: calls.append(rows.shape) or forward(rows, training)
    model.loss(x)
    assert calls == [(6 * BATCH, LATENT)]


def test_sample_takes_labels_as_indices_or_one_hot():
    model = VAE(hidden_dims=(16,), latent_dim=3, num_classes=10, seed=2)
    state = model.rng.bit_generator.state
    by_index = model.sample(5, labels=[0, 1, 2, 3, 4])
    model.rng.bit_generator.state = state
    by_one_hot = model.sample(5, labels=np.eye(10)[:5])
    model.rng.bit_generator.state = state
    default = model.sample(5)
    np.testing.assert_array_equal(by_index, by_one_hot)
    np.testing.assert_array_equal(by_index, default)  # 0, 1, 2, ... in turn
    model.rng.bit_generator.state = state
    assert not np.array_equal(model.sample(5, labels=[9] * 5), by_index)
    with pytest.raises(ValueError, match="0..9"):
        model.sample(2, labels=[3, 10])
    with pytest.raises(ValueError, match="unconditional"):
        VAE(hidden_dims=(16,), latent_dim=3).sample(2, labels=[0, 1])
    with pytest.raises(ValueError, match="needs the labels"):
        model.loss(np.zeros((2, 784), np.float32))


@pytest.mark.parametrize("options", [dict(objective="iwae", k=3), dict(num_classes=10), dict(kl="sampled"),
                                     dict(likelihood="exact"), dict(objective="iwae", k=2, num_classes=10),
                                     dict(hidden_dims=(64, 32, 16), activations=("relu", "leaky_relu", "tanh"))])
def test_float32_step_makes_no_float64_array(options):
    model = VAE(**{"hidden_dims": (64, 32), **options})
    x = np.random.default_rng(0).random((8, 784)).astype(np.float32).view(Float64Alarm)
    labels = np.arange(8) % 10 if model.conditional else None
    Float64Alarm.made = []
    assert math.isfinite(model.loss(x, labels=labels))
    model.backward()
    assert Float64Alarm.made == []
    assert all(g.dtype == np.float32 and np.all(np.isfinite(g)) for g in model.grads.values())


# -- PyTorch autograd as an independent oracle --------------------------------------------------------------

def torch_loss(torch, model, params, x, eps, labels):
    """The model's loss written independently in PyTorch from its config (dropout off)."""
    config, F = model.config, torch.nn.functional
    act = {"elu": F.elu, "tanh": torch.tanh, "relu": F.relu, "leaky_relu": F.leaky_relu, "sigmoid": torch.sigmoid,
           "softplus": F.softplus, "glu": F.glu}  # F.glu: the first half of the features times sigmoid(the second)

    def mlp(h, network, names):
        for index, name in enumerate(names):
            h = act[name](h @ params[f"{network}.fc{index + 1}.weight"] + params[f"{network}.fc{index + 1}.bias"])
        return h

    tx, teps = torch.tensor(x), torch.tensor(eps)
    y = None if labels is None else F.one_hot(torch.tensor(labels), config["num_classes"]).double()
    h = mlp(tx if y is None else torch.cat([tx, y], 1), "encoder", config["activations"])
    mean = h @ params["encoder.mean.weight"] + params["encoder.mean.bias"]
    std = 1e-6 + F.softplus(h @ params["encoder.std.weight"] + params["encoder.std.bias"])
    z = mean + std * teps                                                   # (B, L) or (K, B, L)
    y_rows = None if y is None else y.expand(*z.shape[:-1], y.shape[-1])
    a = mlp(z if y is None else torch.cat([z, y_rows], -1), "decoder", config["decoder_activations"])
    logits = a @ params["decoder.output.weight"] + params["decoder.output.bias"]
    if config["likelihood"] == "exact":
        log_px = -F.binary_cross_entropy_with_logits(logits, tx.expand_as(logits), reduction="none").sum(-1)
    else:
        p = torch.sigmoid(logits).clamp(1e-8, 1 - 1e-8)
        log_px = (tx * torch.log(p) + (1 - tx) * torch.log(1 - p)).sum(-1)
    normal = torch.distributions.Normal
    log_ratio = (normal(mean, std).log_prob(z) - normal(0.0, 1.0).log_prob(z)).sum(-1)   # log q - log p
    if config["objective"] == "iwae":
        return -(torch.logsumexp(log_px - log_ratio, 0) - math.log(len(eps))).mean()
    if config["kl"] == "sampled":
        return -(log_px - log_ratio).mean()
    return -(log_px - 0.5 * (mean ** 2 + std ** 2 - torch.log(1e-8 + std ** 2) - 1).sum(-1)).mean()


@pytest.mark.parametrize("options", list(VARIANTS.values()), ids=list(VARIANTS))
def test_torch_autograd_agrees(options):
    torch = pytest.importorskip("torch")
    model, x, eps, labels = small(options, training=False)
    loss = model.loss(x, False, eps, labels)
    model.backward()
    params = {name: torch.tensor(p, requires_grad=True) for name, p in model.params.items()}
    expected = torch_loss(torch, model, params, x, eps, labels)
    expected.backward()
    assert loss == pytest.approx(expected.item(), rel=1e-12)
    for name, p in params.items():
        np.testing.assert_allclose(model.grads[name], p.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name)
