"""Export a trained model for PyTorch, JAX or any safetensors reader: ``python -m numpyvae.export CKPT OUT``.

The file holds each dense layer's weight and bias under PyTorch's names and in ``nn.Linear``'s layout
(weights (out, in)), and the model's settings in its metadata; numpyvae.formats.modelfile describes it and
docs/pytorch.md shows the PyTorch module that loads it. ``numpyvae.load_model`` reads it back.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .cli import Parser, run_command
from .errors import UsageError
from .formats.atomic import check_file_destination
from .formats.modelfile import export, load_model_and_record


def build_parser() -> Parser:
    parser = Parser(prog="python -m numpyvae.export",
                    description="Write a trained model as a safetensors file with PyTorch's tensor names and "
                                "layouts and the model's settings in its metadata (see docs/pytorch.md).")
    parser.add_argument("checkpoint", help="a checkpoint.npz written by train.py (or an exported .safetensors file)")
    parser.add_argument("out", help="the .safetensors file to write (replaced if it exists)")
    return parser


def export_command(args: argparse.Namespace) -> int:
    if Path(args.out).resolve() == Path(args.checkpoint).resolve():
        raise UsageError(f"the output {args.out} is the input file; choose another name")
    check_file_destination(args.out, "the output")  # before the work, like every command's outputs
    model, record = load_model_and_record(args.checkpoint)
    export(model, args.out, record.config.get("run"), record.step, settings=record.config["model"])
    print(f"wrote {len(model.params)} tensors ({sum(p.size for p in model.params.values())} {model.dtype.name} "
          f"parameters) to {args.out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(export_command, build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
