"""Mini-batches: uint8 images kept in memory, gathered and scaled to [0, 1] one batch at a time."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError


def to_float(images: np.ndarray, dtype=np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """uint8 pixels scaled to [0, 1] in ``dtype`` (written into ``out`` when given)."""
    return np.multiply(images, np.dtype(dtype).type(1 / 255), out=out, dtype=dtype)


class MiniBatcher:
    """Endless mini-batches from a uint8 image store, reshuffled every epoch by ``rng``.

    Each epoch is a new permutation; the remainder that does not fill a batch is dropped. Rows are
    gathered into a uint8 buffer and scaled once into a float buffer, both reused: the array that
    ``next_batch`` returns is overwritten by the next call.
    """

    def __init__(self, images: np.ndarray, batch_size: int, rng: np.random.Generator, dtype=np.float32,
                 labels: np.ndarray | None = None, num_classes: int = 10) -> None:
        if not 1 <= batch_size <= len(images):
            raise UsageError(f"batch size must be between 1 and the {len(images)} images, got {batch_size}")
        self.images, self.batch_size, self.rng = images, batch_size, rng
        # with ``labels`` (N,) each batch's labels are left in ``last_labels`` as one-hot rows (B, num_classes)
        self.labels, self.num_classes = labels, num_classes
        self.last_labels: np.ndarray | None = None
        self.steps_per_epoch = len(images) // batch_size
        self.epoch, self.position = 0, 0
        self.order = rng.permutation(len(images))
        self._pixels = np.empty((batch_size, images.shape[1]), dtype=np.uint8)
        self._batch = np.empty((batch_size, images.shape[1]), dtype=dtype)

    def next_batch(self) -> np.ndarray:
        if self.position == self.steps_per_epoch:
            self.epoch, self.position = self.epoch + 1, 0
            self.order = self.rng.permutation(len(self.images))
        rows = self.order[self.position * self.batch_size:(self.position + 1) * self.batch_size]
        self.position += 1
        np.take(self.images, rows, axis=0, out=self._pixels)
        if self.labels is not None:
            self.last_labels = one_hot(self.labels[rows], self.num_classes, self._batch.dtype)
        return to_float(self._pixels, self._batch.dtype, out=self._batch)

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"order": self.order.copy(), "position": np.array(self.position), "epoch": np.array(self.epoch)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        order = np.asarray(state["order"])
        if order.shape != self.order.shape:
            raise ValueError(f"saved data order covers {order.size} images, this set has {self.order.size}")
        self.order, self.position, self.epoch = order.copy(), int(state["position"]), int(state["epoch"])


def one_hot(labels: np.ndarray, num_classes: int = 10, dtype=np.float32) -> np.ndarray:
    """Class indices (N,) as one-hot rows (N, num_classes); UsageError for a label outside 0..num_classes-1."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UsageError(f"labels must lie in 0..{num_classes - 1}, found {labels.min()}..{labels.max()}")
    return np.eye(num_classes, dtype=dtype)[labels]
