"""numpyvae.formats.lock: the message a refused process gets names the holder, even when it is refused in the
moment between the holder taking the lock and writing its record."""

import fcntl
import threading

import pytest

from numpyvae.formats import lock


def held_without_record(folder):
    """A holder as it is just after flock and before it writes "process <pid> (...)": the lock, an empty file."""
    file = open(folder / lock.LOCK_NAME, "a+")
    fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    return file


def test_a_refused_process_waits_for_the_holders_record(tmp_path):
    holder = held_without_record(tmp_path)
    writer = threading.Timer(0.2, lambda: (holder.write("process 4242 (python train.py)\n"), holder.flush()))
    writer.start()
    try:
        with pytest.raises(lock.FolderInUse, match=r"in use by process 4242 \(python train.py\);"):
            with lock.FolderLock(tmp_path):
                pass
    finally:
        writer.join()
        holder.close()


def test_a_holder_that_never_writes_its_record_is_another_process(tmp_path, monkeypatch):
    monkeypatch.setattr(lock, "RECORD_WAIT", 0.05)
    holder = held_without_record(tmp_path)
    try:
        with pytest.raises(lock.FolderInUse, match="in use by another process;"):
            with lock.FolderLock(tmp_path):
                pass
    finally:
        holder.close()


def test_the_lock_is_free_again_once_its_holder_leaves(tmp_path):
    with lock.FolderLock(tmp_path):
        assert (tmp_path / lock.LOCK_NAME).read_text().startswith("process ")
    assert not (tmp_path / lock.LOCK_NAME).exists()
    with lock.FolderLock(tmp_path):
        pass
