"""Writing outputs safely: folders checked before any work starts, files replaced atomically, JSON strict.

A folder named for output (``--out``, ``--data-dir`` when something must be downloaded, the folder of
``--json``) is checked before the work that fills it: it must be a folder, or one that can be made, and a
file must be creatable in it. Every file numpyvae writes (checkpoints, safetensors exports, JSON, PNGs) goes
through ``write_atomic``: a temporary file of its own beside the destination, flushed to the disk (fsync),
renamed over the old file, and the rename made durable (fsync of the folder), so that a crash or a failed
write at any moment leaves the old file or the new one, never a torn one. Every failure is an
``OutputError`` in one line that names the path and the reason the system gave.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from ..errors import NumericalError, OutputError


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (made if missing), or None when they can."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):  # the one test that holds for root and read-only mounts alike
            pass
    except OSError as error:
        return str(error.strerror or error)
    return None


def prepare_folder(folder: str | os.PathLike, purpose: str) -> Path:
    """Make ``folder`` if needed and check that files can be written into it; ``purpose`` names it in errors."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"{purpose} {folder} is a file, not a folder; name a folder")
    reason = _unwritable(folder)
    if reason is not None:
        raise OutputError(f"cannot write into {purpose} {folder} ({reason}); name a folder you can write to")
    return folder


def missing_folders(folder: str | os.PathLike) -> list[Path]:
    """The folders that making ``folder`` would create, deepest first (none when it exists)."""
    folder, missing = Path(folder).absolute(), []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    return missing


def remove_empty_folders(folders: list[Path]) -> None:
    """Remove the ``folders`` (deepest first) while they are empty: a command that failed leaves none behind."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or gone): keep it and everything above it
            return


def check_file_destination(path: str | os.PathLike, purpose: str) -> Path:
    """Check before the work that ``path`` can later be written: not a folder, and its folder writable."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{purpose} {path} is a folder; name a file")
    reason = "its folder is a file" if path.parent.is_file() else _unwritable(path.parent)
    if reason is not None:
        raise OutputError(f"cannot write {purpose} {path} ({reason}); name a file in a folder you can write to")
    return path


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)  # the failures that freeing disk space would cure


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new file of its own beside ``path`` (O_EXCL, named with the process id and a random suffix, so two
    processes writing the same destination never share one), mode 0666 less the umask like any new file."""
    while True:
        temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), temporary
        except FileExistsError:
            continue


def _sync_folder(folder: Path) -> None:
    """fsync a folder, which makes a rename inside it durable; skipped where the file system cannot."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # a folder that cannot be opened for reading (Windows; some mounts): nothing more to do
    try:
        os.fsync(descriptor)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(descriptor)


def _reason(error: OSError) -> str:
    """The system's own words for ``error``, and a hint only when the cure is disk space."""
    reason = error.strerror or str(error)
    return reason + ("; free some disk space" if error.errno in NO_SPACE else "")


def write_atomic(path: str | os.PathLike, write: Callable[[BinaryIO], object], what: str = "file") -> None:
    """Replace ``path`` by the file that ``write(file)`` writes, atomically and durably.

    ``write`` gets a binary file open on a temporary file beside ``path``; that file is flushed and fsynced,
    renamed over ``path``, and the folder fsynced. Any failure removes the temporary file and leaves the old
    ``path`` as it was; an OSError becomes an OutputError that says whether the previous ``what`` is kept.
    """
    path = Path(path)
    try:
        descriptor, temporary = _temporary_beside(path)
    except OSError as error:
        raise OutputError(f"cannot write {path} ({_reason(error)})") from None
    try:
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        if not isinstance(error, OSError):
            raise
        kept = f"the previous {what} is kept" if path.exists() else f"no earlier {what} exists"
        raise OutputError(f"cannot write {path} ({_reason(error)}); {kept}") from None
    try:
        _sync_folder(path.parent)
    except OSError as error:
        raise OutputError(f"wrote {path}, but could not make its rename durable ({_reason(error)})") from None


def write_bytes_atomic(path: str | os.PathLike, content: bytes, what: str = "file") -> None:
    """Write ``content`` to ``path`` with ``write_atomic``: the old file survives a failure."""
    write_atomic(path, lambda file: file.write(content), what)


def write_json(path: str | os.PathLike, data: dict) -> None:
    """``data`` as strict JSON (no NaN or Infinity, which strict parsers reject), written atomically."""
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise NumericalError(f"refusing to write {path}: a value is NaN or infinite; nothing was written") from None
    write_bytes_atomic(path, text.encode())
