"""Export to safetensors and load back: the format byte for byte, the round trip bit for bit, every damaged
file refused in one line, and the commands that take either kind of file. No torch needed here;
tests/test_pytorch_export.py runs the exported model in PyTorch."""

import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from numpyvae import export as export_command
from numpyvae import load_model
from numpyvae.errors import CheckpointError
from numpyvae.evaluate import main as evaluate_main
from numpyvae.formats import safetensors as sf
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.formats.modelfile import export, metadata_of, tensors_of
from numpyvae.models.vae import VAE
from numpyvae.visualize import main as visualize_main

SMALL = dict(input_dim=12, hidden_dims=(7, 6), latent_dim=3)
TINY_DATA = dict(input_dim=784, hidden_dims=(8, 8), latent_dim=2)  # fits the 28x28 tiny_dataset


def trained_looking(model, seed=1):
    """Give every parameter (biases too, which start at zero) values no initializer would produce."""
    rng = np.random.default_rng(seed)
    for param in model.params.values():
        param += rng.standard_normal(param.shape).astype(param.dtype) * 0.1
    return model


def save_run(path, model, run=None, step=7):
    save_checkpoint(path, Checkpoint(config={"model": model.config, "run": run or {"dataset": "mnist"}}, step=step,
                                     rng_state=model.rng.bit_generator.state, params=model.params,
                                     optimizer={}, batcher={}))
    return path


def raw(header: bytes) -> bytes:
    return struct.pack("<Q", len(header)) + header


def file_bytes(header: dict, data: bytes = b"", pad: bytes = b"") -> bytes:
    text = json.dumps(header).encode() + pad
    return struct.pack("<Q", len(text)) + text + data


# -- the format ------------------------------------------------------------------------------------------------

def test_a_file_written_by_hand_from_the_spec_is_read():
    data = struct.pack("<2f", 1.5, -2.25) + struct.pack("<d", 3.0)
    content = file_bytes({"__metadata__": {"k": "v"}, "b": {"dtype": "F64", "shape": [], "data_offsets": [8, 16]},
                          "a": {"dtype": "F32", "shape": [2, 1], "data_offsets": [0, 8]}}, data, pad=b"   ")
    tensors, metadata = sf.decode(content)
    assert metadata == {"k": "v"}
    assert tensors["a"].dtype == np.float32 and tensors["a"].tolist() == [[1.5], [-2.25]]
    assert tensors["b"].dtype == np.float64 and tensors["b"].shape == () and tensors["b"] == 3.0
    tensors["a"][0, 0] = 9  # a fresh, writable array, not a view of the file's bytes


def test_the_writer_lays_out_bytes_as_the_spec_says():
    content = sf.encode({"w": np.array([[1, 2]], dtype=np.float32), "b": np.array([-1.0])}, {"x": "y"})
    size = struct.unpack("<Q", content[:8])[0]
    assert (8 + size) % 8 == 0  # padded with spaces so the data starts 8-byte aligned
    header = content[8:8 + size]
    assert header.rstrip(b" ") == (b'{"__metadata__":{"x":"y"},"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},'
                                   b'"w":{"dtype":"F32","shape":[1,2],"data_offsets":[8,16]}}')
    assert content[8 + size:] == struct.pack("<d2f", -1.0, 1.0, 2.0)


def test_big_endian_and_non_contiguous_arrays_are_written_little_endian_row_major():
    array = np.arange(6, dtype=">f8").reshape(2, 3).T
    tensors, _ = sf.decode(sf.encode({"t": array}))
    assert np.array_equal(tensors["t"], array) and tensors["t"].dtype == np.float64


THREE = dict(input_dim=12, hidden_dims=(9, 8, 7), activations=["relu", "leaky_relu", "tanh"], decoder_dims=(5, 6),
             decoder_activations=["sigmoid", "softplus"], latent_dim=3)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [SMALL, {}, THREE, dict(SMALL, num_classes=10, likelihood="exact"),
                                   dict(SMALL, activations=["glu"])],
                         ids=["small", "default", "three", "cvae", "gated"])
def test_round_trip_is_bit_identical(tmp_path, dtype, shape):
    model = trained_looking(VAE(**shape, dtype=dtype, seed=3))
    export(model, tmp_path / "model.safetensors")
    loaded = load_model(tmp_path / "model.safetensors")
    assert loaded.config == model.config and loaded.dtype == model.dtype
    for name, param in model.params.items():
        assert loaded.params[name].dtype == param.dtype
        assert loaded.params[name].tobytes() == param.tobytes(), name
    export(loaded, tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == (tmp_path / "model.safetensors").read_bytes()


def test_the_file_holds_pytorch_names_layouts_and_the_settings(tmp_path):
    model = trained_looking(VAE(**SMALL))
    checkpoint = save_run(tmp_path / "checkpoint.npz", model, {"dataset": "fashion-mnist", "binarize": "static"})
    assert export_command.main([str(checkpoint), str(tmp_path / "model.safetensors")]) == 0
    tensors, metadata = sf.read(tmp_path / "model.safetensors")
    assert tensors["encoder.fc1.weight"].shape == (7, 12) and tensors["decoder.output.weight"].shape == (12, 7)
    for name, param in model.params.items():
        assert np.array_equal(tensors[name], param.T if name.endswith("weight") else param)
    assert metadata["numpyvae_format"] == "numpyvae-safetensors" and metadata["numpyvae_version"] == "1"
    settings = json.loads(metadata["numpyvae_config"])
    assert settings["binarization"] == "static" and settings["dataset"] == "fashion-mnist" and settings["step"] == 7
    assert settings["model"] == {**model.config, "decoder_dims": [6, 7], "activations": ["elu", "tanh"],
                                 "decoder_activations": ["tanh", "elu"], "num_classes": 0, "likelihood": "clipped",
                                 "objective": "elbo", "k": 1, "kl": "analytic"}


def test_binarization_is_none_when_the_run_did_not_record_one():
    assert json.loads(metadata_of(VAE(**SMALL), {"dataset": "mnist"})["numpyvae_config"])["binarization"] == "none"


def test_load_model_reads_checkpoints_too(tmp_path):
    model = trained_looking(VAE(**SMALL))
    loaded = load_model(save_run(tmp_path / "checkpoint.npz", model))
    assert isinstance(loaded, VAE) and all(np.array_equal(loaded.params[n], p) for n, p in model.params.items())


# -- evaluate and visualize take either file -------------------------------------------------------------------

def test_evaluate_gives_the_same_numbers_for_the_checkpoint_and_its_export(tiny_dataset, tmp_path, capsys):
    checkpoint = save_run(tmp_path / "checkpoint.npz", trained_looking(VAE(**TINY_DATA)))
    assert export_command.main([str(checkpoint), str(tmp_path / "model.safetensors")]) == 0
    results = {}
    for name in ("checkpoint.npz", "model.safetensors"):
        assert evaluate_main([str(tmp_path / name), "--data-dir", str(tiny_dataset[0].parent), "--k", "5",
                              "--no-progress", "--json", str(tmp_path / f"{name}.json")]) == 0
        results[name] = json.loads((tmp_path / f"{name}.json").read_text())
    for key in ("negative_elbo", "iwae", "kl_per_dim", "step", "dataset"):
        assert results["checkpoint.npz"][key] == results["model.safetensors"][key], key


def test_evaluate_takes_an_exported_conditional_model(tiny_dataset, tmp_path):
    model = trained_looking(VAE(**{**TINY_DATA, "hidden_dims": (8, 8, 8)}, num_classes=10))
    export(model, tmp_path / "model.safetensors")
    assert evaluate_main([str(tmp_path / "model.safetensors"), "--data-dir", str(tiny_dataset[0].parent), "--k", "3",
                    "--no-progress"]) == 0
    assert json.loads((tmp_path / "evaluation.json").read_text())["iwae_k"] == 3


def test_visualize_draws_an_export(tiny_dataset, tmp_path):
    export(trained_looking(VAE(**TINY_DATA)), tmp_path / "model.safetensors")
    assert visualize_main([str(tmp_path / "model.safetensors"), "--data-dir", str(tiny_dataset[0].parent)]) == 0
    assert {"reconstruction_pairs.png", "manifold.png"} <= {p.name for p in tmp_path.iterdir()}


def test_a_model_for_other_images_is_one_line(tiny_dataset, tmp_path, capsys):
    export(VAE(**SMALL), tmp_path / "model.safetensors")  # 12 pixels; the tiny dataset's images have 784
    assert evaluate_main([str(tmp_path / "model.safetensors"), "--data-dir", str(tiny_dataset[0].parent)]) == 1
    err = capsys.readouterr().err
    assert "12-pixel images; mnist's have 784" in err and len(err.strip().splitlines()) == 1


def test_the_commands_help_names_both_kinds_of_file(capsys):
    for main in (evaluate_main, visualize_main):
        with pytest.raises(SystemExit):
            main(["--help"])
        out = " ".join(capsys.readouterr().out.split())
        assert "checkpoint.npz" in out and ".safetensors" in out


# -- damaged files -------------------------------------------------------------------------------------------

def good_parts(dtype=np.float32):
    """The header (a dict) and data of a valid export of a small model, to damage one piece at a time."""
    content = sf.encode(tensors_of(VAE(**SMALL, dtype=dtype)), metadata_of(VAE(**SMALL, dtype=dtype)))
    size = struct.unpack("<Q", content[:8])[0]
    return json.loads(content[8:8 + size]), content[8 + size:]


def rebuilt(edit) -> bytes:
    header, data = good_parts()
    data = edit(header, data) or data
    return file_bytes(header, data)


def settings_edit(change):
    def edit(header, data):
        settings = json.loads(header["__metadata__"]["numpyvae_config"])
        change(settings)
        header["__metadata__"]["numpyvae_config"] = json.dumps(settings)
    return edit


def entry(name, key, value):
    def edit(header, data):
        header[name][key] = value
    return edit


def drop_tensor(header, data):
    begin, end = header["encoder.std.bias"]["data_offsets"]
    del header["encoder.std.bias"]
    for item in header.values():
        if "data_offsets" in item and item["data_offsets"][0] >= end:
            item["data_offsets"] = [offset - (end - begin) for offset in item["data_offsets"]]
    return data[:begin] + data[end:]


def nan_weight(header, data):
    begin = header["decoder.fc2.weight"]["data_offsets"][0]
    return data[:begin] + struct.pack("<f", float("nan")) + data[begin + 4:]


def swap_shape(header, data):
    header["encoder.fc1.weight"]["shape"] = header["encoder.fc1.weight"]["shape"][::-1]  # (in, out): numpyvae's


DAMAGED = {
    "empty": (b"", "shorter than the 8-byte header length"),
    "huge header size": (struct.pack("<Q", 2**63) + b"{}", "more than the 104857600 allowed"),
    "header past the end": (struct.pack("<Q", 100) + b"{}", "only 2 follow"),
    "no opening brace": (raw(b" {}"), "does not start with '{'"),
    "not UTF-8": (raw(b"{\xff}"), "not UTF-8"),
    "not JSON": (raw(b"{a:1}"), "not JSON"),
    "a list": (raw(b"[]"), "does not start with '{'"),
    "twice the same name": (raw(b'{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},'
                                b'"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}'), "appears twice"),
    "unknown dtype": (rebuilt(entry("encoder.fc1.bias", "dtype", "F33")), "unknown dtype 'F33'"),
    "bfloat16": (rebuilt(entry("encoder.fc1.bias", "dtype", "BF16")), "NumPy cannot hold"),
    "negative shape": (rebuilt(entry("encoder.fc1.bias", "shape", [-7])), "not a list of non-negative integers"),
    "boolean shape": (rebuilt(entry("encoder.fc1.bias", "shape", [True])), "not a list of non-negative integers"),
    "offsets reversed": (rebuilt(entry("encoder.fc1.bias", "data_offsets", [28, 0])), "begin <= end"),
    "offsets past the end": (rebuilt(lambda h, d: d[:-4]), "but the data is"),
    "bytes after the tensors": (rebuilt(lambda h, d: d + b"\0" * 4), "but the data is"),
    "extra key": (rebuilt(entry("encoder.fc1.bias", "strides", [1])), "exactly dtype, shape and data_offsets"),
    "size does not fit shape": (rebuilt(entry("decoder.fc1.bias", "shape", [5])), "cannot hold"),
    "metadata not strings": (rebuilt(lambda h, d: h["__metadata__"].update(step=3)), "map of strings to strings"),
    "no numpyvae settings": (file_bytes({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, b"\0" * 4),
                             "without numpyvae's model settings"),
    "another version": (rebuilt(lambda h, d: h["__metadata__"].update(numpyvae_version="2")), "reads version 1"),
    "settings not JSON": (rebuilt(lambda h, d: h["__metadata__"].update(numpyvae_config="{")), "not valid JSON"),
    "settings with NaN": (rebuilt(settings_edit(lambda s: s["model"].update(keep_prob=float("nan")))),
                          "not valid JSON"),
    "setting missing": (rebuilt(settings_edit(lambda s: s["model"].pop("latent_dim"))), "lack latent_dim"),
    "setting unknown": (rebuilt(settings_edit(lambda s: s["model"].update(depth=3))), "hold \"depth\", unknown"),
    "setting of the wrong type": (rebuilt(settings_edit(lambda s: s["model"].update(latent_dim="3"))),
                                  "--latent-dim must be a whole number, got '3'"),
    "unknown activation": (rebuilt(settings_edit(lambda s: s["model"].update(activations=["elu", "swish"]))),
                           "--activations must be one of elu, tanh, relu, leaky_relu, sigmoid, softplus, glu, "
                           "got 'swish'"),
    "bad binarization": (rebuilt(settings_edit(lambda s: s.update(binarization="half"))), "bad binarization"),
    "settings for another shape": (rebuilt(settings_edit(lambda s: s["model"].update(latent_dim=4))),
                                   "has shape [3, 6], the model's settings need [4, 6]"),
    "weight in numpyvae's layout": (rebuilt(swap_shape), "has shape [12, 7], the model's settings need [7, 12]"),
    "tensor missing": (rebuilt(drop_tensor), "tensor encoder.std.bias is missing"),
    "a NaN weight": (rebuilt(nan_weight), "holds NaN or infinite weights (first in decoder.fc2.weight)"),
    "dtype not the settings'": (rebuilt(settings_edit(lambda s: s["model"].update(dtype="float64"))),
                                "the model's settings say float64"),
    "huge layers promised": (rebuilt(settings_edit(lambda s: s["model"].update(hidden_dims=[10**9, 10**9]))),
                             "the model's settings need [1000000000, 12]"),
}


def test_the_damage_table_starts_from_a_good_file():
    header, data = good_parts()
    tensors, _ = sf.decode(file_bytes(header, data))
    assert len(tensors) == 14


@pytest.mark.parametrize("name", DAMAGED)
def test_a_damaged_file_is_one_clear_line(tmp_path, capsys, name):
    content, says = DAMAGED[name]
    path = tmp_path / "model.safetensors"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=None) as error:
        load_model(path)
    assert says in str(error.value) and str(path) in str(error.value) and "\n" not in str(error.value)
    assert evaluate_main([str(path), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and says in err and len(err.strip().splitlines()) == 1


def test_export_of_a_damaged_file_is_one_line_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "bad.safetensors").write_bytes(DAMAGED["offsets past the end"][0])
    assert export_command.main([str(tmp_path / "bad.safetensors"), str(tmp_path / "out.safetensors")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1 and not (tmp_path / "out.safetensors").exists()


def test_a_file_of_neither_kind_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, world")
    with pytest.raises(CheckpointError, match="neither a numpyvae checkpoint nor a valid safetensors file"):
        load_model(tmp_path / "notes.txt")


def test_export_into_a_folder_that_is_a_file_is_one_line_before_any_work(tmp_path, capsys):
    checkpoint = save_run(tmp_path / "checkpoint.npz", VAE(**SMALL))
    (tmp_path / "taken").write_text("a file")
    assert export_command.main([str(checkpoint), str(tmp_path / "taken" / "model.safetensors")]) == 1
    err = capsys.readouterr().err
    assert "cannot write the output" in err and len(err.strip().splitlines()) == 1


def test_export_makes_a_missing_folder(tmp_path):
    checkpoint = save_run(tmp_path / "checkpoint.npz", VAE(**SMALL))
    assert export_command.main([str(checkpoint), str(tmp_path / "new" / "model.safetensors")]) == 0
    assert isinstance(load_model(tmp_path / "new" / "model.safetensors"), VAE)


def test_export_refuses_to_overwrite_its_input(tmp_path, capsys):
    checkpoint = save_run(tmp_path / "checkpoint.npz", VAE(**SMALL))
    assert export_command.main([str(checkpoint), str(checkpoint)]) == 2
    assert "is the input file" in capsys.readouterr().err


# -- fuzzing -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def good_file():
    return sf.encode(tensors_of(trained_looking(VAE(**SMALL))), metadata_of(VAE(**SMALL)))


def loads_or_refuses(tmp_path_factory, content: bytes) -> None:
    """The only two outcomes allowed: a VAE, or CheckpointError with a one-line message."""
    path = tmp_path_factory.getbasetemp() / "fuzz.safetensors"
    path.write_bytes(content)
    try:
        assert isinstance(load_model(path), VAE)
    except CheckpointError as error:
        assert "\n" not in str(error)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(content=st.binary(max_size=300))
def test_random_bytes_load_or_give_a_checkpoint_error(tmp_path_factory, content):
    loads_or_refuses(tmp_path_factory, content)


@FUZZ
@given(data=st.data())
def test_mutated_exports_load_or_give_a_checkpoint_error(tmp_path_factory, good_file, data):
    content = bytearray(good_file)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(content) - 1))
        how = data.draw(st.sampled_from(["set", "delete", "insert", "truncate"]))
        if how == "set":
            content[position] = data.draw(st.integers(0, 255))
        elif how == "delete":
            del content[position]
        elif how == "insert":
            content[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del content[position:]
        if not content:
            break
    loads_or_refuses(tmp_path_factory, bytes(content))


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=False) | st.text(),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
                    max_leaves=6)


@FUZZ
@given(data=st.data())
def test_headers_with_any_json_in_one_place_load_or_give_a_checkpoint_error(tmp_path_factory, data):
    header, tensor_data = good_parts()
    name = data.draw(st.sampled_from(sorted(header)))
    if name == "__metadata__":
        settings = json.loads(header[name]["numpyvae_config"])
        target = data.draw(st.sampled_from([settings, settings["model"]]))
        target[data.draw(st.sampled_from(sorted(target)))] = data.draw(JSON)
        header[name]["numpyvae_config"] = json.dumps(settings)
    else:
        header[name][data.draw(st.sampled_from(["dtype", "shape", "data_offsets"]))] = data.draw(JSON)
    loads_or_refuses(tmp_path_factory, file_bytes(header, tensor_data))
