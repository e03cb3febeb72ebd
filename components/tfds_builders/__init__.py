"""Offline TensorFlow Datasets builders for the project's real datasets.

TFDS cannot download these files here, so each builder reads them from
``manual_dir``, the TFDS convention for data it cannot fetch itself;
``scripts/get_data.sh`` puts them there from package registries.

Names: the TFDS catalog already registers ``fashion_mnist`` (a builder that
downloads from the internet), and TFDS refuses a second class with the same
name. Ours are therefore registered as ``tfxp_<dataset>``, and
``OFFLINE_BUILDERS`` maps the project's dataset names to them, so
``tfds.builder('fashion_mnist')`` stays the catalog's and
``tfds.builder('tfxp_fashion_mnist')`` is ours.

``chicago_taxi`` stays on CsvExampleGen: it is one CSV file shipped inside the
tfx wheel, which CsvExampleGen reads as is (types inferred, empty fields kept
missing); a TFDS builder would add a preparation step and a second copy of the
data without adding anything.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Type

import tensorflow_datasets as tfds

from tfxp.components.tfds_builders.fashion_mnist import FashionMnistOffline
from tfxp.components.tfds_builders.rotten_tomatoes import RottenTomatoesOffline

# Project dataset name (core.datasets.DATASETS) -> offline TFDS builder.
OFFLINE_BUILDERS: Dict[str, Type[tfds.core.GeneratorBasedBuilder]] = {
    "fashion_mnist": FashionMnistOffline,
    "rotten_tomatoes": RottenTomatoesOffline,
}


def tfds_name(dataset_name: str) -> str:
    """The TFDS builder name for a project dataset; other names pass through.

    ``'fashion_mnist'`` -> ``'tfxp_fashion_mnist'``; ``'mnist'`` -> ``'mnist'``
    (a catalog dataset).
    """
    builder = OFFLINE_BUILDERS.get(dataset_name)
    return builder.name if builder else dataset_name


def default_manual_dir(data_root: str, dataset_name: str) -> Optional[str]:
    """``<data_root>/<dataset>``, where get_data.sh puts an offline dataset's
    files; None for a dataset without an offline builder."""
    if dataset_name not in OFFLINE_BUILDERS:
        return None
    return os.path.join(data_root, dataset_name)


__all__ = ["FashionMnistOffline", "RottenTomatoesOffline", "OFFLINE_BUILDERS",
           "tfds_name", "default_manual_dir"]
