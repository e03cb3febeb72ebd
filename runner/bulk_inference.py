"""The Beam side of batch scoring (``runner.score``): inputs read as
``tf.Example``s, TFX BulkInferrer's ``RunInference``, PredictionLogs written
as TFRecords or CSV rows.

Read at TFX 1.16.0 and tfx_bsl 1.16.1:

- tfx/components/bulk_inferrer/executor.py: the model is named by an
  ``InferenceSpecType(saved_model_spec=SavedModelSpec(model_path,
  signature_name=[...]))`` with the default tag (``_get_inference_spec``),
  the examples go through ``tfx_bsl.public.beam.RunInference``
  (``_RunInference``, after ``_MakeParseFn``: each record must parse as a
  ``tf.Example``), and the ``PredictionLog``s are written as
  ``WriteToTFRecord(<out>/prediction_logs, file_name_suffix='.gz',
  coder=ProtoCoder(PredictionLog))`` (``_PREDICTION_LOGS_FILE_NAME``).
- tfx_bsl/beam/run_inference.py: the log a signature gives follows its
  method name (``_get_operation_type``): ``tensorflow/serving/classify`` ->
  ``classify_log``, ``regress`` -> ``regress_log``, ``predict`` ->
  ``predict_log``; several classify/regress signatures together ->
  ``multi_inference_log``. A signature must take one string tensor of
  serialized ``tf.Example``s (``_make_io_tensor_spec``). The model is loaded
  once per worker into a TF1 Session and fed batches from Beam's
  ``BatchElements`` (adaptive sizes unless ``InferenceSpecType.
  batch_parameters`` fixes them). Keyed inputs ``(key, example)`` come back
  as ``(key, PredictionLog)`` (``_ModelHandlerWrapper``): the key is
  (file index, row number), so every prediction says which input it is.

Inputs, told apart by the file name's ending (``input_kind``):

- ``.csv``: rows of raw features (tabular models), each cell typed as the
  model's ``serving_raw`` signature types it (``serving.inputs``, what
  ``tfxp predict --csv`` sends);
- ``.png``: one 28x28 greyscale image a file (image models);
- ``.txt``: one text a line, blank lines skipped (text models);
- ``.tfrecord``, ``.tfrecords``, ``.tfr``, or ``.gz`` (GZIP, as ExampleGen
  writes them): serialized ``tf.Example``s, for any model.

Outputs:

- ``predictions.csv``: a header, then one row per input: ``input`` (the
  file), ``row`` (the row, line or record number in it, from 1; 1 for an
  image file), then the model's answer: ``top_class``, ``top_score`` and
  ``score_<label>`` per class for a classify signature (``score_<i>``
  without ``classes``); ``value`` for regress; one column per ``predict``
  output, ``<alias>`` for a scalar and ``<alias>_<i>`` per element of a
  vector, aliases sorted; with several signatures each column is prefixed
  ``<signature>/``. Floats are written as TF Serving's REST API writes them
  (``serving.json_tensor.format_decimal``: the shortest text that reads back
  as the same float32). Rows are in input order (files sorted, then rows)
  in one file; on cluster runners they go to shards
  ``predictions-SSSSS-of-NNNNN.csv``, each with the header, in no order.
- ``prediction_logs-SSSSS-of-NNNNN.gz``: GZIP TFRecords of ``PredictionLog``
  with the request (the input example) and the response, as BulkInferrer
  writes them, in no order, plus ``log_metadata`` as TF Serving's request
  logger fills it (model name, version, the signature when one, tags).

TensorFlow, Beam and tfx_bsl are imported inside the functions that use
them (which also run in Beam workers), so ``runner.score`` and the command
line can read the constants here without them.
"""
from __future__ import annotations

import csv
import io
import logging
import re
import threading
import time
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from tfxp.core.datasets import IMAGE, TABULAR, TEXT
from tfxp.core.errors import UsageError
from tfxp.core.signatures import SERVING_TAGS
from tfxp.core.uris import join

# Input kinds, by the file name's ending.
CSV_INPUT, PNG_INPUT, TEXT_INPUT, TFRECORD_INPUT = "csv", "png", "text", "tfrecord"
_SUFFIXES = ((".csv", CSV_INPUT), (".png", PNG_INPUT), (".txt", TEXT_INPUT),
             (".tfrecord", TFRECORD_INPUT), (".tfrecords", TFRECORD_INPUT),
             (".tfr", TFRECORD_INPUT), (".gz", TFRECORD_INPUT))
# The file input of each modality besides TFRecords of tf.Example.
MODALITY_INPUTS = {TABULAR: CSV_INPUT, IMAGE: PNG_INPUT, TEXT: TEXT_INPUT}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"  # a PNG file's first 8 bytes

OUTPUT_FORMATS = ("csv", "tfrecord")
CSV_FILE = "predictions"           # predictions.csv, or -SSSSS-of-NNNNN.csv shards
LOGS_FILE = "prediction_logs"      # BulkInferrer's _PREDICTION_LOGS_FILE_NAME, + '.gz'
INPUT_COLUMN, ROW_COLUMN = "input", "row"
REGRESS_COLUMN = "value"           # regression_pb2.Regression.value
METRICS_NAMESPACE, EXAMPLES_COUNTER = "tfxp.score", "examples"


class BadInputError(UsageError):
    """An input file that cannot be scored, met while reading it (possibly
    in a Beam worker): one line naming the file."""


def input_kind(path: str) -> Optional[str]:
    """The input kind a file name's ending gives (module docstring), or None."""
    name = path.lower()
    return next((kind for suffix, kind in _SUFFIXES if name.endswith(suffix)), None)


def read_records(kind: str, path: str, dtypes: Dict[str, int]) -> Iterator[Tuple[int, bytes]]:
    """``(record number from 1, serialized tf.Example)`` of one input file,
    read lazily: CSV rows and text lines through ``serving.inputs`` (as
    ``tfxp predict`` sends them), a PNG as one image, TFRecords as they are
    (each checked to parse as a ``tf.Example``, BulkInferrer's
    ``_MakeParseFn``).

    Raises:
      BadInputError: the file cannot be read or converted (names it).
    """
    import tensorflow as tf

    from tfxp.serving import inputs
    from tfxp.serving.client import make_example

    try:
        if kind == CSV_INPUT:
            with inputs.open_text(path) as f:
                for number, features in inputs.iter_csv_examples(f, path, dtypes):
                    yield number, make_example(features).SerializeToString()
        elif kind == TEXT_INPUT:
            with inputs.open_text(path) as f:
                for number, features in inputs.iter_text_examples(f, path):
                    yield number, make_example(features).SerializeToString()
        elif kind == PNG_INPUT:
            image = inputs.png_image(inputs.read_bytes(path), path)
            [features] = inputs.image_examples(image[None])
            yield 1, make_example(features).SerializeToString()
        else:
            yield from _tfrecords(path)
    except (ValueError, TypeError) as err:
        text = str(err)
        raise BadInputError(text if path in text else f"{path}: {text}") from None
    except (OSError, tf.errors.OpError) as err:
        reason = getattr(err, "strerror", None) or getattr(err, "message", None) or str(err)
        raise BadInputError(f"{path}: cannot read it ({reason})") from None


def _tfrecords(path: str) -> Iterator[Tuple[int, bytes]]:
    import tensorflow as tf
    from google.protobuf.message import DecodeError

    gzip = path.lower().endswith(".gz")
    number = 0
    try:
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP" if gzip else ""):
            number += 1
            data = record.numpy()
            try:
                tf.train.Example.FromString(data)
            except DecodeError:
                raise BadInputError(f"{path}: record {number} is not a tf.Example") from None
            yield number, data
    except tf.errors.DataLossError:
        raise BadInputError(f"{path}: not a {'GZIP ' if gzip else ''}TFRecord file, or "
                            f"truncated after record {number}") from None


def inference_spec(model_path: str, signatures: Sequence[str], batch_size: Optional[int]):
    """The ``InferenceSpecType`` BulkInferrer's ``_get_inference_spec``
    builds (default tag), plus ``batch_parameters`` for a fixed batch size."""
    from tfx_bsl.public.proto import model_spec_pb2

    spec = model_spec_pb2.InferenceSpecType(saved_model_spec=model_spec_pb2.SavedModelSpec(
        model_path=model_path, signature_name=list(signatures)))
    if batch_size:
        spec.batch_parameters.min_batch_size = batch_size
        spec.batch_parameters.max_batch_size = batch_size
    return spec


_sessions: Dict[Tuple[str, Tuple[str, ...]], object] = {}
_sessions_lock = threading.Lock()
# Custom-op packages tfx_bsl's load_model imports first when they are installed
# (``_BaseSavedModelHandler._maybe_register_addon_ops``).
_ADDON_OPS = ("tensorflow_text", "tensorflow_decision_forests", "struct2tensor")


def load_session(model_path: str, tags: Sequence[str]):
    """tfx_bsl's ``_BaseSavedModelHandler.load_model``: the SavedModel
    loaded into a TF1 ``Session`` (``tf.compat.v1.saved_model.loader.load``),
    after importing the custom-op packages it imports, but once per process
    and model. Passed to ``RunInference`` as its ``load_override_fn``, so
    the Session ``probe`` loaded (and whose graph TF optimised on the first
    call) serves the in-process Beam runner too, instead of a second load;
    a worker process loads its own, once. ``release_sessions`` closes them.
    """
    import importlib

    import tensorflow as tf

    key = (model_path, tuple(tags))
    with _sessions_lock:
        if key not in _sessions:
            for name in _ADDON_OPS:
                try:
                    importlib.import_module(name)
                except (ImportError, tf.errors.NotFoundError):
                    pass
            session = tf.compat.v1.Session(graph=tf.compat.v1.Graph())
            tf.compat.v1.saved_model.loader.load(session, list(tags), model_path)
            _sessions[key] = session
        return _sessions[key]


def release_sessions() -> None:
    """Closes the Sessions ``load_session`` opened in this process."""
    with _sessions_lock:
        for session in _sessions.values():
            session.close()
        _sessions.clear()


def probe(spec, example: bytes):
    """Scores one serialized example in this process with the model handler
    ``RunInference`` builds (``tfx_bsl.beam.run_inference.create_model_handler``,
    behind the public ``RunInference``) and returns its ``PredictionLog``: the
    CSV header comes from its outputs, and an input the model refuses fails
    here, before Beam starts. The model stays loaded for ``run_pipeline``
    (``load_session``).

    Raises:
      UsageError: the signatures do not suit RunInference, or the model
        refuses the example (TF's error line).
    """
    import tensorflow as tf
    from tfx_bsl.beam import run_inference

    from tfxp.serving.errors import op_error_message

    try:
        handler = run_inference.create_model_handler(spec, load_session, None)
    except ValueError as err:
        raise UsageError(f"the signatures cannot be batch-scored: {err}") from None
    try:
        [log] = handler.run_inference([example], handler.load_model())
    except tf.errors.OpError as err:
        raise UsageError(f"the model refuses the first input: "
                         f"{op_error_message(err.message).splitlines()[0]}") from None
    return log


def log_metadata(name: str, version: Optional[int], signatures: Sequence[str]):
    """``LogMetadata`` as TF Serving's request logger fills it
    (``serving.request_log``): model name, version (None: left out), the
    signature when one, the SavedModel tags."""
    from tensorflow_serving.apis import logging_pb2

    metadata = logging_pb2.LogMetadata()
    metadata.model_spec.name = name
    if version is not None:
        metadata.model_spec.version.value = version
    if len(signatures) == 1:
        metadata.model_spec.signature_name = signatures[0]
    metadata.saved_model_tags.extend(SERVING_TAGS)
    return metadata


def log_columns(log) -> List[Tuple[str, str]]:
    """A ``PredictionLog`` of one example -> its CSV ``(column, text)`` pairs
    after ``input`` and ``row`` (module docstring); floats as
    ``serving.json_tensor.format_decimal``.

    Raises:
      ValueError: a log of no known kind.
    """
    kind = log.WhichOneof("log_type")
    if kind == "classify_log":
        return _classification_columns(
            log.classify_log.response.result.classifications[0], "")
    if kind == "regress_log":
        return [(REGRESS_COLUMN, _float_text(
            log.regress_log.response.result.regressions[0].value))]
    if kind == "predict_log":
        return _tensor_columns(log.predict_log.response.outputs)
    if kind == "multi_inference_log":
        columns: List[Tuple[str, str]] = []
        for result in log.multi_inference_log.response.results:
            prefix = result.model_spec.signature_name + "/"
            if result.HasField("classification_result"):
                columns += _classification_columns(
                    result.classification_result.classifications[0], prefix)
            else:
                columns.append((prefix + REGRESS_COLUMN, _float_text(
                    result.regression_result.regressions[0].value)))
        return columns
    raise ValueError(f"PredictionLog of unknown kind {kind!r}")


def _float_text(value: float, double: bool = False) -> str:
    from tfxp.serving.json_tensor import format_decimal
    return format_decimal(value, double)


def _classification_columns(classifications, prefix: str) -> List[Tuple[str, str]]:
    """``top_class``, ``top_score``, ``score_<label>`` per class (``score_<i>``
    where the signature has no ``classes``)."""
    classes = list(classifications.classes)
    labels = [c.label or str(i) for i, c in enumerate(classes)]
    top = max(range(len(classes)), key=lambda i: classes[i].score)  # first of ties, as argmax
    return ([(prefix + "top_class", labels[top]),
             (prefix + "top_score", _float_text(classes[top].score))]
            + [(f"{prefix}score_{label}", _float_text(c.score))
               for label, c in zip(labels, classes)])


def _tensor_columns(outputs) -> List[Tuple[str, str]]:
    """Predict outputs (``TensorProto`` of shape ``[1, ...]`` each), aliases
    sorted: ``<alias>`` for a scalar, ``<alias>_<i>`` per element otherwise."""
    import numpy as np
    import tensorflow as tf

    columns: List[Tuple[str, str]] = []
    for alias in sorted(outputs):
        array = np.asarray(tf.make_ndarray(outputs[alias])[0])
        flat = array.reshape(-1)
        names = [alias] if array.ndim == 0 else [f"{alias}_{i}" for i in range(flat.size)]
        if array.dtype == object:
            texts = [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                     for v in flat]
        elif array.dtype.kind == "f":
            texts = [_float_text(float(v), array.dtype == np.float64) for v in flat]
        else:
            texts = [str(v.item()) for v in flat]
        columns += zip(names, texts)
    return columns


def csv_line(values: Sequence[str]) -> str:
    """One CSV line (``csv`` quoting), without the newline."""
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(values)
    return out.getvalue()


def _read_file(item: Tuple[int, str], kind: str, dtypes: Dict[str, int]):
    index, path = item
    for number, example in read_records(kind, path, dtypes):
        yield (index, number), example


def _count() -> None:
    import apache_beam as beam
    beam.metrics.Metrics.counter(METRICS_NAMESPACE, EXAMPLES_COUNTER).inc()


def _log_record(keyed, metadata: bytes) -> bytes:
    """A keyed log -> its TFRecord: the serialized ``PredictionLog`` with the
    serialized ``PredictionLog(log_metadata=...)`` ``metadata`` appended. A
    parser merges a message field that comes twice (protobuf's encoding
    guide, "Last One Wins": embedded messages merge), and RunInference's logs
    have no ``log_metadata``, so the record reads as the log with it, with
    no copy of the log (Beam elements are not to be changed in place)."""
    _count()
    return keyed[1].SerializeToString() + metadata


def _csv_row(keyed, files: Sequence[str], names: Sequence[str]):
    """A keyed log -> (key, its CSV line: file, row, ``log_columns``)."""
    key, log = keyed
    _count()
    columns = log_columns(log)
    if [n for n, _ in columns] != list(names):
        raise ValueError(f"{files[key[0]]} row {key[1]}: the model answered with columns "
                         f"{[n for n, _ in columns]}, the first input with {list(names)}; "
                         f"CSV needs the same for every row (use --format tfrecord)")
    return key, csv_line([files[key[0]], str(key[1])] + [v for _, v in columns])


def _write_sorted_csv(rows: List[Tuple[Tuple[int, int], str]], path: str, header: str) -> None:
    """Writes ``header`` and the rows sorted by (file, row) as one CSV file."""
    import tensorflow as tf

    with tf.io.gfile.GFile(path, "w") as f:
        f.write(header + "\n")
        for _, line in sorted(rows, key=lambda row: row[0]):
            f.write(line + "\n")


def _not_bad_input(record: logging.LogRecord) -> bool:
    """False for Beam's log of a bundle that failed on a ``BadInputError``
    or on an example without a feature the model requires (a traceback): the
    error reaches the user once, as its one line (``runner.score``)."""
    from tfxp.serving.inputs import required_feature

    error = record.exc_info[1] if record.exc_info else None
    return not (isinstance(error, BadInputError)
                or (error is not None and required_feature(str(error))))


def run_pipeline(files: Sequence[str], kind: str, raw_dtypes: Dict[str, int], spec,
                 metadata, output_format: str, header: Sequence[str], out_dir: str,
                 beam_args: Sequence[str], single_file: bool, spread: bool
                 ) -> Tuple[Optional[int], float]:
    """Builds and runs the Beam pipeline that scores ``files`` and writes
    the results into ``out_dir``.

    Read each file (one worker a file; ``read_records``) -> spread the
    examples over the workers (Reshuffle, when ``spread``: on one in-process
    worker it only costs, 5-6 s against 3.5-4 s for the 15,002 taxi rows
    here) -> ``RunInference(spec)`` keyed by (file index, row) ->
    ``prediction_logs-*.gz`` with ``metadata`` (a ``LogMetadata``) in each
    log (``output_format`` ``'tfrecord'``), or CSV rows under ``header``: one
    ``predictions.csv`` in input order when ``single_file`` (local runners:
    every row meets in one worker), else ``predictions-SSSSS-of-NNNNN.csv``
    shards.

    Returns:
      (examples scored, from Beam's counter; None if the runner kept none,
      wall seconds).
    Raises:
      BadInputError: a worker met a bad input (Beam's "[while running ...]"
        suffix removed).
    """
    import typing

    import apache_beam as beam
    from apache_beam.metrics.metric import MetricsFilter
    from apache_beam.options.pipeline_options import PipelineOptions
    from tensorflow_serving.apis import prediction_log_pb2
    from tfx_bsl.public.beam import RunInference

    start = time.perf_counter()
    pipeline = beam.Pipeline(options=PipelineOptions(list(beam_args)))
    examples = (pipeline
                | "Files" >> beam.Create(list(enumerate(files)))
                | "Read" >> beam.FlatMap(_read_file, kind, raw_dtypes).with_output_types(
                    typing.Tuple[typing.Tuple[int, int], bytes]))
    if spread:
        examples = examples | "Spread" >> beam.Reshuffle()
    logs = examples | "RunInference" >> RunInference(spec, load_override_fn=load_session)
    if output_format == "tfrecord":
        stamp = prediction_log_pb2.PredictionLog(log_metadata=metadata).SerializeToString()
        _ = (logs
             | "Records" >> beam.Map(_log_record, stamp)
             | "WriteLogs" >> beam.io.WriteToTFRecord(
                 join(out_dir, LOGS_FILE), file_name_suffix=".gz"))
    else:
        rows = logs | "CsvRows" >> beam.Map(_csv_row, list(files), header[2:])
        if single_file:
            _ = (rows
                 | "Gather" >> beam.combiners.ToList()
                 | "WriteCsv" >> beam.Map(_write_sorted_csv, join(out_dir, CSV_FILE + ".csv"),
                                          csv_line(header)))
        else:
            _ = (rows
                 | "Lines" >> beam.Values()
                 | "WriteCsv" >> beam.io.WriteToText(join(out_dir, CSV_FILE), ".csv",
                                                     header=csv_line(header)))
    worker_log = logging.getLogger("apache_beam.runners.common")  # logs a failed bundle
    worker_log.addFilter(_not_bad_input)
    try:
        result = pipeline.run()
        result.wait_until_finish()
    except BadInputError as err:
        raise BadInputError(re.sub(r"\s*\[while running '[^']*'\]", "", str(err))) from None
    finally:
        worker_log.removeFilter(_not_bad_input)
    seconds = time.perf_counter() - start
    counters = result.metrics().query(MetricsFilter().with_namespace(
        METRICS_NAMESPACE).with_name(EXAMPLES_COUNTER))["counters"]
    count = None
    if counters:
        count = sum((c.committed if c.committed is not None else c.attempted) or 0
                    for c in counters)
    return count, seconds
