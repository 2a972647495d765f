"""python -m numpyvae.explain variance: the score-function estimate checked numerically, the three estimators
unbiased alike, and the reparameterization gradient the least noisy."""

import numpy as np
import pytest

from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import VAE
from numpyvae.teaching.explain import variance
from numpyvae.teaching.explain.command import main
from numpyvae.teaching.gradcheck import numerical_gradient, relative_error


def tiny(seed=0, **options):
    model = VAE(12, (7, 6), 3, keep_prob=1.0, seed=seed, dtype=np.float64, **options)
    x = np.random.default_rng(seed).uniform(0, 1, (5, 12))
    return model, x


def test_the_score_function_estimate_is_the_gradient_of_its_surrogate():
    """With z held fixed, the estimate is the gradient of -(1/B) sum f(z) log q(z | x) + KL / B: checked by
    central differences of that surrogate in every encoder parameter."""
    model, x = tiny()
    eps = np.random.default_rng(1).standard_normal((5, 3))
    terms = model.elbo_terms(x, False, eps)
    z, f = terms.mean + terms.std * eps, terms.log_likelihood.copy()
    variance.score_function_backward(model)
    analytic = {name: grad.copy() for name, grad in model.grads.items() if name.startswith("encoder.")}

    def surrogate():
        mean, std = model.encode(x)
        log_q = -0.5 * (((z - mean) / std) ** 2).sum(axis=1) - np.log(std).sum(axis=1)
        kl = 0.5 * (std ** 2 + mean ** 2 - np.log(1e-8 + std ** 2) - 1).sum(axis=1)
        return (-f * log_q + kl) / len(x)

    for name, grad in analytic.items():
        assert relative_error(grad, numerical_gradient(surrogate, model.params[name])) < 1e-7, name


def test_all_three_are_unbiased_and_the_seeds_estimator_is_the_least_noisy():
    model, x = tiny(seed=3)
    spreads = variance.gradient_spread(model, x, draws=1000, seed=0)
    b, a, score = spreads["B"], spreads["A"], spreads["score"]
    assert b.total_variance < a.total_variance < score.total_variance
    for other in (a, score):  # the means agree within what the draws allow
        allowed = 4 * np.sqrt((other.total_variance + b.total_variance) / other.draws)
        assert np.linalg.norm(other.mean - b.mean) < allowed


def test_the_command_on_a_checkpoint(tmp_path, tiny_dataset, capsys):
    model = VAE(784, (16, 12), 3, keep_prob=0.9, seed=0)
    checkpoint = tmp_path / "checkpoint.npz"
    save_checkpoint(checkpoint, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                           rng_state=model.rng.bit_generator.state, params=model.params,
                                           optimizer={}, batcher={}))
    data_dir = str(tiny_dataset[0].parent)
    assert main(["variance", str(checkpoint), "--data-dir", data_dir, "--images", "4", "--draws", "20",
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.split()[0] in variance.ESTIMATORS]
    assert [row.split()[0] for row in rows] == ["B", "A", "score"]
    assert float(rows[0].split()[-1]) == 1  # B against itself
    assert main(["variance", str(checkpoint), "--data-dir", data_dir, "--draws", "1"]) == 2
    assert main(["variance", str(tmp_path / "missing.npz"), "--data-dir", data_dir]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 2


@pytest.mark.parametrize("num_classes", [4])
def test_a_conditional_model_gets_its_labels(num_classes):
    model, x = tiny(num_classes=num_classes)
    labels = np.arange(len(x)) % num_classes
    spreads = variance.gradient_spread(model, x, labels, draws=5)
    assert all(np.isfinite(spread.total_variance) for spread in spreads.values())


def test_bounds_are_compared_on_the_same_images(tmp_path, tiny_dataset, capsys):
    from numpyvae.teaching.explain.bounds import paired
    rng = np.random.default_rng(0)
    difficulty = rng.normal(100, 20, 400)  # images differ a lot; the bounds differ a little on each
    first, second = difficulty + rng.normal(0, 1, 400), difficulty - 3 + rng.normal(0, 1, 400)
    mean, paired_error, unpaired_error = paired(first, second)
    assert mean == pytest.approx(np.mean(second - first))
    assert paired_error == pytest.approx(np.std(second - first, ddof=1) / 20)
    assert paired_error < unpaired_error / 5

    model = VAE(784, (16, 12), 3, keep_prob=0.9, seed=0)
    checkpoint = tmp_path / "checkpoint.npz"
    save_checkpoint(checkpoint, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                           rng_state=model.rng.bit_generator.state, params=model.params,
                                           optimizer={}, batcher={}))
    data_dir = str(tiny_dataset[0].parent)
    assert main(["bounds", str(checkpoint), "--data-dir", data_dir, "--images", "10", "--k", "1", "5"]) == 0
    out = capsys.readouterr().out
    assert "IWAE K = 5 minus K = 1:" in out and "of 10" in out
    assert main(["bounds", str(checkpoint), "--data-dir", data_dir, "--k", "0"]) == 2
