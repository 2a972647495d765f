"""The one atomic write behind every file numpyvae writes: a temporary file of its own, fsync, rename, fsync of
the folder; a failure removes the temporary file, keeps the old file and names the system's reason."""

import errno
import os
import stat

import numpy as np
import pytest

from numpyvae.errors import OutputError
from numpyvae.formats import atomic
from numpyvae.formats.atomic import write_atomic, write_bytes_atomic
from numpyvae.formats.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from numpyvae.formats.png import save_png
from numpyvae.formats.safetensors import write as write_safetensors
from numpyvae.models.vae import VAE


def test_the_file_and_then_its_folder_are_synced_before_and_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor):
        kind = "folder" if stat.S_ISDIR(os.fstat(descriptor).st_mode) else "file"
        events.append(("fsync", kind))
        real_fsync(descriptor)

    def replace(source, destination):
        events.append(("rename", os.path.basename(destination)))
        real_replace(source, destination)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    monkeypatch.setattr(atomic.os, "replace", replace)
    write_bytes_atomic(tmp_path / "out.bin", b"new")
    assert events == [("fsync", "file"), ("rename", "out.bin"), ("fsync", "folder")]
    assert (tmp_path / "out.bin").read_bytes() == b"new"


def test_two_writers_of_one_destination_never_share_a_temporary_file(tmp_path):
    """A second writer of the same path starts and finishes while the first is mid-write (as another process
    might): with one fixed temporary name it would have overwritten and renamed away the first one's file."""
    target = tmp_path / "evaluation.json"
    names = []

    def first(file):
        names.append(file.name)
        file.write(b"first, ")
        write_atomic(target, lambda other: (names.append(other.name), other.write(b"second")))
        file.write(b"whole")

    write_atomic(target, first)
    assert target.read_bytes() == b"first, whole"  # the later rename wins, and its file is whole
    assert len(set(names)) == 2 and os.listdir(tmp_path) == ["evaluation.json"]


def test_a_new_file_gets_the_usual_permissions(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    write_bytes_atomic(tmp_path / "a.json", b"{}")
    assert stat.S_IMODE(os.stat(tmp_path / "a.json").st_mode) == 0o666 & ~mask


def test_a_failing_writer_removes_its_temporary_file_and_keeps_the_old_one(tmp_path):
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"old")

    def broken(file):
        file.write(b"half")
        raise ValueError("the writer broke")

    with pytest.raises(ValueError, match="the writer broke"):  # not an OSError: passed on as it is
        write_atomic(target, broken)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["model.safetensors"]


@pytest.mark.parametrize("code, says, blames_the_disk", [(errno.ENOSPC, "No space left on device", True),
                                                         (errno.EACCES, "Permission denied", False),
                                                         (errno.EIO, "Input/output error", False)])
def test_the_error_names_the_systems_reason_and_blames_the_disk_only_when_it_is_full(
        tmp_path, monkeypatch, code, says, blames_the_disk):
    target = tmp_path / "checkpoint.npz"
    target.write_bytes(b"old")

    def failing_replace(*args):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OutputError) as raised:
        write_bytes_atomic(target, b"new", what="checkpoint")
    message = str(raised.value)
    assert says in message and "the previous checkpoint is kept" in message and "\n" not in message
    assert ("disk" in message) == blames_the_disk
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["checkpoint.npz"]


def test_a_missing_folder_is_one_line_naming_the_path(tmp_path):
    with pytest.raises(OutputError, match=f"cannot write {tmp_path / 'none' / 'a.png'} .No such file or directory"):
        save_png(np.zeros((2, 2), np.uint8), tmp_path / "none" / "a.png")


@pytest.mark.parametrize("kind", ["checkpoint", "safetensors", "png", "json"])
def test_every_kind_of_file_goes_through_the_one_helper(tmp_path, monkeypatch, kind):
    """Make the helper's rename fail: each writer must then fail with the old file kept (so it used the helper)."""
    target = tmp_path / f"out.{kind}"
    target.write_bytes(b"old")
    model = VAE(16, [4], 2)
    writers = {
        "checkpoint": lambda: save_checkpoint(target, Checkpoint(config={"model": model.config}, step=0, rng_state={},
                                                                 params=model.params, optimizer={}, batcher={})),
        "safetensors": lambda: write_safetensors(target, {"w": np.zeros(2, np.float32)}, {}),
        "png": lambda: save_png(np.zeros((2, 2), np.uint8), target),
        "json": lambda: atomic.write_json(target, {"a": 1}),
    }

    def failing_replace(*args):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(atomic.os, "replace", failing_replace)
    with pytest.raises(OutputError, match="Input/output error"):
        writers[kind]()
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == [target.name]
    monkeypatch.undo()
    writers[kind]()
    assert target.read_bytes() != b"old"
    if kind == "checkpoint":
        assert load_checkpoint(target).step == 0
