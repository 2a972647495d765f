"""The step benchmark: its floor counts the products the model really does, its fair mode runs every contender in
a process of its own with the order alternating, and its table's ratios come from the medians it prints."""

import json
import subprocess
import sys

import numpy as np
import pytest

from benchmarks import step as benchmark
from numpyvae.models.vae import VAE


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


@pytest.mark.parametrize("torch_installed", [True, False])
def test_in_process_table_prints_every_contender_and_ratio(torch_installed, monkeypatch, capsys):
    if torch_installed:
        pytest.importorskip("torch")
    else:
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert benchmark.main(["--in-process", "--batch", "8", "--dtype", "float32", "--rounds", "1", "--block", "1"]) == 0
    out = capsys.readouterr().out
    header, rows = table(out)
    assert header[-4:] == ["nv/bound", "nv/floor", "nv/torch", "bound/floor"]
    (cells,) = rows
    assert cells[0].split() == ["8", "float32"]
    timings, ratios = cells[1:5], cells[5:]
    for cell in timings[:3] + [ratios[0], ratios[1], ratios[3]]:  # numpyvae, floor, bound: always measured
        assert float(cell.split("±")[0]) > 0
    if torch_installed:
        assert float(timings[3].split("±")[0]) > 0 and float(ratios[2]) > 0
    else:
        assert timings[3] == ratios[2] == "-"
        assert "torch not installed" in out


@pytest.mark.parametrize("clock, factor", [("wall", 1.0), ("cpu", 2.0)])
def test_fair_mode_alternates_processes_and_its_ratios_are_those_of_the_medians_shown(clock, factor, monkeypatch,
                                                                                      capsys, tmp_path):
    """Workers faked with known step times: each round's median, then the median over rounds, then ratios."""
    calls = []
    base_ms = {"numpyvae": 3.0, "numpyvae@base": 4.0, "floor": 2.0, "bound": 2.5, "pytorch": 5.0}

    def fake_worker(name, batch_size, dtype, steps, warmup, root=benchmark.REPO):
        calls.append((name, root))
        scale = 1 + 0.1 * sum(1 for called, _ in calls if called == name)  # rounds 1, 2, 3: x1.1, x1.2, x1.3
        wall = [base_ms[name] * scale, 99.0, 0.0][:steps]
        return {"contender": name, "available": True, "step_ms": wall, "cpu_ms": [2 * ms for ms in wall]}

    monkeypatch.setattr(benchmark, "run_worker", fake_worker)
    (tmp_path / "numpyvae").mkdir()
    (tmp_path / "numpyvae" / "vae.py").write_text("")
    assert benchmark.main(["--batch", "8", "--dtype", "float32", "--rounds", "3", "--steps", "1",
                           "--base", str(tmp_path), "--clock", clock]) == 0
    names = ["numpyvae", "numpyvae@base", "floor", "bound", "pytorch"]
    assert [name for name, _ in calls] == names + names[::-1] + names  # the order alternates round by round
    assert {root for name, root in calls if name == "numpyvae@base"} == {tmp_path}
    header, (cells,) = table(capsys.readouterr().out)
    shown = {name: float(cell.split("±")[0]) for name, cell in zip(header[1:6], cells[1:6], strict=True)}
    assert shown == {f"{name} ms": pytest.approx(ms * 1.2 * factor) for name, ms in base_ms.items()}  # the middle round
    ratios = dict(zip(header[6:], map(float, cells[6:]), strict=True))
    assert ratios["nv/bound"] == pytest.approx(shown["numpyvae ms"] / shown["bound ms"], abs=5e-4)
    assert ratios["nv/torch"] == pytest.approx(shown["numpyvae ms"] / shown["pytorch ms"], abs=5e-4)
    assert ratios["nv/nv@base"] == pytest.approx(0.75, abs=5e-4)


def test_worker_prints_strict_json_of_its_steps_timing_the_numpyvae_it_was_pointed_at(tmp_path):
    """A real worker process, importing numpyvae from another root (here a link to this checkout's package)."""
    (tmp_path / "numpyvae").symlink_to(benchmark.REPO / "numpyvae")
    report = benchmark.run_worker("numpyvae@base", 8, "float32", steps=3, warmup=1, root=tmp_path)
    assert report["contender"] == "numpyvae" and report["available"] and report["batch"] == 8
    assert len(report["step_ms"]) == len(report["cpu_ms"]) == 3 and all(ms > 0 for ms in report["step_ms"])
    assert report["numpyvae"] == str(tmp_path / "numpyvae")


def test_worker_command_line_prints_one_json_line():
    result = subprocess.run([sys.executable, "-m", "benchmarks.step", "--worker", "floor", "--batch", "4",
                             "--dtype", "float64", "--steps", "2", "--warmup", "0"],
                            capture_output=True, text=True, check=True, cwd=benchmark.REPO)
    (line,) = result.stdout.splitlines()
    report = json.loads(line)
    assert report["contender"] == "floor" and report["dtype"] == "float64" and len(report["step_ms"]) == 2
    assert np.isfinite(report["step_ms"]).all()


def test_machine_note_names_cpu_cores_and_blas():
    note = benchmark.threads_note()
    assert note.startswith("CPU: ") and " cores; BLAS: " in note and f"numpy {np.__version__}" in note


@pytest.mark.parametrize("flags", [["--batch", "0"], ["--rounds", "-1"], ["--dtype", "float16"], ["--steps", "0"],
                                   ["--worker", "numpyvae", "--batch", "8", "16"], ["--worker", "tensorflow"],
                                   ["--base", "/nonexistent/checkout"], ["--in-process", "--base", "."],
                                   ["--in-process", "--clock", "cpu"], ["--clock", "gpu"],
                                   ["--only", "numpyvae@base"], ["--only", "tensorflow"]])
def test_bad_flags_exit_2_with_one_line(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
