"""Model inputs read from files: CSV rows, PNG images and text lines as
``tf.Example`` feature dicts.

``tfxp predict`` sends what these readers return, and ``tfxp score`` scores
it (``runner.score``), so a file means the same to the server and to batch
scoring. A feature dict becomes a ``tf.Example`` through
``serving.client.make_example``.

- **CSV** (tabular models): a header row naming at least every raw feature
  of the model, the inputs of its ``serving_raw`` signature (``dtypes``:
  name -> ``types_pb2`` enum). A cell becomes its feature's dtype: string,
  float, or int64, where a whole float such as ``'180.0'`` counts (the taxi
  CSV writes ``trip_seconds`` so and CsvExampleGen accepts it). An empty cell
  is a missing feature. Columns the model does not take keep their natural
  type (int, else float, else string); the signatures ignore them.
- **PNG** (image models): one greyscale 28x28 image a file (a colour PNG is
  converted by ``tf.io.decode_png(channels=1)``) -> ``image`` int64
  ``[784]``, pixel values 0..255 row-major, the Fashion-MNIST feature
  (``core.features.IMAGE_KEY``).
- **Text** (text models): one input a line -> ``text`` (UTF-8); blank
  lines are skipped and every line keeps its number.

Row and line numbers count from 1 (the first data row after the header, the
first line), as the error messages say them.

A row that leaves out a feature the model requires (one the schema gives
shape ``[1]``, which the signatures parse as a ``FixedLenFeature`` without a
default) is refused by the model, not by these readers: they do not know the
model's parse spec (a gRPC client sees only signature dtypes). TF's parser
names the feature but not the example (``example_proto_fast_parsing.cc``:
"Feature: X (data type: T) is required but could not be found.");
``required_feature`` reads that name back and ``first_without`` finds the
row, so ``tfxp predict`` and ``tfxp score`` can say which row lacks what.
"""
from __future__ import annotations

import csv
import re
from typing import IO, Any, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2

from tfxp.core import features as F
from tfxp.core.csv_types import CsvShapeError
from tfxp.core.uris import is_uri

Features = Dict[str, Any]


def open_text(path: str) -> IO[str]:
    """``path`` opened for reading as UTF-8 text with the newlines kept as
    they are (what the ``csv`` module needs); URIs through ``tf.io.gfile``.

    Raises:
      OSError (local) or ``tf.errors.OpError`` (URI): missing or unreadable.
    """
    if is_uri(path):
        return tf.io.gfile.GFile(path, "r")
    return open(path, newline="", encoding="utf-8")


def read_bytes(path: str) -> bytes:
    """The bytes of ``path`` (local or URI). Raises as ``open_text``."""
    if is_uri(path):
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    with open(path, "rb") as f:
        return f.read()


def _not_text(name: str, err: UnicodeDecodeError) -> ValueError:
    return ValueError(f"{name}: not UTF-8 text (byte {err.start}: {err.reason})")


# ------------------------------------------------------------------ CSV

def check_csv_columns(name: str, fieldnames: Optional[Sequence[str]],
                      dtypes: Dict[str, int]) -> None:
    """Raises ``ValueError`` naming the model's raw features that the header
    ``fieldnames`` lacks (``None``: an empty file)."""
    if not fieldnames:
        raise ValueError(f"{name}: empty file; expected a header row naming the model's raw "
                         f"features {', '.join(sorted(dtypes))}")
    missing = sorted(set(dtypes) - set(fieldnames))
    if missing:
        raise ValueError(f"{name}: missing column(s) {', '.join(missing)}; the model's raw "
                         f"features are {', '.join(sorted(dtypes))}")


def csv_row_features(name: str, number: int, row: Dict[Optional[str], Any],
                     dtypes: Dict[str, int]) -> Features:
    """One ``csv.DictReader`` row (data row ``number``, from 1) -> a feature
    dict typed by ``dtypes``; empty cells are left out (missing).

    Raises:
      ValueError: a cell does not convert to its feature's dtype (names the
        file, row, column and value); ``core.csv_types.CsvShapeError``, the
        rule ``tfxp run``'s CSV check applies too: the row has more or fewer
        cells than the header (``csv.DictReader`` files extra cells under the
        key None and fills missing ones with None).
    """
    if None in row or any(cell is None for cell in row.values()):
        extra = row.get(None) or []
        cells = sum(1 for k, v in row.items() if k is not None and v is not None) + len(extra)
        columns = sum(1 for k in row if k is not None)
        raise CsvShapeError(f"{name}: row {number}", cells, columns)
    features: Features = {}
    for column, cell in row.items():
        if cell is None or cell == "" or column is None:
            continue
        dtype = dtypes.get(column)
        try:
            if dtype == types_pb2.DT_STRING:
                features[column] = cell
            elif dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
                features[column] = float(cell)
            elif dtype is not None:
                features[column] = int_cell(cell)
            else:  # not a model input: keep its most natural type
                features[column] = _guess(cell)
        except ValueError:
            raise ValueError(f"{name}: row {number}, column {column!r}: {cell!r} is not a "
                             f"valid {dtype and dtype_name(dtype)}") from None
    return features


def iter_csv_examples(stream: IO[str], name: str,
                      dtypes: Dict[str, int]) -> Iterator[Tuple[int, Features]]:
    """``(row number from 1, feature dict)`` for each data row of the CSV
    ``stream`` (called ``name`` in messages), read lazily.

    Raises:
      ValueError: no header, missing columns (before any row), a bad cell,
        or text that is not UTF-8.
    """
    try:
        reader = csv.DictReader(stream)
        check_csv_columns(name, reader.fieldnames, dtypes)
        for number, row in enumerate(reader, start=1):
            yield number, csv_row_features(name, number, row, dtypes)
    except UnicodeDecodeError as err:
        raise _not_text(name, err) from None
    except csv.Error as err:
        raise ValueError(f"{name}: not a CSV file ({err})") from None


def csv_examples(path: str, rows: slice, dtypes: Dict[str, int]) -> List[Features]:
    """The feature dicts of data rows ``rows`` (a slice of 0-based row
    indexes) of the CSV file ``path``; rows outside the slice are not
    converted. Raises ``ValueError`` as ``iter_csv_examples``."""
    return [features for _, features in numbered_csv_examples(path, rows, dtypes)]


def numbered_csv_examples(path: str, rows: slice,
                          dtypes: Dict[str, int]) -> List[Tuple[int, Features]]:
    """``csv_examples`` with each row's number (from 1, as messages say it)."""
    with open_text(path) as f:
        try:
            reader = csv.DictReader(f)
            check_csv_columns(path, reader.fieldnames, dtypes)
            table = list(enumerate(reader, start=1))[rows]
        except UnicodeDecodeError as err:
            raise _not_text(path, err) from None
    return [(number, csv_row_features(path, number, row, dtypes)) for number, row in table]


# tensorflow/core/util/example_proto_fast_parsing.cc, for a FixedLenFeature
# without a default that an example lacks, or holds with no values (how
# CsvExampleGen writes an empty cell).
_REQUIRED_MISSING = (
    re.compile(r"Feature: (\S+) \(data type: \w+\) is required but could not be found"),
    re.compile(r"Key: (\S+), Index: \d+\.\s+Number of \w+ values != expected\.\s+"
               r"Values size: 0 "))


def required_feature(message: str) -> Optional[str]:
    """The feature a ``tf.io.parse_example`` error ``message`` names as
    required but missing or empty, or None for any other message."""
    for pattern in _REQUIRED_MISSING:
        found = pattern.search(message)
        if found:
            return found.group(1)
    return None


def first_without(feature: str, numbered: Iterable[Tuple[int, Any]]) -> Optional[int]:
    """The number of the first ``(number, example)`` whose example has no
    value for ``feature`` (None if all have one). An example is a feature
    dict (these readers') or a serialized ``tf.Example`` (bytes)."""
    for number, example in numbered:
        if isinstance(example, bytes):
            values = tf.train.Example.FromString(example).features.feature.get(feature)
            present = values is not None and any(
                len(getattr(values, kind).value)
                for kind in ("bytes_list", "float_list", "int64_list"))
        else:
            present = feature in example
        if not present:
            return number
    return None


def missing_required_message(where: str, feature: str, csv_row: bool = True) -> str:
    """One line for an example ``where`` (e.g. ``'rows.csv: row 3'``) without
    a value for the required ``feature``; ``csv_row``: it is a CSV row."""
    return (f"{where}: no value for {feature!r}, which the model requires (its schema "
            f"gives {feature!r} one value in every example"
            + ("; an empty cell is a missing value)" if csv_row else ")"))


def int_cell(cell: str) -> int:
    """An integer cell; whole floats such as ``'180.0'`` (how the taxi CSV
    writes ``trip_seconds``, and CsvExampleGen accepts) count. Raises
    ``ValueError`` otherwise."""
    try:
        return int(cell)
    except ValueError:
        value = float(cell)
        if not value.is_integer():
            raise
        return int(value)


def dtype_name(dtype: int) -> str:
    """``types_pb2`` enum -> TF's dtype name, e.g. ``'int64'``."""
    return tf.dtypes.as_dtype(dtype).name


def _guess(cell: str) -> Any:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            pass
    return cell


# ------------------------------------------------------------------ images

def image_examples(images: np.ndarray) -> List[Features]:
    """uint8 ``[N, 28, 28]`` greyscale images -> ``{image: int64 [784]}`` each.

    Raises:
      ValueError: another shape.
    """
    height, width, _ = F.IMAGE_SHAPE
    if images.ndim != 3 or images.shape[1:] != (height, width):
        raise ValueError(f"images must be {height}x{width} greyscale; got shape "
                         f"{list(images.shape[1:])}")
    return [{F.IMAGE_KEY: img.reshape(-1).astype(np.int64)} for img in images]


def png_image(data: bytes, name: str) -> np.ndarray:
    """PNG bytes -> uint8 ``[height, width]`` greyscale pixels.

    Raises:
      ValueError: ``data`` is not a PNG (names ``name``).
    """
    try:
        return tf.io.decode_png(data, channels=1).numpy()[..., 0]
    except tf.errors.InvalidArgumentError:
        raise ValueError(f"{name!r} is not a PNG file") from None


def png_examples(paths: Sequence[str]) -> List[Features]:
    """One image feature dict per PNG file (``image_examples``).

    Raises:
      ValueError: a file is no PNG, sizes differ, or they are not 28x28.
      OSError: a file cannot be read.
    """
    images = [png_image(read_bytes(path), path) for path in paths]
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ValueError(f"PNG files have different sizes: {sorted(shapes)}")
    return image_examples(np.stack(images))


# ------------------------------------------------------------------ text

def iter_text_examples(stream: IO[str], name: str) -> Iterator[Tuple[int, Features]]:
    """``(line number from 1, {text: line})`` for each non-blank line of
    ``stream``, the line without its newline.

    Raises:
      ValueError: the text is not UTF-8 (names ``name``).
    """
    try:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, {F.TEXT_KEY: line.rstrip("\r\n")}
    except UnicodeDecodeError as err:
        raise _not_text(name, err) from None
