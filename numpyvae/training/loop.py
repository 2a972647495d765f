"""The training loop of ``python train.py``: steps, reports, checkpoints, the final evaluation.

The defaults reproduce the seed run: SGD with learning rate 0.001, batch 128, 10,000 steps, latent
size 20, dropout keep probability 0.9. Every ``--log-every`` steps it prints ``step: N loss: X`` and
writes the seed's images; at the end it reports the test-set -ELBO and leaves a checkpoint that
``--resume`` continues from.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import signal
import sys
import time
from pathlib import Path

import numpy as np

from .. import kernels
from ..cli import given_flags, run_command
from ..data import DATASETS, Dataset, load_dataset, shown_size
from ..errors import Interrupt, UsageError
from ..evaluation.bounds import evaluate, format_table
from ..formats.atomic import missing_folders, prepare_folder, remove_empty_folders, write_json
from ..formats.checkpoint import save_checkpoint
from ..formats.lock import FolderLock
from ..nn.optim import clip_by_global_norm
from ..pictures import write_all
from ..progress import progress_bar
from ..resources import check_processes
from .config import PRESETS, TrainConfig, build_parser, from_namespace, preset_of
from .data import data_protocol, prepare_data
from .report import Reporter
from .state import CHECKPOINT_NAME, RUN_FILES, Run, StopRequest, check_finite, load_resumed, new_run_folder, start_run
from .stopping import track_validation, use_best_weights


def train(config: TrainConfig, given: set[str] = frozenset()) -> dict:
    """Run the training loop, then the final evaluation; returns a summary (test loss, wall time, folder).

    ``given`` names the settings set on the command line (or by a preset), which a resumed run checks against
    its checkpoint.
    """
    started = time.perf_counter()
    config.validate(resuming=bool(config.options.resume))  # a resumed run's whole configuration: load_resumed
    check_processes(config.options.eval_workers, "--eval-workers")
    config, saved = load_resumed(config, given)  # before the data: a bad checkpoint should not wait for a download
    options = config.options
    # the run's folder, checked before the data too: a folder that cannot be written fails at once
    out = Path(options.out) if options.out else (Path(options.resume).parent if saved
                                                 else new_run_folder(config.data.dataset))
    made = missing_folders(out)
    out = prepare_folder(out, "--out")
    try:
        with FolderLock(out):  # one process at a time in a run's folder
            claim_folder(out, config, saved)
            dataset = load_dataset(config.data.dataset, options.data_dir, download=not options.no_download,
                                   progress=not options.no_progress, image_size=config.data.image_size)
            # the checkpoint records the images' size
            config.data = dataclasses.replace(config.data, image_size=shown_size(dataset.image_shape))
            if config.data.dataset not in DATASETS:  # your own images: say what was read and how it was split
                print(f"data: {dataset.describe()}")
            dataset, validation = prepare_data(dataset, config.data)
            run = start_run(config, saved, out, dataset.train_images, dataset.train_labels, dataset.num_classes)
            if saved is not None and run.wall_seconds is None:
                print(f"note: {options.resume} does not record how long the run has trained (written before "
                      "numpyvae kept the training clock); wall_seconds is unknown: nan in metrics.csv, null in "
                      "summary.json", file=sys.stderr)
            if run.config.schedule.iwae_after >= run.total_steps:  # said, not refused: a run may be trained in parts
                print(f"note: --iwae-after {run.config.schedule.iwae_after} is not before this run's last step "
                      f"({run.total_steps:,}): it trains the ELBO only, until resumed with more steps",
                      file=sys.stderr)
            reporter = Reporter(run, dataset.test_images, dataset.test_labels, validation,
                                image_shape=dataset.image_shape)
            print(kernels.summary_line(), flush=True)  # the BLAS, its kernels and threads: what the speed rests on
            stopped_by = run_steps(run, reporter)
            return finish(run, dataset, stopped_by, time.perf_counter() - started)
    except Interrupt as interrupt:  # outside the steps, which stop gracefully: say what is left to resume
        interrupt.what_is_left = what_is_left(out, options)
        raise
    finally:  # bad data or an interrupted download: no empty run folder is left behind
        remove_empty_folders(made)


def claim_folder(out: Path, config: TrainConfig, saved) -> None:
    """A new run may start in ``out`` only if no run is there, or --overwrite says to replace it (its files go)."""
    checkpoint = out / CHECKPOINT_NAME
    resuming_here = saved is not None and Path(config.options.resume).resolve() == checkpoint.resolve()
    if resuming_here or not checkpoint.exists():
        return
    if not config.options.overwrite:
        raise UsageError(f"--out {out} holds another run ({CHECKPOINT_NAME}); continue it with "
                         f"{resume_command(checkpoint, config.options)}, or give --overwrite to replace it")
    for name in RUN_FILES:
        (out / name).unlink(missing_ok=True)


def resume_command(checkpoint: Path, options) -> str:
    """The command that continues the run, shell-quoted, ready to paste (with the --data-dir it was given)."""
    words = ["python", "train.py", "--resume", str(checkpoint)]
    if options.data_dir:
        words += ["--data-dir", str(options.data_dir)]
    return shlex.join(words)


def what_is_left(out: Path, options) -> str:
    checkpoint = out / CHECKPOINT_NAME
    if checkpoint.exists():
        return f"{checkpoint} is complete; resume with: {resume_command(checkpoint, options)}"
    return "nothing was saved yet, so there is nothing to resume"


def run_steps(run: Run, reporter: Reporter) -> str | None:
    """Train up to ``run.total_steps``, reporting and checkpointing on schedule; the name of the signal that
    stopped it early, if any. The checkpoint on disk is up to date when it returns."""
    options, model, optimizer = run.config.options, run.model, run.optimizer
    checkpoint_path = run.out / CHECKPOINT_NAME
    loss_sum, loss_count = 0.0, 0
    clock = time.perf_counter()  # the training clock runs from here, paused during the reports

    def lap() -> None:  # add the time since the clock last started to the run's count
        nonlocal clock
        now = time.perf_counter()
        run.add_wall_seconds(now - clock)
        clock = now

    progress = progress_bar(total=run.total_steps, initial=run.step, disable=options.no_progress, unit="step",
                    dynamic_ncols=True, desc="training")
    with StopRequest() as stop:
        while run.step < run.total_steps and stop.signal_name is None and not run.stopping.stopped:
            model.kl_weight = run.kl_weight_at(run.step + 1)
            objective = run.objective_at(run.step + 1)
            if objective != model.objective:  # --iwae-after: the ELBO gives way to IWAE
                model.objective = objective
                progress.write(f"from step {run.step + 1}: training the IWAE bound with K = {model.k} "
                               f"(--iwae-after {run.config.schedule.iwae_after})")
            optimizer.lr = run.schedule(run.step)
            batch = run.binarizer(run.batcher.next_batch())
            with np.errstate(all="ignore"):  # check_finite reports a blow-up better than NumPy's warnings
                started = time.perf_counter()
                terms = model.loss_terms(batch, labels=run.batcher.last_labels)
                loss = float(terms.losses.mean())  # model.loss, keeping the terms for check_finite
                model.backward()
                run.step_seconds += time.perf_counter() - started
            check_finite(model, terms, loss, run.step + 1, checkpoint_path)
            if run.config.optimizer.clip_grad is not None:
                clip_by_global_norm(model.grads, run.config.optimizer.clip_grad)
            started = time.perf_counter()
            optimizer.step(model.grads)
            run.step_seconds += time.perf_counter() - started
            run.step += 1
            loss_sum, loss_count = loss_sum + loss, loss_count + 1
            progress.update()
            if run.step % 50 == 0:
                progress.set_postfix(loss=f"{loss:.2f}", refresh=False)
            if run.step % options.log_every == 0 or run.step == run.total_steps:
                lap()
                train_loss = loss_sum / loss_count
                test_loss = reporter.report(run.step, train_loss, run.wall_seconds)
                progress.write(f"step: {run.step} loss: {train_loss:.4f} test: {test_loss:.4f}"
                               + track_validation(run, reporter.validation_loss))
                loss_sum, loss_count = 0.0, 0
                clock = time.perf_counter()  # the report's time is not training time
            if run.step % options.checkpoint_every == 0:
                lap()  # the checkpoint holds the clock up to now; writing it counts as training
                save_checkpoint(checkpoint_path, run.checkpoint())
    lap()
    progress.close()
    save_checkpoint(checkpoint_path, run.checkpoint())
    if stop.signal_name is not None:
        print(f"stopped by {stop.signal_name} after step {run.step}; checkpoint saved; resume with: "
              f"{resume_command(checkpoint_path, options)}", file=sys.stderr)
    return stop.signal_name


def finish(run: Run, dataset: Dataset, stopped_by: str | None, seconds_so_far: float) -> dict:
    """The final evaluation (evaluation.json; IWAE with --eval-k), the pictures, and summary.json.

    A run stopped by a signal gets only the quick -ELBO: whoever pressed Ctrl-C wants it to end.
    """
    started = time.perf_counter()
    model = run.model
    options = run.config.options
    weights = use_best_weights(run)
    results = evaluate(model, dataset.test_images, k=0 if stopped_by else options.eval_k, seed=0,
                       progress=not options.no_progress, labels=dataset.test_labels if model.conditional else None,
                       workers=options.eval_workers)
    results.update(data_protocol(run.config.data), weights=weights)
    write_json(run.out / "evaluation.json", results)
    if not stopped_by:
        write_all(model, dataset, run.out, metrics=run.out / "metrics.csv", seed=run.config.run.seed)
    test_loss = results["negative_elbo"] if model.variational else results["reconstruction"]
    evaluation_seconds = time.perf_counter() - started  # the final evaluation and pictures; the rest is the data
    # (loaded or fetched) and the training with its reports and checkpoints
    summary = {"step": run.step, "test_loss": test_loss, "seconds": seconds_so_far + evaluation_seconds,
               "train_seconds": seconds_so_far, "evaluation_seconds": evaluation_seconds,
               "step_seconds": run.step_seconds, "wall_seconds": run.wall_seconds, "blas": kernels.describe(),
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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser(preset_of(argv))

    def train_command(args: argparse.Namespace) -> int:
        given = given_flags(parser, argv)
        if args.preset:  # the preset's values count as given: a resumed run checks them like flags
            length = {"steps", "epochs"} & given
            for name in {"steps", "epochs"} - given if length else ():
                setattr(args, name, None)  # --steps or --epochs beside a preset replaces its length
            given |= set(PRESETS[args.preset]) - ({"steps", "epochs"} if length else set())
        stopped_by = train(from_namespace(args), given)["stopped_by"]
        return 128 + signal.Signals[stopped_by].value if stopped_by else 0  # the shell's convention

    return run_command(train_command, parser, argv)
