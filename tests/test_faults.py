"""Faults as classes: a signal at any moment of start-up, two runs racing for one folder, a folder that holds a
run, a pasted resume command with spaces in its path."""

import os
import random
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import SMALL_RUN
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.training import main

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def start_training(root, out, *flags):
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), "--data-dir", root, "--out", str(out),
                             *SMALL_RUN, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=ENV)


@pytest.mark.parametrize("attempt", range(6))
def test_a_signal_at_a_random_moment_of_start_up_is_one_line(tiny_dataset, tmp_path, attempt):
    """From the interpreter's first imports to the first steps: SIGINT or SIGTERM at a random moment gives one
    line and exit 128 + the signal; when a checkpoint exists the line says how to resume, quoted."""
    delay = random.Random(attempt).uniform(0.05, 0.8)
    sig = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
    out = tmp_path / "a run folder with spaces"
    process = start_training(str(tiny_dataset[0].parent), out, "--steps", "100000000", "--checkpoint-every", "50")
    time.sleep(delay)
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    lines = [line for line in err.splitlines() if line.strip()]
    assert process.returncode == 128 + sig, err
    assert "Traceback" not in err and len(lines) == 1 and lines[0].startswith(f"stopped by {sig.name}"), err
    if (out / "checkpoint.npz").exists() and "resume with: " in lines[0]:
        command = shlex.split(lines[0].split("resume with: ", 1)[1])
        assert command[:3] == ["python", "train.py", "--resume"] and command[3] == str(out / "checkpoint.npz")
        step = load_checkpoint(out / "checkpoint.npz").step
        resumed = subprocess.run([sys.executable, *command[1:], "--steps", str(step + 2), "--no-progress"],
                                 capture_output=True, text=True, cwd=REPO, env=ENV, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        assert load_checkpoint(out / "checkpoint.npz").step == step + 2


def test_two_runs_racing_for_one_folder(tiny_dataset, tmp_path):
    """Two runs started at once into one --out: one trains, the other is refused in one line naming the first's
    process, and nothing of the first is disturbed."""
    root, out = str(tiny_dataset[0].parent), tmp_path / "shared"
    first, second = (start_training(root, out, "--steps", "3000", "--log-every", "1000") for _ in range(2))
    results = [(process, *process.communicate(timeout=120)) for process in (first, second)]
    codes = sorted(process.returncode for process, _, _ in results)
    assert codes == [0, 1], [err for _, _, err in results]
    winner = next(process for process, _, _ in results if process.returncode == 0)
    refused = next(err for process, _, err in results if process.returncode == 1)
    assert refused.count("\n") == 1 and f"is in use by process {winner.pid}" in refused
    assert load_checkpoint(out / "checkpoint.npz").step == 3000
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["1000", "2000", "3000"]
    assert not (out / ".numpyvae.lock").exists()


def test_a_new_run_into_a_folder_that_holds_a_run_is_refused_unless_overwrite(tiny_dataset, tmp_path, capsys):
    root, out = str(tiny_dataset[0].parent), tmp_path / "run"

    def train(*flags):
        return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, "--steps", "4", "--log-every", "2", *flags])

    assert train() == 0
    before = {name: (out / name).read_bytes() for name in ("checkpoint.npz", "metrics.csv", "summary.json")}
    capsys.readouterr()
    assert train("--seed", "3") == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds another run" in err and "--overwrite" in err
    assert shlex.join(["python", "train.py", "--resume", str(out / "checkpoint.npz"), "--data-dir", root]) in err
    assert {name: (out / name).read_bytes() for name in before} == before  # nothing touched
    assert train("--seed", "3", "--overwrite") == 0
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows] == ["step", "2", "4"]  # a new record, not 2, 4, 2, 4
    assert load_checkpoint(out / "checkpoint.npz").config["run"]["seed"] == 3


def test_overwrite_and_resume_do_not_go_together(tiny_dataset, tmp_path, capsys):
    assert main(["--resume", str(tmp_path / "x.npz"), "--overwrite", "--no-download"]) == 2
    assert "--overwrite replaces a run and --resume continues one" in capsys.readouterr().err


@pytest.mark.parametrize("where, says", [("load_dataset", "nothing was saved yet, so there is nothing to resume"),
                                         ("evaluate", "checkpoint.npz is complete; resume with: python train.py")])
def test_a_signal_while_loading_data_or_evaluating_is_one_line(tiny_dataset, tmp_path, capsys, monkeypatch,
                                                               where, says):
    """The moments between start-up and the steps, and after them: Interrupt where the command is."""
    from numpyvae.errors import Interrupt
    from numpyvae.training import loop

    real = getattr(loop, where)

    def interrupted(*args, **kwargs):
        if where == "evaluate":
            real(*args, **kwargs)
        raise Interrupt("SIGINT", signal.SIGINT)

    monkeypatch.setattr(loop, where, interrupted)
    code = main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(tmp_path / "run"), *SMALL_RUN,
                 "--steps", "2"])
    err = capsys.readouterr().err
    assert code == 130 and err.count("\n") == 1 and err.startswith("stopped by SIGINT; ") and says in err, err
    assert (tmp_path / "run").exists() == (where == "evaluate")  # a folder made for nothing is removed
