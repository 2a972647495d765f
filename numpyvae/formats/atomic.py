"""Writing outputs safely: folders checked before any work starts, files replaced atomically, JSON strict.

A folder named for output (``--out``, ``--data-dir`` when something must be downloaded, the folder of
``--json``) is checked before the work that fills it: it must be a folder, or one that can be made, and a
file must be creatable in it. A file is written to a temporary name beside it and renamed over the old one,
so a failed write leaves what was there before. Every failure is an ``OutputError`` in one line that names
the path and the reason.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

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


def write_bytes_atomic(path: str | os.PathLike, content: bytes) -> None:
    """Write ``content`` to ``path`` through a temporary file and a rename: the old file survives a failure."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_bytes(content)
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"cannot write {path} ({error.strerror or error})") from None


def write_json(path: str | os.PathLike, data: dict) -> None:
    """``data`` as strict JSON (no NaN or Infinity, which strict parsers reject), written atomically."""
    try:
        text = json.dumps(data, indent=2, allow_nan=False) + "\n"
    except ValueError:
        raise NumericalError(f"refusing to write {path}: a value is NaN or infinite; nothing was written") from None
    write_bytes_atomic(path, text.encode())
