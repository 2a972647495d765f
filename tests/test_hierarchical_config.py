"""The hierarchical model in the one typed configuration (issue 25): its fields and flags, the rules that refuse
what does not go together, ``models.build`` and ``parameter_shapes``; training it through ``train.py``."""

import sys

import numpy as np
import pytest

from numpyvae.config import SettingError, validate
from numpyvae.models import HierarchicalVAE, build
from numpyvae.models.config import ModelConfig
from numpyvae.models.vae import VAE
from numpyvae.training import main

CONFIGS = {
    "seed's VAE": ModelConfig(),
    "burda two layers": ModelConfig(latent_dims=[100, 50], hidden_dims=[200, 200], upper_hidden_dims=[100, 100],
                                    activations=["tanh"], keep_prob=1.0),
    "vamp one layer": ModelConfig(latent_dims=[20], prior="vampprior", kl="sampled", pseudo_inputs=7),
    "three layers, vamp, iwae, upper depth 3": ModelConfig(
        input_dim=30, latent_dims=[8, 4, 2], hidden_dims=[12, 10], upper_hidden_dims=[6, 5, 4], prior="vampprior",
        objective="iwae", k=3, pseudo_inputs=5),
    "two layers, per-layer activations": ModelConfig(input_dim=30, latent_dims=[6, 3], hidden_dims=[12, 10],
                                                     activations=["relu", "softplus"]),
}


@pytest.mark.parametrize("name", CONFIGS)
def test_parameter_shapes_are_those_of_the_model_built(name):
    config = validate(CONFIGS[name])
    model = build(config, seed=0)
    assert isinstance(model, HierarchicalVAE if config.latent_dims else VAE)
    assert config.parameter_shapes() == {key: value.shape for key, value in model.params.items()}
    resolved = config.resolved()
    assert resolved.resolved() == resolved and validate(resolved).parameter_shapes() == config.parameter_shapes()
    again = build(resolved, seed=0)  # what a checkpoint stores builds the same model, the same weights
    assert sorted(again.params) == sorted(model.params)
    for key, value in model.params.items():
        np.testing.assert_array_equal(again.params[key], value)


def test_build_is_the_vae_of_the_settings_and_the_hierarchical_model_of_its_arguments():
    vae = build(ModelConfig(hidden_dims=[16, 12], latent_dim=3), seed=4)
    direct = VAE(784, (16, 12), 3, seed=4)
    assert all(np.array_equal(vae.params[key], direct.params[key]) for key in direct.params)
    config = CONFIGS["burda two layers"]
    model = build(config, seed=2)
    direct = HierarchicalVAE(784, seed=2)  # Burda et al.'s architecture is HierarchicalVAE's default
    assert sorted(model.params) == sorted(direct.params)
    assert all(np.array_equal(model.params[key], direct.params[key]) for key in direct.params)
    assert model.config == direct.config


def test_the_vae_refuses_the_hierarchical_settings():
    with pytest.raises(ValueError, match="models.build"):
        VAE(latent_dims=[10, 5])


@pytest.mark.parametrize("settings, flag", [
    (dict(latent_dims=[10, 5], latent_dim=7), "--latent-dim"),
    (dict(latent_dims=[10, 5], variational=False), "--model vae"),
    (dict(latent_dims=[10, 5], reconstruction="mse"), "--reconstruction mse"),
    (dict(latent_dims=[10, 5], num_classes=10), "--conditional"),
    (dict(latent_dims=[10, 5], free_bits=0.5), "--free-bits"),
    (dict(latent_dims=[10], upper_hidden_dims=[4]), "--upper-hidden-dims"),
    (dict(upper_hidden_dims=[4]), "--upper-hidden-dims"),
    (dict(prior="vampprior", kl="sampled"), "--prior vampprior needs --latent-dims"),
    (dict(latent_dims=[10], prior="vampprior"), "--kl sampled"),
    (dict(latent_dims=[10], pseudo_inputs=20), "--pseudo-inputs"),
    (dict(latent_dims=[10, 0]), "--latent-dims"),
    (dict(latent_dims=[10, 5], hidden_dims=[8, 8], upper_hidden_dims=[4, 4, 4], activations=["relu", "tanh"],
          decoder_activations=["tanh", "relu"], decoder_dims=[8]), "model layers"),
])
def test_settings_that_do_not_go_together_name_the_flag(settings, flag):
    with pytest.raises(SettingError, match=flag):
        validate(ModelConfig(**settings))


@pytest.mark.parametrize("flags, named", [
    (["--latent-dims", "10", "5", "--model", "ae"], "--model vae"),
    (["--latent-dims", "10", "5", "--conditional"], "--conditional"),
    (["--prior", "vampprior"], "--prior vampprior"),
    (["--latent-dims", "4", "--prior", "vampprior"], "--kl sampled"),
    (["--pseudo-inputs", "9"], "--pseudo-inputs"),
    (["--latent-dims", "4", "--upper-hidden-dims", "3"], "--upper-hidden-dims"),
])
def test_train_py_refuses_them_in_one_line(flags, named, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main([*flags, "--out", str(tmp_path / "run"), "--no-download"]))
    assert stop.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err and named in err
    assert not (tmp_path / "run").exists()


# -- train.py ------------------------------------------------------------------------------------------------

# a small two-layer model with the VampPrior (as train.py's SMALL_RUN, the one-layer VAE's, is small)
TWO_LAYERS = ["--latent-dims", "5", "3", "--hidden-dims", "16", "12", "--upper-hidden-dims", "8", "--batch-size", "4",
              "--no-progress", "--no-download"]
RUNS = {
    "elbo": [],
    "iwae": ["--objective", "iwae", "--k", "3"],
    "vampprior elbo, adam": ["--prior", "vampprior", "--kl", "sampled", "--pseudo-inputs", "6", "--optimizer",
                             "adam"],
    "vampprior iwae, momentum": ["--prior", "vampprior", "--pseudo-inputs", "6", "--objective", "iwae", "--k", "2",
                                 "--momentum", "0.9"],
}


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *TWO_LAYERS, *flags])


@pytest.mark.parametrize("name", RUNS)
def test_resume_is_bit_identical_to_one_long_run(tiny_root, tmp_path, name):
    from test_resume import assert_same_state

    from numpyvae.formats.checkpoint import load_checkpoint
    flags = [*RUNS[name], "--log-every", "4", "--seed", "3"]
    assert train(tiny_root, tmp_path / "long", "--steps", "14", *flags) == 0
    assert train(tiny_root, tmp_path / "split", "--steps", "7", *flags) == 0
    assert main(["--resume", str(tmp_path / "split" / "checkpoint.npz"), "--steps", "14", "--data-dir", tiny_root,
                 "--no-progress", "--no-download"]) == 0
    assert_same_state(tmp_path / "long" / "checkpoint.npz", tmp_path / "split" / "checkpoint.npz")
    saved = load_checkpoint(tmp_path / "long" / "checkpoint.npz")
    config = ModelConfig(**saved.config["model"])
    assert config.latent_dims == [5, 3] and config.parameter_shapes() == {
        name[len("params/"):] if name.startswith("params/") else name: value.shape
        for name, value in saved.params.items()}
    if "vampprior" in name:  # the pseudo-inputs are parameters: trained, and kept in the checkpoint
        assert saved.params["prior.pseudo_inputs"].shape == (6, 784)
        start = build(config, seed=3).params["prior.pseudo_inputs"]
        assert not np.array_equal(saved.params["prior.pseudo_inputs"], start)
        assert saved.optimizer  # and the optimizer holds state for them
    # reports at steps 4, 8 and 12, and the last step 14
    lines = (tmp_path / "long" / "metrics.csv").read_text().splitlines()
    assert len(lines) == 1 + 4 and all(np.isfinite(float(v)) for v in lines[-1].split(",")[1:])


def test_the_test_elbo_report_is_the_models_own_elbo(tiny_root, tmp_path, tiny_dataset):
    """The -ELBO train.py reports is the mean of the model's own elbo_terms at the report's noise: for the
    standard prior the top layer's KL is analytic (and the VampPrior's sampled)."""
    import json

    from numpyvae import load_model
    from numpyvae.data import load_dataset, to_float
    from numpyvae.evaluation.bounds import negative_elbo
    assert train(tiny_root, tmp_path / "run", "--steps", "3", "--log-every", "3") == 0
    model = load_model(tmp_path / "run" / "checkpoint.npz")
    assert isinstance(model, HierarchicalVAE)
    test = load_dataset("mnist", tiny_root, download=False, progress=False).test_images
    x = to_float(test, np.float32)
    rng = np.random.default_rng(0)
    eps = [rng.standard_normal((len(x), width), dtype=np.float32) for width in (5, 3)]
    expected = model.elbo_terms(x, training=False, eps=eps, kl="analytic")
    assert negative_elbo(model, test) == pytest.approx(float(np.mean(expected.kl - expected.log_likelihood)),
                                                       rel=1e-6)
    reported = json.loads((tmp_path / "run" / "evaluation.json").read_text())["negative_elbo"]
    assert reported == pytest.approx(negative_elbo(model, test), rel=1e-12)


# -- load_model, python -m numpyvae.evaluate and the final --eval-k pass ----------------------------------------

def test_evaluate_bounds_the_hierarchical_checkpoint_by_the_lean_hierarchical_pass(tiny_root, tmp_path):
    import json

    from numpyvae import load_model
    from numpyvae.data import load_dataset, to_float
    from numpyvae.evaluate import main as evaluate_main
    from numpyvae.evaluation.bounds import ROWS_PER_CHUNK
    from numpyvae.evaluation.lean_hierarchical import hierarchical_bound_parallel, hierarchical_log_mean_weight
    assert train(tiny_root, tmp_path / "run", *RUNS["vampprior iwae, momentum"], "--steps", "3", "--eval-k", "7",
                 "--eval-workers", "2") == 0
    path = tmp_path / "run" / "checkpoint.npz"
    model = load_model(path)
    assert isinstance(model, HierarchicalVAE) and model.prior == "vampprior" and model.latent_dims == [5, 3]
    test = load_dataset("mnist", tiny_root, download=False, progress=False).test_images
    # train.py's final pass, two workers: the pool's numbers, one generator per batch of 100 images (the same
    # pool here: its workers run one BLAS thread each, and an in-process pass with two threads may sum the
    # float32 products in another order, 1e-8 apart on an AMD EPYC)
    final = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    parallel = hierarchical_bound_parallel(model, test, k=7, batch_size=100, seed=0, workers=2)
    assert final["iwae_k"] == 7 and final["iwae"] == pytest.approx(float(np.mean(parallel)), rel=1e-12)
    # the evaluation command, one process: one generator through the batches, lean_hierarchical's pass
    assert evaluate_main([str(path), "--k", "9", "--batch-size", "4", "--data-dir", tiny_root, "--no-progress",
                          "--json", str(tmp_path / "e.json")]) == 0
    rng, expected = np.random.default_rng(0), []
    for start in range(0, len(test), 4):
        x = to_float(test[start:start + 4], model.dtype)
        expected.append(-hierarchical_log_mean_weight(model, x, 9, rng, ROWS_PER_CHUNK))
    result = json.loads((tmp_path / "e.json").read_text())
    assert result["iwae"] == pytest.approx(float(np.mean(np.concatenate(expected))), rel=1e-12)
    assert result["iwae"] <= result["negative_elbo"] + 3 * result["negative_elbo_stderr"]


def test_a_checkpoint_whose_layers_do_not_fit_its_settings_is_refused(tiny_root, tmp_path, capsys):
    import dataclasses

    from numpyvae import load_model
    from numpyvae.errors import CheckpointError
    from numpyvae.formats.checkpoint import load_checkpoint, save_checkpoint
    assert train(tiny_root, tmp_path / "run", "--steps", "2") == 0
    path = tmp_path / "run" / "checkpoint.npz"
    saved = load_checkpoint(path)
    for change in (dict(latent_dims=[5, 4]), dict(upper_hidden_dims=[9]), dict(latent_dims=[5]),
                   dict(prior="vampprior", kl="sampled")):
        config = {**saved.config, "model": {**saved.config["model"], **change}}
        if change.get("latent_dims") == [5]:
            config["model"]["upper_hidden_dims"] = None
        save_checkpoint(path, dataclasses.replace(saved, config=config))
        with pytest.raises(CheckpointError, match="another architecture"):
            load_model(path)


# -- the presets ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset, prior", [("two-layer-mnist", "standard"), ("vampprior-mnist", "vampprior")])
def test_the_presets_are_burdas_two_layers_on_the_binarized_recipe(preset, prior):
    from numpyvae.training.config import PRESETS, build_parser, from_namespace
    config = from_namespace(build_parser(preset).parse_args(["--preset", preset]))
    model = build(config.model_for(784))
    burda = HierarchicalVAE(784, prior=prior, components=500)  # Burda's architecture is its default
    assert {k: v.shape for k, v in model.params.items()} == {k: v.shape for k, v in burda.params.items()}
    assert model.config == burda.config
    recipe = {key: value for key, value in PRESETS["binarized-mnist"].items()}
    for key, value in recipe.items():
        section = next(s for s in config.sections().values() if hasattr(s, key))
        assert getattr(section, key) == value, key


def test_a_preset_run_trains_and_resumes_with_its_flags_overridden(tiny_root, tmp_path):
    small = ["--hidden-dims", "16", "--upper-hidden-dims", "8", "--latent-dims", "4", "2", "--pseudo-inputs", "3",
             "--batch-size", "4", "--eval-k", "0", "--eval-workers", "1", "--log-every", "2", "--no-progress",
             "--no-download", "--data-dir", tiny_root]
    out = tmp_path / "run"
    assert main(["--preset", "vampprior-mnist", "--steps", "2", "--out", str(out), *small]) == 0
    assert main(["--preset", "vampprior-mnist", "--resume", str(out / "checkpoint.npz"), "--steps", "4",
                 *small]) == 0
    from numpyvae.formats.checkpoint import load_checkpoint
    saved = load_checkpoint(out / "checkpoint.npz")
    assert saved.step == 4 and saved.config["model"]["prior"] == "vampprior"
    assert saved.config["model"]["latent_dims"] == [4, 2] and saved.config["run"]["optimizer"] == "adam"


def test_resume_refuses_to_change_the_layers_or_the_prior(tiny_root, tmp_path, capsys):
    from conftest import SMALL_RUN
    assert main(["--data-dir", tiny_root, "--out", str(tmp_path / "vae"), *SMALL_RUN, "--steps", "2"]) == 0
    assert train(tiny_root, tmp_path / "two", *RUNS["vampprior iwae, momentum"], "--steps", "2") == 0
    for run, flags, says in (
            ("vae", ["--latent-dims", "4", "2"], "--latent-dims 4 2 contradicts the checkpoint's unset"),
            ("two", ["--latent-dims", "4", "2"], "--latent-dims 4 2 contradicts the checkpoint's 5 3"),
            ("two", ["--prior", "standard"], "--prior standard contradicts the checkpoint's vampprior"),
            ("two", ["--hidden-dims", "16", "9"], "--hidden-dims 16 9 contradicts the checkpoint's 16 12"),
            # alone on the command line these would break a rule (no --latent-dims, no --prior vampprior): on
            # resume they are compared with the checkpoint's, whose settings they join
            ("two", ["--upper-hidden-dims", "9"], "--upper-hidden-dims 9 contradicts the checkpoint's 8"),
            ("two", ["--pseudo-inputs", "7"], "--pseudo-inputs 7 contradicts the checkpoint's 6"),
            ("vae", ["--upper-hidden-dims", "9"], "--upper-hidden-dims 9 contradicts the checkpoint's unset")):
        capsys.readouterr()
        assert main(["--data-dir", tiny_root, "--resume", str(tmp_path / run / "checkpoint.npz"), "--steps", "3",
                     "--no-progress", *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and "\n" not in err


# -- python -m numpyvae.export -------------------------------------------------------------------------------

def test_export_writes_the_hierarchical_model_and_load_model_reads_it_back(tiny_root, tmp_path):
    import json

    from numpyvae import load_model
    from numpyvae.export import main as export_main
    from numpyvae.formats import safetensors as sf
    from numpyvae.formats.modelfile import export
    assert train(tiny_root, tmp_path / "run", *RUNS["vampprior iwae, momentum"], "--steps", "3") == 0
    model = load_model(tmp_path / "run" / "checkpoint.npz")
    out = tmp_path / "model.safetensors"
    assert export_main([str(tmp_path / "run" / "checkpoint.npz"), str(out)]) == 0
    tensors, metadata = sf.read(out, "not safetensors")
    # the names are numpyvae's; weights (out, in) as nn.Linear's, the pseudo-inputs (M, input_dim) as they are
    assert sorted(tensors) == sorted(model.params)
    assert tensors["encoder2.fc1.weight"].shape == (8, 5) and tensors["decoder2.mean.weight"].shape == (5, 8)
    assert tensors["prior.pseudo_inputs"].shape == (6, 784)
    np.testing.assert_array_equal(tensors["prior.pseudo_inputs"], model.params["prior.pseudo_inputs"])
    settings = json.loads(metadata["numpyvae_config"])["model"]
    assert settings["latent_dims"] == [5, 3] and settings["prior"] == "vampprior" and settings["pseudo_inputs"] == 6
    again = load_model(out)
    assert isinstance(again, HierarchicalVAE) and again.config == model.config
    for name, param in model.params.items():
        np.testing.assert_array_equal(again.params[name], param)
    from numpyvae.errors import UsageError
    with pytest.raises(UsageError, match="settings="):  # its config is HierarchicalVAE's arguments, not a ModelConfig
        export(model, tmp_path / "other.safetensors")
    with pytest.raises(UsageError, match="another model"):
        export(model, tmp_path / "other.safetensors", settings={**settings, "pseudo_inputs": 7})
    assert not (tmp_path / "other.safetensors").exists()


def test_the_commands_written_for_the_one_layer_vae_refuse_it_in_one_line(tiny_root, tmp_path, capsys):
    from numpyvae.teaching.explain.variance import main as variance_main
    from numpyvae.teaching.intuition import main as intuition_main
    from numpyvae.visualize import main as visualize_main
    assert train(tiny_root, tmp_path / "run", "--steps", "2") == 0
    path = str(tmp_path / "run" / "checkpoint.npz")
    for command in (lambda: variance_main([path, "--data-dir", tiny_root]),
                    lambda: intuition_main(["elbo-gap", path, "--data-dir", tiny_root,
                                            "--out", str(tmp_path / "gap.png")])):
        capsys.readouterr()
        assert command() == 2
        err = capsys.readouterr().err.strip()
        assert "one-layer VAE" in err and "\n" not in err
    # the pictures are drawn for it: samples by ancestral sampling
    assert visualize_main([path, "--data-dir", tiny_root, "--out", str(tmp_path / "pictures")]) == 0
    assert (tmp_path / "pictures" / "prior_samples.png").is_file()


def test_a_vampprior_too_large_for_memory_is_refused_before_anything_is_allocated(tiny_root, tmp_path, capsys):
    # 10^8 pseudo-inputs of 784 pixels: 314 GB of float32 parameters alone, refused in one line naming the flag
    assert train(tiny_root, tmp_path / "run", "--prior", "vampprior", "--kl", "sampled", "--pseudo-inputs",
                 str(10 ** 8), "--steps", "1") == 2
    err = capsys.readouterr().err.strip()
    assert "--pseudo-inputs" in err and "\n" not in err


def test_resume_takes_flags_that_repeat_the_checkpoints_though_alone_they_break_a_rule(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "two", *RUNS["vampprior iwae, momentum"], "--steps", "2") == 0
    for flags in (["--pseudo-inputs", "6"], ["--upper-hidden-dims", "8"], ["--prior", "vampprior"],
                  ["--k", "2"], ["--objective", "iwae", "--k", "2", "--latent-dims", "5", "3"]):
        assert main(["--data-dir", tiny_root, "--resume", str(tmp_path / "two" / "checkpoint.npz"), "--steps", "3",
                     "--no-progress", *flags]) == 0, flags
