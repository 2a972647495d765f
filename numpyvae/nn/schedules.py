"""Learning-rate schedules: the rate of every training step as a pure function of the step.

    constant      lr_t = lr
    step          lr_t = lr * gamma ^ floor(t / every)                      (drop by gamma every `every` steps)
    exponential   lr_t = lr * gamma ^ (t / every)                           (the same decay, smoothly)
    cosine        lr_t = lr_min + (lr - lr_min) * (1 + cos(pi * min(t, T) / T)) / 2    (T = the horizon)

and, in front of any of them, an optional linear warm-up over W steps: lr_t is multiplied by
min(1, (t + 1) / W), so no step has rate 0 and step W - 1 has the full rate. Here t counts the steps taken
before this one: the first step of a run (t = 0) without warm-up uses lr itself.

A schedule holds no state but its settings: the step counter of the run is its position, and the cosine
horizon T is fixed when the run starts (the run's total steps unless given), kept in the checkpoint with
the other settings so that a resumed run, even one given a new target, continues on the same curve.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

SCHEDULES = ("constant", "step", "exponential", "cosine")


@dataclass(frozen=True)
class Schedule:
    """The learning rate of each step ``t`` (0-based: the number of steps already taken).

    Attributes
    ----------
    kind : one of SCHEDULES
    lr : the base rate
    warmup : W, the linear warm-up length in steps (0: none)
    gamma : the decay factor of "step" and "exponential"
    every : the steps per decay by gamma ("step", "exponential")
    horizon : T, the steps over which "cosine" falls from lr to lr_min (held at lr_min after)
    lr_min : the floor of "cosine"
    """

    kind: str = "constant"
    lr: float = 1e-3
    warmup: int = 0
    gamma: float = 0.1
    every: int = 1000
    horizon: int = 1
    lr_min: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.kind!r}")
        if not self.lr > 0:
            raise ValueError(f"the learning rate must be positive, got {self.lr}")
        if self.warmup < 0:
            raise ValueError(f"the warm-up must be at least 0 steps, got {self.warmup}")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {self.gamma}")
        if self.every < 1:
            raise ValueError(f"the decay interval must be at least 1 step, got {self.every}")
        if self.horizon < 1:
            raise ValueError(f"the cosine horizon must be at least 1 step, got {self.horizon}")
        if not 0 <= self.lr_min <= self.lr:
            raise ValueError(f"the cosine floor must be in [0, lr], got {self.lr_min}")

    def decayed(self, t: int) -> float:
        """The rate of step t before the warm-up factor."""
        if self.kind == "constant":
            return self.lr
        if self.kind == "step":
            return self.lr * self.gamma ** (t // self.every)
        if self.kind == "exponential":
            return self.lr * self.gamma ** (t / self.every)
        progress = min(t, self.horizon) / self.horizon
        return self.lr_min + (self.lr - self.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))

    def __call__(self, t: int) -> float:
        """The learning rate of step t (0-based), warm-up included."""
        if t < 0:
            raise ValueError(f"the step must be at least 0, got {t}")
        rate = self.decayed(t)
        if self.warmup and t < self.warmup:
            rate *= (t + 1) / self.warmup
        return rate

    def state_dict(self) -> dict:
        """The settings as a JSON-ready dict (what a checkpoint keeps)."""
        return asdict(self)

    @classmethod
    def from_state_dict(cls, state: dict) -> Schedule:
        return cls(**state)
