"""The shape the project's offline TFDS builders share: files from ``manual_dir``.

Each builder (``fashion_mnist.py``, ``rotten_tomatoes.py``) names its files,
features and sources in class attributes; this base turns them into TFDS's
``DatasetInfo`` and fixes where TFDS looks for the builder's metadata. It is
abstract (TFDS's ``_split_generators``/``_generate_examples`` are left to the
builders), so TFDS does not register it as a dataset of its own.
"""
from __future__ import annotations

import os
from typing import Mapping, Optional, Tuple

import tensorflow_datasets as tfds
from etils import epath


class OfflineBuilder(tfds.core.GeneratorBasedBuilder):
    """A TFDS builder that reads files it cannot download from ``manual_dir``.

    Subclasses set ``name``, ``RELEASE_NOTES``, ``MANUAL_DOWNLOAD_INSTRUCTIONS``,
    ``DESCRIPTION``, ``FEATURES`` (feature name -> ``tfds.features`` connector),
    ``SUPERVISED_KEYS``, ``HOMEPAGE`` and optionally ``CITATION``.
    """
    # TFDS looks for a builder's metadata files under the folder its module
    # name spells from the top package (tfxp/components/tfds_builders/);
    # setup.py's package_dir maps that package to components/tfds_builders/,
    # so name the folder.
    pkg_dir_path = epath.Path(os.path.dirname(os.path.abspath(__file__)))
    VERSION = tfds.core.Version("1.0.0")
    DESCRIPTION = ""
    FEATURES: Mapping[str, tfds.features.FeatureConnector] = {}
    SUPERVISED_KEYS: Tuple[str, str] = ("", "")
    HOMEPAGE = ""
    CITATION: Optional[str] = None

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            description=self.DESCRIPTION,
            features=tfds.features.FeaturesDict(dict(self.FEATURES)),
            supervised_keys=self.SUPERVISED_KEYS,
            homepage=self.HOMEPAGE,
            citation=self.CITATION,
        )


def damaged_file(path: str, err: Exception) -> ValueError:
    """The error for a manual_dir file that cannot be read through: a cut
    or corrupt ``.gz``/``.bz2`` raises ``EOFError`` ("Compressed file ended
    before the end-of-stream marker was reached") or ``OSError`` without
    naming the file. Names it and the step that fetches it again."""
    return ValueError(f"{path}: damaged ({type(err).__name__}: {err}); delete it and rerun "
                      f"scripts/get_data.sh")
