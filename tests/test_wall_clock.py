"""The training clock (metrics.csv's wall_seconds, kept through --resume) and the plot of loss against it
(``python -m numpyvae.visualize time``).

Runs use the tiny dataset (20 training images) and a small network, like tests/test_resume.py.
"""

import csv
import json
import math
import time

import numpy as np
import pytest
from PIL import Image

from conftest import SMALL_RUN
from numpyvae import pictures as vis
from numpyvae.formats.checkpoint import load_checkpoint, save_checkpoint
from numpyvae.training import main, report
from numpyvae.visualize import main as visualize_main


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, *flags])


def resume(root, checkpoint, *flags):
    return main(["--resume", str(checkpoint), "--data-dir", root, "--no-progress", "--no-download", *flags])


def rows(out):
    return list(csv.DictReader((out / "metrics.csv").read_text().splitlines()))


def clock(out):
    return [float(row["wall_seconds"]) for row in rows(out)]


def set_saved_clock(checkpoint, value, drop=()):
    """Rewrite the checkpoint's training clock; ``drop`` names config keys to remove instead, as a checkpoint
    written before they were kept lacks them."""
    saved = load_checkpoint(checkpoint)
    if drop:
        for key in drop:
            del saved.config[key]
    else:
        saved.config["wall_seconds"] = value
    save_checkpoint(checkpoint, saved)


# -- the column -------------------------------------------------------------------------------------------

def test_the_clock_is_logged_and_increases(tiny_root, tmp_path):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "8", "--log-every", "2") == 0
    assert (out / "metrics.csv").read_text().splitlines()[0].split(",")[-1] == "wall_seconds"
    seconds = clock(out)
    assert [row["step"] for row in rows(out)] == ["2", "4", "6", "8"]
    assert seconds[0] > 0 and np.all(np.diff(seconds) > 0)
    summary = json.loads((out / "summary.json").read_text())
    saved = load_checkpoint(out / "checkpoint.npz").config["wall_seconds"]
    # the checkpoint and summary.json hold the clock at the end of the loop: the last row's time, or a moment more
    assert summary["wall_seconds"] == saved and seconds[-1] <= saved < seconds[-1] + 1
    # the reports (a test pass, four grids, a CSV row each) are left out: the clock is only part of the training time
    assert saved < summary["train_seconds"]


def test_the_reports_are_not_training_time(tiny_root, tmp_path, monkeypatch):
    report_itself = report.Reporter.report

    def slow_report(self, *args):  # a report that takes half a second
        time.sleep(0.5)
        return report_itself(self, *args)

    monkeypatch.setattr(report.Reporter, "report", slow_report)
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "4", "--log-every", "1") == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["train_seconds"] > 2.0  # the four slow reports are part of the session's time
    assert clock(out)[-1] < 0.5  # and none of the training clock


# -- resuming ----------------------------------------------------------------------------------------------

def test_a_resumed_run_continues_the_clock(tiny_root, tmp_path):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "4", "--log-every", "2") == 0
    checkpoint = out / "checkpoint.npz"
    first = clock(out)
    # a clock far beyond what these steps take: the resumed rows must count on from it, not from 0
    set_saved_clock(checkpoint, 1000.0)
    started = time.perf_counter()
    assert resume(tiny_root, checkpoint, "--steps", "8", "--log-every", "2") == 0
    elapsed = time.perf_counter() - started
    seconds = clock(out)
    assert seconds[:2] == first and len(seconds) == 4
    assert 1000 < seconds[2] < seconds[3] < 1000 + elapsed
    assert 1000 < load_checkpoint(checkpoint).config["wall_seconds"] < 1000 + elapsed


@pytest.mark.parametrize("drop", [("wall_seconds",), ("wall_seconds", "state")], ids=["no clock", "no loop state"])
def test_a_checkpoint_without_the_clock_resumes_with_it_unknown(tiny_root, tmp_path, capsys, drop):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "4", "--log-every", "2") == 0
    checkpoint = out / "checkpoint.npz"
    set_saved_clock(checkpoint, None, drop=drop)
    capsys.readouterr()
    assert resume(tiny_root, checkpoint, "--steps", "6", "--log-every", "2") == 0
    err = capsys.readouterr().err
    assert "does not record how long the run has trained" in err and "wall_seconds is unknown" in err
    assert rows(out)[-1]["step"] == "6" and math.isnan(clock(out)[-1])  # not a clock restarted at 0
    assert json.loads((out / "summary.json").read_text())["wall_seconds"] is None
    assert load_checkpoint(checkpoint).config["wall_seconds"] is None  # and it stays unknown
    assert resume(tiny_root, checkpoint, "--steps", "8", "--log-every", "2") == 0
    assert math.isnan(clock(out)[-1])


@pytest.mark.parametrize("value", [-1.0, "12", True])
def test_a_damaged_clock_is_refused_in_one_line(tiny_root, tmp_path, capsys, value):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "2") == 0
    set_saved_clock(out / "checkpoint.npz", value)
    capsys.readouterr()
    assert resume(tiny_root, out / "checkpoint.npz", "--steps", "4") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "damaged training clock" in err and "wall_seconds" in err


# -- the plot ----------------------------------------------------------------------------------------------

def write_timed(path, rows_):
    """A metrics.csv with the clock: rows of (step, test -ELBO, wall seconds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("step,train_loss,test_loss,test_reconstruction,test_kl,active_units,wall_seconds\n"
                    + "".join(f"{s},{b + 5},{b},{b - 20},20,3,{w}\n" for s, b, w in rows_))
    return path


def exit_code(argv):
    """``python -m numpyvae.visualize ARGV``'s exit code (a flag error exits from the parser)."""
    try:
        return visualize_main(argv)
    except SystemExit as stop:
        return stop.code


def picture(path):
    with Image.open(path) as image:
        return image.convert("RGB")


def coloured(image, colour):
    return np.argwhere(np.all(np.asarray(image) == colour, axis=-1))


def test_the_time_plot_of_one_run_trained_here(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert train(tiny_root, out, "--steps", "6", "--log-every", "2") == 0
    capsys.readouterr()
    png = tmp_path / "pictures" / "time.png"  # its folder is made
    assert visualize_main(["time", str(out), "--out", str(png)]) == 0
    assert capsys.readouterr().out.strip() == str(png)
    image = picture(png)
    assert image.size == (800, 500) and len(coloured(image, vis.PALETTE[0])) > 20


def test_the_time_plot_of_two_runs_with_reference_points(tmp_path, capsys):
    fast = write_timed(tmp_path / "fast" / "metrics.csv", [(100, 150, 30), (200, 120, 60), (300, 110, 90)])
    slow = write_timed(tmp_path / "slow" / "metrics.csv", [(100, 140, 120), (200, 100, 240)])
    png = tmp_path / "both.png"
    assert visualize_main(["time", str(fast.parent), str(slow), "--out", str(png),
                           "--point", "Burda et al. 1-layer VAE, 3,280 epochs=86.76",
                           "--point", "a=b, 10 epochs=95"]) == 0
    image = picture(png)
    assert image.size == (800, 500)
    # the plot's frame: the values' span (86.76 to 150) and 5% of it either side, 0 to 4 minutes
    margin = 0.05 * (150 - 86.76)
    axes = vis.Axes((0, 4), (86.76 - margin, 150 + margin), title="", x_label="", y_label="", size=(800, 500))
    for colour, nats in ((vis.PALETTE[2], 86.76), (vis.PALETTE[3], 95)):  # the points: dashed levels at their value
        found = coloured(image, colour)
        on_level = found[np.abs(found[:, 0] - axes.pixel(0, nats)[1]) <= 1.5]
        assert len(on_level) > 300 and (np.diff(np.unique(on_level[:, 1])) > 1).any()  # across the plot, dashed
    below_legend = axes.top + 150
    for colour, minutes in ((vis.PALETTE[0], 1.5), (vis.PALETTE[1], 4)):  # each run ends at its own time
        found = coloured(image, colour)
        right = found[found[:, 0] > below_legend, 1].max()
        assert abs(right - axes.pixel(minutes, 0)[0]) <= 3  # the last point's dot, radius 2


def test_a_run_with_an_iwae_bound_gets_a_diamond_at_its_end_and_at_that_value(tmp_path, capsys):
    import json
    run = write_timed(tmp_path / "run" / "metrics.csv", [(100, 150, 30), (200, 120, 90)])
    png = tmp_path / "t.png"
    assert visualize_main(["time", str(run), "--out", str(png)]) == 0
    without = coloured(picture(png), (0, 0, 0))  # the frame, ticks and text alone
    (run.parent / "evaluation.json").write_text(json.dumps({"iwae": 100.0, "iwae_k": 5000, "negative_elbo": 120}))
    assert visualize_main(["time", str(run), "--out", str(png)]) == 0
    image = picture(png)
    margin = 0.05 * (150 - 100)  # the diamond's value widens the span: 100 to 150
    axes = vis.Axes((0, 1.5), (100 - margin, 150 + margin), title="", x_label="", y_label="", size=(800, 500))
    x, y = axes.pixel(1.5, 100)
    found = coloured(image, vis.PALETTE[0])
    near = found[(np.abs(found[:, 0] - y) <= 6) & (np.abs(found[:, 1] - x) <= 6)]
    assert len(near) > 30  # the filled diamond, in the run's colour, where the bound and the run's end meet
    assert len(coloured(image, (0, 0, 0))) > len(without)  # its black outline and the legend's longer label
    (run.parent / "evaluation.json").write_text("{not json")
    assert visualize_main(["time", str(run), "--out", str(png)]) == 1
    err = capsys.readouterr().err
    assert "evaluation.json" in err and err.count("\n") == 1, err


def test_the_legend_placed_clear_hides_no_curve_that_another_corner_leaves_alone():
    axes = vis.Axes((0, 10), (0, 10), title="", x_label="", y_label="", size=(800, 500))
    colour = vis.PALETTE[0]
    axes.line(np.linspace(0, 10, 11), np.linspace(0, 10, 11), colour)  # bottom left to top right: two corners free
    before = len(coloured(axes.image, colour))
    assert axes.legend([("a label long enough to hide part of a diagonal", vis.PALETTE[1])], place="clear") == 0
    assert len(coloured(axes.image, colour)) == before  # the whole curve still shows
    swatch = coloured(axes.image, vis.PALETTE[1])
    assert swatch[:, 0].mean() > (axes.top + axes.bottom) / 2  # the free corner found: bottom right (rows grow down)
    top_right = vis.Axes((0, 10), (0, 10), title="", x_label="", y_label="", size=(800, 500))
    top_right.line(np.linspace(0, 10, 11), np.linspace(0, 10, 11), colour)
    hidden = top_right.legend([("a label long enough to hide part of a diagonal", vis.PALETTE[1])])  # default corner
    assert len(coloured(top_right.image, colour)) < before and hidden > 0


def test_a_legend_below_the_plot_takes_room_from_the_plot_and_hides_nothing():
    labels = [f"run {i}, a label of some length" for i in range(5)]
    plain = vis.Axes((0, 10), (0, 10), title="", x_label="minutes", y_label="", size=(800, 500))
    axes = vis.Axes((0, 10), (0, 10), title="", x_label="minutes", y_label="", size=(800, 500), below=labels)
    columns, rows, height = axes.band
    assert columns * rows >= 5 and rows == -(-5 // columns) and axes.bottom < plain.bottom - height
    for x in (0, 10):  # a curve along each side of the plot: no corner is free
        axes.line(np.full(11, x), np.linspace(0, 10, 11), vis.PALETTE[0])
    before = len(coloured(axes.image, vis.PALETTE[0]))
    assert axes.legend([(label, vis.PALETTE[i + 1]) for i, label in enumerate(labels)], place="below") == 0
    assert len(coloured(axes.image, vis.PALETTE[0])) == before
    for i in range(5):  # every swatch under the frame's tick labels and x label
        assert coloured(axes.image, vis.PALETTE[i + 1])[:, 0].min() > axes.bottom + 2 * axes.text_size
    with pytest.raises(ValueError, match="room for"):
        axes.legend([(label, vis.PALETTE[0]) for label in labels * 3], place="below")
    squat = vis.Axes((0, 10), (0, 10), title="", x_label="", y_label="", size=(200, 200), below=labels)
    assert squat.band == (0, 0, 0) and squat.bottom == vis.Axes((0, 10), (0, 10), title="", x_label="", y_label="",
                                                                size=(200, 200)).bottom  # no room: none taken
    squat.line(np.linspace(0, 10, 11), np.linspace(0, 10, 11), vis.PALETTE[0])
    assert squat.legend([("run 0", vis.PALETTE[1])], place="below") == 0  # the clearest corner instead


def test_the_time_plot_moves_its_legend_under_the_plot_only_when_every_corner_hides_a_curve(tmp_path):
    falling = write_timed(tmp_path / "falling" / "metrics.csv", [(100, 150, 0), (200, 100, 600)])
    rising = write_timed(tmp_path / "rising" / "metrics.csv", [(100, 100, 0), (200, 150, 600)])
    png = tmp_path / "t.png"
    for runs, under in (({"falling": falling}, False), ({"falling": falling, "rising": rising}, True)):
        vis.plot_against_time(runs, png)  # one diagonal leaves two corners free; a cross leaves none
        image = picture(png)
        assert image.size == (800, 500)
        swatch_row = coloured(image, vis.PALETTE[0])[:, 0].max()  # the lowest pixel of the first run's colour
        plain = vis.Axes((0, 10), (100, 150), title="", x_label="", y_label="", size=(800, 500))
        assert (swatch_row > plain.bottom + 2 * plain.text_size) == under, (runs, swatch_row)
    crossed = {f"a long label of run {i}": (falling, rising)[i % 2] for i in range(8)}
    vis.plot_against_time(crossed, png, size=(200, 200))  # no room under so small a plot: a corner, not a crash
    assert picture(png).size == (200, 200)


@pytest.mark.parametrize("size, says", [(["100", "500"], "--size: must be in [200, 4000], got 100"),
                                        (["800", "1e9"], "--size: expected a whole number, got '1e9'"),
                                        (["800"], "expected 2 arguments")])
def test_a_picture_size_out_of_range_is_one_usage_line(size, says, tmp_path, capsys):
    run = write_timed(tmp_path / "run" / "metrics.csv", [(100, 150, 30), (200, 120, 90)])
    assert exit_code(["time", str(run), "--size", *size, "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert says in err[-1] and not (tmp_path / "t.png").exists()
    assert visualize_main(["time", str(run), "--size", "1200", "400", "--out", str(tmp_path / "t.png")]) == 0
    assert picture(tmp_path / "t.png").size == (1200, 400)


@pytest.mark.parametrize("size", [(199, 500), (800, 4001)])
def test_the_library_refuses_a_side_out_of_range_before_drawing(size, tmp_path):
    run = write_timed(tmp_path / "run" / "metrics.csv", [(100, 150, 30), (200, 120, 90)])
    with pytest.raises(ValueError, match="200 to 4000 pixels"):
        vis.plot_against_time({"run": run}, tmp_path / "t.png", size=size)
    assert not (tmp_path / "t.png").exists()
    vis.plot_against_time({"run": run}, tmp_path / "t.png", size=(200, 4000))  # both ends are allowed
    assert picture(tmp_path / "t.png").size == (200, 4000)


def test_a_metrics_csv_without_the_clock_is_refused_in_one_line(tmp_path, capsys):
    old = tmp_path / "old" / "metrics.csv"
    old.parent.mkdir()
    old.write_text("step,train_loss,test_loss,test_reconstruction,test_kl,active_units\n100,200,150,130,20,3\n")
    assert visualize_main(["time", str(old), "--out", str(tmp_path / "t.png")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "has no wall_seconds column" in err and "written before" in err
    assert not (tmp_path / "t.png").exists()


@pytest.mark.parametrize("point, says", [("86.76", "expected LABEL=NATS"), ("=86.76", "expected LABEL=NATS"),
                                         ("Burda=eighty", "must be a number of nats"),
                                         ("Burda=nan", "finite number of nats")])
def test_a_bad_point_is_refused_in_one_line(tmp_path, capsys, point, says):
    run = write_timed(tmp_path / "run" / "metrics.csv", [(100, 150, 30)])
    assert exit_code(["time", str(run), "--point", point, "--out", str(tmp_path / "t.png")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: argument --point:") and says in err
    assert not (tmp_path / "t.png").exists()


def test_a_run_with_an_unknown_clock_and_other_bad_runs_are_refused(tmp_path, capsys):
    unknown = write_timed(tmp_path / "unknown" / "metrics.csv", [(100, 150, "nan")])
    timed = write_timed(tmp_path / "timed" / "metrics.csv", [(100, 150, 30)])
    for argv, code, says in (([str(unknown)], 1, "does not know its training time"),
                             ([str(tmp_path / "none")], 2, "no file"),
                             ([str(tmp_path)], 2, "holds no metrics.csv"),
                             ([str(timed), "--label", "a", "--label", "b"], 2, "once per run"),
                             ([str(timed), "--column", "active_units"], 1, "not a loss in nats"),
                             ([str(timed), "--column", "test_iwae"], 1, "has no column test_iwae")):
        assert exit_code(["time", *argv, "--out", str(tmp_path / "t.png")]) == code, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and says in err, (argv, err)


def test_the_labels_name_the_runs_and_may_be_given(tmp_path, monkeypatch):
    drawn = {}
    monkeypatch.setattr("numpyvae.visualize.plot_against_time",
                        lambda runs, out, columns, points, size: drawn.update(runs=runs, columns=columns, size=size))
    a = write_timed(tmp_path / "a" / "run" / "metrics.csv", [(1, 150, 3)])
    b = write_timed(tmp_path / "b" / "run" / "metrics.csv", [(1, 150, 3)])
    c = write_timed(tmp_path / "c" / "metrics.csv", [(1, 150, 3)])
    assert visualize_main(["time", str(c), str(a.parent)]) == 0
    assert drawn["runs"] == {"c": c, "run": a} and drawn["columns"] == ("test_loss",) and drawn["size"] == (800, 500)
    assert visualize_main(["time", str(a), str(b)]) == 0  # two folders named run: their paths tell them apart
    assert list(drawn["runs"]) == [str(a.parent), str(b.parent)]
    assert visualize_main(["time", str(a), str(b), "--label", "Adam", "--label", "SGD", "--column", "test_loss",
                           "--column", "validation_loss"]) == 0
    assert drawn["runs"] == {"Adam": a, "SGD": b} and drawn["columns"] == ("test_loss", "validation_loss")


def test_a_checkpoint_is_still_the_first_word(tmp_path, capsys):
    assert visualize_main([str(tmp_path / "none.npz")]) == 1
    assert capsys.readouterr().err.startswith("error: checkpoint")
