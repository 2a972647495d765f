"""The training loop of ``python train.py``: steps, reports, checkpoints, the final evaluation.

The defaults reproduce the seed run: SGD with learning rate 0.001, batch 128, 10,000 steps, latent
size 20, dropout keep probability 0.9. Every ``--log-every`` steps it prints ``step: N loss: X`` and
writes the seed's images; at the end it reports the test-set -ELBO and leaves a checkpoint that
``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import kernels
from ..cli import given_flags, run
from ..data import Dataset, load_dataset
from ..evaluation.bounds import evaluate, format_table
from ..formats.atomic import missing_folders, prepare_folder, remove_empty_folders, write_json
from ..formats.checkpoint import save_checkpoint
from ..nn.optim import clip_by_global_norm
from ..pictures import write_all
from . import protocol
from .model_options import labels_if_conditional
from .options import build_parser, kl_weight_at, validate
from .report import Reporter
from .state import CHECKPOINT_NAME, Run, StopRequest, check_finite, load_resumed, new_run_folder, start_run


def train(args: argparse.Namespace, given: set[str] = frozenset()) -> dict:
    """Run the training loop, then the final evaluation; returns a summary (test loss, wall time, folder).

    ``given`` names the flags set on the command line, which a resumed run checks against its checkpoint.
    """
    started = time.perf_counter()
    validate(args)
    saved = load_resumed(args, given)  # before the data: a bad checkpoint should not wait for a download
    # the run's folder, checked before the data too: a folder that cannot be written fails at once
    out = Path(args.out) if args.out else (Path(args.resume).parent if saved else new_run_folder(args.dataset))
    made = missing_folders(out)
    args.out = str(prepare_folder(out, "--out"))
    try:
        dataset = load_dataset(args.dataset, args.data_dir, download=not args.no_download,
                               progress=not args.no_progress)
        dataset, validation = protocol.prepare_data(dataset, args)
        run = start_run(args, saved, dataset.train_images, dataset.train_labels)
    except BaseException:  # bad data or an interrupted download: no empty run folder is left behind
        remove_empty_folders(made)
        raise
    print(kernels.summary_line(), flush=True)  # the BLAS, its kernels and threads: what the step's speed rests on
    stopped_by = run_steps(run, Reporter(run, dataset.test_images, dataset.test_labels, validation))
    return finish(run, dataset, stopped_by, time.perf_counter() - started)


def run_steps(run: Run, reporter: Reporter) -> str | None:
    """Train up to ``run.total_steps``, reporting and checkpointing on schedule; the name of the signal that
    stopped it early, if any. The checkpoint on disk is up to date when it returns."""
    args, model, optimizer = run.args, run.model, run.optimizer
    checkpoint_path = run.out / CHECKPOINT_NAME
    loss_sum, loss_count = 0.0, 0
    progress = tqdm(total=run.total_steps, initial=run.step, disable=args.no_progress, unit="step",
                    dynamic_ncols=True, desc="training")
    with StopRequest() as stop:
        while run.step < run.total_steps and stop.signal_name is None and not run.stopping.stopped:
            model.kl_weight = kl_weight_at(run.step + 1, args)
            optimizer.lr = run.schedule(run.step)
            batch = run.binarizer(run.batcher.next_batch())
            with np.errstate(all="ignore"):  # check_finite reports a blow-up better than NumPy's warnings
                started = time.perf_counter()
                loss = model.loss(batch, labels=run.batcher.last_labels)
                model.backward()
                run.step_seconds += time.perf_counter() - started
            check_finite(model, loss, run.step + 1, checkpoint_path)
            if args.clip_grad is not None:
                clip_by_global_norm(model.grads, args.clip_grad)
            started = time.perf_counter()
            optimizer.step(model.grads)
            run.step_seconds += time.perf_counter() - started
            run.step += 1
            loss_sum, loss_count = loss_sum + loss, loss_count + 1
            progress.update()
            if run.step % 50 == 0:
                progress.set_postfix(loss=f"{loss:.2f}", refresh=False)
            if run.step % args.log_every == 0 or run.step == run.total_steps:
                train_loss = loss_sum / loss_count
                test_loss = reporter.report(run.step, train_loss)
                progress.write(f"step: {run.step} loss: {train_loss:.4f} test: {test_loss:.4f}"
                               + protocol.track_validation(run, reporter.validation_loss))
                loss_sum, loss_count = 0.0, 0
            if run.step % args.checkpoint_every == 0:
                save_checkpoint(checkpoint_path, run.checkpoint())
    progress.close()
    save_checkpoint(checkpoint_path, run.checkpoint())
    if stop.signal_name is not None:
        print(f"stopped by {stop.signal_name} after step {run.step}; checkpoint saved; resume with:\n"
              f"  python train.py --resume {checkpoint_path}", file=sys.stderr)
    return stop.signal_name


def finish(run: Run, dataset: Dataset, stopped_by: str | None, seconds_so_far: float) -> dict:
    """The final evaluation (evaluation.json; IWAE with --eval-k), the pictures, and summary.json.

    A run stopped by a signal gets only the quick -ELBO: whoever pressed Ctrl-C wants it to end.
    """
    started = time.perf_counter()
    model = run.model
    weights = protocol.use_best_weights(run)
    results = evaluate(model, dataset.test_images, k=0 if stopped_by else run.args.eval_k, seed=0,
                       progress=not run.args.no_progress, labels=labels_if_conditional(model, dataset.test_labels),
                       workers=run.args.eval_workers)
    results.update(protocol.data_protocol(run.args), weights=weights)
    write_json(run.out / "evaluation.json", results)
    if not stopped_by:
        write_all(model, dataset, run.out, metrics=run.out / "metrics.csv", seed=run.args.seed)
    test_loss = results["negative_elbo"] if model.variational else results["reconstruction"]
    evaluation_seconds = time.perf_counter() - started  # the final evaluation and pictures; the rest is the data
    # (loaded or fetched) and the training with its reports and checkpoints
    summary = {"step": run.step, "test_loss": test_loss, "seconds": seconds_so_far + evaluation_seconds,
               "train_seconds": seconds_so_far, "evaluation_seconds": evaluation_seconds,
               "step_seconds": run.step_seconds, "blas": kernels.describe(),
               "out": str(run.out), "stopped_by": stopped_by}
    write_json(run.out / "summary.json", summary)
    print(format_table(results))
    print(f"data: {results['binarization_note']}; weights: {weights}")
    label = "test -ELBO" if model.variational else "test reconstruction loss"
    if model.conditional:
        label += " (a bound on -log p(x | y))"
    print(f"{label}: {test_loss:.2f} nats over {len(dataset.test_images)} test images; "
          f"{summary['seconds']:.1f} s ({seconds_so_far:.1f} s data and training, {evaluation_seconds:.1f} s final "
          f"evaluation); results in {run.out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    protocol.apply_preset(parser, sys.argv[1:] if argv is None else argv)

    def train_command(args: argparse.Namespace) -> int:
        given = given_flags(parser, argv)
        if args.preset:  # the preset's values count as given: a resumed run checks them like flags
            given |= set(protocol.PRESETS[args.preset])
        stopped_by = train(args, given)["stopped_by"]
        return 128 + signal.Signals[stopped_by].value if stopped_by else 0  # the shell's convention

    return run(train_command, parser, argv)
