"""Bad input at the command line: one line on stderr naming the flag or file, a non-zero exit, no traceback."""

import gzip
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SMALL_RUN, write_idx
from numpyvae.errors import CheckpointError
from numpyvae.formats.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from numpyvae.models.vae import VAE
from numpyvae.training import main

REPO = Path(__file__).resolve().parent.parent


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.mark.parametrize("flags, named", [
    (["--lr", "0"], "--lr"),
    (["--lr", "-0.1"], "--lr"),
    (["--lr", "abc"], "--lr"),
    (["--batch-size", "0"], "--batch-size"),
    (["--keep-prob", "0"], "--keep-prob"),
    (["--keep-prob", "1.5"], "--keep-prob"),
    (["--latent-dim", "0"], "--latent-dim"),
    (["--dataset", "cifar"], "--dataset"),
    (["--optimizer", "rmsprop"], "--optimizer"),
    (["--steps", "0"], "--steps"),
    (["--momentum", "1"], "--momentum"),
    (["--clip-grad", "-1"], "--clip-grad"),
    (["--no-such-flag"], "--no-such-flag"),
])
def test_flag_out_of_range_is_a_usage_error(flags, named, capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        sys.exit(main([*flags, "--out", str(tmp_path / "run"), "--no-download"]))
    assert stop.value.code == 2
    assert named in one_line_error(capsys)
    assert not (tmp_path / "run").exists()  # nothing started


def test_batch_larger_than_the_training_set(tiny_dataset, tmp_path, capsys):
    code = main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(tmp_path / "run"), *SMALL_RUN,
                 "--batch-size", "21"])
    assert code == 2 and "--batch-size 21" in one_line_error(capsys)


def test_help_documents_every_flag_with_its_default():
    result = subprocess.run([sys.executable, str(REPO / "train.py"), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    for flag in ("--optimizer", "--lr", "--momentum", "--batch-size", "--steps", "--epochs", "--latent-dim",
                 "--hidden-dims", "--keep-prob", "--dataset", "--dtype", "--data-dir", "--out", "--resume",
                 "--clip-grad", "--checkpoint-every", "--seed"):
        assert flag in result.stdout
    assert "(default: 0.001)" in result.stdout and "(default: 128)" in result.stdout


# -- bad data files ------------------------------------------------------------------------------------------

def spoil(folder: Path, how: str) -> Path:
    """Damage the tiny dataset's test labels in one way; returns the damaged file."""
    target = folder / "t10k-labels-idx1-ubyte.gz"
    content = gzip.decompress(target.read_bytes())
    if how == "magic":
        target.write_bytes(gzip.compress(b"\x01\x02" + content[2:]))
    elif how == "dimensions":
        target.write_bytes(gzip.compress(content[:3] + b"\x05" + content[4:]))
    elif how == "truncated":
        target.write_bytes(gzip.compress(content[:-3]))
    elif how == "gzip":
        raw = target.read_bytes()
        target.write_bytes(raw[:len(raw) // 2])
    elif how == "counts":
        write_idx(target, np.zeros(9))  # 9 labels for 10 images
    elif how == "checksum":
        (folder / "SHA256SUMS").write_text(f"{'0' * 64}  t10k-labels-idx1-ubyte\n")
    return target


@pytest.mark.parametrize("how, says", [("magic", "magic number"), ("dimensions", "dimensions"),
                                       ("truncated", "truncated"), ("gzip", "corrupt gzip"),
                                       ("counts", "do not match"), ("checksum", "checksum")])
def test_bad_data_file_is_named_in_one_line(tiny_dataset, tmp_path, capsys, how, says):
    folder = tiny_dataset[0]
    damaged = spoil(folder, how)
    code = main(["--data-dir", str(folder.parent), "--out", str(tmp_path / "run"), *SMALL_RUN])
    err = one_line_error(capsys)
    assert code == 1 and says in err
    assert str(damaged) in err or str(folder) in err


def test_missing_data_says_where_it_looked_and_how_to_provide_it(tmp_path, capsys):
    code = main(["--data-dir", str(tmp_path / "empty"), "--out", str(tmp_path / "run"), *SMALL_RUN])
    err = one_line_error(capsys)
    assert code == 1
    assert str((tmp_path / "empty" / "mnist").resolve()) in err and "--data-dir" in err and "NUMPYVAE_DATA_DIR" in err


# -- bad checkpoints -----------------------------------------------------------------------------------------

@pytest.fixture
def good_checkpoint(tiny_dataset, tmp_path):
    assert main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(tmp_path / "run"), *SMALL_RUN,
                 "--steps", "2"]) == 0
    return tmp_path / "run" / "checkpoint.npz"


def resume(checkpoint, tiny_dataset, capsys):
    code = main(["--resume", str(checkpoint), "--data-dir", str(tiny_dataset[0].parent), "--no-progress",
                 "--no-download"])
    return code, one_line_error(capsys)


def test_missing_checkpoint(tiny_dataset, tmp_path, capsys):
    code, err = resume(tmp_path / "nowhere.npz", tiny_dataset, capsys)
    assert code == 1 and "does not exist" in err and "nowhere.npz" in err


def test_truncated_checkpoint(good_checkpoint, tiny_dataset, capsys):
    good_checkpoint.write_bytes(good_checkpoint.read_bytes()[:1000])
    code, err = resume(good_checkpoint, tiny_dataset, capsys)
    assert code == 1 and "truncated or corrupt" in err


def test_foreign_npz_is_not_a_checkpoint(tiny_dataset, tmp_path, capsys):
    foreign = tmp_path / "weights.npz"
    np.savez(foreign, w=np.zeros(3))
    code, err = resume(foreign, tiny_dataset, capsys)
    assert code == 1 and "not a numpyvae checkpoint" in err


def test_checkpoint_of_another_architecture(good_checkpoint, tiny_dataset, capsys):
    saved = load_checkpoint(good_checkpoint)
    other = VAE(hidden_dims=(16, 12), latent_dim=5)  # the run's settings say latent 3
    saved.params = other.params
    save_checkpoint(good_checkpoint, saved)
    code, err = resume(good_checkpoint, tiny_dataset, capsys)
    assert code == 1 and "another architecture" in err


def test_pickled_npz_is_refused(tiny_dataset, tmp_path, capsys):
    hostile = tmp_path / "pickled.npz"
    np.savez(hostile, format=np.array("numpyvae-checkpoint"), version=np.array(1),
             config=np.array([{"model": {}}], dtype=object))
    code, err = resume(hostile, tiny_dataset, capsys)
    assert code == 1 and "cannot be read" in err


@pytest.fixture(scope="module")
def checkpoint_bytes(tmp_path_factory):
    model = VAE(input_dim=6, hidden_dims=(4, 3), latent_dim=2)
    path = tmp_path_factory.mktemp("ck") / "c.npz"
    save_checkpoint(path, Checkpoint(config={"model": model.config, "run": {}}, step=1,
                                     rng_state=model.rng.bit_generator.state, params=model.params,
                                     optimizer={}, batcher={}))
    return path.read_bytes()


def load_or_checkpoint_error(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    try:
        loaded = load_checkpoint(path)
    except CheckpointError as error:
        assert "\n" not in str(error)
    else:
        assert all(isinstance(array, np.ndarray) for array in loaded.params.values())


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_random_bytes_give_a_checkpoint_error(tmp_path, content):
    load_or_checkpoint_error(tmp_path / "random.npz", content)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_mutated_checkpoints_load_or_give_a_checkpoint_error(tmp_path, checkpoint_bytes, data):
    content = bytearray(checkpoint_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(content) // 2, len(content)))
    load_or_checkpoint_error(tmp_path / "mutated.npz", bytes(content[:cut]))


def test_resume_copy_survives_the_original_run_folder_moving(good_checkpoint, tiny_dataset, tmp_path, capsys):
    """A checkpoint is self-contained: copied elsewhere, it resumes into its new folder."""
    moved = tmp_path / "elsewhere" / "checkpoint.npz"
    moved.parent.mkdir()
    shutil.copy(good_checkpoint, moved)
    code = main(["--resume", str(moved), "--steps", "4", "--data-dir", str(tiny_dataset[0].parent), "--no-progress",
                 "--no-download"])
    assert code == 0 and load_checkpoint(moved).step == 4
