"""The held-out validation set, early stopping, best.npz, and resuming all of it (and the schedule) bit for bit."""

import csv
import json

import numpy as np
import pytest
from test_resume import assert_same_state

from conftest import SMALL_RUN
from numpyvae import load_model, training
from numpyvae.evaluation import bounds as ev
from numpyvae.formats.checkpoint import load_checkpoint, save_checkpoint
from numpyvae.training import main, report
from numpyvae.training.state import EarlyStopping

# the settings issue 14 added: a checkpoint written before them lacks them and ran with their defaults
ISSUE_14_SETTINGS = ("binarize", "validation", "early_stopping", "lr_schedule", "lr_warmup", "lr_gamma", "lr_every",
                     "lr_min", "lr_horizon")


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, *flags])


def resume(checkpoint, root, *flags):
    return main(["--resume", str(checkpoint), "--data-dir", root, "--no-progress", "--no-download", *flags])


def test_early_stopping_record():
    record = EarlyStopping(patience=2)
    assert [record.update(v, s) for s, v in enumerate([5.0, 4.0, 4.5, 3.9, 4.0, 4.0])] == \
        [True, True, False, True, False, False]
    assert record.stopped and record.best == 3.9 and record.best_step == 3 and record.since_best == 2
    never = EarlyStopping(patience=0)
    for step in range(10):
        never.update(1.0, step)
    assert not never.stopped


def test_validation_holds_out_the_last_images_and_is_logged(tiny_root, tmp_path, tiny_dataset):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "8", "--log-every", "4", "--validation", "8") == 0
    saved = load_checkpoint(out / "checkpoint.npz")
    assert saved.batcher["order"].shape == (12,)  # 20 training images less 8
    rows = list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))
    assert [row["step"] for row in rows] == ["4", "8"] and all(float(row["validation_loss"]) > 0 for row in rows)
    # the logged value is the -ELBO of the last 8 training images, at the weights of that report
    images = training.load_dataset("mnist", tiny_root, download=False).train_images[-8:]
    model = load_model(out / "checkpoint.npz")
    assert float(rows[-1]["validation_loss"]) == pytest.approx(ev.negative_elbo(model, images), abs=1e-4)
    assert (out / "best.npz").is_file()


def test_early_stopping_stops_keeps_the_best_weights_and_reports_on_them(tiny_root, tmp_path, monkeypatch, capsys):
    """A validation -ELBO that only gets worse after the first report: best.npz is step 2, the run stops after
    PATIENCE more reports, and the final evaluation is of best.npz."""
    calls = iter(range(1000))
    real = report.negative_elbo
    monkeypatch.setattr(report, "negative_elbo", lambda model, images, labels=None:
                        real(model, images, labels=labels) if len(images) == 10 else 50.0 + next(calls))
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "100", "--log-every", "2", "--validation", "5", "--early-stopping",
                 "3") == 0
    assert "early stopping" in capsys.readouterr().out
    final, best = load_checkpoint(out / "checkpoint.npz"), load_checkpoint(out / "best.npz")
    assert final.step == 8 and best.step == 2  # reports at 2 (best), 4, 6, 8: three without improvement
    assert best.config["state"]["early_stopping"]["best"] == 50.0
    assert any(not np.array_equal(final.params[k], best.params[k]) for k in final.params)
    results = json.loads((out / "evaluation.json").read_text())
    assert results["weights"].startswith("best.npz (step 2")
    model = load_model(out / "best.npz")
    test_images = training.load_dataset("mnist", tiny_root, download=False).test_images
    assert results["negative_elbo"] == ev.evaluate(model, test_images, k=0)["negative_elbo"]


@pytest.mark.parametrize("flags", [["--early-stopping", "2"], ["--validation", "-1"], ["--validation", "20"]])
def test_bad_validation_flags_exit_2(tiny_root, tmp_path, capsys, flags):
    assert train(tiny_root, tmp_path / "run", "--steps", "2", *flags) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ("--validation" in err or "--early-stopping" in err)


def test_resume_mid_schedule_with_everything_on_is_bit_identical(tiny_root, tmp_path):
    flags = ["--optimizer", "adam", "--lr-schedule", "cosine", "--lr-warmup", "5", "--lr-min", "1e-5",
             "--binarize", "dynamic", "--validation", "4", "--early-stopping", "50", "--log-every", "3",
             "--seed", "5"]
    assert train(tiny_root, tmp_path / "split", "--steps", "13", *flags) == 0
    assert load_checkpoint(tmp_path / "split" / "checkpoint.npz").config["state"]["schedule"]["horizon"] == 13
    # the horizon is fixed when a run starts: a run cut at 13 of 26 steps is given the 26-step horizon
    assert train(tiny_root, tmp_path / "half", "--steps", "26", *flags, "--lr-horizon", "26") == 0
    assert train(tiny_root, tmp_path / "stop", "--steps", "13", *flags, "--lr-horizon", "26") == 0
    # --log-every is not a setting of the run: the early-stopping record needs the same one again
    assert resume(tmp_path / "stop" / "checkpoint.npz", tiny_root, "--steps", "26", "--log-every", "3") == 0
    assert_same_state(tmp_path / "half" / "checkpoint.npz", tmp_path / "stop" / "checkpoint.npz")
    long, split = (load_checkpoint(tmp_path / name / "checkpoint.npz") for name in ("half", "stop"))
    assert long.config["state"] == split.config["state"]
    assert_same_state(tmp_path / "half" / "best.npz", tmp_path / "stop" / "best.npz")


def test_a_new_target_on_resume_keeps_the_cosine_horizon(tiny_root, tmp_path):
    assert train(tiny_root, tmp_path / "run", "--steps", "10", "--lr-schedule", "cosine") == 0
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    assert resume(checkpoint, tiny_root, "--steps", "15") == 0
    saved = load_checkpoint(checkpoint)
    assert saved.step == 15 and saved.config["state"]["schedule"]["horizon"] == 10


def test_a_checkpoint_from_before_these_settings_resumes_with_their_defaults(tiny_root, tmp_path, capsys):
    assert train(tiny_root, tmp_path / "long", "--steps", "10", "--seed", "4") == 0
    assert train(tiny_root, tmp_path / "old", "--steps", "5", "--seed", "4") == 0
    path = tmp_path / "old" / "checkpoint.npz"
    saved = load_checkpoint(path)
    del saved.config["state"]
    for key in ISSUE_14_SETTINGS:
        del saved.config["run"][key]
    save_checkpoint(path, saved)
    # the absent settings are the defaults it ran with: a flag contradicting one is refused, not ignored
    assert resume(path, tiny_root, "--steps", "10", "--lr-schedule", "cosine") == 2
    assert "--lr-schedule cosine contradicts the checkpoint's constant" in capsys.readouterr().err
    assert resume(path, tiny_root, "--steps", "10", "--lr-schedule", "constant") == 0
    assert_same_state(tmp_path / "long" / "checkpoint.npz", path)
    assert load_checkpoint(path).config["run"]["lr_schedule"] == "constant"
