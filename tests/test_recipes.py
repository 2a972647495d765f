"""The measured recipes of docs/results.md as presets: binarized-mnist-10min and -60min are the binarized-mnist
recipe with a run length in steps and the ELBO-to-IWAE switch; flags beside one win, --steps or --epochs replaces
its length, and a run of it resumed mid-recipe, across the switch, matches one uninterrupted run to the bit."""

from dataclasses import fields

import pytest
from test_resume import assert_same_state

from numpyvae.config import shown
from numpyvae.formats.checkpoint import load_checkpoint
from numpyvae.training import PRESETS, main
from numpyvae.training.config import Options, build_parser, from_namespace

# the recipe on a model and data small enough for a test: every other setting is the preset's
SMALL = ["--hidden-dims", "16", "12", "--latent-dim", "3", "--batch-size", "4", "--lr-warmup", "2", "--eval-k", "0",
         "--eval-workers", "1", "--log-every", "2", "--checkpoint-every", "2", "--no-progress", "--no-download"]


@pytest.fixture
def tiny_root(tiny_dataset):
    return str(tiny_dataset[0].parent)


def config_of(*argv):
    preset = argv[argv.index("--preset") + 1]
    args = build_parser(preset).parse_args(list(argv))
    return from_namespace(args)


def setting(config, name):
    return next(getattr(section, name) for section in config.sections().values() if hasattr(section, name))


@pytest.mark.parametrize("preset, steps, switch, latent, widths, activations", [
    ("binarized-mnist-10min", 28000, 24000, 50, [300, 300], ["glu", "glu"]),
    ("binarized-mnist-60min", 112000, 40000, 50, [300, 300], ["glu", "glu"])])
def test_the_timed_recipes_are_the_binarized_recipe_switched_to_iwae_for_their_last_steps(preset, steps, switch,
                                                                                         latent, widths, activations):
    config = config_of("--preset", preset)
    for name, value in PRESETS["binarized-mnist"].items():
        if name not in ("epochs", "log_every", "checkpoint_every"):
            assert setting(config, name) == value, name
    assert config.options.steps == steps and config.options.epochs is None
    assert config.schedule.iwae_after == switch and config.model.k == 5 and config.model.objective == "elbo"
    assert config.model.latent_dim == latent and config.model.hidden_dims == widths
    assert config.model.resolved().activations == activations and config.model.resolved().decoder_dims == widths


@pytest.mark.parametrize("length, steps", [(["--steps", "30"], 30), (["--epochs", "3"], None)])
def test_steps_or_epochs_beside_a_preset_replace_its_length(length, steps, tiny_root, tmp_path, capsys):
    out = tmp_path / "run"
    for preset in ("binarized-mnist", "binarized-mnist-10min"):  # one preset sets epochs, the other steps
        assert main(["--preset", preset, *length, "--iwae-after", "10000", "--k", "5", "--out", str(out),
                     "--overwrite", "--data-dir", tiny_root, *SMALL]) == 0, capsys.readouterr().err
        saved = load_checkpoint(out / "checkpoint.npz")
        assert saved.step == (steps or 15), preset  # the tiny set holds 20 images: 3 epochs of batch 4
        assert saved.config["run"]["iwae_after"] == 10000
    assert "--steps and --epochs" not in capsys.readouterr().err


def test_both_lengths_beside_a_preset_are_still_one_usage_error(tmp_path, capsys):
    code = main(["--preset", "binarized-mnist-10min", "--steps", "30", "--epochs", "2", "--out", str(tmp_path / "r"),
                 "--data-dir", str(tmp_path), "--no-download"])
    err = capsys.readouterr().err
    assert code == 2 and "--steps and --epochs both set the run's length: give one" in err and err.count("\n") == 1


def test_the_ten_minute_recipe_resumed_across_its_switch_is_bit_identical(tiny_root, tmp_path, capsys):
    # the cosine's length is the run's target when it starts: the run trained in parts names the whole run's
    flags = ["--preset", "binarized-mnist-10min", "--iwae-after", "3", "--lr-horizon", "6", "--data-dir", tiny_root,
             *SMALL]
    assert main([*flags, "--steps", "6", "--out", str(tmp_path / "whole")]) == 0
    assert main([*flags, "--steps", "2", "--out", str(tmp_path / "parts")]) == 0
    capsys.readouterr()
    assert main([*flags, "--steps", "6", "--resume", str(tmp_path / "parts" / "checkpoint.npz")]) == 0
    assert "from step 4: training the IWAE bound with K = 5" in capsys.readouterr().out
    assert_same_state(tmp_path / "whole" / "checkpoint.npz", tmp_path / "parts" / "checkpoint.npz")
    saved = load_checkpoint(tmp_path / "parts" / "checkpoint.npz")
    assert saved.config["run"]["iwae_after"] == 3 and saved.config["model"]["k"] == 5
    assert saved.config["run"]["lr_schedule"] == "cosine" and saved.config["run"]["binarize"] == "dynamic"


def test_resuming_the_recipe_with_another_switch_is_refused(tiny_root, tmp_path, capsys):
    flags = ["--preset", "binarized-mnist-10min", "--iwae-after", "3", "--data-dir", tiny_root, *SMALL]
    assert main([*flags, "--steps", "2", "--out", str(tmp_path / "run")]) == 0
    capsys.readouterr()
    code = main(["--preset", "binarized-mnist-10min", "--data-dir", tiny_root, *SMALL, "--steps", "6",
                 "--resume", str(tmp_path / "run" / "checkpoint.npz")])  # the preset's own --iwae-after
    err = capsys.readouterr().err
    switch = PRESETS["binarized-mnist-10min"]["iwae_after"]
    assert code == 2 and f"--iwae-after {switch} contradicts the checkpoint's 3" in err and err.count("\n") == 1, err


def test_the_preset_help_says_every_flag_each_preset_sets():
    """--help's account of the presets is made from PRESETS: each preset's segment names each flag it sets with the
    value, the later presets as binarized-mnist with what they change (and without what they drop)."""
    text = next(f for f in fields(Options) if f.name == "preset").metadata["help"]
    segments = dict(part.split(": ", 1) for part in text.split(" (measured in")[0].split("; "))
    base = PRESETS["binarized-mnist"]
    assert list(segments) == list(PRESETS)
    for name, values in PRESETS.items():
        for key, value in values.items():
            said = f"--{key.replace('_', '-')} {shown(value)}"
            assert (said in segments[name]) == (values is base or base.get(key) != value), (name, said)
        for key in set(base) - set(values):
            assert f"without --{key.replace('_', '-')}" in segments[name], (name, key)
