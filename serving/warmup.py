"""Warm-up of a loaded version before it serves, and the warm-up file format.

Follows servables/tensorflow/saved_model_warmup_util.cc (TF Serving 2.16):

- the file is ``assets.extra/tf_serving_warmup_requests`` in the SavedModel:
  TFRecords of ``PredictionLog`` (``predict_log``, ``classify_log``,
  ``regress_log`` or ``multi_inference_log``), at most 1000 of them;
- each record's request runs on the version being loaded (its model name
  and version are not looked up); a record that fails fails the load.

Here each record goes through ``serving.inference.InferenceCore``, the
checks of a live request (input aliases, dtypes, shapes), so a record a
client could not send (a DT_HALF or string ``fare`` for a float input) fails
the load; the error names the record's index, the file and, through the
request error, the input. Such a failure is marked ``permanent``: retrying
the same files cannot change it (``serving.manager`` then ends the version
at once and tries again when its folder changes). The number of records and
the time they took are logged, in TF Serving's words (tensorflow/serving#1414).

Without the file, each signature is called once with an empty batch (errors
ignored), so that graph instantiation (seconds for a TFT graph) is paid
during the load, not by the first requests after a version swap.

``make_warmup_records`` writes the file's records from real examples, as
TFX's ``RequestSpec.make_warmup`` does (tfx/components/infra_validator/
request_builder.py): one request per serving signature that takes
serialized ``tf.Example``s, Classify / Regress / Predict by its method.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Dict, List, Sequence

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (classification_pb2, predict_pb2, prediction_log_pb2,
                                     regression_pb2)

from tfxp.core.signatures import (CLASSIFY_METHOD, DEFAULT_SIGNATURE, EXAMPLES_INPUT,
                                  REGRESS_METHOD)
from tfxp.serving import json_tensor
from tfxp.serving.errors import ServingError, invalid_argument, make_error
from tfxp.serving.inference import InferenceCore
from tfxp.serving.manager import Servable

log = logging.getLogger(__name__)

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
MAX_WARMUP_RECORDS = 1000  # saved_model_warmup_util.cc WarmupConsts::kMaxNumRecords
_METHODS = {"predict_log": "predict", "classify_log": "classify",
            "regress_log": "regress", "multi_inference_log": "multi_inference"}


def _permanent(error: ServingError) -> ServingError:
    """Marks a load error that retrying the same files cannot change."""
    error.permanent = True
    return error


class _ThisServable:
    """The ``ModelManager`` face ``InferenceCore`` needs: every lookup
    answers the servable being loaded."""

    def __init__(self, servable: Servable):
        self._servable = servable

    def servable(self, spec) -> Servable:
        return self._servable


def warm_up(servable: Servable) -> None:
    """Runs the warm-up records of ``servable``, or an empty batch through
    each signature; sets ``servable.warmup_records`` and ``warmup_seconds``.

    Raises:
      ServingError: a record is unreadable, malformed or fails (the load
        fails, as in TF Serving), or there are more than 1000 records.
    """
    path = os.path.join(servable.path, WARMUP_FILE)
    if not tf.io.gfile.exists(path):
        _warm_up_empty(servable)
        return
    started = time.monotonic()
    core = InferenceCore(_ThisServable(servable))
    records = iter(tf.data.TFRecordDataset(path))
    count = 0
    while True:
        try:
            record = next(records, None)
        except tf.errors.OpError as err:  # a truncated or corrupt TFRecord
            raise _permanent(invalid_argument(f"warmup record {count} of {path} cannot be "
                                              f"read: {err.message}")) from None
        if record is None:
            break
        if count >= MAX_WARMUP_RECORDS:
            raise _permanent(invalid_argument(f"Number of warmup records exceeds the "
                                              f"maximum ({MAX_WARMUP_RECORDS}) at {path}"))
        try:
            _run_record(core, servable,
                        prediction_log_pb2.PredictionLog.FromString(record.numpy()))
        except ServingError as err:
            raise _permanent(make_error(err.code, f"warmup record {count} of {path} failed: "
                                                  f"{err.message}")) from None
        except Exception as err:  # noqa: BLE001 - protobuf DecodeError and the like
            raise _permanent(invalid_argument(f"warmup record {count} of {path} failed: "
                                              f"{type(err).__name__}: {err}")) from None
        count += 1
    servable.warmup_records, servable.warmup_seconds = count, time.monotonic() - started
    log.info("Finished reading warmup data for model at %s. Number of warmup records read: "
             "%d. Elapsed time (microseconds): %d.", path, count,
             int(servable.warmup_seconds * 1e6))


def _run_record(core: InferenceCore, servable: Servable,
                entry: prediction_log_pb2.PredictionLog) -> None:
    """One record through the request path's checks (RunWarmupRequest)."""
    kind = entry.WhichOneof("log_type")
    if kind not in _METHODS:
        raise invalid_argument(f"Unsupported log_type for warmup: {kind}")
    request = type(getattr(entry, kind).request)()
    request.CopyFrom(getattr(entry, kind).request)
    specs = ([task.model_spec for task in request.tasks]
             if kind == "multi_inference_log" else [request.model_spec])
    for spec in specs:
        spec.name = servable.name
        signature = spec.signature_name or DEFAULT_SIGNATURE
        if signature not in servable.functions:
            raise invalid_argument(f"warmup request names unknown signature {signature!r}")
    getattr(core, _METHODS[kind])(request)


def _warm_up_empty(servable: Servable) -> None:
    for name, sigdef in servable.signature_defs.items():
        inputs = {}
        for alias, info in sigdef.inputs.items():
            shape = info.tensor_shape
            if shape.unknown_rank or not shape.dim or shape.dim[0].size > 0:
                break  # no batch dimension to make empty
            dims = [0] + [max(d.size, 1) for d in shape.dim[1:]]
            inputs[alias] = np.zeros(dims, dtype=json_tensor.numpy_dtype(info.dtype))
        else:
            if name in servable.functions and inputs:
                try:
                    servable._call_now(name, inputs)
                except ServingError:
                    pass  # only a warm-up; real requests report their errors


def make_warmup_records(signature_defs: Dict[str, meta_graph_pb2.SignatureDef],
                        examples: Sequence[bytes], model_name: str = "",
                        per_request: int = 1) -> List[bytes]:
    """Serialized ``PredictionLog``s for the warm-up file.

    One request per signature whose one input is ``inputs`` (string
    serialized ``tf.Example``s), sorted by name, each with the first
    ``per_request`` of ``examples``: a ClassificationRequest for a classify
    signature, a RegressionRequest for a regress one, a PredictRequest
    otherwise (what TFX's request_builder.py builds per method).

    Raises:
      ValueError: no examples, or no signature takes serialized examples.
    """
    if not examples:
        raise ValueError("no examples to build warm-up requests from")
    batch = list(examples[:max(per_request, 1)])
    parsed = [tf.train.Example.FromString(e) for e in batch]
    out = []
    for name in sorted(signature_defs):
        sigdef = signature_defs[name]
        if list(sigdef.inputs) != [EXAMPLES_INPUT] or \
                sigdef.inputs[EXAMPLES_INPUT].dtype != tf.string.as_datatype_enum:
            continue
        entry = prediction_log_pb2.PredictionLog()
        if sigdef.method_name in (CLASSIFY_METHOD, REGRESS_METHOD):
            is_classify = sigdef.method_name == CLASSIFY_METHOD
            request = (classification_pb2.ClassificationRequest() if is_classify
                       else regression_pb2.RegressionRequest())
            request.input.example_list.examples.extend(parsed)
            log_body = entry.classify_log if is_classify else entry.regress_log
        else:
            request = predict_pb2.PredictRequest()
            request.inputs[EXAMPLES_INPUT].CopyFrom(
                tf.make_tensor_proto(np.array(batch, dtype=object)))
            log_body = entry.predict_log
        request.model_spec.name = model_name
        request.model_spec.signature_name = name
        log_body.request.CopyFrom(request)
        out.append(entry.SerializeToString())
    if not out:
        raise ValueError("no signature takes serialized tf.Examples as 'inputs'")
    return out


def write_warmup_file(path: str, records: Sequence[bytes]) -> None:
    """Writes ``records`` as a TFRecord file at ``path`` (local or a URI)."""
    tf.io.gfile.makedirs(os.path.dirname(path))
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record)
