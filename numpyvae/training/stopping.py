"""Early stopping: the validation record, best.npz, and the weights the final report is on.

    --early-stopping PATIENCE           stop when the validation -ELBO has not improved for that many reports
    best.npz                            the checkpoint of the best validation -ELBO; the final report is on it

The record is kept in the checkpoint with the rest of the loop's state, so a resumed run continues bit for bit.
"""

from __future__ import annotations

import math

from ..formats.checkpoint import load_checkpoint, restore_params, save_checkpoint
from .state import Run

BEST_NAME = "best.npz"


def track_validation(run: Run, value: float | None) -> str:
    """After a report: update the early-stopping record, write best.npz on a new best; the text to print.

    Only the reports every --log-every steps count: the extra one at the end of a run that stops elsewhere
    is printed but not recorded, so that a run stopped and resumed keeps the record of one made in one go.
    """
    if value is None:
        return ""
    if run.step % run.config.options.log_every:
        return f" validation: {value:.4f}"
    improved = run.stopping.update(value, run.step)
    if improved:
        save_checkpoint(run.out / BEST_NAME, run.checkpoint())
    note = f" validation: {value:.4f}" + (" (best)" if improved else f" (best {run.stopping.best:.4f})")
    if run.stopping.stopped:
        note += (f"\nearly stopping: no better validation -ELBO in {run.stopping.patience} reports since step "
                 f"{run.stopping.best_step}")
    return note


def use_best_weights(run: Run) -> str:
    """Load best.npz into the model when the run kept one; which weights the final report is on."""
    best = run.out / BEST_NAME
    if not run.config.data.validation or not best.exists():
        return f"final (step {run.step})"
    saved = load_checkpoint(best)
    restore_params(run.model, saved.params, best)
    value = saved.config.get("state", {}).get("early_stopping", {}).get("best")
    shown = f"{value:.4f}" if isinstance(value, float) and math.isfinite(value) else "?"
    return f"best.npz (step {saved.step}, validation -ELBO {shown})"
