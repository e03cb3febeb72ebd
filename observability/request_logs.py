"""Request logs read back: log files in time, and logged requests as ``tf.Example``s.

The reading half of ``serving/request_log.py`` (which writes
``PredictionLog`` TFRecords, TF Serving's request-log format), for
``observability.drift``:

- ``find_log_files`` / ``select_files`` / ``windows``: a ``PredictionLog``
  carries no time, but each file is named after the unix ms it was opened and
  is closed after an hour at most, so its records lie between that time and
  its modification time. ``--since`` keeps the files written to at or after
  a time; ``--window`` cuts the traffic into consecutive windows by the time
  each file was opened. A file of another collector (no time in its name)
  counts at its modification time.
- ``read_records``: the records, CRCs checked; a truncated or corrupt file is
  a ``UsageError`` naming it.
- ``RequestDecoder``: each logged request as the serialized ``tf.Example``s
  the model parsed, whatever the API and signature (Classify, Regress,
  MultiInference, Predict on the example or raw signatures).
"""
from __future__ import annotations

import dataclasses
import datetime
import glob
import math
import os
import re
import time
from typing import Dict, Iterator, List, Optional, Sequence

from tfxp.core import signatures as S
from tfxp.core.datasets import IMAGE, TEXT
from tfxp.core.errors import UsageError
from tfxp.core.features import IMAGE_SHAPE, SERVING_FEATURES

# <prefix>-<unix ms the file was opened>-<nnnnn>.tfrecord (serving/request_log.py)
_LOG_NAME = re.compile(r"-(\d{10,})-(\d{5})\.tfrecord$")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?)\s*([smhd])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


# ---------------------------------------------------------------- time

def parse_duration(text: str, flag: str) -> float:
    """``'90s'``, ``'30m'``, ``'6h'``, ``'1.5d'`` -> seconds (> 0).

    Raises:
      UsageError: anything else, naming ``flag``.
    """
    match = _DURATION.match(text or "")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)] if match else 0.0
    if not seconds > 0:
        raise UsageError(f"{flag} {text!r}: expected a duration such as 30m, 6h or 1d")
    return seconds


def parse_since(text: str, now: float) -> float:
    """``--since``: a local date or time (``2026-12-01``, ``2026-12-01T14:30``,
    ISO 8601, an offset allowed) or a duration before ``now`` (``6h``, ``2d``).

    Returns:
      Unix seconds.
    Raises:
      UsageError: not a time, or a time after ``now``.
    """
    if _DURATION.match(text or ""):
        return now - parse_duration(text, "--since")
    try:
        when = datetime.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--since {text!r}: expected a date or time such as 2026-12-01 or "
                         f"2026-12-01T14:30, or a duration before now such as 6h or 2d"
                         ) from None
    seconds = when.timestamp()  # naive: local time
    if seconds > now:
        raise UsageError(f"--since {text!r} is in the future (now is "
                         f"{clock(now)}); no request has been logged after it")
    return seconds


def clock(seconds: float) -> str:
    """Unix seconds -> ``YYYY-MM-DD HH:MM:SS``, local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


# ---------------------------------------------------------------- log files

@dataclasses.dataclass
class LogFile:
    """One request log file: its records were written between ``start_s``
    (the time in its name; else its modification time) and ``end_s`` (its
    modification time), unix seconds; ``size`` in bytes."""
    path: str
    start_s: float
    end_s: float
    size: int


def find_log_files(location: str) -> List[LogFile]:
    """The request log files at ``location`` (a folder: every file in it, not
    hidden; a glob pattern; or one file), oldest first. Missing -> []."""
    if os.path.isdir(location):
        paths = [os.path.join(location, name) for name in os.listdir(location)
                 if not name.startswith(".")]
    elif glob.has_magic(location):
        paths = glob.glob(location)
    else:
        paths = [location] if os.path.exists(location) else []
    files = []
    for path in paths:
        if not os.path.isfile(path):
            continue
        info = os.stat(path)
        match = _LOG_NAME.search(os.path.basename(path))
        start = int(match.group(1)) / 1000.0 if match else info.st_mtime
        files.append(LogFile(path, min(start, info.st_mtime), info.st_mtime, info.st_size))
    return sorted(files, key=lambda f: (f.start_s, f.path))


def select_files(files: Sequence[LogFile], since: Optional[float]) -> List[LogFile]:
    """The files written to at or after ``since`` (all when None)."""
    return [f for f in files if since is None or f.end_s >= since]


@dataclasses.dataclass
class Window:
    """Consecutive traffic: the files opened in ``[start_s, end_s)``."""
    start_s: float
    end_s: float
    files: List[LogFile]

    @property
    def label(self) -> str:
        return f"{clock(self.start_s)[:16]} .. {clock(self.end_s)[:16]}"


def windows(files: Sequence[LogFile], window_s: Optional[float]) -> List[Window]:
    """``files`` cut into windows of ``window_s`` seconds aligned at the first
    file's start (None: one window); empty windows are left out."""
    if not files:
        return []
    first = files[0].start_s
    if not window_s:
        return [Window(first, max(f.end_s for f in files), list(files))]
    by_index: Dict[int, List[LogFile]] = {}
    for f in files:
        by_index.setdefault(int((f.start_s - first) // window_s), []).append(f)
    return [Window(first + i * window_s, first + (i + 1) * window_s, by_index[i])
            for i in sorted(by_index)]


# ---------------------------------------------------------------- logs -> examples

# TFRecord framing (tensorflow/core/lib/io/record_writer.cc): uint64 length,
# uint32 masked CRC of the length, the data, uint32 masked CRC of the data.
RECORD_FRAMING_BYTES = 8 + 4 + 4


def read_records(path: str) -> Iterator[bytes]:
    """The records of one uncompressed TFRecord file, length and data CRCs
    checked: TensorFlow's C++ ``RecordReader`` through
    ``tf.compat.v1.io.tf_record_iterator`` (about 1 us a record here;
    ``tf.data.TFRecordDataset`` iterated from Python costs ~100 us).

    Raises:
      UsageError: the file is truncated or corrupt; names it, the number of
        whole records before the damage and TensorFlow's byte offset.
    """
    import tensorflow as tf

    count = offset = 0
    try:
        for record in tf.compat.v1.io.tf_record_iterator(path):
            yield record
            count += 1
            offset += RECORD_FRAMING_BYTES + len(record)
    except (tf.errors.DataLossError, tf.errors.OutOfRangeError,
            tf.errors.InvalidArgumentError) as err:
        text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        detail = text.replace("' failed with ", ": ").replace(" at ", " at byte ", 1)
        raise UsageError(f"request log {path!r} is truncated or corrupt after record "
                         f"{count} ({detail}); move it away or pass --logs without it"
                         ) from None
    # The reader ends quietly on a file cut inside a record's 12-byte header
    # (it takes the partial header for the end of the file): the bytes read
    # must add up to the file's size.
    size = tf.io.gfile.stat(path).length
    if offset != size:
        raise UsageError(f"request log {path!r} is truncated or corrupt after record "
                         f"{count} ({size - offset} byte(s) at byte {offset} are not a "
                         f"whole record); move it away or pass --logs without it")


class RequestDecoder:
    """``PredictionLog`` records of one model -> serialized ``tf.Example``s.

    - Classify, Regress and MultiInference requests hold examples already
      (``input.example_list``, or ``example_list_with_context``: the context's
      features are added to each example, the example's own winning, as TF
      Serving's ``InputToSerializedExampleTensor`` does by concatenating the
      two serialized messages);
    - Predict on ``serving_default``, ``predict`` or ``transform_features``:
      the string ``[N]`` input holds serialized examples;
    - Predict on ``serving_raw`` (``models/export.py``): tabular, one ``[N]``
      tensor per raw feature, NaN or ``''`` meaning missing (left out of the
      example); images, ``images`` float ``[N, 28, 28(, 1)]`` -> ``image``
      int64 ``[784]`` rounded, as the signature does; text, ``text`` ``[N]``.

    Args:
      model: the model name every record must name.
      modality: ``core.datasets`` modality of the model.
      feature_types: ``{feature: schema_pb2.FeatureType}`` of the schema, to
        type raw tabular values as ``parse_example`` would.
    Raises (``decode``):
      UsageError: a record of another model, of a signature or with inputs
        the model does not have, or with no request.
    """

    def __init__(self, model: str, modality: str, feature_types: Dict[str, int]):
        from tensorflow_serving.apis import prediction_log_pb2

        self._parse = prediction_log_pb2.PredictionLog.FromString
        self.model, self.modality = model, modality
        self._types = feature_types
        self._features = tuple(SERVING_FEATURES[modality])
        self.requests = 0
        self.versions: Dict[int, int] = {}

    def decode(self, record: bytes, where: str) -> List[bytes]:
        entry = self._parse(record)
        spec = entry.log_metadata.model_spec
        if spec.name and spec.name != self.model:
            raise UsageError(f"{where} logs a request to model {spec.name!r}, not "
                             f"{self.model!r}; run `tfxp drift --model {spec.name}` or pass "
                             f"--logs with {self.model!r}'s logs")
        kind = entry.WhichOneof("log_type")
        if kind in ("classify_log", "regress_log", "multi_inference_log"):
            examples = _input_examples(getattr(entry, kind).request.input)
        elif kind == "predict_log":
            request = entry.predict_log.request
            signature = (spec.signature_name or request.model_spec.signature_name
                         or S.DEFAULT_SIGNATURE)
            examples = self._predict_examples(signature, request.inputs, where)
        else:
            raise UsageError(f"{where} holds no Predict, Classify, Regress or MultiInference "
                             f"request ({kind or 'empty'}); it is not a request log of "
                             f"model {self.model!r}")
        self.requests += 1
        version = spec.version.value if spec.HasField("version") else 0
        self.versions[version] = self.versions.get(version, 0) + 1
        return examples

    def _predict_examples(self, signature: str, inputs, where: str) -> List[bytes]:
        from tfxp.serving.tensors import to_ndarray

        keys = sorted(inputs)
        example_inputs = {S.DEFAULT_SIGNATURE: S.EXAMPLES_INPUT,
                          S.PREDICT_SIGNATURE: S.EXAMPLES_INPUT,
                          S.TRANSFORM_SIGNATURE: S.TRANSFORM_INPUT}
        if signature in example_inputs:
            alias = example_inputs[signature]
            if keys != [alias]:
                raise UsageError(f"{where}: Predict on {signature!r} with inputs {keys}; "
                                 f"model {self.model!r}'s {signature!r} takes only {alias!r} "
                                 f"(serialized tf.Examples): a request to another model")
            return list(inputs[alias].string_val)
        if signature != S.RAW_SIGNATURE:
            raise UsageError(
                f"{where}: Predict on signature {signature!r}, which model {self.model!r} "
                f"does not have (its signatures: {S.DEFAULT_SIGNATURE}, "
                f"{S.PREDICT_SIGNATURE}, {S.RAW_SIGNATURE}, {S.TRANSFORM_SIGNATURE})")
        expected = {IMAGE: [S.RAW_IMAGES_INPUT], TEXT: [S.RAW_TEXT_INPUT]}.get(self.modality)
        if expected is not None and keys != expected or expected is None and (
                not keys or not set(keys) <= set(self._features)):
            wanted = expected or sorted(k for k in self._features if k in self._types)
            raise UsageError(f"{where}: Predict on {signature!r} with inputs {keys}; model "
                             f"{self.model!r} ({self.modality}) takes {wanted}: a request "
                             f"to another model")
        try:
            arrays = {k: to_ndarray(inputs[k]) for k in keys}
        except (TypeError, ValueError) as err:
            raise UsageError(f"{where}: input tensor not readable: {err}") from None
        return _raw_examples(self.modality, arrays, self._types, where)


def _input_examples(inp) -> List[bytes]:
    """A Classify/Regress ``Input`` -> serialized examples (context merged)."""
    kind = inp.WhichOneof("kind")
    if kind == "example_list":
        return [e.SerializeToString() for e in inp.example_list.examples]
    if kind == "example_list_with_context":
        context = inp.example_list_with_context.context.SerializeToString()
        return [context + e.SerializeToString() for e in inp.example_list_with_context.examples]
    return []


def _raw_examples(modality: str, arrays, types: Dict[str, int], where: str) -> List[bytes]:
    """``serving_raw`` inputs -> serialized examples, one per row."""
    import numpy as np
    from tensorflow.core.example import example_pb2
    from tensorflow_metadata.proto.v0 import schema_pb2

    from tfxp.core import features as F

    if modality == IMAGE:
        images = arrays[S.RAW_IMAGES_INPUT]
        pixels = math.prod(IMAGE_SHAPE)
        if images.ndim < 2 or images[0].size != pixels:
            raise UsageError(f"{where}: {S.RAW_IMAGES_INPUT} of shape {list(images.shape)} "
                             f"is not a batch of 28x28 images")
        flat = np.rint(images.reshape(len(images), pixels)).astype(np.int64)
        out = []
        for row in flat:
            example = example_pb2.Example()
            example.features.feature[F.IMAGE_KEY].int64_list.value.extend(row.tolist())
            out.append(example.SerializeToString())
        return out
    if modality == TEXT:
        out = []
        for text in arrays[S.RAW_TEXT_INPUT].reshape(-1):
            example = example_pb2.Example()
            example.features.feature[F.TEXT_KEY].bytes_list.value.append(bytes(text))
            out.append(example.SerializeToString())
        return out
    columns = {k: v.reshape(-1) for k, v in arrays.items()}
    sizes = {len(v) for v in columns.values()}
    if len(sizes) != 1:
        raise UsageError(f"{where}: serving_raw inputs of different lengths "
                         f"{ {k: len(v) for k, v in columns.items()} }")
    out = []
    for i in range(sizes.pop()):
        example = example_pb2.Example()
        feature = example.features.feature
        for name, column in columns.items():
            value = column[i]
            kind = types.get(name)
            if isinstance(value, (bytes, np.bytes_, str)):
                if len(value):
                    feature[name].bytes_list.value.append(
                        value.encode() if isinstance(value, str) else bytes(value))
            elif isinstance(value, (float, np.floating)) and math.isnan(value):
                continue  # NaN marks a missing value (export.py _dense_to_raw)
            elif kind == schema_pb2.FLOAT or kind is None and isinstance(value, np.floating):
                feature[name].float_list.value.append(float(value))
            else:
                feature[name].int64_list.value.append(int(value))
        out.append(example.SerializeToString())
    return out
