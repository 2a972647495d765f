"""The configuration of ``python train.py``: typed sections, their flags, the presets, and what a checkpoint keeps.

    ModelConfig      the VAE (numpyvae.models.config)                                    kept in the checkpoint
    OptimizerConfig  the optimizer and its learning rate                                 kept
    ScheduleConfig   the learning-rate schedule and the KL warm-up                       kept
    DataConfig       the image set, its binarization, the held-out images, the batches   kept
    RunConfig        the seed and early stopping                                         kept
    Options          this command's own: how long, how often, where, what to evaluate    not kept

A ``TrainConfig`` holds one of each. The flags of ``python train.py`` are derived from the sections' fields
(numpyvae.config); the kept sections are the run's settings, which a checkpoint stores (the model's under
"model", the others under "run") and ``--resume`` takes back, refusing a flag that contradicts them.
A preset is a partial configuration: values for some of the fields, which become the flags' defaults.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import asdict, dataclass, field

from ..cli import Parser
from ..config import (
    SettingError,
    add_arguments,
    at_least,
    between,
    flag_of,
    from_arguments,
    from_dict,
    positive,
    setting,
    shown,
)
from ..config import problems as section_problems
from ..data import DATASETS, dataset_argument, image_size_argument
from ..data.binarization import BINARIZATIONS, TEST_DRAW_SEED
from ..models.config import ModelConfig
from ..nn.schedules import SCHEDULES

DEFAULT_STEPS = 10_000  # the seed's run
NUM_CLASSES = 10  # MNIST's digits and Fashion-MNIST's garments: the conditional VAE's labels


@dataclass
class OptimizerConfig:
    optimizer: str = setting("sgd", "sgd (the seed's) or adam", choices=("sgd", "adam"))
    lr: float = setting(0.001, "learning rate", check=positive)
    momentum: float = setting(0.0, "SGD momentum", check=between(0, 1, high_open=True))
    nesterov: bool = setting(False, "Nesterov momentum (SGD, momentum > 0)")
    clip_grad: float | None = setting(None, "scale the gradients down whenever their global L2 norm exceeds NORM",
                                      check=positive, metavar="NORM")

    def rules(self) -> list[tuple[bool, str]]:
        return [(not self.nesterov or self.momentum > 0, "--nesterov needs --momentum > 0")]


@dataclass
class ScheduleConfig:
    lr_schedule: str = setting("constant", "constant: --lr throughout; step: times --lr-gamma every --lr-every "
                               "steps; exponential: the same decay, smoothly; cosine: from --lr down to --lr-min "
                               "over --lr-horizon steps", choices=SCHEDULES)
    lr_warmup: int = setting(0, "raise the rate linearly over the first STEPS steps", check=at_least(0),
                             metavar="STEPS")
    lr_gamma: float = setting(0.1, "decay factor (step, exponential)", check=between(0, 1, low_open=True))
    lr_every: int = setting(1000, "steps per decay by --lr-gamma (step, exponential)", check=at_least(1),
                            metavar="STEPS")
    lr_min: float = setting(0.0, "the rate the cosine ends at", check=at_least(0))
    lr_horizon: int | None = setting(None, "steps of the cosine (default: the run's total steps when it starts)",
                                     check=at_least(1), metavar="STEPS")
    kl_warmup: int = setting(0, "raise the KL weight linearly from 0 over this many steps (KL annealing)",
                             check=at_least(0), metavar="STEPS")
    iwae_after: int = setting(0, "after this many steps of the ELBO, train the IWAE bound with --k samples for the "
                              "rest of the run (Burda et al. train IWAE from a trained VAE; 0: --objective "
                              "throughout)", check=at_least(0), metavar="STEPS")

    def rules(self) -> list[tuple[bool, str]]:
        decaying = self.lr_schedule in ("step", "exponential")
        return [(decaying or (self.lr_gamma == 0.1 and self.lr_every == 1000),
                 "--lr-gamma and --lr-every need --lr-schedule step or exponential"),
                (self.lr_schedule == "cosine" or (self.lr_min == 0 and self.lr_horizon is None),
                 "--lr-min and --lr-horizon need --lr-schedule cosine")]


@dataclass
class DataConfig:
    dataset: str = setting("mnist", f"which image set: {', '.join(DATASETS)}, or the path of a folder of images "
                           "(labelled by sub-folder, or not), a .npy or .npz file, an IDX file, or a folder of four "
                           "IDX files; data without a split of its own has one image in ten held out as the test set "
                           "by a fixed permutation (README, Data)", parse=dataset_argument, metavar="NAME|PATH")
    image_size: str | None = setting(None, "height x width of the images (N for N x N): images of another size are "
                                     "resized to it (Pillow's bilinear filter, aspect ratio not kept), flat (N, H*W) "
                                     "arrays are read as it (default: the data's own size, which must then be one "
                                     "for all)", parse=image_size_argument, metavar="HxW")
    binarize: str = setting("none", "none: grey levels (the seed's; not comparable with published likelihoods); "
                            "static: pixel > 0.5 (not Larochelle's fixed binarization); dynamic: each training batch "
                            f"drawn as Bernoulli(pixel), the test set one fixed draw (seed {TEST_DRAW_SEED})",
                            choices=BINARIZATIONS)
    validation: int = setting(0, "hold out the last N training images; log their -ELBO and keep best.npz "
                              "(0: none)", check=at_least(0), metavar="N")
    batch_size: int = setting(128, "images per training step", check=at_least(1))
    conditional: bool = setting(False, "the conditional VAE: the one-hot label joins x at the encoder and z at "
                                "the decoder")


@dataclass
class RunConfig:
    seed: int = setting(0, "seed for the weights, dropout, noise and data order", check=at_least(0))
    early_stopping: int = setting(0, "stop when the validation -ELBO has not improved for PATIENCE reports in a row "
                                  "(a report every --log-every steps; 0: never; needs --validation)",
                                  check=at_least(0), metavar="PATIENCE")


# the recipe of docs/results.md: the seed's 784-500-500-20 model without dropout, dynamically binarized MNIST,
# Adam at 0.003 with a 200-step warm-up and a cosine decay, batch 200, 70 epochs (21,000 steps): 463 s of
# training on this project's 2-core machine, IWAE(5000) 87.41 nats over the 10,000 test images
BINARIZED_MNIST = dict(binarize="dynamic", keep_prob=1.0, optimizer="adam", lr=3e-3, batch_size=200,
                       lr_schedule="cosine", lr_warmup=200, epochs=70.0, eval_k=5000, eval_workers=2,
                       log_every=6000, checkpoint_every=6000)
# issue 25's models on the same recipe (not run to the end yet: docs/hierarchical.md claims no likelihood for
# them): Burda et al.'s two stochastic layers, 784-200-200-100 (z1) -100-100-50 (z2), tanh; and with the VampPrior
# of 500 pseudo-inputs on z2, its KL sampled
TWO_LAYERS = dict(latent_dims=[100, 50], hidden_dims=[200, 200], upper_hidden_dims=[100, 100], activations=["tanh"])
# issue 25's timed recipes (docs/results.md): the binarized-mnist recipe, a length in steps, trained by the ELBO and
# then by the IWAE bound with K = 5 (Burda et al. train IWAE from a trained VAE), on the gated dense layers of the
# VampPrior paper, two of 300 units in each network (a step costs 0.85 of the 500-500 model's and learns faster),
# with a latent code of 50; each sized to its minutes of training on the 2-core AMD EPYC (model 17, AVX-512) where
# it was measured
RECIPE = {key: value for key, value in BINARIZED_MNIST.items() if key != "epochs"}
GATED = dict(hidden_dims=[300, 300], activations=["glu"], latent_dim=50)
# the ELBO for 24,000 steps, the IWAE bound for 4,000: 507 to 552 s of training, IWAE(5000) 85.37 (three seeds;
# 85.85 with the seed's code of 20)
TEN_MINUTES = dict(steps=28000, iwae_after=24000, k=5, **GATED)
# the ELBO for 40,000 steps, the IWAE bound for 72,000 (the ELBO's bound stops improving long before an hour):
# 55.7 minutes of training on the EPYC (49.0 on a faster Intel Xeon), IWAE(5000) 83.63 (two seeds; 83.83 with the
# seed's code of 20)
SIXTY_MINUTES = dict(steps=112000, iwae_after=40000, k=5, **GATED)
PRESETS = {
    "binarized-mnist": BINARIZED_MNIST,
    "binarized-mnist-10min": {**RECIPE, **TEN_MINUTES},
    "binarized-mnist-60min": {**RECIPE, **SIXTY_MINUTES},
    "two-layer-mnist": {**BINARIZED_MNIST, **TWO_LAYERS},
    "vampprior-mnist": {**BINARIZED_MNIST, **TWO_LAYERS, "prior": "vampprior", "kl": "sampled", "pseudo_inputs": 500},
}


def _preset_help() -> str:
    """Each preset as the flags it sets, the later ones as what they change in binarized-mnist: made from PRESETS
    itself, so the help cannot drift from what a preset does."""
    def flags(values: dict) -> str:
        return ", ".join(f"--{key.replace('_', '-')} {shown(value)}" for key, value in values.items())
    base = PRESETS["binarized-mnist"]
    def change(values: dict) -> str:
        dropped = ", ".join("--" + key.replace("_", "-") for key in base if key not in values)
        return (f"binarized-mnist{' without ' + dropped + ',' if dropped else ''} with "
                + flags({key: value for key, value in values.items() if key not in base or base[key] != value}))
    return "; ".join([f"binarized-mnist: {flags(base)}"] + [f"{name}: {change(values)}" for name, values in
                                                          PRESETS.items() if values is not base]) + \
        " (measured in docs/results.md and docs/hierarchical.md); flags given beside a preset win"


@dataclass
class Options:
    """What this one command does with the run; none of it is kept: a resumed run may change all of it."""

    steps: int | None = setting(None, f"total training steps (default: {DEFAULT_STEPS:,}; on --resume: the total "
                                "to reach, counting the steps already taken; without it, the run's own target)",
                                check=at_least(1))
    epochs: float | None = setting(None, "train for this many passes over the training set instead of --steps",
                                   check=positive)
    log_every: int = setting(1000, "print the loss, write images and evaluate on the test set every this many "
                             "steps", check=at_least(1))
    checkpoint_every: int = setting(1000, "save a checkpoint every this many steps", check=at_least(1))
    out: str | None = setting(None, "folder for images, metrics and the checkpoint (default: a new "
                              "runs/<dataset>-<time> folder; on --resume, the checkpoint's folder)")
    resume: str | None = setting(None, "continue the run saved in this checkpoint.npz", metavar="CHECKPOINT")
    overwrite: bool = setting(False, "start a new run in --out even though it holds another run, whose checkpoint, "
                              "metrics and results are removed first")
    no_progress: bool = setting(False, "no progress bar (for logs and CI)")
    eval_k: int = setting(0, "at the end, also estimate -log p(x) by the IWAE bound with K samples per test "
                          "image (0: skip; 100 takes about 20 s)", check=at_least(0), metavar="K")
    eval_workers: int = setting(1, "processes for the final IWAE pass (--eval-k); 2 keeps both cores of a "
                                "2-core machine busy", check=at_least(1))
    data_dir: str | None = setting(None, "folder holding <dataset>/ with the IDX files (default: "
                                   "$NUMPYVAE_DATA_DIR, else ./data); missing files are downloaded")
    no_download: bool = setting(False, "fail instead of downloading missing files")
    preset: str | None = setting(None, _preset_help(), choices=tuple(PRESETS))


# the sections a run keeps, in the order of the flags' groups in --help
KEPT = {"model": ModelConfig, "optimizer": OptimizerConfig, "schedule": ScheduleConfig, "data": DataConfig,
        "run": RunConfig}
GROUPS = {**KEPT, "options": Options}

@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    optimizer: OptimizerConfig = field(default_factory=OptimizerConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: DataConfig = field(default_factory=DataConfig)
    run: RunConfig = field(default_factory=RunConfig)
    options: Options = field(default_factory=Options)

    def sections(self) -> dict:
        return {name: getattr(self, name) for name in GROUPS}

    def kept_rules(self) -> list[tuple[bool, str]]:
        """The rules across the kept sections (those a checkpoint stores)."""
        model, schedule = self.model, self.schedule
        switch = schedule.iwae_after > 0
        return [
            (model.k == 1 or model.objective == "iwae" or switch,
             "--k sets the samples of --objective iwae or --iwae-after; the ELBO draws one"),
            (not switch or model.objective == "elbo", "--iwae-after switches from the ELBO: it needs --objective elbo"),
            (not switch or model.variational, "--iwae-after needs --model vae (the autoencoder has no posterior)"),
            (not switch or model.kl_weight == 1,
             "--iwae-after ends in the IWAE bound, which has no KL term to weigh: it needs --kl-weight 1"),
            (not switch or schedule.kl_warmup <= schedule.iwae_after,
             "--kl-warmup must end by --iwae-after: the IWAE bound has no KL term to warm up"),
            (model.objective != "iwae" or schedule.kl_warmup == 0,
             "--objective iwae has no KL term to weigh: --kl-weight and --kl-warmup apply to the ELBO only"),
            (not self.run.early_stopping or self.data.validation > 0, "--early-stopping needs --validation N"),
            (schedule.lr_min <= self.optimizer.lr, f"--lr-min must be in [0, --lr], got {schedule.lr_min}"),
        ]

    def option_rules(self) -> list[tuple[bool, str]]:
        """The rules of what this one command does."""
        options = self.options
        return [
            (options.steps is None or options.epochs is None,
             "--steps and --epochs both set the run's length: give one"),
            (not (options.resume and options.overwrite),
             "--overwrite replaces a run and --resume continues one: give one"),
        ]

    def problems(self, resuming: bool = False) -> list[str]:
        """Every reason the configuration is invalid. ``resuming``: the command line of a --resume, whose kept
        settings are the checkpoint's, so only each value's own check and the rules of the options apply (the
        rules across kept settings hold for the configuration the checkpoint and the flags make together:
        ``--resume ... --pseudo-inputs 500`` alone must not fail for want of ``--prior vampprior``)."""
        sections = {**self.sections(), "model": self.model_for(self.model.input_dim)}  # --conditional: labels
        found = [problem for name, section in sections.items()
                 for problem in section_problems(section, rules=not resuming or name == "options")]
        rules = ([] if resuming else self.kept_rules()) + self.option_rules()
        return found + [message for ok, message in rules if not ok]

    def validate(self, resuming: bool = False) -> TrainConfig:
        """The configuration itself when valid; otherwise SettingError naming the first flag at fault."""
        for problem in self.problems(resuming):
            raise SettingError(problem)
        return self

    def kept(self) -> dict:
        """What a checkpoint stores: the model's settings, and those of the other kept sections in one dict."""
        run = {name: value for section in list(KEPT)[1:] for name, value in asdict(getattr(self, section)).items()}
        return {"model": asdict(self.model.resolved()), "run": run}

    def model_for(self, input_dim: int, num_classes: int = NUM_CLASSES) -> ModelConfig:
        """The model's configuration for images of ``input_dim`` pixels and, when conditional, labels of
        ``num_classes`` classes (both the data's)."""
        return dataclasses.replace(self.model, input_dim=input_dim,
                                   num_classes=num_classes if self.data.conditional else 0)


def kept_from_dict(model: dict, run: dict, source: str) -> dict:
    """The kept sections stored in a checkpoint (``model`` and the flat ``run``), each typed; ValueError naming
    ``source`` for settings of the wrong kind. Settings a checkpoint lacks are the defaults it ran with."""
    if not isinstance(model, dict) or not isinstance(run, dict):
        raise ValueError(f"{source}: the settings are not JSON objects")
    model_names = {f.name for f in dataclasses.fields(ModelConfig)}
    if "model" in run:  # written before the typed configuration, which kept the model's settings in both places
        model = {"kl_weight": run.get("kl_weight", 1.0), **model}  # its model settings lacked the KL weight
        run = {key: value for key, value in run.items() if key not in model_names and key != "model"}
    sections = {"model": from_dict(ModelConfig, model, source)}
    unknown = set(run) - {f.name for cls in list(KEPT.values())[1:] for f in dataclasses.fields(cls)}
    if unknown:
        names = ", ".join(map(json.dumps, sorted(unknown)))  # as stored: a key may hold any character
        raise ValueError(f"{source}: the run settings hold {names}, unknown to this numpyvae")
    for name, cls in list(KEPT.items())[1:]:
        names = {f.name for f in dataclasses.fields(cls)}
        sections[name] = from_dict(cls, {key: value for key, value in run.items() if key in names}, source)
    return sections


def contradictions(config: TrainConfig, saved: dict, given: set[str]) -> str | None:
    """The first flag in ``given`` whose value differs from the checkpoint's ``saved`` sections, as a message."""
    try:
        model = config.model.resolved()
    except ValueError:  # layers that do not go together with the command line's defaults: compared as given
        model = config.model
    new = {**config.sections(), "model": model}
    for name, section in saved.items():
        for f in dataclasses.fields(section):
            mine, theirs = getattr(new[name], f.name), getattr(section, f.name)
            if f.name in given and mine != theirs and f.metadata["command_line"]:
                flag, typed = flag_of(f), getattr(getattr(config, name), f.name)  # as the user typed it
                return (f"{flag} {shown(typed, f)} contradicts the checkpoint's {shown(theirs, f)}; a run's settings "
                        f"cannot change on resume: drop {flag}, or start a new run")
    return None


# -- the command line ----------------------------------------------------------------------------------------

def build_parser(preset: str | None = None) -> Parser:
    """The flags of ``python train.py``, one per setting; a preset's values are their defaults."""
    parser = Parser(prog="python train.py",
                    description="Train the seed's variational autoencoder on MNIST in NumPy, every gradient by hand.")
    titles = {"options": "run", "run": "seed and early stopping"}
    for name, cls in GROUPS.items():
        add_arguments(parser.add_argument_group(titles.get(name, name)), cls)
    parser.set_defaults(**PRESETS.get(preset, {}))
    return parser


def preset_of(argv: list[str]) -> str | None:
    """The --preset named in ``argv`` (before the full parse, which takes its values as defaults)."""
    probe = argparse.ArgumentParser(add_help=False)
    probe.add_argument("--preset")
    return probe.parse_known_args(argv)[0].preset


def from_namespace(args: argparse.Namespace) -> TrainConfig:
    """The configuration the parsed flags give (validated; for a --resume, as ``TrainConfig.problems`` says)."""
    config = TrainConfig(**{name: from_arguments(cls, args) for name, cls in GROUPS.items()})
    return config.validate(resuming=bool(config.options.resume))
