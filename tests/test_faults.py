"""Faults as classes: a signal at any moment of start-up, two runs racing for one folder, a folder that holds a
run, a pasted resume command with spaces in its path."""

import math
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
from numpyvae.models.config import ModelConfig
from numpyvae.training import main, state
from numpyvae.training.config import TrainConfig

REPO = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def start_training(root, out, *flags):
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), "--data-dir", root, "--out", str(out),
                             *SMALL_RUN, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=ENV)


def wait_for_handlers(process, timeout=30.0):
    """Until the process catches SIGINT and SIGTERM (train.py's first lines): before that the interpreter itself
    is starting, which no Python code can reach. Linux's /proc tells; elsewhere a short wait stands in."""
    status, deadline = Path(f"/proc/{process.pid}/status"), time.monotonic() + timeout
    if not status.exists():
        time.sleep(0.2)
        return
    wanted = (1 << (signal.SIGINT - 1)) | (1 << (signal.SIGTERM - 1))
    while time.monotonic() < deadline:
        caught = next((int(line.split()[1], 16) for line in status.read_text().splitlines()
                       if line.startswith("SigCgt:")), 0)
        if caught & wanted == wanted:
            return
        time.sleep(0.002)
    raise AssertionError("train.py never caught SIGINT and SIGTERM")


@pytest.mark.parametrize("attempt", range(6))
def test_a_signal_at_a_random_moment_of_start_up_is_one_line(tiny_dataset, tmp_path, attempt):
    """From train.py's first line (its imports, NumPy's among them) to the first steps and beyond: SIGINT or
    SIGTERM at a random moment gives one line and exit 128 + the signal; when a checkpoint exists the line says
    how to resume, quoted."""
    delay = random.Random(attempt).uniform(0.0, 0.8)
    sig = (signal.SIGINT, signal.SIGTERM)[attempt % 2]
    out = tmp_path / "a run folder with spaces"
    process = start_training(str(tiny_dataset[0].parent), out, "--steps", "100000000", "--checkpoint-every", "50")
    wait_for_handlers(process)
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
    process, and nothing of the first is disturbed (it is then stopped, and its checkpoint is whole)."""
    root, out = str(tiny_dataset[0].parent), tmp_path / "shared"
    runs = [start_training(root, out, "--steps", "100000000", "--log-every", "100") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while all(process.poll() is None for process in runs) and time.monotonic() < deadline:
            time.sleep(0.01)
        loser = next(process for process in runs if process.poll() is not None)
        winner = next(process for process in runs if process is not loser)
        _, refused = loser.communicate()
        assert loser.returncode == 1 and refused.count("\n") == 1, refused
        assert f"is in use by process {winner.pid}" in refused
        time.sleep(0.3)
        winner.send_signal(signal.SIGINT)
        _, err = winner.communicate(timeout=60)
        assert winner.returncode == 130 and "checkpoint saved" in err
    finally:  # a failed assertion must not leave a run of 10^8 steps behind
        for process in runs:
            if process.poll() is None:
                process.kill()
                process.communicate()
    step = load_checkpoint(out / "checkpoint.npz").step
    rows = (out / "metrics.csv").read_text().splitlines()
    assert [int(row.split(",")[0]) for row in rows[1:]] == list(range(100, step + 1, 100))
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


@pytest.mark.parametrize("flags, says", [
    (["--objective", "iwae", "--k", "1000000000"], "--k 1000000000 with --batch-size 4 (one training step) needs"),
    (["--hidden-dims", "100000000"], "one training step of this model"),
    (["--epochs", "inf"], "--epochs must be a finite number, got inf"),
    (["--epochs", "1e-9"], "--epochs 1e-09 is less than one step"),
    (["--lr", "inf"], "--lr must be a finite number, got inf"),
    (["--kl-weight", "inf"], "--kl-weight must be a finite number, got inf"),
    (["--kl-weight", "nan"], "--kl-weight must be a finite number, got nan"),
    (["--seed", "-1"], "--seed must be at least 0, got -1"),
    (["--eval-workers", "100000"], "--eval-workers 100000 asks for more processes than this machine's"),
])
def test_numbers_and_resources_of_train_are_checked_before_anything_is_allocated(tiny_dataset, tmp_path, capsys,
                                                                                 flags, says):
    code = main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(tmp_path / "run"), *SMALL_RUN, *flags])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and says in err, err
    assert not (tmp_path / "run").exists()


def test_the_k_estimate_says_how_many_fit(tiny_dataset, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("numpyvae.resources.available_memory", lambda: 10 * 2 ** 30)
    main(["--data-dir", str(tiny_dataset[0].parent), "--out", str(tmp_path / "run"), *SMALL_RUN,
          "--objective", "iwae", "--k", "1000000000"])
    err = capsys.readouterr().err
    fits = int(err.split("at most --k ")[1].split()[0].replace(",", ""))
    # the count that fits in 80% of the 10 GiB: far fewer than asked, yet many
    assert "this machine has 10.0 GiB available" in err and 1000 < fits < 1_000_000_000



def test_the_step_estimate_counts_what_a_gated_layer_caches(monkeypatch):
    """A GLU layer of n units keeps a Dense output of 2n and its gate's n beside what any layer keeps: the estimate
    of a gated step must exceed the same widths' ReLU step by those arrays, not only by the wider weights."""
    asked = []
    monkeypatch.setattr(state, "check_memory", lambda needed, *args, **kwargs: asked.append(needed))
    for name in ("relu", "glu"):
        state.check_fits(TrainConfig(model=ModelConfig(hidden_dims=[300, 300], activations=[name])), 784)
    weights = {name: sum(math.prod(shape) for shape in ModelConfig(
        input_dim=784, hidden_dims=[300, 300], activations=[name]).parameter_shapes().values())
        for name in ("relu", "glu")}
    # 4 bytes (float32) x (the extra weights and their gradients; SGD keeps no state), and for each of the 128 rows
    # two more arrays per unit of the 1,200 hidden units (300 + 300 in the encoder and as many in the decoder)
    at_least = 4 * (2 * (weights["glu"] - weights["relu"]) + 128 * 2 * 1200)
    assert asked[1] - asked[0] >= at_least, (asked, at_least)

@pytest.mark.parametrize("command, flags, says", [
    ("evaluate", ["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    ("evaluate", ["--workers", "10000"], "--workers 10000 asks for more processes than this machine's"),
    ("evaluate", ["--k", "1,x"], "argument --k: expected a whole number, got 'x'"),
    ("visualize", ["--pairs", "100000"], "argument --pairs: must be in [1, 1000], got 100000"),
    ("visualize", ["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    ("gradcheck", ["--seed", "-1"], "argument --seed: must be at least 0, got -1"),
    ("gradcheck", ["--tolerance", "nan"], "argument --tolerance: must be positive, got nan"),
])
def test_other_commands_check_their_numbers(tmp_path, command, flags, says):
    checkpoint = [] if command == "gradcheck" else [str(tmp_path / "none.npz")]
    result = subprocess.run([sys.executable, "-m", f"numpyvae.{command}", *checkpoint, *flags], capture_output=True,
                            text=True, cwd=REPO, env=ENV, timeout=60)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and says in result.stderr, result.stderr
