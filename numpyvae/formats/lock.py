"""A folder held by one process at a time: ``with FolderLock(folder):`` around everything a run writes there.

The lock is an advisory ``flock`` on ``folder/.numpyvae.lock``, which also records the holder's process id and
command line for the message a second process gets, and which the holder removes as it leaves. The operating
system releases the lock when its holder exits, however it exits (a crash or SIGKILL included), so a file left
behind never blocks a later run: only a live holder does. Where ``fcntl`` does not exist (Windows), the lock is
not taken.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from ..errors import OutputError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None

LOCK_NAME = ".numpyvae.lock"
RECORD_WAIT = 2.0  # seconds a refused process waits for a holder that has the lock but not yet written its record


class FolderInUse(OutputError):
    """Another live process holds the folder."""


class FolderLock:
    """Exclusive use of ``folder`` for the length of a ``with`` block; FolderInUse when another process has it."""

    def __init__(self, folder: str | os.PathLike, purpose: str = "--out") -> None:
        self.path = Path(folder) / LOCK_NAME
        self.purpose = purpose
        self.file = None

    def __enter__(self) -> FolderLock:
        if fcntl is None:
            return self
        while True:
            self.file = open(self.path, "a+")
            try:
                fcntl.flock(self.file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = self._holder()
                self.file.close()
                self.file = None
                raise FolderInUse(f"{self.purpose} {self.path.parent} is in use by {holder}; wait for it to finish, "
                                  "or choose another folder") from None
            # the holder before us removes the file as it leaves: a lock on the removed file is no lock
            if self.path.exists() and os.stat(self.path).st_ino == os.fstat(self.file.fileno()).st_ino:
                break
            self.file.close()
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()} ({' '.join(sys.argv)[:200]})\n")
        self.file.flush()
        return self

    def _holder(self) -> str:
        """The holder's record, "process <pid> (<command>)". A holder writes it just after it takes the lock, so
        a process refused in between finds the file empty: it waits up to RECORD_WAIT seconds for the record."""
        deadline = time.monotonic() + RECORD_WAIT
        while True:
            self.file.seek(0)
            record = self.file.read().strip()
            if record or time.monotonic() > deadline:
                return record or "another process"
            time.sleep(0.01)

    def __exit__(self, *exc) -> None:
        if self.file is not None:
            self.path.unlink(missing_ok=True)  # while still held, so a newcomer locks a new file
            self.file.close()  # which releases the lock
            self.file = None
