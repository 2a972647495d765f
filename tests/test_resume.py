"""Training that loses nothing: exact resume, Ctrl-C and SIGTERM, SIGKILL, non-finite values, --clip-grad.

Runs use the tiny dataset (20 training images) and a small network so that each takes a fraction of a
second; the subprocess tests run ``train.py`` itself, as a user would.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import SMALL_RUN
from numpyvae.formats.checkpoint import load_checkpoint, save_checkpoint
from numpyvae.training import main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def tiny_root(tiny_dataset):
    """The folder holding the tiny dataset's mnist/."""
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, *flags])


def assert_same_state(first: Path, second: Path):
    a, b = load_checkpoint(first), load_checkpoint(second)
    assert a.step == b.step and a.rng_state == b.rng_state
    for group in ("params", "optimizer", "batcher"):
        left, right = getattr(a, group), getattr(b, group)
        assert sorted(left) == sorted(right)
        for name in left:
            np.testing.assert_array_equal(left[name], right[name], err_msg=f"{group}/{name}")


@pytest.mark.parametrize("optimizer", [["--optimizer", "adam"], ["--momentum", "0.9", "--nesterov"]])
def test_resume_is_bit_identical_to_one_long_run(tiny_root, tmp_path, optimizer):
    # 13 steps: the 5-step epochs are crossed mid-way, and the KL warm-up is still under way at the stop
    flags = [*optimizer, "--kl-warmup", "20", "--log-every", "4", "--seed", "3"]
    assert train(tiny_root, tmp_path / "long", "--steps", "26", *flags) == 0
    assert train(tiny_root, tmp_path / "split", "--steps", "13", *flags) == 0
    assert load_checkpoint(tmp_path / "split" / "checkpoint.npz").step == 13
    assert main(["--resume", str(tmp_path / "split" / "checkpoint.npz"), "--steps", "26", "--data-dir", tiny_root,
                 "--no-progress", "--no-download"]) == 0
    assert_same_state(tmp_path / "long" / "checkpoint.npz", tmp_path / "split" / "checkpoint.npz")


def test_resume_takes_the_saved_settings_where_the_command_line_is_silent(tiny_root, tmp_path):
    # --lr is not repeated: the run goes on with its own 0.01, not the default 0.001 (a contradicting --lr is
    # an error: tests/test_paths.py)
    assert train(tiny_root, tmp_path / "run", "--steps", "3", "--lr", "0.01") == 0
    assert main(["--resume", str(tmp_path / "run" / "checkpoint.npz"), "--steps", "5",
                 "--data-dir", tiny_root, "--no-progress", "--no-download"]) == 0
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved.step == 5 and saved.config["run"]["lr"] == 0.01


def test_resume_without_steps_keeps_the_runs_own_target(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "run", "--steps", "6") == 0  # far below the default 10,000
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert main(["--resume", str(checkpoint), "--data-dir", tiny_root, "--no-progress", "--no-download"]) == 0
    assert load_checkpoint(checkpoint).step == 6
    assert main(["--resume", str(checkpoint), "--steps", "9", "--data-dir", tiny_root, "--no-progress",
                 "--no-download"]) == 0
    assert load_checkpoint(checkpoint).step == 9 and load_checkpoint(checkpoint).config["total_steps"] == 9


def launch(root, out, *flags):
    return subprocess.Popen([sys.executable, str(REPO / "train.py"), "--data-dir", root, "--out", str(out),
                             *SMALL_RUN, *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(path: Path, process: subprocess.Popen, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.01)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_after_the_step_saves_and_says_how_to_resume(tiny_root, tmp_path, signum):
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    process = launch(tiny_root, tmp_path / "run", "--steps", "1000000", "--checkpoint-every", "50")
    wait_for(checkpoint, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 128 + signum
    assert f"python train.py --resume {checkpoint}" in err
    step = load_checkpoint(checkpoint).step
    assert 50 <= step < 1000000 and f"after step {step}" in err
    assert "Traceback" not in err


def test_sigkill_at_a_random_moment_then_resume_matches_an_uninterrupted_run(tiny_root, tmp_path):
    steps = ["--steps", "4000", "--checkpoint-every", "100", "--log-every", "1000"]
    checkpoint = tmp_path / "killed" / "checkpoint.npz"
    process = launch(tiny_root, tmp_path / "killed", *steps)
    wait_for(checkpoint, process)
    time.sleep(np.random.default_rng().uniform(0, 0.5))
    process.kill()
    process.communicate()
    assert process.returncode == -signal.SIGKILL  # killed mid-run, not finished
    saved = load_checkpoint(checkpoint)  # whatever the moment, the file on disk is a whole checkpoint
    assert 100 <= saved.step < 4000 and saved.step % 100 == 0
    # no --steps: the resumed run carries on to its own target of 4000
    assert main(["--resume", str(checkpoint), "--data-dir", tiny_root, "--no-progress", "--no-download"]) == 0
    assert train(tiny_root, tmp_path / "whole", *steps) == 0
    assert_same_state(tmp_path / "whole" / "checkpoint.npz", checkpoint)


def test_non_finite_loss_names_step_and_tensor_and_keeps_the_last_good_checkpoint(tiny_root, tmp_path, capsys):
    # an absurd learning rate blows the network up within a few steps
    code = train(tiny_root, tmp_path / "run", "--steps", "200", "--lr", "1e12", "--checkpoint-every", "1")
    err = capsys.readouterr().err.strip()
    assert code == 1
    assert len(err.splitlines()) == 1 and "became NaN or infinite at step" in err and "--clip-grad" in err
    failed_step = int(err.split("at step ")[1].split(";")[0])
    assert any(tensor in err for tensor in ("gradient ", "term of the loss"))
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert saved.step == failed_step - 1  # the last good step, not overwritten by the broken one
    assert all(np.all(np.isfinite(p)) for p in saved.params.values())


def test_clip_grad_keeps_the_same_absurd_run_finite(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "run", "--steps", "30", "--lr", "1e3", "--clip-grad", "1e-3") == 0
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    assert all(np.all(np.isfinite(p)) for p in saved.params.values())


def test_clip_grad_bounds_each_update(tiny_root, tmp_path):
    """With SGD, each step moves the parameters by exactly lr * the clipped gradient: length <= lr * NORM."""
    lr, norm = 0.5, 0.01
    train(tiny_root, tmp_path / "a", "--steps", "1", "--lr", str(lr), "--clip-grad", str(norm), "--keep-prob", "1")
    train(tiny_root, tmp_path / "b", "--steps", "2", "--lr", str(lr), "--clip-grad", str(norm), "--keep-prob", "1")
    a, b = load_checkpoint(tmp_path / "a" / "checkpoint.npz"), load_checkpoint(tmp_path / "b" / "checkpoint.npz")
    moved = np.sqrt(sum(np.sum((a.params[k].astype(np.float64) - b.params[k]) ** 2) for k in a.params))
    assert moved == pytest.approx(lr * norm, rel=1e-3)  # the raw gradient of a fresh model is far above 0.01


def test_a_failed_checkpoint_write_keeps_the_previous_one(tiny_root, tmp_path, monkeypatch, capsys):
    assert train(tiny_root, tmp_path / "run", "--steps", "4") == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    before = checkpoint.read_bytes()

    real_fsync = os.fsync

    def disk_full(descriptor):  # when the checkpoint's temporary file is flushed (every file write fsyncs)
        if ".checkpoint.npz." in os.readlink(f"/proc/self/fd/{descriptor}"):
            raise OSError(28, "No space left on device")
        real_fsync(descriptor)
    monkeypatch.setattr(os, "fsync", disk_full)
    code = main(["--resume", str(checkpoint), "--steps", "8", "--data-dir", tiny_root, "--no-progress",
                 "--no-download"])
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "previous checkpoint is kept" in err
    assert checkpoint.read_bytes() == before
    assert sorted(p.name for p in checkpoint.parent.glob("checkpoint*")) == ["checkpoint.npz"]


def test_checkpoint_round_trip_is_exact(tmp_path):
    from numpyvae.formats.checkpoint import Checkpoint
    from numpyvae.models.vae import VAE
    rng = np.random.default_rng(0)
    model = VAE(16, [4], 2, seed=3)
    original = Checkpoint(config={"model": model.config, "run": {}}, step=7, rng_state=rng.bit_generator.state,
                          params=model.params, optimizer={"t": np.array(3)}, batcher={"order": np.arange(5)})
    save_checkpoint(tmp_path / "c.npz", original)
    loaded = load_checkpoint(tmp_path / "c.npz")
    assert loaded.config == original.config and loaded.step == 7 and loaded.rng_state == original.rng_state
    for name, param in model.params.items():
        np.testing.assert_array_equal(loaded.params[name], param)
        assert loaded.params[name].dtype == np.float32


def test_a_finished_run_leaves_its_evaluation_and_pictures(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "run", "--steps", "3", "--eval-k", "5") == 0
    out = tmp_path / "run"
    results = json.loads((out / "evaluation.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    assert results["iwae_k"] == 5 and results["negative_elbo"] == summary["test_loss"]
    # the wall time split into training and the final evaluation (a recipe's budget counts training only)
    assert summary["train_seconds"] > 0 and summary["evaluation_seconds"] > 0
    assert summary["seconds"] == pytest.approx(summary["train_seconds"] + summary["evaluation_seconds"])
    # the time inside the three steps themselves is part of the training time, and not all of it
    assert 0 < summary["step_seconds"] < summary["train_seconds"]
    for name in ("curves.png", "reconstruction_pairs.png", "prior_samples.png", "interpolations.png",
                 "checkpoint.npz", "metrics.csv", "input.png", "3.png", "z_3.png"):
        assert (out / name).is_file(), name
