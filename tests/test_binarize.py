"""Binarized MNIST: the statistics of the draws, the fixed test draw, and the runs and evaluations built on them."""

import json

import numpy as np
import pytest

from conftest import SMALL_RUN
from numpyvae.data import to_float
from numpyvae.data.binarization import TEST_DRAW_SEED, BatchBinarizer, fixed_binarization
from numpyvae.evaluate import main as evaluate_main
from numpyvae.training import main


def grey_images(n=400, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (n, 784), dtype=np.uint8)


def test_a_fixed_dynamic_draw_is_bernoulli_of_the_grey_level_and_the_same_for_the_same_seed():
    images = np.repeat(np.array([[0, 51, 128, 204, 255]], dtype=np.uint8), 20_000, axis=0)
    draw = fixed_binarization(images, "dynamic")
    assert draw.dtype == np.uint8 and set(np.unique(draw)) == {0, 255}
    frequency = (draw == 255).mean(axis=0)
    p = images[0] / 255
    # each column is 20,000 Bernoulli(p) draws: within 5 standard errors of p
    assert np.all(np.abs(frequency - p) <= 5 * np.sqrt(p * (1 - p) / 20_000) + 1e-12)
    assert frequency[0] == 0 and frequency[-1] == 1
    np.testing.assert_array_equal(fixed_binarization(images, "dynamic"), draw)
    np.testing.assert_array_equal(fixed_binarization(images, "dynamic", seed=TEST_DRAW_SEED), draw)
    assert not np.array_equal(fixed_binarization(images, "dynamic", seed=1), draw)


def test_a_fixed_draw_does_not_depend_on_its_chunking():
    images = grey_images(50)
    np.testing.assert_array_equal(fixed_binarization(images, "dynamic", chunk=7), fixed_binarization(images, "dynamic"))


def test_static_thresholds_at_one_half_and_none_is_the_identity():
    images = grey_images(30)
    # pixel / 255 > 0.5 exactly when pixel >= 128 (127 / 255 = 0.498, 128 / 255 = 0.502)
    np.testing.assert_array_equal(fixed_binarization(images, "static"), np.where(images >= 128, 255, 0))
    assert fixed_binarization(images, "none") is images


def test_batch_binarizer_draws_afresh_each_batch_with_the_right_frequencies():
    p = np.linspace(0, 1, 11, dtype=np.float32)
    binarizer = BatchBinarizer("dynamic", seed=3)
    draws = np.stack([binarizer(np.tile(p, (10, 1))) for _ in range(400)])  # 4,000 draws per pixel
    assert draws.dtype == np.float32 and set(np.unique(draws)) == {0.0, 1.0}
    np.testing.assert_allclose(draws.reshape(-1, 11).mean(axis=0), p, atol=5 * 0.5 / np.sqrt(4000))
    assert not np.array_equal(draws[0], draws[1])


def test_batch_binarizer_state_replays_the_same_draws():
    first, second = BatchBinarizer("dynamic", seed=3), BatchBinarizer("dynamic", seed=99)
    batch = to_float(grey_images(8))
    first(batch.copy())
    second.load_state_dict(first.state_dict())
    np.testing.assert_array_equal(first(batch.copy()), second(batch.copy()))


def test_static_and_none_batches():
    batch = np.array([[0.2, 0.5, 0.6, 1.0]], dtype=np.float32)
    np.testing.assert_array_equal(BatchBinarizer("static", 0)(batch.copy()), [[0, 0, 1, 1]])
    np.testing.assert_array_equal(BatchBinarizer("none", 0)(batch.copy()), batch)


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def test_a_dynamic_run_and_every_later_evaluation_see_the_same_fixed_test_draw(tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["--data-dir", tiny_root, "--out", str(out), *SMALL_RUN, "--steps", "6", "--binarize", "dynamic",
                 "--eval-k", "4"]) == 0
    trained = json.loads((out / "evaluation.json").read_text())
    assert trained["binarization"] == "dynamic" and trained["binarization_seed"] == TEST_DRAW_SEED
    assert "one fixed Bernoulli draw" in capsys.readouterr().out
    # the evaluation command takes the checkpoint's binarization, and twice gives the same -ELBO as the run
    for attempt in ("a.json", "b.json"):
        assert evaluate_main([str(out / "checkpoint.npz"), "--data-dir", tiny_root, "--k", "0", "--no-progress",
                        "--json", str(tmp_path / attempt)]) == 0
        again = json.loads((tmp_path / attempt).read_text())
        assert again["binarization"] == "dynamic" and again["binarization_source"] == "the checkpoint"
        assert again["negative_elbo"] == trained["negative_elbo"]
    assert evaluate_main([str(out / "checkpoint.npz"), "--data-dir", tiny_root, "--k", "0", "--no-progress",
                    "--binarize", "none", "--json", str(tmp_path / "grey.json")]) == 0
    grey = json.loads((tmp_path / "grey.json").read_text())
    assert grey["binarization"] == "none" and grey["negative_elbo"] != trained["negative_elbo"]
    assert "not comparable" in capsys.readouterr().out


def test_the_default_run_stays_on_grey_levels(tiny_root, tmp_path):
    assert main(["--data-dir", tiny_root, "--out", str(tmp_path / "run"), *SMALL_RUN, "--steps", "2"]) == 0
    results = json.loads((tmp_path / "run" / "evaluation.json").read_text())
    assert results["binarization"] == "none" and "not comparable" in results["binarization_note"]


# -- the values, pinned: the binarized preset must see the very images it saw before ---------------------------
# Written out here from their definitions, apart from numpyvae.data.binarization; these same tests pass on
# a65ec39, the commit before fixed_binarization and BatchBinarizer shared one threshold and one draw.

def expected_fixed_draw(images, seed, chunk):
    """Pixel j of image n is 255 where u < pixel / 255 (both float32), u ~ Uniform[0, 1) drawn chunk by chunk."""
    rng, rows = np.random.default_rng(seed), []
    for start in range(0, len(images), chunk):
        grey = images[start:start + chunk].astype(np.float32) * np.float32(1 / 255)
        rows.append(np.where(rng.random(grey.shape, dtype=np.float32) < grey, 255, 0).astype(np.uint8))
    return np.concatenate(rows)


@pytest.mark.parametrize("chunk", [10_000, 7])
def test_the_fixed_draws_are_the_ones_of_before(chunk):
    images = grey_images(23, seed=5)
    for seed in (TEST_DRAW_SEED, 1):
        np.testing.assert_array_equal(fixed_binarization(images, "dynamic", seed=seed, chunk=chunk),
                                      expected_fixed_draw(images, seed, chunk))
    np.testing.assert_array_equal(fixed_binarization(images, "static", chunk=chunk),
                                  np.where(images.astype(np.float32) * np.float32(1 / 255) > 0.5, 255, 0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_batch_draws_are_the_ones_of_before(dtype):
    batches = [grey_images(6, seed=s).astype(dtype) / dtype(255) for s in range(3)]
    binarizer, rng = BatchBinarizer("dynamic", seed=11), np.random.default_rng([11, 14])
    for batch in batches:
        expected = (rng.random(batch.shape, dtype=dtype) < batch).astype(dtype)
        result = binarizer(batch.copy())
        assert result.dtype == dtype
        np.testing.assert_array_equal(result, expected)
    np.testing.assert_array_equal(BatchBinarizer("static", 0)(batches[0].copy()), (batches[0] > 0.5).astype(dtype))
