"""Bad output paths, flags that contradict a resumed checkpoint, non-finite weights, strict JSON, and the
Gaussian likelihood's constant: each gets one line and a non-zero exit, and nothing on disk is damaged."""

import json
import math
import tempfile

import numpy as np
import pytest

from conftest import SMALL_RUN
from numpyvae.errors import NumericalError, OutputError
from numpyvae.evaluate import main as evaluate_main
from numpyvae.formats.atomic import prepare_folder, write_json
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import VAE
from numpyvae.nn.losses import GaussianLogLikelihood
from numpyvae.training import main
from numpyvae.visualize import main as visualize_main

UNCREATABLE = "/proc/numpyvae-cannot-be-here/run"  # /proc refuses new folders, even to root


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and "Traceback" not in err
    return err


@pytest.fixture
def root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def tiny_checkpoint(path, **params):
    model = VAE(hidden_dims=(8, 8), latent_dim=2, **params)
    save_checkpoint(path, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                     rng_state=model.rng.bit_generator.state, params=model.params,
                                     optimizer={}, batcher={}))
    return model, path


# -- output folders and files --------------------------------------------------------------------------------

def test_out_naming_a_file_is_one_line_and_the_file_is_kept(root, tmp_path, capsys):
    target = tmp_path / "notes.txt"
    target.write_text("my notes")
    assert main(["--data-dir", root, "--out", str(target), *SMALL_RUN, "--steps", "2"]) == 1
    err = one_line_error(capsys)
    assert str(target) in err and "is a file" in err
    assert target.read_text() == "my notes"


def test_out_that_cannot_be_created_is_one_line(root, capsys):
    assert main(["--data-dir", root, "--out", UNCREATABLE, *SMALL_RUN, "--steps", "2"]) == 1
    err = one_line_error(capsys)
    assert UNCREATABLE in err and "cannot write" in err


def test_a_folder_without_write_permission_is_named_with_the_reason(tmp_path, monkeypatch):
    # root may write anywhere, so the refusal is simulated where prepare_folder probes the folder
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile, "TemporaryFile", refuse)
    with pytest.raises(OutputError, match=f"cannot write into --out {tmp_path}.*Permission denied"):
        prepare_folder(tmp_path, "--out")


def test_data_dir_naming_a_file_is_one_line_and_the_file_is_kept(tmp_path, capsys):
    target = tmp_path / "data.txt"
    target.write_text("not a folder")
    assert main(["--data-dir", str(target), "--out", str(tmp_path / "run"), *SMALL_RUN]) == 1
    err = one_line_error(capsys)
    assert str(target) in err and "is a file" in err
    assert target.read_text() == "not a folder"


def test_a_run_that_fails_on_its_data_leaves_no_empty_folder(tmp_path, monkeypatch, capsys):
    """The run folder is made (and checked) before the data; when the data then fails, the folders the run
    made go again, and a folder that was there before, with what it holds, stays."""
    monkeypatch.chdir(tmp_path)
    missing = ["--data-dir", str(tmp_path / "no-data"), *SMALL_RUN]  # --no-download: the data is missing
    assert main(missing) == 1 and "not found" in one_line_error(capsys)
    assert not (tmp_path / "runs").exists()  # the default runs/<dataset>-<time>/ and runs/ itself
    assert main(["--out", str(tmp_path / "a" / "b" / "run"), *missing]) == 1
    assert not (tmp_path / "a").exists()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    assert main(["--out", str(kept / "run"), *missing]) == 1
    assert sorted(path.name for path in kept.iterdir()) == ["notes.txt"] and (kept / "notes.txt").read_text() == "mine"
    capsys.readouterr()


def test_data_dir_that_cannot_be_written_fails_before_any_download(tmp_path, capsys):
    flags = [flag for flag in SMALL_RUN if flag != "--no-download"]  # downloads on: the folder must take files
    assert main(["--data-dir", "/proc/numpyvae-no-data", "--out", str(tmp_path / "run"), *flags]) == 1
    err = one_line_error(capsys)
    assert "/proc/numpyvae-no-data/mnist" in err and "cannot write" in err


def test_evaluate_json_that_cannot_be_written_fails_before_the_work(root, tmp_path, capsys):
    _, checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    folder = tmp_path / "a-folder"
    (folder / "inside").mkdir(parents=True)
    for destination, says in ((folder, "is a folder"), (f"{UNCREATABLE}/evaluation.json", "cannot write")):
        assert evaluate_main([str(checkpoint), "--data-dir", root, "--k", "2", "--json", str(destination),
                        "--no-progress"]) == 1
        err = one_line_error(capsys)
        assert str(destination) in err and says in err
    assert (folder / "inside").is_dir() and not (tmp_path / "evaluation.json").exists()


def test_visualize_out_that_cannot_be_written(root, tmp_path, capsys):
    _, checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz")
    target = tmp_path / "picture.png"
    target.write_bytes(b"my picture")
    for out, says in ((target, "is a file"), (UNCREATABLE, "cannot write")):
        assert visualize_main([str(checkpoint), "--data-dir", root, "--out", str(out)]) == 1
        err = one_line_error(capsys)
        assert str(out) in err and says in err
    assert target.read_bytes() == b"my picture"


def test_a_failed_json_write_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "evaluation.json"
    target.write_text('{"old": 1}\n')

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", full_disk)
    with pytest.raises(OutputError, match="No space left"):
        write_json(target, {"new": 2})
    assert target.read_text() == '{"old": 1}\n' and sorted(p.name for p in tmp_path.iterdir()) == [target.name]


# -- resume: a flag never silently ignored -------------------------------------------------------------------

@pytest.fixture
def finished_run(root, tmp_path):
    """A 3-step run of the small model (latent 3, hidden 16 12, batch 4, SGD lr 0.001, keep 0.9, seed 0)."""
    assert main(["--data-dir", root, "--out", str(tmp_path / "run"), *SMALL_RUN, "--steps", "3"]) == 0
    return str(tmp_path / "run" / "checkpoint.npz")


@pytest.mark.parametrize("flags, says", [
    (["--latent-dim", "5"], "--latent-dim 5 contradicts the checkpoint's 3"),
    (["--hidden-dims", "16", "16"], "--hidden-dims 16 16 contradicts the checkpoint's 16 12"),
    (["--lr", "0.01"], "--lr 0.01 contradicts the checkpoint's 0.001"),
    (["--optimizer", "adam"], "--optimizer adam contradicts the checkpoint's sgd"),
    (["--batch-size", "2"], "--batch-size 2 contradicts the checkpoint's 4"),
    (["--dtype", "float64"], "--dtype float64 contradicts the checkpoint's float32"),
    (["--keep-prob", "1"], "--keep-prob 1.0 contradicts the checkpoint's 0.9"),
    (["--kl-weight", "0.5"], "--kl-weight 0.5 contradicts the checkpoint's 1.0"),
    (["--dataset", "fashion-mnist"], "--dataset fashion-mnist contradicts the checkpoint's mnist"),
    (["--model", "ae"], "--model ae contradicts the checkpoint's vae"),
    (["--seed", "7"], "--seed 7 contradicts the checkpoint's 0"),
    (["--momentum", "0.5"], "--momentum 0.5 contradicts the checkpoint's 0.0"),
    (["--conditional"], "--conditional on contradicts the checkpoint's off"),
    (["--objective", "iwae", "--k", "3"], "--objective iwae contradicts the checkpoint's elbo"),
    (["--activations", "relu"], "--activations relu contradicts the checkpoint's"),
    (["--binarize", "dynamic"], "--binarize dynamic contradicts the checkpoint's none"),
    (["--lr-schedule", "cosine"], "--lr-schedule cosine contradicts the checkpoint's constant"),
    (["--validation", "10"], "--validation 10 contradicts the checkpoint's 0"),
    (["--preset", "binarized-mnist"], "contradicts the checkpoint's"),  # the preset's values count as flags
])
def test_resume_with_a_contradicting_flag_is_a_usage_error(root, finished_run, capsys, flags, says):
    capsys.readouterr()
    assert main(["--data-dir", root, "--resume", finished_run, "--steps", "6", "--no-progress", *flags]) == 2
    err = one_line_error(capsys)
    assert says in err and finished_run in err


@pytest.mark.parametrize("flags", [
    ["--log-every", "2", "--checkpoint-every", "2", "--eval-k", "2"],
    ["--latent-dim", "3", "--lr", "0.001", "--hidden-dims", "16", "12"],  # the checkpoint's own values
])
def test_resume_accepts_the_flags_that_may_change(root, finished_run, tmp_path, flags):
    assert main(["--data-dir", root, "--resume", finished_run, "--steps", "5", "--no-progress",
                 "--out", str(tmp_path / "continued"), *flags]) == 0
    assert json.loads((tmp_path / "continued" / "summary.json").read_text())["step"] == 5


# -- non-finite weights and strict JSON ----------------------------------------------------------------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("command", [evaluate_main, visualize_main])
def test_a_checkpoint_with_non_finite_weights_is_refused_in_one_line(root, tmp_path, capsys, bad, command):
    model = VAE(hidden_dims=(8, 8), latent_dim=2)
    model.params["decoder.fc2.weight"][1, 2] = bad
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(run / "checkpoint.npz", Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}},
                                                       step=0, rng_state=model.rng.bit_generator.state,
                                                       params=model.params, optimizer={}, batcher={}))
    assert command([str(run / "checkpoint.npz"), "--data-dir", root]) == 1
    err = one_line_error(capsys)
    assert "NaN or infinite" in err and "decoder.fc2.weight" in err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.npz"]  # no NaN written anywhere


def test_json_with_nan_is_refused_and_nothing_is_written(tmp_path):
    with pytest.raises(NumericalError, match="NaN or infinite"):
        write_json(tmp_path / "out.json", {"loss": float("nan")})
    assert list(tmp_path.iterdir()) == []


def strict_json(text: str):
    def refuse(constant):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


def test_every_json_a_run_writes_is_strict(root, tmp_path):
    assert main(["--data-dir", root, "--out", str(tmp_path / "run"), *SMALL_RUN, "--steps", "3", "--eval-k", "3"]) == 0
    for name in ("summary.json", "evaluation.json"):
        assert isinstance(strict_json((tmp_path / "run" / name).read_text()), dict)


# -- the Gaussian likelihood is a density: its constant is included -------------------------------------------

def test_gaussian_log_likelihood_is_the_full_normal_log_density():
    rng = np.random.default_rng(0)
    logits, x = rng.normal(size=(3, 784)), rng.random((3, 784))
    p = 1 / (1 + np.exp(-logits))
    per_pixel = [[-0.5 * math.log(2 * math.pi) - 0.5 * (xi - pi) ** 2 for xi, pi in zip(row_x, row_p, strict=True)]
                 for row_x, row_p in zip(x, p, strict=True)]
    np.testing.assert_allclose(GaussianLogLikelihood().forward(logits, x), np.sum(per_pixel, axis=1), rtol=1e-12)


def test_gaussian_log_likelihood_agrees_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    logits, x = rng.normal(size=(2, 50)), rng.random((2, 50))
    expected = torch.distributions.Normal(torch.sigmoid(torch.tensor(logits)), 1.0).log_prob(torch.tensor(x)).sum(1)
    np.testing.assert_allclose(GaussianLogLikelihood().forward(logits, x), expected.numpy(), rtol=1e-12)


def test_evaluate_of_an_mse_model_reports_bounds_that_include_the_constant(root, tmp_path):
    model, checkpoint = tiny_checkpoint(tmp_path / "checkpoint.npz", reconstruction="mse")
    assert evaluate_main([str(checkpoint), "--data-dir", root, "--k", "4", "--no-progress"]) == 0
    results = strict_json((tmp_path / "evaluation.json").read_text())
    # -log N(x; p, I) >= (784/2) log 2 pi = 720.4 nats: only a bound with the constant can be that large
    assert results["reconstruction"] > 0.5 * 784 * math.log(2 * math.pi)
    assert results["iwae"] > 0.5 * 784 * math.log(2 * math.pi)
    assert "Gaussian density" in results["likelihood"] and "not comparable" in results["likelihood"]
