"""The worked example (two pixels, one latent) against the numbers done by hand, and the graph pictures."""

import math

import numpy as np
import pytest
from PIL import Image

from numpyvae.teaching.explain import graph, worked
from numpyvae.teaching.explain.command import main


def by_hand():
    """The worked example's forward and backward pass written out with scalars, as on paper."""
    x1, x2, eps = 1.0, 0.0, 0.5
    a1 = 0.5 * x1 - 0.5 * x2
    h = math.tanh(a1)
    mu, a_sigma = h, -h
    sigma = 1e-6 + math.log1p(math.exp(a_sigma))
    z = mu + sigma * eps
    d1 = math.tanh(z)
    logit = 2 * d1  # logits (2 d1, -2 d1)
    xhat1, xhat2 = 1 / (1 + math.exp(-logit)), 1 / (1 + math.exp(logit))
    dlogit1, dlogit2 = -(x1 - xhat1), -(x2 - xhat2)
    dd1 = 2 * dlogit1 - 2 * dlogit2
    dz = dd1 * (1 - d1 ** 2)
    dmu = dz + mu
    dsigma = dz * eps + sigma - sigma / (1e-8 + sigma ** 2)
    da_sigma = dsigma / (1 + math.exp(-a_sigma))
    dh = dmu * 1 + da_sigma * -1
    da1 = dh * (1 - h ** 2)
    return dict(h=h, mu=mu, sigma=sigma, z=z, logits=(logit, -logit)), \
        dict(logits=(dlogit1, dlogit2), z=dz, mu=dmu, sigma=dsigma, a_sigma=da_sigma, h=dh, **{"enc.a1": da1})


def test_the_worked_example_matches_the_numbers_done_by_hand():
    traced, loss, rows = worked.worked_example()
    values, gradients = by_hand()
    for name, value in values.items():
        np.testing.assert_allclose(traced.values[name].ravel(), value, rtol=1e-12)
    found = {stage.name: stage.gradient.ravel() for stage, _ in rows}
    for name, gradient in gradients.items():
        np.testing.assert_allclose(found[name], gradient, rtol=1e-10)
    assert all(error < 1e-6 for _, error in rows)


def test_the_worked_command_prints_every_node_and_the_three_sums(capsys):
    assert main(["worked"]) == 0
    out = capsys.readouterr().out
    assert out.count("<- gradients add here") == 3
    for line in ("enc.a1   = x W_enc1 + b_enc1", "z        = mu + sigma * eps", "L        = KL - log p",
                 "KL       = 0.5 (sigma^2 + mu^2 - log(1e-8 + sigma^2) - 1)"):  # the guard of the backward row
        assert line in out
    assert "0.6000" in out and "= -0.1135 * 1 + (-0.7135) * (-1)" in out  # dh, term by term
    assert "every gradient agrees" in out


@pytest.mark.parametrize("worked_flag", [[], ["--worked"]])
def test_the_graph_is_drawn_with_its_meeting_points_marked(tmp_path, worked_flag, capsys):
    out = tmp_path / "graph.png"
    assert main(["graph", "--out", str(out), *worked_flag]) == 0
    image = Image.open(out).convert("RGB")
    assert image.size == graph.SIZE
    pixels = np.asarray(image)
    for node in graph.NODES:
        if node.adds:  # an orange outline around each node where gradients add
            x, y = node.centre
            row = pixels[y, :, :]
            orange = np.all(row == graph.ORANGE, axis=1)
            assert orange[max(0, x - 200):x].any() and orange[x:x + 200].any()
    assert (np.all(pixels == graph.RED, axis=2)).sum() > 1000  # the backward edges


def test_the_graph_refuses_a_non_png_name(tmp_path, capsys):
    assert main(["graph", "--out", str(tmp_path / "graph.jpg")]) == 2
    assert "--out must name a .png file" in capsys.readouterr().err


def test_the_graph_refuses_a_folder_before_drawing(tmp_path, capsys):
    folder = tmp_path / "a.png"
    folder.mkdir()
    assert main(["graph", "--out", str(folder)]) != 0
    err = capsys.readouterr().err
    assert "is a folder" in err and "Traceback" not in err
