"""Small real data, with and without injected faults, for the reliability tests.

Everything starts from the real datasets (see ``core.datasets``):

- taxi rows from the CSV in the tfx wheel (``tests.taxi_rows.read_rows``);
- fashion_mnist images from the IDX files in ``<data_dir>/fashion_mnist``;
- rotten_tomatoes snippets from ``<data_dir>/rotten_tomatoes``'s CSV.

Image and text rows are serialized as the TFDS ExampleGen's ``tf.Example``
contract: ``image`` int64[784] pixels 0..255, ``label`` int64; ``text``
bytes, ``label`` int64 (fresh = 1, rotten = 0).
"""
from __future__ import annotations

import bz2
import csv
import gzip
import os
import random
import struct
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import numpy as np
import tensorflow as tf

from tfxp.core import features as F

TAXI_COLUMNS = (
    "pickup_community_area", "fare", "trip_start_month", "trip_start_hour",
    "trip_start_day", "trip_start_timestamp", "pickup_latitude", "pickup_longitude",
    "dropoff_latitude", "dropoff_longitude", "trip_miles", "pickup_census_tract",
    "dropoff_census_tract", "payment_type", "company", "trip_seconds",
    "dropoff_community_area", "tips")


def write_csv(path: str, rows: Sequence[Dict[str, str]]) -> str:
    """Writes taxi ``rows`` (column -> text, '' = empty) with the real header."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=TAXI_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def sample_rows(rows: Sequence[Dict[str, str]], n: int, seed: int) -> List[Dict[str, str]]:
    """``n`` rows drawn without replacement (seeded), copied so they can be edited."""
    return [dict(r) for r in random.Random(seed).sample(list(rows), n)]


def _idx(path: str) -> np.ndarray:
    """Reads a gzipped IDX file (LeCun's MNIST format) into a uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def fashion_mnist(data_dir: str, split: str = "t10k",
                  limit: Optional[int] = None) -> tuple[np.ndarray, np.ndarray]:
    """Real images uint8 ``[N, 28, 28]`` and labels uint8 ``[N]`` of ``split``
    (``train`` or ``t10k``).

    Raises:
      FileNotFoundError: the IDX files are missing (run scripts/get_data.sh).
    """
    folder = os.path.join(data_dir, "fashion_mnist")
    images = _idx(os.path.join(folder, f"{split}-images-idx3-ubyte.gz"))
    labels = _idx(os.path.join(folder, f"{split}-labels-idx1-ubyte.gz"))
    return images[:limit], labels[:limit]


def rotten_tomatoes(data_dir: str, limit: Optional[int] = None) -> List[tuple[str, int]]:
    """Real ``(snippet, label)`` pairs: fresh = 1, rotten = 0, plot rows dropped."""
    path = os.path.join(data_dir, "rotten_tomatoes", "rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as f:
        rows = [(r["text"], 1 if r["category"] == "fresh" else 0)
                for r in csv.DictReader(f) if r["category"] in ("fresh", "rotten")]
    return rows[:limit]


def image_example(pixels: Iterable[int], label: int) -> bytes:
    """Serialized ``tf.Example``: ``image`` int64 (flattened), ``label`` int64."""
    return tf.train.Example(features=tf.train.Features(feature={
        F.IMAGE_KEY: tf.train.Feature(int64_list=tf.train.Int64List(
            value=np.asarray(pixels, np.int64).ravel().tolist())),
        F.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    })).SerializeToString()


def text_example(text: str | bytes, label: int) -> bytes:
    """Serialized ``tf.Example``: ``text`` bytes (UTF-8), ``label`` int64."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return tf.train.Example(features=tf.train.Features(feature={
        F.TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[raw])),
        F.LABEL_KEY: tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
    })).SerializeToString()


def write_tfrecord(path: str, records: Iterator[bytes] | Sequence[bytes]) -> str:
    """Writes serialized records to an uncompressed TFRecord file at ``path``."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    return path


def resize_nearest(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a square uint8 image to ``size`` x ``size``."""
    idx = (np.arange(size) * image.shape[0] / size).astype(int)
    return image[idx][:, idx]
