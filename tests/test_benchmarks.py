"""The step benchmark and the harness it shares with the doctor: its floor counts the products the model really
does, every contender runs in a process of its own with the order alternating, its JAX and PyTorch peers run
the seed's model, and its table's ratios come from the medians it prints."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import code_lines
from benchmarks import step as benchmark
from numpyvae.kernels import OPENBLAS_ENV, timing
from numpyvae.models.vae import VAE
from numpyvae.training.checkup import sample_images


def test_floor_has_the_flops_of_every_dense_layer_in_the_model():
    """Counted from the model's own layers: forward and weight gradient each, the input gradient where used."""
    batch_size = 128
    model_flops = sum(2 * batch_size * dense.in_features * dense.out_features * (3 if dense.input_grad else 2)
                      for dense in VAE().dense_layers.values())
    floor_flops = sum(2 * left[0] * left[1] * right[1] for left, right in benchmark.product_shapes(batch_size))
    assert floor_flops == model_flops
    assert floor_flops == pytest.approx(0.91e9, rel=0.01)  # the figure quoted in docs/performance.md
    assert all(left[1] == right[0] for left, right in benchmark.product_shapes(batch_size))


def table(output: str) -> tuple[list[str], list[list[str]]]:
    """The header's labels and the rows' cells of the printed table."""
    lines = output.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("batch"))
    header = [cell.strip() for cell in lines[start].split("|")]
    rows = [[cell.strip() for cell in line.split("|")] for line in lines[start + 2:] if line[:5].strip().isdigit()]
    return header, rows


BASE_MS = {"numpyvae": 3.0, "numpyvae@base": 4.0, "numpyvae[Haswell]": 3.6, "floor": 2.0, "bound": 2.5,
           "pytorch": 5.0, "jax": 2.4}


def fake_workers(monkeypatch, calls):
    """Workers with known step times: round r (from 1) of a contender takes BASE_MS x (1 + 0.1 r), then two
    outliers that the round's median ignores."""
    def fake_worker(name, batch_size, dtype, steps, warmup, root=None, env=None):
        calls.append((name, root, env))
        scale = 1 + 0.1 * sum(1 for called, _, _ in calls if called == name)
        wall = [BASE_MS[name] * scale, 99.0, 0.0][:steps]
        return {"contender": name, "available": True, "step_ms": wall, "cpu_ms": [2 * ms for ms in wall],
                "kernels": {"coretype": "SkylakeX", "threads": 2}, "library": ""}
    monkeypatch.setattr(benchmark, "run_worker", fake_worker)
    monkeypatch.setattr(benchmark, "importable", lambda module: True)


@pytest.mark.parametrize("clock, factor", [("wall", 1.0), ("cpu", 2.0)])
def test_fair_mode_alternates_processes_and_its_ratios_are_those_of_the_medians_shown(clock, factor, monkeypatch,
                                                                                      capsys, tmp_path):
    """Each round's median, then the median over rounds, then ratios of the medians as printed."""
    calls = []
    fake_workers(monkeypatch, calls)
    (tmp_path / "numpyvae").mkdir()
    (tmp_path / "numpyvae" / "__init__.py").write_text("")
    assert benchmark.main(["--batch", "8", "--dtype", "float32", "--rounds", "3", "--steps", "1",
                           "--base", str(tmp_path), "--kernels", "haswell", "--clock", clock]) == 0
    names = ["numpyvae", "numpyvae@base", "numpyvae[Haswell]", "floor", "bound", "pytorch", "jax"]
    assert [name for name, _, _ in calls] == names + names[::-1] + names  # the order alternates round by round
    assert {root for name, root, _ in calls if name == "numpyvae@base"} == {tmp_path}
    assert {env.get(OPENBLAS_ENV) for name, _, env in calls if name == "numpyvae[Haswell]"} == {"Haswell"}
    header, (cells,) = table(capsys.readouterr().out)
    shown = {name: float(cell.split("±")[0]) for name, cell in zip(header[1:8], cells[1:8], strict=True)}
    assert shown == {f"{name} ms": pytest.approx(ms * 1.2 * factor) for name, ms in BASE_MS.items()}  # round 2
    ratios = dict(zip(header[8:], map(float, cells[8:]), strict=True))
    assert ratios["nv/bound"] == pytest.approx(shown["numpyvae ms"] / shown["bound ms"], abs=5e-4)
    assert ratios["nv/torch"] == pytest.approx(shown["numpyvae ms"] / shown["pytorch ms"], abs=5e-4)
    assert ratios["nv/jax"] == pytest.approx(shown["numpyvae ms"] / shown["jax ms"], abs=5e-4)
    assert ratios["nv/nv@base"] == pytest.approx(0.75, abs=5e-4)
    assert ratios["nv/nv[Haswell]"] == pytest.approx(3.0 / 3.6, abs=5e-4)


@pytest.mark.parametrize("missing", ["jax", "torch"])
def test_a_peer_that_is_not_installed_has_no_column_and_says_how_to_get_one(missing, monkeypatch, capsys):
    calls = []
    fake_workers(monkeypatch, calls)
    monkeypatch.setattr(benchmark, "importable", lambda module: module != missing)
    assert benchmark.main(["--batch", "8", "--dtype", "float32", "--rounds", "1", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    header, _ = table(out)
    column = {"jax": "jax ms", "torch": "pytorch ms"}[missing]
    assert column not in header and {"jax ms", "pytorch ms"} - {column} <= set(header)
    extra = {"jax": "bench", "torch": "oracle"}[missing]
    assert f"pip install -e '.[{extra}]'" in out


def test_worker_prints_strict_json_of_its_steps_timing_the_numpyvae_it_was_pointed_at(tmp_path):
    """A real worker process, importing numpyvae from another root (here a link to this checkout's package)."""
    (tmp_path / "numpyvae").symlink_to(benchmark.REPO / "numpyvae")
    report = benchmark.run_worker("numpyvae@base", 8, "float32", steps=3, warmup=1, root=tmp_path)
    assert report["contender"] == "numpyvae" and report["available"] and report["batch"] == 8
    assert len(report["step_ms"]) == len(report["cpu_ms"]) == 3 and all(ms > 0 for ms in report["step_ms"])
    assert report["numpyvae"] == str(tmp_path / "numpyvae")
    assert set(report["kernels"]) >= {"coretype", "threads", "blas"}


def test_worker_of_a_forced_core_type_runs_it():
    report = benchmark.run_worker("numpyvae[Haswell]", 4, "float32", steps=1, warmup=0,
                                  env=benchmark.contender_environment("numpyvae[Haswell]"))
    if report["kernels"]["coretype"] is None:
        pytest.skip("this NumPy's BLAS does not name its kernels")
    assert report["kernels"]["coretype"] == "Haswell"


def test_worker_command_line_prints_one_json_line():
    result = subprocess.run([sys.executable, "-m", "benchmarks.step", "--worker", "floor", "--batch", "4",
                             "--dtype", "float64", "--steps", "2", "--warmup", "0"],
                            capture_output=True, text=True, check=True, cwd=benchmark.REPO)
    (line,) = result.stdout.splitlines()
    report = json.loads(line)
    assert report["contender"] == "floor" and report["dtype"] == "float64" and len(report["step_ms"]) == 2
    assert np.isfinite(report["step_ms"]).all()


def test_machine_note_names_cpu_cores_and_the_kernels_openblas_runs():
    note = benchmark.machine_note()
    assert note.startswith("CPU: ") and " cores; BLAS: " in note and f"numpy {np.__version__}" in note


# -- the peers run the seed's model --------------------------------------------------------------------------------

def test_the_jax_loss_and_its_gradient_are_numpyvaes_in_float64():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    model = VAE(dtype=np.float64)
    x = sample_images(16, np.float64)
    eps = np.random.default_rng(1).standard_normal((16, 20))
    loss = model.elbo(x, training=False, eps=eps)
    model.backward()
    params = {name: jax.numpy.asarray(array) for name, array in model.params.items()}
    jax_loss, jax_grads = jax.value_and_grad(benchmark.jax_loss)(params, jax.numpy.asarray(x), jax.numpy.asarray(eps))
    assert float(jax_loss) == pytest.approx(loss, rel=1e-12)
    for name, grad in model.grads.items():
        np.testing.assert_allclose(np.asarray(jax_grads[name]), grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max())


def test_the_jax_step_updates_every_parameter_in_float32():
    pytest.importorskip("jax")
    step = benchmark.jax_step(64, "float32")
    step()
    model = VAE()  # the same initial weights
    first_loss = float(step.state["loss"])
    assert first_loss == pytest.approx(model.elbo(sample_images(64, np.float32)), rel=0.1)  # the seed's loss
    for name, initial in model.params.items():
        updated = np.asarray(step.state["params"][name])
        assert updated.dtype == np.float32 and updated.shape == initial.shape
        assert not np.array_equal(updated, initial)  # every weight and bias moved by lr x its gradient


def test_the_jax_worker_reports_unavailable_without_jax(monkeypatch):
    monkeypatch.setitem(sys.modules, "jax", None)  # import jax now raises ImportError
    assert benchmark.worker("jax", 4, "float32", 1, 0) == {"contender": "jax", "available": False}


# -- the harness -----------------------------------------------------------------------------------------------------

def test_rounds_alternate_and_give_each_setting_its_round_figures():
    seen = []
    figures = timing.measure_rounds(["a", "b", "c"], 4, lambda name: seen.append(name) or float(len(seen)),
                                    progress=False)
    assert seen == list("abccbaabccba")
    assert figures == {"a": [1.0, 6.0, 7.0, 12.0], "b": [2.0, 5.0, 8.0, 11.0], "c": [3.0, 4.0, 9.0, 10.0]}


def test_a_setting_that_cannot_run_gets_no_entry():
    assert timing.measure_rounds(["a", "b"], 2, lambda name: None if name == "b" else 1.0, progress=False) == {
        "a": [1.0, 1.0]}


def test_the_time_limit_stops_rounds_that_would_end_past_it(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(timing.time, "monotonic", lambda: clock["now"])

    def measure(name):  # every process takes 10 s of the fake clock
        clock["now"] += 10
        return 1.0
    figures = timing.measure_rounds(["a", "b"], 10, measure, seconds=65, progress=False)
    assert figures == {"a": [1.0] * 3, "b": [1.0] * 3}  # rounds of 20 s: the fourth would end at 80 s
    assert timing.measure_rounds(["a"], 5, measure, seconds=1, progress=False) == {"a": [1.0]}  # always one round


@pytest.mark.parametrize("values", [[3.0], [1.0, 2.0], [5.0, 1.0, 4.0, 2.0, 3.0], list(np.linspace(0, 1, 8) ** 2)])
def test_median_and_spread_are_numpys_median_and_half_its_interquartile_range(values):
    q25, q50, q75 = np.percentile(values, [25, 50, 75])
    assert timing.median_and_spread(values) == pytest.approx((q50, (q75 - q25) / 2))


def test_time_steps_warms_up_then_times_each_step():
    calls = []
    times = timing.time_steps(lambda: calls.append(1), steps=4, warmup=2)
    assert len(calls) == 6 and len(times["step_ms"]) == len(times["cpu_ms"]) == 4
    assert all(ms >= 0 for ms in times["step_ms"])


def test_a_failing_timing_process_is_one_line_naming_its_error():
    with pytest.raises(timing.WorkerError) as error:
        timing.run_json([sys.executable, "-c", "import sys; print('nope', file=sys.stderr); sys.exit(3)"])
    assert "exit 3" in str(error.value) and "nope" in str(error.value) and "\n" not in str(error.value)
    with pytest.raises(timing.WorkerError, match="no JSON"):
        timing.run_json([sys.executable, "-c", "print('not json')"])


@pytest.mark.parametrize("flags", [["--batch", "0"], ["--rounds", "-1"], ["--dtype", "float16"], ["--steps", "0"],
                                   ["--worker", "numpyvae", "--batch", "8", "16"], ["--worker", "tensorflow"],
                                   ["--base", "/nonexistent/checkout"], ["--in-process"], ["--clock", "gpu"],
                                   ["--kernels", "Skylake"], ["--only", "numpyvae@base"], ["--only", "tensorflow"]])
def test_bad_flags_exit_2_with_one_line(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")


def test_code_lines_leaves_out_blanks_comments_and_docstrings_and_counts_strings_in_code():
    source = '''"""A module docstring
over two lines."""

import os  # a comment after code counts


def f(x):
    """f's docstring."""
    # a comment line
    message = ("a help text "
               "over two lines")
    return x


class C:
    """C's docstring."""
    y = 1
'''
    assert sorted(code_lines.code_lines(source)) == [4, 7, 10, 11, 12, 15, 17]
    assert sorted(code_lines.code_lines(source) & code_lines.spans(source, ["f"])) == [7, 10, 11, 12]
    assert sorted(code_lines.code_lines(source) & code_lines.spans(source, ["C"])) == [15, 17]


def test_a_wing_selection_counts_named_definitions_or_all_but_them(tmp_path, monkeypatch):
    (tmp_path / "m.py").write_text('''X = 1


class C:
    def a(self):
        return 1

    def b(self):
        return 2


def g():
    return 3
''')
    monkeypatch.setattr(code_lines, "REPO", tmp_path)
    assert code_lines.count("m.py", None) == 8
    assert code_lines.count("m.py:C.a,g", None) == 4
    assert code_lines.count("m.py:-C.b,g", None) == 4  # X, class C, def a, return 1
    assert code_lines.count("m.py:-C.b,absent", None) == 6  # a name the commit lacks leaves nothing out
    with pytest.raises(ValueError, match="absent"):
        code_lines.count("m.py:C.a,absent", None)


@pytest.mark.parametrize("flags, says", [
    (["--rev", "no-such-commit"], "--rev no-such-commit: fatal: "),
    (["--wing", "--rev", code_lines.BEFORE],
     f"(--wing counts the redesign's layout at --rev: {code_lines.FIRST_AFTER} or later)"),
])
def test_code_lines_at_a_commit_not_there_or_of_the_old_layout_is_one_line_exit_2(flags, says, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code_lines.main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and says in err
