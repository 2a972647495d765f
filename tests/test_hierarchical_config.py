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
