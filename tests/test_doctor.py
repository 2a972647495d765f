"""python -m numpyvae.doctor: the settings it times (from the CPU's flags, merged where OpenBLAS runs the same
kernels), its verdict and export line, its time limit, its flags; and one real run with tiny numbers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from numpyvae import doctor, kernels
from numpyvae.kernels import OPENBLAS_ENV
from numpyvae.training import checkup
from numpyvae.training.checkup import NOW, OFF, Checkup, Setting

REPO = Path(__file__).resolve().parent.parent
AVX2 = frozenset("sse4_2 avx f16c fma bmi1 avx2 bmi2".split())
AVX512 = AVX2 | frozenset("avx512f avx512dq avx512cd avx512bw avx512vl".split())


def test_the_candidates_are_the_two_best_tiers_the_flags_allow():
    assert checkup.candidate_coretypes(AVX512 | {"avx512_bf16"}) == ["SkylakeX", "Cooperlake", "Haswell", "Zen"]
    assert checkup.candidate_coretypes(AVX512) == ["SkylakeX", "Haswell", "Zen"]
    assert checkup.candidate_coretypes(AVX2) == ["Haswell", "Zen", "Sandybridge"]
    assert checkup.candidate_coretypes(frozenset({"sse4_2", "avx"})) == ["Sandybridge"]
    assert checkup.candidate_coretypes(frozenset({"sse4_2"})) == [] == checkup.candidate_coretypes(None)


@pytest.mark.parametrize("cores, counts", [(1, [1]), (2, [1, 2]), (8, [1, 2, 8])])
def test_thread_counts_that_matter(cores, counts):
    assert checkup.thread_counts(cores) == counts


def test_a_settings_environment_asks_for_its_kernels_and_threads_and_now_changes_nothing():
    users = {OPENBLAS_ENV: "Haswell", kernels.ENV: "SkylakeX", "HOME": "/home/me"}
    assert checkup.setting_environment(NOW, None, users) == users
    assert checkup.setting_environment("Zen", 1, users) == {OPENBLAS_ENV: "Zen", "OPENBLAS_NUM_THREADS": "1",
                                                             "HOME": "/home/me"}
    assert checkup.setting_environment(OFF, 2, users) == {kernels.ENV: "off", "OPENBLAS_NUM_THREADS": "2",
                                                           "HOME": "/home/me"}


def test_core_types_that_run_the_same_kernels_are_timed_once(monkeypatch):
    running = {OFF: "SkylakeX", "SkylakeX": "SkylakeX", "Cooperlake": "SkylakeX", "Haswell": "Haswell",
               "Zen": "Haswell"}
    monkeypatch.setattr(checkup, "probe", lambda cores, environ: {core: running[core] for core in cores})
    settings, notes = checkup.plan(["SkylakeX", "Cooperlake", "Haswell", "Zen"], [1, 2], {},
                                   {"coretype": "SkylakeX", "threads": 2})
    assert [(s.coretype, s.runs, s.threads) for s in settings] == [
        (NOW, "SkylakeX", 2), ("SkylakeX", "SkylakeX", 1), ("SkylakeX", "SkylakeX", 2), ("Haswell", "Haswell", 1),
        ("Haswell", "Haswell", 2)]
    assert settings[1].aliases == ["Cooperlake", OFF] and settings[3].aliases == ["Zen"]
    assert notes == ["asked for Cooperlake, this OpenBLAS runs SkylakeX", "asked for Zen, this OpenBLAS runs Haswell"]


def fake_checkup(figures: dict[str, list[float]], now=("SkylakeX", 2)) -> Checkup:
    settings = [Setting(NOW, now[0], now[1]), Setting("SkylakeX", "SkylakeX", 1, [OFF]),
                Setting("SkylakeX", "SkylakeX", 2, [OFF]), Setting("Haswell", "Haswell", 1),
                Setting("Haswell", "Haswell", 2)]
    return Checkup(settings, figures, {"coretype": now[0], "threads": now[1]}, 128, 30, 10, 3, 12.0)


def test_when_now_is_fastest_nothing_is_to_change():
    lines = checkup.report_lines(fake_checkup({"now/2": [7.0, 7.1, 6.9], "SkylakeX/1": [8.0] * 3,
                                               "SkylakeX/2": [7.05] * 3, "Haswell/1": [9.0] * 3,
                                               "Haswell/2": [8.5] * 3}), {})
    assert lines[0] == "| kernels | asked for | BLAS threads | ms / step | ± | / now |"
    assert lines[2] == "| SkylakeX | nothing: your environment as it is | 2 (now) | 7.00 | 0.05 | 1.000 |"
    assert lines[3] == "| SkylakeX | SkylakeX, OpenBLAS's own choice | 1 | 8.00 | 0.00 | 1.143 |"
    assert lines[-1] == "fastest: SkylakeX kernels, 2 threads: what numpyvae runs now; nothing to change"


def test_a_clearly_faster_setting_gets_the_export_line_that_makes_it_the_default():
    figures = {"now/2": [9.0] * 3, "SkylakeX/1": [8.0] * 3, "SkylakeX/2": [9.0] * 3, "Haswell/1": [6.0] * 3,
               "Haswell/2": [7.0] * 3}
    assert checkup.verdict(fake_checkup(figures), {})[-1] == \
        "  export NUMPYVAE_BLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1"
    # the user's own OPENBLAS_CORETYPE would win over numpyvae's variable: the line changes that one
    assert checkup.verdict(fake_checkup(figures), {OPENBLAS_ENV: "SkylakeX"})[-1] == \
        "  export OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1"
    figures["SkylakeX/1"] = [5.0] * 3  # the same kernels as now, fewer threads: only the thread count changes
    (first, line) = checkup.verdict(fake_checkup(figures), {})
    assert first.startswith("fastest: SkylakeX kernels, 1 thread, 0.556 x now") and line == \
        "  export OPENBLAS_NUM_THREADS=1"


def test_openblass_own_choice_when_it_is_fastest_and_the_user_had_set_a_core_type():
    best = Setting(OFF, "Zen", 2)
    assert checkup.export_line(best, {"coretype": "Haswell", "threads": 2}, {OPENBLAS_ENV: "Haswell"}) == \
        "unset OPENBLAS_CORETYPE"
    assert checkup.export_line(best, {"coretype": "Haswell", "threads": 2}, {}) == "export NUMPYVAE_BLAS_CORETYPE=off"
    assert checkup.export_line(best, {"coretype": "Zen", "threads": 2}, {}) is None


def test_a_gain_within_the_noise_changes_nothing():
    figures = {"now/2": [7.0, 7.4, 6.6], "SkylakeX/1": [6.9] * 3, "SkylakeX/2": [7.2] * 3, "Haswell/1": [9.0] * 3,
               "Haswell/2": [8.5] * 3}
    (line,) = checkup.verdict(fake_checkup(figures), {})
    assert line == "fastest: SkylakeX kernels, 1 thread, 0.986 x now, within this run's noise of what numpyvae " \
                   "runs now; nothing worth changing"


def test_of_settings_as_fast_as_the_fastest_the_one_closest_to_now_is_advised():
    """Measured on this project's machine under load: Haswell 1 thread 15.57 ms, SkylakeX 1 thread 15.76 ms."""
    figures = {"now/2": [44.0] * 3, "SkylakeX/1": [15.76] * 3, "SkylakeX/2": [178.0] * 3, "Haswell/1": [15.57] * 3,
               "Haswell/2": [49.2] * 3}
    first, line = checkup.verdict(fake_checkup(figures), {})
    assert first.startswith("fastest: Haswell kernels, 1 thread, 0.354 x now; as fast within this run's noise and "
                            "closer to now: SkylakeX kernels, 1 thread, 0.358 x now.")
    assert line == "  export OPENBLAS_NUM_THREADS=1"


def test_the_run_is_bounded_in_time(monkeypatch):
    """With a limit of 1 s and processes that take 0.6 s, only the first round runs."""
    monkeypatch.setattr(checkup, "probe", lambda cores, environ: {core: core if core != OFF else "Haswell"
                                                                   for core in cores})
    monkeypatch.setattr(checkup, "describe", lambda: {"coretype": "Haswell", "threads": 1})
    calls = []

    def slow(command, env=None, cwd=None):
        calls.append(env.get(OPENBLAS_ENV))
        import time
        time.sleep(0.6)
        return {"step_ms": [5.0]}
    monkeypatch.setattr(checkup, "run_json", slow)
    result = checkup.run_checkup(rounds=5, coretypes=["Haswell"], threads=[1], seconds=1.0, progress=False)
    assert len(calls) == 2 and {key: len(values) for key, values in result.rounds.items()} == {"now/1": 1,
                                                                                               "Haswell/1": 1}


def test_the_worker_prints_its_kernels_and_step_times_as_json():
    result = subprocess.run([sys.executable, "-m", "numpyvae.training.checkup", "2", "1", "4"], capture_output=True,
                            text=True, check=True, cwd=REPO)
    report = json.loads(result.stdout.splitlines()[-1])
    assert len(report["step_ms"]) == 2 and set(report["kernels"]) >= {"coretype", "threads", "reason"}


def test_a_real_run_with_tiny_numbers_prints_the_table_and_a_verdict(capsys):
    assert doctor.main(["--rounds", "1", "--steps", "1", "--warmup", "0", "--batch", "4", "--threads", "1",
                        "--coretypes", "off", "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("CPU: ") and out[1].startswith("now: BLAS: ") and "load average" in out[2]
    rows = [line for line in out if line.startswith("| ") and not line.startswith("| kernels")]
    assert len(rows) == 2 and "nothing: your environment as it is" in rows[0] and "OpenBLAS's own choice" in rows[1]
    assert all(float(row.split("|")[4]) > 0 for row in rows)
    assert any(line.startswith("fastest: ") for line in out) and out[-1].startswith("load average")


def test_help_documents_every_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        doctor.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for action in doctor.build_parser()._actions:
        for option in action.option_strings:
            assert option in text
        assert action.help


@pytest.mark.parametrize("flags, says", [
    (["--rounds", "0"], "--rounds"), (["--steps", "0"], "--steps"), (["--warmup", "-1"], "--warmup"),
    (["--seconds", "0"], "--seconds"), (["--threads", "0"], "--threads"), (["--coretypes", "Skylake"], "Skylake"),
    (["--coretypes", "SkylakeX"], "avx512"), (["--rounds", "x"], "--rounds"), (["--cores", "1"], "--cores")])
def test_bad_flags_are_one_line_and_exit_2(flags, says, monkeypatch, capsys):
    # a CPU with AVX2 and no AVX-512: SkylakeX would crash it
    monkeypatch.setattr(doctor, "read_cpuinfo", lambda: "flags\t: " + " ".join(sorted(AVX2)) + "\n")
    try:
        code = doctor.main(flags)
    except SystemExit as exit_info:
        code = exit_info.code
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err
