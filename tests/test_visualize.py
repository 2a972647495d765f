"""Pictures: the inverse normal CDF, the plots' pixels, interpolation end points, the command."""

import math

import numpy as np
import pytest
from PIL import Image

from numpyvae import pictures as vis
from numpyvae.data import to_float
from numpyvae.errors import DataError
from numpyvae.formats.checkpoint import Checkpoint, save_checkpoint
from numpyvae.models.vae import VAE
from numpyvae.visualize import main as visualize_main


@pytest.mark.parametrize("p, z", [(0.5, 0.0), (0.975, 1.959963984540054), (0.8413447460685429, 1.0),
                                  (0.001, -3.090232306167813), (1e-10, -6.361340902404056)])
def test_normal_quantile_known_values(p, z):
    assert vis.normal_quantile(p) == pytest.approx(z, rel=1e-13, abs=1e-15)


def test_normal_quantile_is_the_inverse_of_the_cdf_and_symmetric():
    for p in np.linspace(1e-6, 1 - 1e-6, 2001):
        assert vis.normal_cdf(vis.normal_quantile(p)) == pytest.approx(p, rel=1e-12)
        assert vis.normal_quantile(1 - p) == pytest.approx(-vis.normal_quantile(p), rel=1e-9, abs=1e-12)
    with pytest.raises(ValueError):
        vis.normal_quantile(1.0)


def test_nice_ticks_are_round_and_cover_the_range():
    assert vis.nice_ticks(0, 10000) == [0, 2000, 4000, 6000, 8000, 10000]
    ticks = vis.nice_ticks(106.4, 143.2)
    assert ticks[0] >= 106.4 - 10 and ticks[-1] <= 143.2 and all(t % 10 == 0 for t in ticks)


def write_metrics(path, rows):
    path.write_text("step,train_loss,test_loss\n" + "".join(f"{s},{a},{b}\n" for s, a, b in rows))


def picture(path) -> Image.Image:
    """A PNG read into memory, its file closed."""
    with Image.open(path) as image:
        return image.convert("RGB")


def coloured_pixels(image: Image.Image, colour) -> np.ndarray:
    """(row, column) of every pixel of exactly ``colour``."""
    return np.argwhere(np.all(np.asarray(image.convert("RGB")) == colour, axis=-1))


def test_curves_fall_where_the_losses_fall(tmp_path):
    write_metrics(tmp_path / "metrics.csv", [(1000, 200, 150), (2000, 150, 130), (3000, 120, 110)])
    vis.plot_curves(tmp_path / "metrics.csv", tmp_path / "curves.png")
    image = picture(tmp_path / "curves.png")
    assert image.size == (640, 420)
    train = coloured_pixels(image, vis.TRAIN_COLOUR)
    plot_area = train[(train[:, 1] > 80) & (train[:, 1] < 560)]  # away from the legend's swatch
    left, right = plot_area[plot_area[:, 1] < 300], plot_area[plot_area[:, 1] > 450]
    assert len(left) and len(right) and left[:, 0].mean() < right[:, 0].mean()  # rows grow downwards


def test_empty_or_broken_metrics_are_a_data_error(tmp_path):
    (tmp_path / "empty.csv").write_text("step,train_loss,test_loss\n")
    with pytest.raises(DataError, match="no metrics"):
        vis.plot_curves(tmp_path / "empty.csv", tmp_path / "x.png")
    write_metrics(tmp_path / "bad.csv", [(1, "abc", 2)])
    with pytest.raises(DataError, match="not a number"):
        vis.plot_curves(tmp_path / "bad.csv", tmp_path / "x.png")


def test_interpolation_ends_are_the_decoded_posterior_means():
    model = VAE(hidden_dims=(8, 8), latent_dim=3)
    rng = np.random.default_rng(0)
    first, second = (rng.integers(0, 256, (2, 784), dtype=np.uint8) for _ in range(2))
    path = vis.interpolations(model, first, second, steps=5).reshape(2, 5, 784)
    np.testing.assert_allclose(path[:, 0], model.reconstruct(to_float(first)), rtol=1e-6)
    np.testing.assert_allclose(path[:, -1], model.reconstruct(to_float(second)), rtol=1e-6)


def test_manifold_walks_the_prior_quantiles():
    model = VAE(hidden_dims=(8, 8), latent_dim=2)
    grid = vis.manifold(model, side=4)
    levels = [vis.normal_quantile(p) for p in (0.125, 0.375, 0.625, 0.875)]
    top_left = model.decode(np.array([[levels[0], levels[-1]]], dtype=np.float32))
    assert grid.shape == (16, 784)
    np.testing.assert_allclose(grid[0], top_left[0], rtol=1e-6)


def test_scatter_gives_each_label_its_colour(tmp_path):
    model = VAE(hidden_dims=(8, 8), latent_dim=2)
    rng = np.random.default_rng(1)
    images, labels = rng.integers(0, 256, (300, 784), dtype=np.uint8), np.repeat(np.arange(3), 100)
    vis.plot_latent_scatter(model, images, labels, tmp_path / "scatter.png")
    image = picture(tmp_path / "scatter.png")
    for label in range(3):
        assert len(coloured_pixels(image, vis.PALETTE[label])) > 50
    assert len(coloured_pixels(image, vis.PALETTE[5])) == 0


def test_command_writes_every_picture(tiny_dataset, tmp_path, capsys):
    model = VAE(hidden_dims=(8, 8), latent_dim=2)
    checkpoint = tmp_path / "run" / "checkpoint.npz"
    checkpoint.parent.mkdir()
    save_checkpoint(checkpoint, Checkpoint(config={"model": model.config, "run": {"dataset": "mnist"}}, step=0,
                                           rng_state=model.rng.bit_generator.state, params=model.params,
                                           optimizer={}, batcher={}))
    write_metrics(checkpoint.parent / "metrics.csv", [(1, 300, 250), (2, 250, 240)])
    assert visualize_main([str(checkpoint), "--data-dir", str(tiny_dataset[0].parent)]) == 0
    names = {"curves.png", "reconstruction_pairs.png", "prior_samples.png", "interpolations.png", "manifold.png",
             "latent_scatter.png"}
    assert names <= {p.name for p in checkpoint.parent.iterdir()}
    assert all(picture(checkpoint.parent / name).size[0] > 50 for name in names)
    assert str(checkpoint.parent / "manifold.png") in capsys.readouterr().out


def test_command_on_a_missing_checkpoint(tmp_path, capsys):
    assert visualize_main([str(tmp_path / "none.npz")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: checkpoint") and len(err.splitlines()) == 1


def test_quantile_tail_stays_finite():
    assert math.isfinite(vis.normal_quantile(1e-300))


def dark_columns(image: Image.Image, rows: slice) -> np.ndarray:
    """The columns holding a dark pixel (text) within ``rows`` of the picture."""
    grey = np.asarray(image.convert("L"))[rows]
    return np.flatnonzero((grey < 128).any(axis=0))


def test_curves_text_is_drawn_in_the_scalable_font_with_its_words_apart(tmp_path):
    """The title is as wide as the scalable font draws "loss curves" (Pillow's bitmap font drew it about half
    as wide, "losscurves"), and a gap of several blank columns separates its two words; the same for the
    legend's "test -ELBO"."""
    from numpyvae.formats.png import font, font_size_for
    write_metrics(tmp_path / "metrics.csv", [(1000, 200, 150), (2000, 150, 130), (3000, 120, 110)])
    vis.plot_curves(tmp_path / "metrics.csv", tmp_path / "curves.png")
    image = picture(tmp_path / "curves.png")
    size = font_size_for(image.size)
    assert size == 14
    title = dark_columns(image, slice(0, 2 * size))  # the band above the y label
    expected = font(round(size * 4 / 3)).getlength("loss curves")
    assert abs((title[-1] - title[0] + 1) - expected) <= 3, (title[-1] - title[0] + 1, expected)
    word_gap = np.diff(title).max() - 1
    assert word_gap >= 3 and word_gap >= font(round(size * 4 / 3)).getlength(" ") - 2
    # the legend: the rows of its second entry, right of the swatches
    orange = coloured_pixels(image, vis.PALETTE[1])  # the test curve's colour
    swatch = orange[(orange[:, 1] > 450) & (orange[:, 0] < image.height / 3)]  # the curves run lower there
    rows = slice(swatch[:, 0].min(), swatch[:, 0].max() + 1)
    label = dark_columns(image, rows)
    label = label[(label > swatch[:, 1].max() + 2) & (label < image.width - 30)]  # the text, not the box's edge
    assert abs((label[-1] - label[0] + 1) - font(size).getlength("test -ELBO")) <= 3
    assert np.diff(label).max() - 1 >= 3  # "test" and "-ELBO" apart
