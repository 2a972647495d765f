"""The IWAE step benchmark: its contenders are the steps they claim to be, and its table prints from one run."""

import pytest

from benchmarks import iwae_step


def test_contenders_run_the_steps_they_name():
    plain, decoder, iwae = (iwae_step.make_step(name, 4) for name in ("plain", "decoder", "iwae-3"))
    for step in (plain, decoder, iwae):
        step()
    assert plain.model.objective == "elbo" and plain.model.eps.shape == (4, 20)
    assert iwae.model.objective == "iwae" and iwae.model.k == 3 and iwae.model.eps.shape == (3, 4, 20)
    assert iwae.model.bound.normalized_weights.shape == (3, 4)  # the bound over K = 3 samples of 4 images
    assert not hasattr(decoder.model, "eps")  # the decoder share runs no loss: it never draws eps


def test_table_prints_every_k(capsys):
    assert iwae_step.main(["--k", "1", "2", "--batch", "4", "--rounds", "1", "--steps", "1"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("batch 4, float32; plain ELBO step")
    rows = [line for line in out if line.startswith("| 1 |") or line.startswith("| 2 |")]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert float(cells[1].split("±")[0]) > 0 and float(cells[4]) > 0 and float(cells[5]) > 0
    assert "BLAS" in out[-1]


def test_table_shows_the_median_and_half_the_iqr_of_the_round_medians():
    """The harness of benchmarks.step (numpyvae.kernels.timing): medians over rounds, not over pooled steps."""
    times = {"plain": [10.0, 12.0, 11.0, 13.0, 14.0], "decoder": [4.0, 4.0, 4.0], "iwae-2": [16.0, 15.0, 17.0]}
    lines = iwae_step.table(times, [2], 128).splitlines()
    assert lines[0].startswith("batch 128, float32; plain ELBO step 12.0 ± 1.0 ms, its decoder share 4.0 ± 0.0 ms")
    assert lines[-1] == "| 2 | 16.0 ± 0.5 | 8.0 | 16.0 | 1.33 | 1.00 |"


@pytest.mark.parametrize("flags", [["--k", "0"], ["--batch", "0"], ["--steps", "0"]])
def test_bad_flags_exit_2_with_one_line(flags, capsys):
    with pytest.raises(SystemExit) as exit_info:
        iwae_step.main(flags)
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
