"""Request logs for the drift tests and benchmark: real taxi rows (and images)
as the ``PredictionLog`` records ``serving/request_log.py`` writes.

- ``served_example``: a CSV row as ``tfxp predict --csv`` sends it (empty
  cells left out, values typed by the schema);
- ``training_example``: the same row as CsvExampleGen stores it (an empty
  cell is a present feature with no value);
- ``classify_record`` / ``predict_record``: one logged request;
- ``write_log``: a log file named as the server names them, its times set.
"""
from __future__ import annotations

import os
from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf
from tensorflow_metadata.proto.v0 import schema_pb2
from tensorflow_serving.apis import prediction_log_pb2

from tfxp.core.signatures import DEFAULT_SIGNATURE, RAW_SIGNATURE, SERVING_TAGS
from tfxp.pipeline.schemas import schema_file
from tfxp.serving import tensors


def schema_types(dataset: str = "chicago_taxi") -> Dict[str, int]:
    """``{feature: schema_pb2.FeatureType}`` of a curated schema."""
    from google.protobuf import text_format
    with open(schema_file(dataset)) as f:
        schema = text_format.Parse(f.read(), schema_pb2.Schema())
    return {feature.name: feature.type for feature in schema.feature}


def _typed(text: str, kind: int):
    if kind == schema_pb2.BYTES:
        return text.encode()
    if kind == schema_pb2.INT:
        return int(float(text))
    return float(text)


def _set(example: tf.train.Example, name: str, kind: int, values: list) -> None:
    feature = example.features.feature[name]
    if kind == schema_pb2.BYTES:
        feature.bytes_list.value.extend(values)
    elif kind == schema_pb2.INT:
        feature.int64_list.value.extend(values)
    else:
        feature.float_list.value.extend(values)


def served_example(row: Mapping[str, str], types: Mapping[str, int],
                   only: Optional[Sequence[str]] = None) -> bytes:
    """A CSV row as a client sends it: empty cells left out; ``only`` keeps
    those columns (None: every schema column)."""
    example = tf.train.Example()
    for name in (only or types):
        text = row.get(name, "")
        if text != "":
            _set(example, name, types[name], [_typed(text, types[name])])
    return example.SerializeToString()


def training_example(row: Mapping[str, str], types: Mapping[str, int]) -> bytes:
    """A CSV row as CsvExampleGen stores it: every column present, an empty
    cell with no value."""
    example = tf.train.Example()
    for name, kind in types.items():
        text = row.get(name, "")
        _set(example, name, kind, [] if text == "" else [_typed(text, kind)])
    return example.SerializeToString()


def _metadata(entry, model: str, version: int, signature: str) -> None:
    spec = entry.log_metadata.model_spec
    spec.name, spec.signature_name = model, signature
    spec.version.value = version
    entry.log_metadata.sampling_config.sampling_rate = 1.0
    entry.log_metadata.saved_model_tags.extend(SERVING_TAGS)


def classify_record(examples: Sequence[bytes], model: str = "dense", version: int = 1,
                    signature: str = DEFAULT_SIGNATURE) -> bytes:
    """A logged Classify request of serialized ``examples`` (and an answer:
    two classes, score 0.5 each, which drift does not read)."""
    entry = prediction_log_pb2.PredictionLog()
    _metadata(entry, model, version, signature)
    request = entry.classify_log.request
    request.model_spec.name = model
    for data in examples:
        request.input.example_list.examples.add().ParseFromString(data)
    for _ in examples:
        result = entry.classify_log.response.result.classifications.add()
        for label in (b"not_big_tipper", b"big_tipper"):
            result.classes.add(label=label, score=0.5)
    return entry.SerializeToString()


def predict_record(inputs: Mapping[str, np.ndarray], model: str = "dense", version: int = 1,
                   signature: str = RAW_SIGNATURE) -> bytes:
    """A logged Predict request with ``inputs`` ({alias: array}) on ``signature``."""
    entry = prediction_log_pb2.PredictionLog()
    _metadata(entry, model, version, signature)
    request = entry.predict_log.request
    request.model_spec.name, request.model_spec.signature_name = model, signature
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tensors.to_proto(np.asarray(value)))
    return entry.SerializeToString()


def log_path(folder: str, model: str, start_s: float, index: int = 0) -> str:
    """``<folder>/<model>-<start unix ms>-<index>.tfrecord``, the server's naming."""
    return os.path.join(folder, f"{model}-{int(start_s * 1000)}-{index:05d}.tfrecord")


def write_log(path: str, records: Iterable[bytes], end_s: Optional[float] = None) -> str:
    """Writes ``records`` as a TFRecord file; ``end_s`` sets its modification time."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
    if end_s is not None:
        os.utime(path, (end_s, end_s))
    return path
