"""--iwae-after: the ELBO for the first steps of a run, the IWAE bound with --k samples for the rest (Burda et
al. train IWAE from a trained VAE): the switch happens at the step it names, its checks name the flags, and a
run resumed on either side of the switch matches one uninterrupted run to the bit."""

import numpy as np
import pytest
from test_hierarchical_config import TWO_LAYERS
from test_resume import assert_same_state

from conftest import SMALL_RUN
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.models.hierarchical import HierarchicalVAE
from numpyvae.models.vae import VAE
from numpyvae.training import main

VAMPPRIOR = [*TWO_LAYERS, "--prior", "vampprior", "--pseudo-inputs", "5", "--kl", "sampled"]


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def train(root, out, *flags):
    return main(["--data-dir", root, "--out", str(out), *SMALL_RUN, *flags])


@pytest.mark.parametrize("flags, says", [
    (["--k", "4"], "--k sets the samples of --objective iwae or --iwae-after"),
    (["--iwae-after", "3", "--objective", "iwae", "--k", "2"], "--iwae-after switches from the ELBO"),
    (["--iwae-after", "3", "--model", "ae"], "--iwae-after needs --model vae"),
    (["--iwae-after", "3", "--kl-weight", "0.5"], "it needs --kl-weight 1"),
    (["--iwae-after", "3", "--kl-warmup", "5"], "--kl-warmup must end by --iwae-after"),
    (["--iwae-after", "-1"], "--iwae-after must be at least 0"),
])
def test_settings_that_do_not_fit_the_switch_are_one_line_usage_errors(flags, says, tmp_path, capsys):
    code = main(["--out", str(tmp_path / "run"), "--no-download", "--data-dir", str(tmp_path), *flags])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1, err


def test_a_switch_at_or_after_the_last_step_is_said_and_the_run_trains_the_elbo(tiny_root, tmp_path, capsys):
    assert train(tiny_root, tmp_path / "run", "--steps", "3", "--iwae-after", "3", "--k", "3", "--seed", "4") == 0
    err = capsys.readouterr().err
    assert "note: --iwae-after 3 is not before this run's last step (3): it trains the ELBO only" in err, err
    assert train(tiny_root, tmp_path / "plain", "--steps", "3", "--seed", "4") == 0  # the switch and K change
    assert_same_state(tmp_path / "plain" / "checkpoint.npz", tmp_path / "run" / "checkpoint.npz")  # nothing yet


@pytest.mark.parametrize("model, flags", [(VAE, SMALL_RUN), (HierarchicalVAE, TWO_LAYERS),
                                          (HierarchicalVAE, VAMPPRIOR)])
def test_the_objective_switches_after_the_named_step_with_k_samples(model, flags, tiny_root, tmp_path, monkeypatch,
                                                                   capsys):
    seen = []
    original = model.loss_terms

    def recording(self, x, *args, **kwargs):
        terms = original(self, x, *args, **kwargs)
        noise = self.eps if isinstance(self.eps, np.ndarray) else self.eps[0]
        seen.append((self.objective, self.last_objective, noise.shape[0] if self.last_objective == "iwae" else 1))
        return terms

    monkeypatch.setattr(model, "loss_terms", recording)
    assert main(["--data-dir", tiny_root, "--out", str(tmp_path / "run"), *flags, "--steps", "6", "--iwae-after", "3",
                 "--k", "4"]) == 0
    assert seen == [("elbo", "elbo", 1)] * 3 + [("iwae", "iwae", 4)] * 3
    assert "from step 4: training the IWAE bound with K = 4 (--iwae-after 3)" in capsys.readouterr().out


def test_the_switch_moves_the_weights_differently_from_more_elbo_steps(tiny_root, tmp_path):
    common = ["--steps", "6", "--optimizer", "adam", "--seed", "2"]
    assert train(tiny_root, tmp_path / "elbo", *common) == 0
    assert train(tiny_root, tmp_path / "switch", *common, "--iwae-after", "3", "--k", "4") == 0
    elbo = load_checkpoint(tmp_path / "elbo" / "checkpoint.npz").params
    switched = load_checkpoint(tmp_path / "switch" / "checkpoint.npz").params
    assert any(not np.array_equal(elbo[name], switched[name]) for name in elbo)


@pytest.mark.parametrize("split, model", [(2, SMALL_RUN), (9, SMALL_RUN), (2, VAMPPRIOR)])  # resumed before the
def test_resume_on_either_side_of_the_switch_is_bit_identical(split, model, tiny_root, tmp_path):  # switch, after it
    flags = ["--optimizer", "adam", "--kl-warmup", "4", "--iwae-after", "5", "--k", "3", "--log-every", "4",
             "--seed", "1"]

    def train(root, out, *more):
        return main(["--data-dir", root, "--out", str(out), *model, *more])

    assert train(tiny_root, tmp_path / "long", "--steps", "12", *flags) == 0
    assert train(tiny_root, tmp_path / "split", "--steps", str(split), *flags) == 0
    assert load_checkpoint(tmp_path / "split" / "checkpoint.npz").step == split
    assert main(["--resume", str(tmp_path / "split" / "checkpoint.npz"), "--steps", "12", "--data-dir", tiny_root,
                 "--no-progress", "--no-download"]) == 0
    assert_same_state(tmp_path / "long" / "checkpoint.npz", tmp_path / "split" / "checkpoint.npz")


def test_resume_refuses_a_different_switch(tiny_root, tmp_path, capsys):
    assert train(tiny_root, tmp_path / "run", "--steps", "4", "--iwae-after", "2", "--k", "3") == 0
    capsys.readouterr()
    assert main(["--resume", str(tmp_path / "run" / "checkpoint.npz"), "--steps", "8", "--iwae-after", "3",
                 "--data-dir", tiny_root, "--no-progress", "--no-download"]) == 2
    assert "--iwae-after 3 contradicts the checkpoint's 2" in capsys.readouterr().err
