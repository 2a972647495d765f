"""The shape of a VAE's two networks: the hidden widths, each hidden layer's activation, their defaults.

    encoder   input -> hidden_dims[0] -> ... -> hidden_dims[-1]          (then the mean and std heads)
    decoder   latent -> decoder_dims[0] -> ... -> decoder_dims[-1]        (then the output layer)

Defaults generalize the seed's 500-500 model with its ELU-then-tanh encoder:

- ``decoder_dims`` mirrors ``hidden_dims`` (reversed);
- the encoder's activations are ELU for every hidden layer but the last, which is tanh
  (two layers: the seed's ``elu, tanh``; three: ``elu, elu, tanh``; one: ``tanh``);
- the decoder's mirror the encoder's (reversed: the seed's ``tanh, elu``) when both networks have the
  same depth; for a decoder of another depth, the same rule read backwards (tanh first, ELU after),
  unless the encoder's activations were given as one name for all layers, which the decoder then shares.

An activation list of one name applies it to every layer of its network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..nn.layers import ACTIVATIONS


@dataclass
class Architecture:
    """Resolved widths and activation names of both networks (plain lists, JSON-ready)."""

    hidden_dims: list[int]
    decoder_dims: list[int]
    activations: list[str]
    decoder_activations: list[str]


def seed_pattern(depth: int) -> list[str]:
    """ELU for all but the last encoder layer, tanh for the last: the seed's ``elu, tanh`` at depth 2."""
    return ["elu"] * (depth - 1) + ["tanh"]


def _names(value: str | Sequence[str] | None, depth: int, which: str) -> list[str] | None:
    """One name, or a list of one name per layer (a list of one name applies to every layer)."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else [str(name) for name in value]
    unknown = [name for name in names if name not in ACTIVATIONS]
    if unknown:
        raise ValueError(f"{which}: unknown activation {unknown[0]!r}; choose from {', '.join(ACTIVATIONS)}")
    if len(names) == 1:
        names = names * depth
    if len(names) != depth:
        raise ValueError(f"{which} names {len(names)} activations for {depth} hidden layers; "
                         "give one per layer or one for all")
    return names


def resolve(hidden_dims: Sequence[int], decoder_dims: Sequence[int] | None = None,
            activations: str | Sequence[str] | None = None,
            decoder_activations: str | Sequence[str] | None = None) -> Architecture:
    """Fill in the defaults and check everything; ValueError naming the first problem."""
    hidden = [int(width) for width in hidden_dims]
    decoder = list(reversed(hidden)) if decoder_dims is None else [int(width) for width in decoder_dims]
    for which, widths in (("hidden_dims", hidden), ("decoder_dims", decoder)):
        if not widths or min(widths) < 1:
            raise ValueError(f"{which} needs one or more widths of at least 1, got {widths}")
    encoder_names = _names(activations, len(hidden), "activations")
    decoder_names = _names(decoder_activations, len(decoder), "decoder_activations")
    if decoder_names is None:
        if encoder_names is not None and len(decoder) == len(hidden):
            decoder_names = list(reversed(encoder_names))
        elif encoder_names is not None and len(set(encoder_names)) == 1:
            decoder_names = [encoder_names[0]] * len(decoder)
        elif encoder_names is not None:
            raise ValueError(f"the decoder has {len(decoder)} hidden layers and the encoder {len(hidden)}: "
                             "give decoder_activations (--decoder-activations) to go with activations")
        else:
            decoder_names = list(reversed(seed_pattern(len(decoder))))
    if encoder_names is None:
        encoder_names = seed_pattern(len(hidden))
    return Architecture(hidden, decoder, encoder_names, decoder_names)
