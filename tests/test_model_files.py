"""Model files as a class: every stored setting is checked before anything is built, every archive member's
declared size before it is read, whatever is wrong with the file."""

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

from numpyvae import load_model
from numpyvae.errors import CheckpointError
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import VAE


def write(path, model_config, params):
    save_checkpoint(path, Checkpoint(config={"model": model_config, "run": {}}, step=1,
                                     rng_state=np.random.default_rng(0).bit_generator.state, params=params,
                                     optimizer={}, batcher={}))


@pytest.mark.parametrize("change, says", [
    (dict(colour="blue"), "\"colour\", unknown to this numpyvae"),
    (dict(reconstruction="poisson"), "--reconstruction must be one of bernoulli, mse, got 'poisson'"),
    (dict(dtype="int32"), "--dtype must be one of float32, float64, got 'int32'"),
    (dict(dtype=32), "--dtype must be a word, got 32"),
    (dict(latent_dim=-4), "--latent-dim must be at least 1, got -4"),
    (dict(keep_prob=None), "--keep-prob must be a finite number, got None"),
    (dict(hidden_dims=[10_000_000]), "another architecture"),
    (dict(hidden_dims=[4, 4]), "another architecture"),
])
def test_wrong_stored_settings_are_one_line_before_anything_is_built(tmp_path, change, says):
    model = VAE(16, [4], 2)
    path = tmp_path / "model.npz"
    write(path, {**model.config, **change}, model.params)
    tracemalloc.start()
    with pytest.raises(CheckpointError) as error:
        load_model(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    message = str(error.value)
    assert says in message and str(path) in message and "\n" not in message, message
    assert peak < 20 * 2 ** 20  # nothing the settings size was allocated (10 million units would be 0.6 GB)


def test_settings_that_would_allocate_more_than_the_machine_has_are_refused_first(tmp_path, monkeypatch):
    """The issue's instance: a hidden width of ten million for 784 pixels is 58 GiB of weights."""
    model = VAE(784, [4], 2)
    write(tmp_path / "m.npz", {**model.config, "hidden_dims": [10_000_000]}, model.params)
    monkeypatch.setattr("numpyvae.resources.available_memory", lambda: 24 * 2 ** 30)
    tracemalloc.start()
    with pytest.raises(CheckpointError, match=r"\(its weights and gradients\) needs 58.8 GiB; this machine has "
                                              r"24.0 GiB available"):
        load_model(tmp_path / "m.npz")
    assert tracemalloc.get_traced_memory()[1] < 20 * 2 ** 20
    tracemalloc.stop()


def test_a_small_file_with_a_huge_compressed_member_is_refused_before_it_is_inflated(tmp_path):
    """A 300 MB member that deflates into under a megabyte, where the model needs 256 bytes."""
    model = VAE(16, [4], 2)
    honest = tmp_path / "honest.npz"
    write(honest, model.config, model.params)
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(honest) as source, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            if info.filename == "params/encoder.fc1.weight.npy":
                with target.open(info.filename, "w", force_zip64=True) as member:
                    header = io.BytesIO()
                    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                                  "shape": (300 * 2 ** 18,)})
                    member.write(header.getvalue())
                    for _ in range(300):
                        member.write(bytes(2 ** 20))
            else:
                target.writestr(info, source.read(info))
    assert bomb.stat().st_size < 2 * 2 ** 20
    tracemalloc.start()
    says = "params/encoder.fc1.weight declares 314,572,928 bytes where the model's settings allow 4,352"
    with pytest.raises(CheckpointError, match=says):
        load_model(bomb)
    assert tracemalloc.get_traced_memory()[1] < 20 * 2 ** 20
    tracemalloc.stop()


def test_an_honest_file_still_loads(tmp_path):
    model = VAE(16, [4], 2, seed=5)
    write(tmp_path / "m.npz", model.config, model.params)
    loaded = load_model(tmp_path / "m.npz")
    assert all(np.array_equal(loaded.params[name], param) for name, param in model.params.items())
    assert json.dumps(loaded.config) == json.dumps(model.config)
