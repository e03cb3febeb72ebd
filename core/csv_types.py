"""CSV cells typed by the curated schema, converting only without loss.

TFX's CsvExampleGen infers each column's type from the data
(tfx_bsl ``coders/csv_decoder.py``, ``ColumnTypeInferrer``: INT when every
cell parses as an int64, else FLOAT when every cell parses as a float, else
STRING). A float column whose new rows happen to hold only whole numbers is
then typed INT, and the curated schema refuses it ("trip_miles:
UNEXPECTED_DATA_TYPE Expected data of type: FLOAT but got INT") although
nothing is wrong with the data. Our CSV ExampleGen
(``components/csv_example_gen.py``) and ``tfxp run``'s check of a ``--csv``
before the run (``cli/main.py``) type every column the schema names by the
schema instead, with one rule, ``coerce``:

====== ============================================ ===========================
schema cell text                                    value (counted as)
====== ============================================ ===========================
FLOAT  an int64 ("3", "-2")                         float (``INT->FLOAT``)
FLOAT  a float ("3.5", "1e3", "nan", "inf")         float, as TFX's
                                                    ``_float_handler``
INT    an int64 ("3")                               int
INT    a whole number in int64 range written as a   int (``FLOAT->INT``)
       float ("3.0", "1e3", "-2.000")
BYTES  anything                                     its UTF-8 bytes
any    "" (empty field)                             no value, as TFX
====== ============================================ ===========================

Anything else is a real type error (``CsvTypeError``: "hello" or "$12" for a
FLOAT, "3.5" or "nan" for an INT, an int beyond int64 for an INT), named with
its column, value and place.

Why these are lossless: ``INT->FLOAT`` gives exactly the float the cell would
give written as "3.0" (tf.Example floats are float32, so integers above
2**24 round as every decimal of a FLOAT column does; the conversion adds no
loss beyond the schema's own type). ``FLOAT->INT`` takes only cells whose
decimal value is whole, checked exactly (``decimal.Decimal``, not a float
round trip), so "3.0000000000000001" is an error, not 3.

Columns the schema does not name keep TFX's inferred type (the data gate then
reports them as the schema says). Pure Python, no TensorFlow: ``tfxp run``
checks a CSV before it imports TFX.
"""
from __future__ import annotations

import contextlib
import csv
import decimal
import os
from typing import Dict, Iterable, Iterator, List, Optional, Tuple, Union

INT, FLOAT, BYTES = "INT", "FLOAT", "BYTES"  # tensorflow_metadata FeatureType names
TYPES = (INT, FLOAT, BYTES)
INT_TO_FLOAT, FLOAT_TO_INT = "INT->FLOAT", "FLOAT->INT"
# Custom property of the CSV ExampleGen's Examples artifact: JSON Counts.
COERCED_PROPERTY = "coerced_values"
_INT64_MIN, _INT64_MAX = -2 ** 63, 2 ** 63 - 1  # tfx_bsl's _INT64_MIN/_INT64_MAX

# {column: {conversion: number of cells}}
Counts = Dict[str, Dict[str, int]]


class CsvTypeError(ValueError):
    """A cell that does not convert to its column's schema type without loss.

    Attributes:
      column, value, expected: the column, the cell's text, the schema type.
      where: ``"<file> line <n>"`` when known, else "".
    """

    def __init__(self, column: str, value: str, expected: str, why: str, where: str = ""):
        self.column, self.value, self.expected, self.where = column, value, expected, where
        place = f" ({where})" if where else ""
        shown = value if len(value) <= 60 else value[:57] + "..."
        super().__init__(f"column {column!r} holds {shown!r}{place}, {why}; the curated "
                         f"schema types {column!r} {expected}")


def _int64(text: str) -> Optional[int]:
    """``int(text)`` when it parses and fits int64 (tfx_bsl's INT test), else None."""
    try:
        value = int(text)
    except ValueError:
        return None
    return value if _INT64_MIN <= value <= _INT64_MAX else None


def coerce(text: str, expected: str, column: str = "?", where: str = ""
           ) -> Tuple[Union[int, float, bytes, None], Optional[str]]:
    """One CSV cell as a value of the schema type ``expected`` (module table).

    Args:
      text: the cell as the CSV reader gives it (str).
      expected: ``INT``, ``FLOAT`` or ``BYTES``.
      column, where: for the error message only.
    Returns:
      ``(value, conversion)``: value None for an empty cell (no value);
      conversion ``INT_TO_FLOAT``, ``FLOAT_TO_INT`` or None (taken as written).
    Raises:
      CsvTypeError: the cell does not convert without loss.
      ValueError: ``expected`` is not one of ``TYPES``.
    """
    if text == "":
        return None, None
    if expected == BYTES:
        return text.encode("utf-8"), None
    if expected == FLOAT:
        as_int = _int64(text)
        if as_int is not None:
            return float(text), INT_TO_FLOAT
        try:
            return float(text), None
        except ValueError:
            raise CsvTypeError(column, text, FLOAT, "which is not a number",
                               where) from None
    if expected == INT:
        as_int = _int64(text)
        if as_int is not None:
            return as_int, None
        try:
            exact = decimal.Decimal(text.strip())
        except decimal.InvalidOperation:
            raise CsvTypeError(column, text, INT, "which is not a number", where) from None
        if not exact.is_finite():
            raise CsvTypeError(column, text, INT, "which is not a finite number", where)
        if exact != exact.to_integral_value():
            raise CsvTypeError(column, text, INT, "which is not a whole number (INT would "
                               "drop the fraction)", where)
        value = int(exact)
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise CsvTypeError(column, text, INT, "which is outside the int64 range", where)
        return value, FLOAT_TO_INT
    raise ValueError(f"unknown schema type {expected!r}; expected one of {', '.join(TYPES)}")


def add_counts(total: Counts, more: Counts) -> Counts:
    """Adds ``more`` into ``total`` (in place) and returns ``total``."""
    for column, kinds in more.items():
        for kind, n in kinds.items():
            total.setdefault(column, {})
            total[column][kind] = total[column].get(kind, 0) + n
    return total


def format_counts(counts: Counts) -> str:
    """``trip_miles 15002 INT->FLOAT; ...`` (columns sorted), or ``none``."""
    parts = [f"{column} {n} {kind}" for column in sorted(counts)
             for kind, n in sorted(counts[column].items()) if n]
    return "; ".join(parts) or "none"


class CsvShapeError(ValueError):
    """A data row whose number of cells is not the header's; ``where`` names
    the file and the place: the line the record starts on (``tfxp run``'s
    check, ``check_csv_file``) or the data row counted from 1 (``tfxp
    score``/``predict``, ``serving.inputs``, whose messages count rows)."""

    def __init__(self, where: str, cells: int, columns: int):
        self.where = where
        super().__init__(f"{where} has {cells} cell(s); the header names {columns} "
                         f"column(s)")


class CsvFormatError(ValueError):
    """A file that is not UTF-8 CSV text (TFX's CSV ExampleGen decodes UTF-8:
    other bytes, or a NUL, fail inside Beam with a traceback)."""


def format_error(path: str, err: Exception, line: int) -> CsvFormatError:
    """The ``CsvFormatError`` for ``err``, raised by Python's ``csv`` reader
    (``csv.Error``, e.g. a NUL byte) or by UTF-8 decoding
    (``UnicodeDecodeError``) while reading ``path``; ``line`` is the
    reader's line count. A decoding error is found again in the file's
    bytes, because a text stream decodes in chunks ahead of the reader: the
    message names the line and byte of the first invalid UTF-8."""
    name = os.path.basename(path)
    if isinstance(err, UnicodeDecodeError):
        with open(path, "rb") as f:
            data = f.read()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exact:
            bad_line = data.count(b"\n", 0, exact.start) + 1
            return CsvFormatError(
                f"{name} line {bad_line}: not UTF-8 text "
                f"(byte {exact.start}: {exact.reason}); the CSV ExampleGen reads UTF-8, so "
                f"re-encode the file (e.g. iconv -f latin1 -t utf-8)")
    return CsvFormatError(f"{name} line {line}: not CSV text ({err})")


@contextlib.contextmanager
def open_csv(path: str) -> Iterator[Iterator[List[str]]]:
    """A ``csv.reader`` over the local file ``path``, decoded as strict
    UTF-8, as the CSV ExampleGen decodes it.

    Raises:
      CsvFormatError: bytes that are not UTF-8, or a NUL, met while the
        caller reads (``format_error``).
    """
    reader = None
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            yield reader
    except (UnicodeDecodeError, csv.Error) as err:
        raise format_error(path, err, reader.line_num if reader else 1) from None


def check_csv_file(path: str, column_types: Dict[str, str]) -> Counts:
    """Reads every row of one local CSV file with a header and coerces each
    cell of the columns ``column_types`` names, as the ExampleGen will.

    Cost: one pass of Python's ``csv`` reader, about 0.1 s for the 15,002
    taxi rows here.

    Args:
      path: a local CSV file; its first row is the header.
      column_types: ``{column: INT | FLOAT | BYTES}``, the curated schema's.
    Returns:
      ``{column: {conversion: count}}`` of the cells converted.
    Raises:
      CsvTypeError: the first cell that does not convert; ``where`` names the
        file and the line the record starts on (line 1 is the header).
      CsvShapeError: a row with more or fewer cells than the header (TFX's
        CSV decoder would fail on it inside Beam, naming no line).
      CsvFormatError: bytes that are not UTF-8, or a NUL (``open_csv``).
    """
    counts: Counts = {}
    name = os.path.basename(path)
    with open_csv(path) as reader:
        header = next(reader, None) or []
        typed = [(i, column, column_types[column]) for i, column in enumerate(header)
                 if column in column_types]
        last_line = reader.line_num
        for row in reader:
            start, last_line = last_line + 1, reader.line_num
            if row and len(row) != len(header):
                raise CsvShapeError(f"{name} line {start}", len(row), len(header))
            for i, column, expected in typed:
                if i >= len(row):
                    break  # a blank line
                _, conversion = coerce(row[i], expected, column, f"{name} line {start}")
                if conversion:
                    kinds = counts.setdefault(column, {})
                    kinds[conversion] = kinds.get(conversion, 0) + 1
    return counts


def check_csv_files(paths: Iterable[str], column_types: Dict[str, str]) -> Counts:
    """``check_csv_file`` over several files; the counts summed."""
    total: Counts = {}
    for path in paths:
        add_counts(total, check_csv_file(path, column_types))
    return total
