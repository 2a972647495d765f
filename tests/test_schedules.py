"""Learning-rate schedules: every schedule's values, the warm-up, bad settings, and the loop really using them."""

import math

import pytest

from conftest import SMALL_RUN
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.nn.schedules import Schedule
from numpyvae.training import main


def test_constant_is_the_rate_itself_at_every_step():
    schedule = Schedule("constant", lr=0.003)
    assert all(schedule(t) == 0.003 for t in (0, 1, 999, 10**6))


def test_step_drops_by_gamma_every_interval():
    schedule = Schedule("step", lr=1.0, gamma=0.5, every=10)
    assert [schedule(t) for t in (0, 9, 10, 19, 20, 35)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.125]


def test_exponential_is_the_smooth_version_of_the_step_decay():
    schedule = Schedule("exponential", lr=2.0, gamma=0.1, every=100)
    assert schedule(0) == 2.0
    assert schedule(100) == pytest.approx(0.2, rel=1e-12)
    assert schedule(50) == pytest.approx(2.0 * math.sqrt(0.1), rel=1e-12)
    assert schedule(250) == pytest.approx(2.0 * 0.1 ** 2.5, rel=1e-12)


def test_cosine_falls_from_lr_to_its_floor_and_stays_there():
    schedule = Schedule("cosine", lr=1e-3, horizon=1000, lr_min=1e-5)
    assert schedule(0) == pytest.approx(1e-3, rel=1e-15)
    assert schedule(500) == pytest.approx((1e-3 + 1e-5) / 2, rel=1e-12)
    assert schedule(250) == pytest.approx(1e-5 + (1e-3 - 1e-5) * (1 + math.cos(math.pi / 4)) / 2, rel=1e-12)
    assert schedule(1000) == pytest.approx(1e-5, rel=1e-12) and schedule(5000) == schedule(1000)
    values = [schedule(t) for t in range(0, 1001, 50)]
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True))


@pytest.mark.parametrize("kind", ["constant", "step", "exponential", "cosine"])
def test_warmup_ramps_linearly_in_front_of_any_schedule(kind):
    plain = Schedule(kind, lr=0.01, gamma=0.5, every=3, horizon=40)
    warm = Schedule(kind, lr=0.01, gamma=0.5, every=3, horizon=40, warmup=8)
    for t in range(8):
        assert warm(t) == pytest.approx(plain(t) * (t + 1) / 8, rel=1e-15)
    assert all(warm(t) == plain(t) for t in range(8, 60))
    assert warm(0) > 0


@pytest.mark.parametrize("settings", [dict(kind="linear"), dict(lr=0), dict(warmup=-1), dict(gamma=0),
                                      dict(gamma=1.5), dict(every=0), dict(horizon=0), dict(lr_min=1.0)])
def test_bad_settings_are_refused(settings):
    with pytest.raises(ValueError):
        Schedule(**{"lr": 0.1, **settings})


def test_state_round_trip():
    schedule = Schedule("cosine", lr=0.1, warmup=3, horizon=77, lr_min=0.01)
    assert Schedule.from_state_dict(schedule.state_dict()) == schedule


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def test_the_loop_steps_with_the_scheduled_rate(tiny_root, tmp_path):
    """SGD with a clipped gradient moves the weights by exactly lr_t * NORM: 0.5 at step 0, 0.25 at step 1."""
    import numpy as np
    flags = ["--lr", "0.5", "--clip-grad", "0.01", "--keep-prob", "1", "--lr-schedule", "step", "--lr-gamma", "0.5",
             "--lr-every", "1"]
    for name, steps in (("one", "1"), ("two", "2")):
        assert main(["--data-dir", tiny_root, "--out", str(tmp_path / name), *SMALL_RUN, "--steps", steps, *flags]) == 0
    one, two = (load_checkpoint(tmp_path / name / "checkpoint.npz") for name in ("one", "two"))
    moved = math.sqrt(sum(np.sum((one.params[k].astype(np.float64) - two.params[k]) ** 2) for k in one.params))
    assert moved == pytest.approx(0.25 * 0.01, rel=1e-3)
    assert two.config["state"]["schedule"]["kind"] == "step"


@pytest.mark.parametrize("flags, says", [(["--lr-gamma", "0.5"], "--lr-gamma"),
                                         (["--lr-schedule", "step", "--lr-min", "0.1"], "--lr-min"),
                                         (["--lr-schedule", "cosine", "--lr-horizon", "0"], "--lr-horizon"),
                                         (["--lr-warmup", "-2"], "--lr-warmup")])
def test_bad_or_idle_schedule_flags_exit_2(tiny_root, tmp_path, capsys, flags, says):
    assert main(["--data-dir", tiny_root, "--out", str(tmp_path / "run"), *SMALL_RUN, "--steps", "2", *flags]) == 2
    err = capsys.readouterr().err.strip()
    assert says in err and len(err.splitlines()) == 1
