"""The images a run trains, validates and tests on: the held-out validation images and the binarized draws.

    --binarize none|static|dynamic      binarized MNIST (numpyvae.data.binarization); the test set of a binarized
                                        run is one fixed draw, so every evaluation sees the same images
    --validation N                      hold out the last N training images; their -ELBO is logged beside
                                        the test one at every report
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data import Dataset
from ..data.binarization import TEST_DRAW_SEED, VALIDATION_DRAW_SEED, fixed_binarization
from ..errors import UsageError
from .config import DataConfig


def prepare_data(dataset: Dataset, data: DataConfig) -> tuple[Dataset, tuple[np.ndarray, np.ndarray] | None]:
    """The training set less the held-out validation images and labels, and the test and validation images as
    fixed binarized draws (uint8 0 and 255) when the run binarizes.

    Returns the dataset to train and test on, and the validation (images, labels) or None.
    """
    train, labels = dataset.train_images, dataset.train_labels
    if data.validation >= len(train):
        raise UsageError(f"--validation {data.validation} leaves no training images (there are {len(train)})")
    validation = None
    if data.validation:
        held_out = fixed_binarization(train[-data.validation:], data.binarize, seed=VALIDATION_DRAW_SEED)
        unlabelled = labels is None  # images of your own may come without labels (numpyvae.data.datasets)
        validation = (held_out, None if unlabelled else labels[-data.validation:])
        train, labels = train[:-data.validation], None if unlabelled else labels[:-data.validation]
    test = fixed_binarization(dataset.test_images, data.binarize, seed=TEST_DRAW_SEED)
    return dataclasses.replace(dataset, train_images=train, train_labels=labels, test_images=test), validation


def data_protocol(data: DataConfig) -> dict:
    """How the evaluated images were made, for the report and evaluation.json."""
    notes = {"none": "grey levels (not comparable with published binarized-MNIST likelihoods)",
             "static": "binarized at 0.5 (static; not Larochelle's fixed binarization)",
             "dynamic": f"dynamically binarized training, test set one fixed Bernoulli draw (seed {TEST_DRAW_SEED})"}
    result = {"binarization": data.binarize, "binarization_note": notes[data.binarize],
              "validation_images": data.validation}
    if data.binarize == "dynamic":
        result["binarization_seed"] = TEST_DRAW_SEED
    return result
