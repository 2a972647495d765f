"""Ctrl-C and SIGTERM, from a command's first moment to its last: one line, never a traceback.

Two handlers, one after the other:

- ``quiet_start_up``, installed before anything heavy is imported (numpyvae/__init__.py does it for
  ``python -m numpyvae.<command>``, train.py for itself): a signal while the command is still loading ends it
  at once with one line, ``stopped by SIGINT during start-up``, and exit 128 + the signal's number;
- ``raise_interrupt``, installed by ``numpyvae.cli.run_command`` around the command itself: a signal raises
  ``numpyvae.errors.Interrupt`` where the command is, so that the command can say what it leaves (the training
  loop instead stops after the current step and saves its checkpoint).

Only the main thread may set handlers; elsewhere (a command run from a thread) nothing is changed.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

from .errors import Interrupt

SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _stop_at_start_up(signum: int, frame) -> None:
    # an exception raised here could surface inside an extension module's import as an ImportError with a
    # traceback; nothing has been opened for writing yet, so the process may simply end
    print(f"stopped by {signal.Signals(signum).name} during start-up; nothing was written", file=sys.stderr,
          flush=True)
    os._exit(128 + signum)


def raise_interrupt(signum: int, frame) -> None:
    raise Interrupt(signal.Signals(signum).name, signum)


def install(handler) -> dict:
    """``handler`` for SIGINT and SIGTERM; the previous handlers, to put back (empty off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in SIGNALS}


def restore(previous: dict) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def quiet_start_up() -> None:
    install(_stop_at_start_up)
