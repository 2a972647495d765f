"""The step benchmark: its floor counts the products the model really does, and its table prints from one run."""

import sys

import pytest

from benchmarks import step as benchmark
from numpyvae.vae import VAE


def test_floor_has_the_flops_of_every_dense_layer_in_the_model():
    """Counted from the model's own layers: forward and weight gradient each, the input gradient where used."""
    batch_size = 128
    model_flops = sum(2 * batch_size * dense.in_features * dense.out_features * (3 if dense.input_grad else 2)
                      for dense in VAE().dense_layers.values())
    floor_flops = sum(2 * left[0] * left[1] * right[1] for left, right in benchmark.product_shapes(batch_size))
    assert floor_flops == model_flops
    assert floor_flops == pytest.approx(0.91e9, rel=0.01)  # the figure quoted in docs/performance.md
    assert all(left[1] == right[0] for left, right in benchmark.product_shapes(batch_size))


def table_row(output: str) -> list[str]:
    lines = output.strip().splitlines()
    assert [cell.strip() for cell in lines[1].split("|")][-3:] == ["nv/floor", "bound/floor", "nv/torch"]
    return [cell.strip() for cell in lines[-1].split("|")]


@pytest.mark.parametrize("torch_installed", [True, False])
def test_table_prints_every_contender_and_ratio(torch_installed, monkeypatch, capsys):
    if torch_installed:
        pytest.importorskip("torch")
    else:
        monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    assert benchmark.main(["--batch", "8", "--dtype", "float32", "--rounds", "1", "--block", "1"]) == 0
    out = capsys.readouterr().out
    cells = table_row(out)
    assert cells[0].split() == ["8", "float32"]
    timings, ratios = cells[1:5], cells[5:]
    for cell in timings[:3] + ratios[:2]:  # numpyvae, floor, bound and their ratios are always measured
        assert float(cell.split("±")[0]) > 0
    if torch_installed:
        assert float(timings[3].split("±")[0]) > 0 and float(ratios[2]) > 0
    else:
        assert timings[3] == ratios[2] == "-"
        assert "torch not installed" in out


@pytest.mark.parametrize("flags", [["--batch", "0"], ["--rounds", "-1"], ["--dtype", "float16"]])
def test_bad_flags_exit_2_with_one_line(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        benchmark.main(flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ")
