"""python -m numpyvae.explain: every stage shown, every check passing, and a planted bug caught."""

import numpy as np

from numpyvae import explain as ex
from numpyvae.losses import GaussianKL


def test_every_stage_is_shown_and_agrees_with_its_numerical_check(capsys):
    assert ex.main([]) == 0
    out = capsys.readouterr().out
    for stage in ("logits", "dec.b2", "z ", "z_mean", "z_std", "std.s", "h ", "enc.a1", "encoder.fc1.weight",
                  "decoder.output.bias"):
        assert stage in out
    assert "FAIL" not in out and "every gradient agrees" in out


def test_parameter_rows_show_the_models_own_gradients():
    loss, rows = ex.explain(seed=1)
    stages = {stage.name: stage for stage, _ in rows}
    assert len([name for name in stages if name.endswith((".weight", ".bias"))]) == 14
    model = ex.VAE(64, (16, 16), 3, keep_prob=0.8, seed=1, dtype=np.float64)
    rng = np.random.default_rng(1)
    x, eps = rng.random((4, 64)), rng.standard_normal((4, 3))
    assert model.loss(x, True, eps) == loss
    model.backward()
    for name, grad in model.grads.items():
        np.testing.assert_allclose(stages[name].gradient, grad, rtol=1e-12)


def test_a_wrong_kl_gradient_is_caught_at_its_stage(monkeypatch, capsys):
    right = GaussianKL.backward

    def wrong(self, grad_out):
        grad_mean, grad_std = right(self, grad_out)
        return grad_mean, grad_std * 1.01  # one percent off
    monkeypatch.setattr(GaussianKL, "backward", wrong)
    assert ex.main([]) == 1
    failing = [line.split()[0] for line in capsys.readouterr().out.splitlines() if line.endswith("FAIL")]
    assert failing[0] == "z_std"  # caught where it happens; everything upstream inherits it
    assert "z_mean" not in failing and "logits" not in failing
