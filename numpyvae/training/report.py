"""What a person sees during training: the seed's PNGs, 8x8 grids, metrics.csv, the test (and validation) -ELBO.

metrics.csv has one row per report:

    step               the training step
    train_loss         the mean training objective since the previous row (the loss the run minimizes: with
                       --kl-weight, --kl-warmup or --free-bits it is not the -ELBO)
    test_loss          the test-set -ELBO (analytic KL, one z per image, dropout off; the autoencoder's
                       reconstruction loss)
    test_reconstruction, test_kl   its two terms, E_q[-log p(x | z)] and KL(q(z | x) || p(z)), test-set means
    active_units       latent dimensions with Var_x E_q[z_d] > 0.01 over the test images
    wall_seconds       the training clock when the row's step ended: wall-clock seconds spent in the training
                       loop (batches, steps, checks, checkpoints), summed over every session of a resumed run,
                       without the reports themselves (this row's and earlier rows' test passes, pictures and
                       best.npz), the data loading before the loop, or the final evaluation; nan when unknown
                       (a run resumed from a checkpoint written before numpyvae kept the clock)
    validation_loss    the validation -ELBO (with --validation only)

test_reconstruction, test_kl and active_units come from the same pass as test_loss
(evaluation.bounds.posterior_pass, which evaluation uses too), so they cost nothing more. A run resumed from a
metrics.csv written before these columns existed keeps that file's columns.
"""

from __future__ import annotations

import csv

import numpy as np

from ..data import to_float
from ..evaluation.bounds import negative_elbo, posterior_pass
from ..formats.png import save_grid, save_image
from .state import Run

TEST_IMAGE = 6  # the seed's input.png is test image 6
GRID = 64  # 8x8 grids of reconstructions and prior samples
COLUMNS = ("step", "train_loss", "test_loss", "test_reconstruction", "test_kl", "active_units", "wall_seconds")


class Reporter:
    """What a person sees: the seed's PNGs, 8x8 grids, metrics.csv, and the ``step: N loss: X`` lines."""

    def __init__(self, run: Run, test_images: np.ndarray, test_labels: np.ndarray | None = None,
                 validation: tuple[np.ndarray, np.ndarray | None] | None = None,
                 image_shape: tuple[int, int] = (28, 28)) -> None:
        self.run, self.test_images, self.shape = run, test_images, image_shape
        self.validation, self.validation_loss = validation, None
        model = run.model
        self.test_labels = test_labels if model.conditional else None  # a conditional model's images and samples
        self.first_labels = None if self.test_labels is None else self.test_labels[:GRID]
        self.prior_labels = np.arange(GRID) % model.num_classes if model.conditional else None  # 0..9 in turn
        self.first_images = to_float(test_images[:GRID], model.dtype)  # test image 6 among them
        # the same prior draws at every report, so the pictures show the model changing, not the noise
        self.prior_seed = run.config.run.seed + 1
        self.shown = min(TEST_IMAGE, len(self.first_images) - 1)  # test image 6, or the last of a tiny test set
        save_image(self.first_images[self.shown], run.out / "input.png", self.shape)
        save_grid(self.first_images, run.out / "input_grid.png", columns=8, shape=self.shape)
        self.metrics = run.out / "metrics.csv"
        if not self.metrics.exists():
            self.metrics.write_text(",".join(COLUMNS + (("validation_loss",) if validation is not None else ()))
                                    + "\n")
        with open(self.metrics, newline="") as file:  # an older run's file keeps its own columns
            self.columns = next(csv.reader(file), list(COLUMNS))

    def report(self, step: int, train_loss: float, wall_seconds: float | None = None) -> float:
        """Write the pictures and the metrics.csv row of ``step``; the test -ELBO.

        ``wall_seconds`` is the run's training clock (``Run.wall_seconds``; None, written as nan, when unknown).
        """
        model, out = self.run.model, self.run.out
        terms = posterior_pass(model, self.test_images, labels=self.test_labels)  # -ELBO, its terms, active units
        test_loss = terms.negative_elbo(model.variational)
        reconstructions = model.reconstruct(self.first_images, self.first_labels)
        samples = model.sample(GRID, self.prior_labels, rng=np.random.default_rng(self.prior_seed))
        save_image(reconstructions[self.shown], out / f"{step}.png", self.shape)  # the seed's two pictures come
        save_image(samples[0], out / f"z_{step}.png", self.shape)                 # from the grids' own rows
        save_grid(reconstructions, out / f"reconstructions_{step}.png", columns=8, shape=self.shape)
        save_grid(samples, out / f"samples_{step}.png", columns=8, shape=self.shape)
        variational = model.variational  # the autoencoder has no KL and no posterior to count units of
        row = dict(step=step, train_loss=f"{train_loss:.4f}", test_loss=f"{test_loss:.4f}",
                   test_reconstruction=f"{-np.mean(terms.log_likelihood):.4f}",
                   test_kl=f"{np.mean(terms.kl):.4f}" if variational else "nan",
                   active_units=terms.active_units if variational else "nan",
                   wall_seconds="nan" if wall_seconds is None else f"{wall_seconds:.6f}")
        if self.validation is not None:
            images, labels = self.validation
            self.validation_loss = negative_elbo(model, images, labels=labels if model.conditional else None)
            row["validation_loss"] = f"{self.validation_loss:.4f}"
        with open(self.metrics, "a", newline="") as file:
            csv.DictWriter(file, self.columns, extrasaction="ignore").writerow(row)
        return test_loss
