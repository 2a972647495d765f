"""python -m numpyvae.explain variance: the score-function estimate checked numerically, the signal estimator
unbiased on a case with a known answer, the paired test of equal means, and the reparameterization gradient the
least noisy."""

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


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_the_score_function_estimate_is_the_gradient_of_its_surrogate(beta):
    """With z held fixed, the estimate is the gradient of -(1/B) sum f(z) log q(z | x) + beta KL / B: checked by
    central differences of that surrogate in every encoder parameter."""
    model, x = tiny(kl_weight=beta)
    eps = np.random.default_rng(1).standard_normal((5, 3))
    terms = model.elbo_terms(x, False, eps, kl="analytic")
    z, f = terms.mean + terms.std * eps, terms.log_likelihood.copy()
    variance.score_function_backward(model, terms, eps, baseline=0.7)  # a baseline changes the surrogate, not the check
    f = f - 0.7
    analytic = {name: grad.copy() for name, grad in model.grads.items() if name.startswith("encoder.")}

    def surrogate():
        mean, std = model.encode(x)
        log_q = -0.5 * (((z - mean) / std) ** 2).sum(axis=1) - np.log(std).sum(axis=1)
        kl = 0.5 * (std ** 2 + mean ** 2 - np.log(1e-8 + std ** 2) - 1).sum(axis=1)
        return (-f * log_q + beta * kl) / len(x)

    for name, grad in analytic.items():
        assert relative_error(grad, numerical_gradient(surrogate, model.params[name])) < 1e-7, name


def gaussian_draws(mean, std, draws, seed):
    rng = np.random.default_rng(seed)
    return mean + std * rng.standard_normal((draws, len(mean)))


def test_the_signal_is_unbiased_on_a_case_with_a_known_answer():
    """Draws of a Gaussian vector with known mean and covariance: over many repetitions the unbiased signal
    averages to |mu|^2, while |mean|^2 averages to |mu|^2 + tr Sigma / n, and the total variance to tr Sigma."""
    mean, std, draws = np.array([0.3, -0.2, 0.1, 0.0]), np.array([2.0, 1.0, 3.0, 0.5]), 40
    truth, trace = float(mean @ mean), float(std @ std)  # 0.14 and 14.25: the noise floor tr Sigma / n is 0.356
    signals, naive, variances, inside = [], [], [], 0
    for seed in range(2000):
        moments = variance.Moments(4)
        for index, draw in enumerate(gaussian_draws(mean, std, draws, seed)):
            moments.add(draw, index)
        signal, error = moments.signal_and_error()
        signals.append(signal), naive.append(moments.naive_signal), variances.append(moments.total_variance)
        inside += abs(signal - truth) <= 2 * error
    spread = np.std(signals) / np.sqrt(len(signals))
    assert abs(np.mean(signals) - truth) < 4 * spread
    assert abs(np.mean(naive) - (truth + trace / draws)) < 4 * spread
    assert np.mean(naive) - truth > 20 * spread  # the bias the old figure had is far outside the noise
    assert np.mean(variances) == pytest.approx(trace, rel=0.02)
    assert 0.85 < inside / 2000 < 0.99  # the jackknife's error bars cover the truth about as often as they should


def test_the_statistics_match_their_formulas():
    draws = gaussian_draws(np.array([1.0, 2.0, -1.0]), np.array([0.5, 0.1, 1.0]), 37, 0)
    moments = variance.Moments(3, groups=5)
    for index, draw in enumerate(draws):
        moments.add(draw, index)
    n = len(draws)
    assert moments.draws == n and np.allclose(moments.mean, draws.mean(axis=0))
    assert moments.total_variance == pytest.approx(draws.var(axis=0, ddof=1).sum())
    pairs = (draws @ draws.T)[~np.eye(n, dtype=bool)].mean()  # the mean of g_d . g_e over the pairs d != e
    assert moments.signal == pytest.approx(pairs)
    groups = [np.arange(n)[np.arange(n) % 5 != c] for c in range(5)]  # the jackknife, leaving a group out
    leave_out = np.array([(draws[kept] @ draws[kept].T)[~np.eye(len(kept), dtype=bool)].mean() for kept in groups])
    assert moments.signal_and_error()[1] == pytest.approx(np.sqrt(4 / 5 * np.sum((leave_out - leave_out.mean()) ** 2)))


def test_the_paired_test_accepts_equal_means_and_rejects_different_ones():
    """Two estimators sharing their noise: the paired test sees a small offset that the noise would hide."""
    rng = np.random.default_rng(0)
    shared = 5 * rng.standard_normal((200, 50))

    def moments_of(draws):
        moments = variance.Moments(50)
        for index, draw in enumerate(draws):
            moments.add(draw, index)
        return moments

    def paired(first, second):
        squares = np.zeros(variance.GROUPS)
        for index, gap in enumerate(first - second):
            squares[index % variance.GROUPS] += gap @ gap
        return variance.agreement(variance.Moments.difference(moments_of(first), moments_of(second), squares))

    base = shared + 0.1 * rng.standard_normal((200, 50))
    same = shared + 0.1 * rng.standard_normal((200, 50))
    shifted = same + 0.05  # mean off by 0.05 in every coordinate: |E D|^2 = 0.125
    assert paired(same, base).consistent
    test = paired(shifted, base)
    assert not test.consistent and test.squared_gap == pytest.approx(0.125, rel=0.3)
    assert 5 * np.sqrt(50) / np.sqrt(200) > 10 * test.noise_floor  # unpaired, the noise would be 20x larger


def test_the_estimators_agree_and_the_seeds_is_the_least_noisy():
    model, x = tiny(seed=3)
    spreads, differences = variance.gradient_spread(model, x, draws=1000, seed=0)
    b, a, score, baseline = (spreads[name] for name in variance.ESTIMATORS)
    assert b.total_variance < a.total_variance < baseline.total_variance < score.total_variance
    for name, difference in differences.items():  # paired: the means agree within what the draws allow
        assert variance.agreement(difference).consistent, name
    assert b.signal == pytest.approx(b.naive_signal - b.total_variance / 1000)


def test_a_biased_estimator_is_caught_by_the_paired_test():
    """A score-function estimate with a baseline that depends on eps is biased; the test must say so."""
    model, x = tiny(seed=3)
    original = variance.score_function_backward

    def biased(model, terms, eps, baseline=0.0):
        original(model, terms, eps, baseline if np.isscalar(baseline) else terms.log_likelihood - 0.5 * eps.sum(axis=1))

    variance.score_function_backward = biased
    try:
        _, differences = variance.gradient_spread(model, x, draws=400, seed=0)
    finally:
        variance.score_function_backward = original
    assert not variance.agreement(differences["score-baseline"]).consistent
    assert variance.agreement(differences["A"]).consistent


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
    assert [row.split()[0] for row in rows] == ["B", "A", "score", "score-baseline"]
    assert float(rows[0].split()[-1]) == 1  # B against itself
    verdicts = [line for line in out.splitlines() if line.startswith("paired ")]
    assert len(verdicts) == 3 and all("same mean" in line or "differ" in line for line in verdicts)
    assert main(["variance", str(checkpoint), "--data-dir", data_dir, "--draws", "19"]) == 2
    assert main(["variance", str(tmp_path / "missing.npz"), "--data-dir", data_dir]) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 2


@pytest.mark.parametrize("num_classes", [4])
def test_a_conditional_model_gets_its_labels(num_classes):
    model, x = tiny(num_classes=num_classes)
    labels = np.arange(len(x)) % num_classes
    spreads, _ = variance.gradient_spread(model, x, labels, draws=20)
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
