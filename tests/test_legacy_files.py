"""Files written before the typed configuration still load, resume and refuse contradicting flags.

tests/fixtures/legacy_settings.json holds the settings that numpyvae at f49d515 (the commit before the typed
configuration) stored in five small runs' checkpoints and in one safetensors export, made by
tests/fixtures/make_legacy_settings.py with the flags beside each. Each test writes today's weights under those
stored settings and reads the file back through the public paths.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_RUN
from numpyvae import load_model
from numpyvae.formats import safetensors as sf
from numpyvae.formats.checkpoint import load_checkpoint, save_checkpoint
from numpyvae.formats.modelfile import tensors_of
from numpyvae.training import main
from numpyvae.training.config import TrainConfig, kept_from_dict

LEGACY = json.loads((Path(__file__).parent / "fixtures" / "legacy_settings.json").read_text())
RUNS = sorted(name for name in LEGACY if "flags" in LEGACY[name])


def legacy_checkpoint(tmp_path, root, name):
    """Today's run with the fixture's flags, its stored settings replaced by the legacy ones."""
    out = tmp_path / name
    assert main(["--data-dir", root, "--out", str(out), *SMALL_RUN, "--steps", "6", "--log-every", "3",
                 *LEGACY[name]["flags"]]) == 0
    path = out / "checkpoint.npz"
    today = load_checkpoint(path)
    old = dataclasses.replace(today, config=LEGACY[name]["config"])
    save_checkpoint(path, old)
    return path, today


# model settings added after the legacy files were written: they read back at their defaults, which are what
# those runs ran with (free bits: issue 24; the stochastic layers and the prior: issue 25)
MODEL_SETTINGS_SINCE = {"free_bits": 0.0, "latent_dims": None, "upper_hidden_dims": None, "prior": "standard",
                        "pseudo_inputs": 500}

@pytest.mark.parametrize("name", RUNS)
def test_a_legacy_checkpoint_reads_as_the_same_configuration(name):
    config = LEGACY[name]["config"]
    sections = kept_from_dict(config["model"], config["run"], name)
    kept = TrainConfig(**sections).kept()
    assert kept["model"] == {"kl_weight": config["run"]["kl_weight"], **config["model"], **MODEL_SETTINGS_SINCE}
    # every setting of the legacy run that is not the model's comes back with its value, and the settings added
    # since (the image size, --iwae-after) are at their defaults, which are what the legacy run ran with
    model_keys = set(kept["model"]) | {"model", "k"}
    legacy = {key: value for key, value in config["run"].items() if key not in model_keys}
    assert {key: kept["run"][key] for key in legacy} == legacy
    assert {key: value for key, value in kept["run"].items() if key not in legacy} == {"image_size": None,
                                                                                        "iwae_after": 0}


@pytest.mark.parametrize("name", RUNS)
def test_a_legacy_checkpoint_loads_and_resumes(name, tiny_dataset, tmp_path, capsys):
    root = str(tiny_dataset[0].parent)
    path, today = legacy_checkpoint(tmp_path, root, name)
    model = load_model(path)
    assert model.config == {"kl_weight": LEGACY[name]["config"]["run"]["kl_weight"],
                            **LEGACY[name]["config"]["model"], **MODEL_SETTINGS_SINCE}
    assert main(["--resume", str(path), "--data-dir", root, "--no-progress", "--no-download", "--steps", "8"]) == 0
    resumed = load_checkpoint(path)
    assert resumed.step == 8
    # written again in today's layout: the same settings as today's run with the same flags
    assert resumed.config["model"] == today.config["model"] and resumed.config["run"] == today.config["run"]


@pytest.mark.parametrize("name", RUNS)
def test_a_legacy_checkpoint_refuses_a_contradicting_flag(name, tiny_dataset, tmp_path, capsys):
    root = str(tiny_dataset[0].parent)
    path, _ = legacy_checkpoint(tmp_path, root, name)
    capsys.readouterr()
    stored = LEGACY[name]["config"]["run"]["lr"]
    assert main(["--resume", str(path), "--data-dir", root, "--no-progress", "--no-download", "--lr", "0.5"]) == 2
    assert f"--lr 0.5 contradicts the checkpoint's {stored}" in capsys.readouterr().err


def test_a_legacy_export_loads(tiny_dataset, tmp_path):
    metadata = LEGACY["iwae-export-metadata"]
    settings = json.loads(metadata["numpyvae_config"])
    path, _ = legacy_checkpoint(tmp_path, str(tiny_dataset[0].parent), "iwae")
    tensors = tensors_of(load_model(path))
    export = tmp_path / "legacy.safetensors"
    sf.write(export, tensors, metadata)
    model = load_model(export)
    assert model.config == {"kl_weight": 1.0, **settings["model"], **MODEL_SETTINGS_SINCE}
    for name, tensor in tensors.items():
        assert np.array_equal(model.params[name], tensor.T if name.endswith(".weight") else tensor)
