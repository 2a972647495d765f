"""Progress on a stream that is not a terminal: occasional whole lines, never carriage-return redraws."""

import gc
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SMALL_RUN
from numpyvae import progress
from numpyvae.progress import progress_bar

REPO = Path(__file__).resolve().parent.parent


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def run_bar(stream, total=1000, **kwargs) -> str:
    with progress_bar(total=total, desc="work", unit="step", file=stream, mininterval=0, miniters=1, **kwargs) as bar:
        for _ in range(total):
            bar.update()
    return stream.getvalue()


def test_a_log_gets_one_whole_line_per_tenth_and_no_carriage_returns():
    text = run_bar(io.StringIO())
    assert "\r" not in text and text.endswith("\n")
    lines = text.splitlines()
    assert [int(re.match(r"work: +(\d+)%", line).group(1)) for line in lines] == list(range(10, 101, 10))
    assert lines[-1].startswith("work: 100% 1000/1000 [")


def test_a_terminal_still_gets_the_bar_redrawn_in_place():
    text = run_bar(Terminal())
    assert text.count("\r") > 10 and "|" in text  # tqdm's own bar


def test_without_a_total_a_line_comes_every_line_seconds(monkeypatch):
    monkeypatch.setattr(progress, "LINE_SECONDS", 0.0)
    stream = io.StringIO()
    with progress_bar(total=None, desc="file.gz", unit="B", file=stream, mininterval=0, miniters=1) as bar:
        for _ in range(3):
            bar.update(10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3 and lines[-1].startswith("file.gz: 30B [") and "\r" not in stream.getvalue()
    monkeypatch.setattr(progress, "LINE_SECONDS", 3600.0)
    stream = io.StringIO()
    with progress_bar(total=None, desc="file.gz", unit="B", file=stream, mininterval=0, miniters=1) as bar:
        for _ in range(3):
            bar.update(10)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("file.gz: 30B [")  # only the end


def test_lines_between_tqdm_write_leave_no_clearing_codes():
    stream = io.StringIO()
    with progress_bar(total=10, desc="work", file=stream, mininterval=0, miniters=1) as bar:
        for step in range(10):
            bar.update()
            bar.write(f"step {step}", file=stream)
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text
    assert all(line.startswith(("work: ", "step ")) for line in text.splitlines())


def test_a_disabled_bar_prints_nothing():
    assert run_bar(io.StringIO(), disable=True) == ""


def interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["is_terminal", "status_printer"])
def test_a_signal_while_a_bar_is_being_made_leaves_no_error_behind(monkeypatch, where):
    """SIGINT in the middle of LineProgress.__init__ (ours, or tqdm's inside it): the half-made bar is collected,
    and tqdm's __del__ closes it; that close must not raise (CI once printed 'Exception ignored ... AttributeError:
    'LineProgress' object has no attribute '_as_lines'' under the one line of a stopped run)."""
    if where == "is_terminal":
        monkeypatch.setattr(progress, "is_terminal", interrupt)
    else:
        monkeypatch.setattr(progress.LineProgress, "status_printer", staticmethod(interrupt))
    ignored = []
    monkeypatch.setattr(sys, "unraisablehook", ignored.append)
    with pytest.raises(KeyboardInterrupt):
        progress_bar(total=10, desc="work", file=io.StringIO())
    gc.collect()
    assert [f"{type(item.exc_value).__name__}: {item.exc_value}" for item in ignored] == []


@pytest.mark.parametrize("folder", ["numpyvae", "benchmarks"])
def test_every_progress_bar_of_the_package_is_made_by_the_helper(folder):
    """tqdm is imported in numpyvae/progress.py only: every bar of the package and the benchmarks is its kind."""
    users = [path.relative_to(REPO) for path in (REPO / folder).rglob("*.py")
             if re.search(r"^\s*(from tqdm|import tqdm)", path.read_text(), flags=re.M)]
    assert users == ([Path("numpyvae/progress.py")] if folder == "numpyvae" else [])


def test_train_py_with_stderr_in_a_file_prints_few_whole_lines(tiny_dataset, tmp_path):
    flags = [flag for flag in SMALL_RUN if flag != "--no-progress"]
    result = subprocess.run([sys.executable, str(REPO / "train.py"), "--data-dir", str(tiny_dataset[0].parent),
                             "--out", str(tmp_path / "run"), *flags, "--steps", "400", "--log-every", "100",
                             "--eval-k", "2"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "\r" not in result.stderr and "\x1b" not in result.stderr
    lines = result.stderr.splitlines()
    training = [line for line in lines if line.startswith("training: ")]
    assert 1 <= len(training) <= 11 and training[-1].startswith("training: 100% 400/400")
    iwae = [line for line in lines if line.startswith("IWAE K=2: ")]
    assert 1 <= len(iwae) <= 11 and iwae[-1].startswith("IWAE K=2: 100% 10/10")
    assert len(lines) == len(training) + len(iwae), result.stderr  # nothing else on stderr
