"""Fashion-MNIST from the original IDX files, as an offline TFDS builder.

Source: Xiao, Rasul and Vollgraf (2017), https://github.com/zalandoresearch/fashion-mnist,
MIT licence; the files come from Debian's ``dataset-fashion-mnist`` package
(``/usr/share/datasets/fashion-mnist``), which ``scripts/get_data.sh`` copies
into ``<data_dir>/fashion_mnist``.

Features match the TFDS catalog's ``fashion_mnist``: ``image`` uint8
``[28, 28, 1]`` and ``label`` ``ClassLabel`` (10 names), so the same ingest
code serves both.
"""
from __future__ import annotations

import gzip
import os
import zlib
from typing import Iterator, Tuple

import numpy as np
import tensorflow_datasets as tfds

from tfxp.components.tfds_builders.offline import OfflineBuilder, damaged_file
from tfxp.core.datasets import FASHION_MNIST_LABELS

# Split -> (images file, labels file), names as published.
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
IMAGE_SHAPE = (28, 28, 1)
_IDX_UBYTE = 0x08  # IDX type code for unsigned bytes

MISSING_FILES_HELP = (
    "run scripts/get_data.sh (it copies them from the Debian package "
    "dataset-fashion-mnist), or place the four IDX .gz files of "
    "https://github.com/zalandoresearch/fashion-mnist there")


def read_idx(path: str) -> np.ndarray:
    """Reads an IDX file of unsigned bytes (LeCun's MNIST format), gzipped
    when the name ends in ``.gz`` (the builder's files, ``tfxp predict --idx``).

    Layout: 2 zero bytes, type code 0x08 (ubyte), number of dimensions d,
    d big-endian uint32 sizes, then the values row-major.

    Returns:
      uint8 array shaped by the header, e.g. ``[60000, 28, 28]`` for images
      and ``[60000]`` for labels.
    Raises:
      ValueError: the header is not an IDX ubyte header, the payload size
        does not match it, or the gzip stream is cut or corrupt (names
        ``path``).
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as err:
        raise damaged_file(path, err) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != _IDX_UBYTE:
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (header "
                         f"{data[:4].hex()!r}, expected an unsigned-byte IDX header "
                         f"'0000 08 <ndim>')")
    ndim = data[3]
    shape = tuple(int(x) for x in np.frombuffer(data, ">u4", count=ndim, offset=4))
    payload = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(shape)):
        raise ValueError(f"{path}: header says shape {shape} "
                         f"({int(np.prod(shape))} bytes) but holds {payload.size} bytes")
    return payload.reshape(shape)


class FashionMnistOffline(OfflineBuilder):
    """Fashion-MNIST: 60,000 train and 10,000 test 28x28 greyscale images, 10 classes."""

    name = "tfxp_fashion_mnist"
    RELEASE_NOTES = {"1.0.0": "IDX files read from manual_dir."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Needs {', '.join(f for pair in FILES.values() for f in pair)} in "
        f"manual_dir (by default <data_dir>/fashion_mnist): {MISSING_FILES_HELP}.")
    DESCRIPTION = ("Zalando's article images (Xiao et al. 2017), read offline from "
                   "the original IDX files.")
    FEATURES = {"image": tfds.features.Image(shape=IMAGE_SHAPE),
                "label": tfds.features.ClassLabel(names=list(FASHION_MNIST_LABELS))}
    SUPERVISED_KEYS = ("image", "label")
    HOMEPAGE = "https://github.com/zalandoresearch/fashion-mnist"
    CITATION = ("Han Xiao, Kashif Rasul, Roland Vollgraf. Fashion-MNIST: a Novel Image "
                "Dataset for Benchmarking Machine Learning Algorithms. arXiv:1708.07747, "
                "2017.")

    def _split_generators(self, dl_manager: tfds.download.DownloadManager):
        manual_dir = os.fspath(dl_manager.manual_dir)
        missing = [f for pair in FILES.values() for f in pair
                   if not os.path.isfile(os.path.join(manual_dir, f))]
        if missing:
            raise FileNotFoundError(
                f"Fashion-MNIST files {missing} not found in manual_dir "
                f"{manual_dir!r}; {MISSING_FILES_HELP}")
        return {split: self._generate_examples(os.path.join(manual_dir, images),
                                               os.path.join(manual_dir, labels))
                for split, (images, labels) in FILES.items()}

    def _generate_examples(self, images_path: str, labels_path: str
                           ) -> Iterator[Tuple[int, dict]]:
        """Yields ``(index in file, {'image': uint8 [28,28,1], 'label': int})``."""
        images, labels = read_idx(images_path), read_idx(labels_path)
        if images.ndim != 3 or images.shape[1:] != IMAGE_SHAPE[:2]:
            raise ValueError(f"{images_path}: expected images [N, 28, 28], "
                             f"got {list(images.shape)}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"{labels_path}: {labels.shape[0]} labels for "
                             f"{images.shape[0]} images in {images_path}")
        for index, (image, label) in enumerate(zip(images, labels)):
            yield index, {"image": image[:, :, np.newaxis], "label": int(label)}
