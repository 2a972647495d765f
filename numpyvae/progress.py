"""Progress bars that read well in a terminal and in a log file.

``progress_bar`` makes the package's one kind of progress bar: a ``tqdm`` bar. On a terminal it is tqdm's
usual bar, redrawn in place. When its stream is not a terminal (a log file, a pipe, CI), redrawing in place
would leave thousands of carriage-return updates in the file; the bar then prints a whole line instead,
only now and then:

    - each time another ``LINE_PERCENT`` percent of the total is done (when the total is known),
    - and otherwise at least ``LINE_SECONDS`` seconds after the previous line,
    - and once at the end, unless the last line already showed the end.

A line reads like the bar without its bar: ``training:  40% 120/300 [00:01<00:01, 95.1step/s, loss=201.3]``.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

LINE_PERCENT = 10  # on a stream that is not a terminal: a line each time another 10 % is done
LINE_SECONDS = 60.0  # ... and a line at least once a minute
LINE_FORMAT = "{desc}{percentage:3.0f}% {n_fmt}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
LINE_FORMAT_NO_TOTAL = "{desc}{n_fmt}{unit} [{elapsed}, {rate_fmt}{postfix}]"


def is_terminal(stream) -> bool:
    """Whether ``stream`` is an open terminal (False for files, pipes and closed or odd streams)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


class LineProgress(tqdm):
    """A tqdm bar that, on a stream that is not a terminal, prints occasional whole lines (see the module)."""

    def __init__(self, *args, **kwargs) -> None:
        stream = kwargs.get("file") or sys.stderr
        self._as_lines = not is_terminal(stream)
        self._printed_n: float | None = None  # the count shown by the last line printed
        self._percent_step = 0  # how many LINE_PERCENT steps the printed lines have covered
        self._closing = False
        if self._as_lines:
            total = kwargs.get("total", len(args[0]) if args and hasattr(args[0], "__len__") else None)
            kwargs.setdefault("bar_format", LINE_FORMAT if total else LINE_FORMAT_NO_TOTAL)
            kwargs["dynamic_ncols"] = False
            if kwargs.get("desc"):  # tqdm's bar puts ": " after the description; its line format does not
                kwargs["desc"] = kwargs["desc"].removesuffix(": ") + ": "
        super().__init__(*args, **kwargs)
        self._ready = True

    def _due(self) -> bool:
        if self._closing:
            return self.n != self._printed_n
        if self.total:
            step = int(100 * self.n / self.total) // LINE_PERCENT
            if step > self._percent_step:
                self._percent_step = step
                return True
        last = getattr(self, "_printed_t", None) or getattr(self, "start_t", None)
        return last is not None and self._time() - last >= LINE_SECONDS

    def display(self, msg: str | None = None, pos: int | None = None) -> bool:
        if not self._as_lines:
            return super().display(msg, pos)
        # a message (tqdm's '' to clear the bar) has nothing to clear in a log; only our own lines are written
        if msg is None and self._due():
            self.fp.write(self.__str__() + "\n")
            self.fp.flush()
            self._printed_n, self._printed_t = self.n, self._time()
        return False

    def clear(self, nolock: bool = False) -> None:
        if not self._as_lines:  # a log has no bar to clear before tqdm.write prints a line
            super().clear(nolock)

    def close(self) -> None:
        # a signal can interrupt __init__ (tqdm's or ours) half way; the half-made bar is then collected and tqdm's
        # __del__ calls close on it: there is no bar to close yet, and its attributes may not exist
        if not self.__dict__.get("_ready"):
            return
        if self._as_lines and not self.disable:
            self._closing = True
            with self._lock:
                self.display()  # the last line, unless it was just printed
            self.leave = False  # tqdm's own close would redraw the bar and end it with a bare newline
        super().close()


def progress_bar(*args, **kwargs) -> tqdm:
    """A progress bar: tqdm's arguments (``total``, ``desc``, ``unit``, ``disable``, ...), shown as
    tqdm's bar on a terminal and as occasional whole lines elsewhere (see the module)."""
    return LineProgress(*args, **kwargs)
