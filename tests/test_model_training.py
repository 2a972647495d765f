"""The model family from the command line: flags, labels through the batcher, evaluation of -log p(x | y),
the conditional pictures, and resuming."""

import dataclasses
import json

import numpy as np
import pytest

from conftest import SMALL_RUN
from numpyvae import load_model
from numpyvae import pictures as visualize
from numpyvae.data import MiniBatcher, load_dataset
from numpyvae.errors import UsageError
from numpyvae.evaluation import bounds as ev
from numpyvae.export import main as export_main
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.formats.modelfile import load_model_and_record
from numpyvae.models.vae import VAE
from numpyvae.training import build_parser, from_namespace, main


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, "--steps", "6", "--log-every", "3", *flags])


@pytest.mark.parametrize("flags, says", [
    (["--k", "5"], "--k"),
    (["--objective", "iwae", "--k", "0"], "--k must be at least 1"),
    (["--objective", "iwae", "--model", "ae"], "--model vae"),
    (["--objective", "iwae", "--kl-weight", "0.5"], "--kl-weight"),
    (["--objective", "iwae", "--kl-warmup", "10"], "--kl-weight"),
    (["--objective", "iwae", "--kl", "sampled"], "--kl"),
    (["--kl", "sampled", "--model", "ae"], "--kl sampled"),
    (["--likelihood", "exact", "--reconstruction", "mse"], "--likelihood exact"),
    (["--activations", "selu"], "--activations must be one of elu, tanh"),
    (["--activations", "elu", "tanh", "relu"], "3 activations for 2"),
    (["--hidden-dims", "8", "8", "--decoder-dims", "8", "--activations", "elu", "tanh"], "--decoder-activations"),
    (["--decoder-dims", "0"], "--decoder-dims must be at least 1, got 0"),
])
def test_flags_that_do_not_fit_are_one_line_usage_errors(flags, says, tmp_path, capsys):
    code = main(["--out", str(tmp_path / "run"), "--no-download", "--data-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1, err


def test_help_documents_the_model_flags():
    text = " ".join(build_parser().format_help().split())
    for flag in ("--hidden-dims WIDTH [WIDTH ...]", "--decoder-dims", "--activations", "--decoder-activations",
                 "--conditional", "--objective {elbo,iwae}", "--k K", "--kl {analytic,sampled}",
                 "--likelihood {clipped,exact}"):
        assert flag in text, flag


def test_default_flags_build_the_seed_model():
    config = from_namespace(build_parser().parse_args([]))
    assert VAE(**dataclasses.asdict(config.model)).config == VAE().config
    assert config.kept()["model"] == VAE().config  # what a checkpoint stores: the model's settings, once


def test_three_layer_run_with_relu_and_comma_names(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "run", "--hidden-dims", "16", "12", "8", "--activations", "relu,leaky_relu,tanh",
                 "--decoder-dims", "10", "14", "--decoder-activations", "elu") == 0
    model, checkpoint = load_model_and_record(tmp_path / "run" / "checkpoint.npz")
    assert model.config["hidden_dims"] == [16, 12, 8] and model.config["decoder_dims"] == [10, 14]
    assert model.config["activations"] == ["relu", "leaky_relu", "tanh"]
    assert model.config["decoder_activations"] == ["elu", "elu"]
    assert "encoder.fc3.weight" in model.params and "decoder.fc3.weight" not in model.params
    # each setting is stored once: the model's in "model", written out; none of them again in "run"
    assert checkpoint.config["model"]["activations"] == ["relu", "leaky_relu", "tanh"]
    assert not set(checkpoint.config["run"]) & set(checkpoint.config["model"])


def test_gated_run_trains_resumes_exactly_and_exports(tiny_root, tmp_path):
    """--activations glu: each hidden layer a Dense of twice its width, half of it gating the other half."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    gated = ("--hidden-dims", "16", "12", "--activations", "glu", "--eval-k", "3")
    assert train(tiny_root, straight, *gated) == 0
    assert main(["--data-dir", tiny_root, "--out", str(split), *SMALL_RUN, "--steps", "3", "--log-every", "3",
                 *gated]) == 0
    assert main(["--resume", str(split / "checkpoint.npz"), "--steps", "6", "--data-dir", tiny_root,
                 "--no-progress", "--no-download"]) == 0
    a, b = load_checkpoint(straight / "checkpoint.npz"), load_checkpoint(split / "checkpoint.npz")
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])
    model, _ = load_model_and_record(straight / "checkpoint.npz")
    assert model.config["activations"] == ["glu", "glu"] and model.config["decoder_activations"] == ["glu", "glu"]
    assert model.params["encoder.fc1.weight"].shape == (784, 32) and model.params["encoder.mean.weight"].shape[0] == 12
    assert model.params["decoder.fc2.weight"].shape == (12, 32)
    assert export_main([str(straight / "checkpoint.npz"), str(tmp_path / "gated.safetensors")]) == 0
    assert load_model(tmp_path / "gated.safetensors").config == model.config


def test_conditional_run_writes_its_pictures_and_bounds_log_p_x_given_y(tiny_root, tmp_path, capsys):
    assert train(tiny_root, tmp_path / "run", "--conditional", "--eval-k", "3") == 0
    out = tmp_path / "run"
    for picture in ("class_samples.png", "one_style_ten_digits.png", "prior_samples.png", "interpolations.png"):
        assert (out / picture).is_file(), picture
    results = json.loads((out / "evaluation.json").read_text())
    assert results["bounds"] == "-log p(x | y)"
    assert "-log p(x | y)" in capsys.readouterr().out
    model, _ = load_model_and_record(out / "checkpoint.npz")
    assert model.num_classes == 10 and model.params["encoder.fc1.weight"].shape[0] == 784 + 10


def test_iwae_run_trains_and_resumes_exactly(tiny_root, tmp_path):
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train(tiny_root, straight, "--objective", "iwae", "--k", "3", "--conditional") == 0
    assert main(["--data-dir", tiny_root, "--out", str(split), *SMALL_RUN, "--steps", "3", "--log-every", "3",
                 "--objective", "iwae", "--k", "3", "--conditional"]) == 0
    assert main(["--resume", str(split / "checkpoint.npz"), "--steps", "6", "--data-dir", tiny_root,
                 "--no-progress", "--no-download"]) == 0
    a, b = load_checkpoint(straight / "checkpoint.npz"), load_checkpoint(split / "checkpoint.npz")
    assert a.config["model"]["objective"] == "iwae" and a.config["model"]["k"] == 3
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name])


def test_minibatcher_labels_follow_the_images_and_leave_the_order_alone():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (30, 784), dtype=np.uint8)
    labels = rng.integers(0, 10, 30)
    with_labels = MiniBatcher(images, 7, np.random.default_rng(3), labels=labels)
    without = MiniBatcher(images, 7, np.random.default_rng(3))
    for _ in range(10):  # across an epoch boundary
        x = with_labels.next_batch().copy()
        np.testing.assert_array_equal(x, without.next_batch())
        rows = [int(np.flatnonzero((images == np.rint(row * 255)).all(axis=1))[0]) for row in x]
        np.testing.assert_array_equal(with_labels.last_labels, np.eye(10, dtype=np.float32)[labels[rows]])
    assert without.last_labels is None


def test_evaluate_needs_the_labels_of_a_conditional_model():
    model = VAE(hidden_dims=(16,), latent_dim=3, num_classes=10)
    images = np.random.default_rng(0).integers(0, 256, (20, 784), dtype=np.uint8)
    with pytest.raises(UsageError, match="label"):
        ev.evaluate(model, images, k=0)
    labels = np.arange(20) % 10
    results = ev.evaluate(model, images, k=3, labels=labels)
    assert results["bounds"] == "-log p(x | y)" and "-log p(x|y)" in ev.format_table(results)
    other = ev.evaluate(model, images, k=3, labels=(labels + 1) % 10)
    assert other["negative_elbo"] != results["negative_elbo"]  # the labels are used
    assert ev.evaluate(VAE(hidden_dims=(16,), latent_dim=3), images, k=0)["bounds"] == "-log p(x)"


def test_evaluate_reports_the_analytic_elbo_of_an_iwae_model():
    """The -ELBO of a model trained on IWAE (or with a sampled KL) is computed the seed's way."""
    options = dict(input_dim=784, hidden_dims=(16,), latent_dim=3, seed=1)
    images = np.random.default_rng(0).integers(0, 256, (20, 784), dtype=np.uint8)
    plain = ev.evaluate(VAE(**options), images, k=0)["negative_elbo"]
    for variant in (dict(objective="iwae", k=5), dict(kl="sampled")):
        assert ev.evaluate(VAE(**options, **variant), images, k=0)["negative_elbo"] == plain


def test_conditional_pictures():
    model = VAE(hidden_dims=(16,), latent_dim=3, num_classes=10)
    grid = visualize.class_samples(model, columns=6)
    assert grid.shape == (60, 784)
    images = np.random.default_rng(0).integers(0, 256, (3, 784), dtype=np.uint8)
    rows = visualize.one_style_ten_digits(model, images, np.array([1, 4, 7]))
    assert rows.shape == (33, 784)
    np.testing.assert_allclose(rows[0::11], images / 255, rtol=1e-6)  # each row starts with its input
    # decoding row i's style with label j is model.decode(z_i, j)
    z = model.encode(images[1:2] / np.float32(255), [4])[0]
    np.testing.assert_allclose(rows[11 + 1 + 6], model.decode(z, [6])[0], rtol=1e-5)  # float32, other batch


def test_conditional_model_on_real_mnist_pictures_and_evaluation(mnist, tmp_path):
    model = VAE(hidden_dims=(16,), latent_dim=2, num_classes=10)
    written = visualize.write_all(model, mnist, tmp_path)
    names = {path.name for path in written}
    assert {"class_samples.png", "one_style_ten_digits.png", "latent_scatter.png"} <= names
    assert "manifold.png" not in names


def test_dataset_labels_reach_the_loss(tiny_dataset):
    dataset = load_dataset("mnist", tiny_dataset[0].parent, download=False, progress=False)
    model = VAE(hidden_dims=(16,), latent_dim=3, num_classes=10, seed=0)
    batcher = MiniBatcher(dataset.train_images, 4, model.rng, labels=dataset.train_labels)
    x = batcher.next_batch()
    first = model.loss(x, training=False, eps=np.zeros((4, 3), np.float32), labels=batcher.last_labels)
    shifted = np.roll(batcher.last_labels, 1, axis=1)
    assert model.loss(x, training=False, eps=np.zeros((4, 3), np.float32), labels=shifted) != first
