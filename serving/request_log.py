"""Request logging: sampled requests and responses as ``PredictionLog`` TFRecords.

Follows TF Serving 2.16's core/request_logger.cc and server_request_logger.cc
and the protos config/logging_config.proto, log_collector_config.proto and
apis/prediction_log.proto:

- a model logs when its ``ModelConfig.logging_config`` is set:
  ``sampling_config.sampling_rate`` (0..1) is the share of requests logged,
  uniformly at random; ``log_collector_config.filename_prefix`` is where the
  files go; ``log_collector_config.type`` may be empty or ``tfrecord`` (the
  only collector here);
- each record is a ``PredictionLog`` with ``log_metadata`` (model spec as
  answered: name, version, signature; the sampling config; the SavedModel
  tags) and the request and response (``predict_log``, ``classify_log``,
  ``regress_log`` or ``multi_inference_log``). As in TF Serving, only
  successful requests are logged, and ``:tensorflow:serving:request_log_count``
  {model_name, status_code} counts the records written;
- files are ``<filename_prefix>-<unix ms the file was opened>-<nnnnn>.tfrecord``
  (``nnnnn`` counts the writer's files), a new one once the current one holds
  ``max_file_bytes`` or is ``max_file_seconds`` old (rotation by size and
  time; a log collector's files are read with ``tf.data.TFRecordDataset``).
  A ``PredictionLog`` carries no time, so the time in a file's name and its
  modification time bound when its records were written: ``tfxp drift``
  places traffic in time by them, to within ``max_file_seconds`` (1 hour).

Nothing on the request path touches the disk: a sampled request appends a
reference to its request and response (or, for REST Predict, the input and
output arrays) to a bounded queue (a deque: appending wakes no thread), and
one writer thread drains it every ``DRAIN_SECONDS`` (or sooner once it is
half full), turns the entries into records and writes them. When the queue is full the record is dropped and
counted (``:tensorflow:serving:request_log_dropped`` {model_name}), so memory
stays bounded (``queue_size`` requests at most) under any load, and a slow
or failing disk slows or stops the log, never the requests. A write error
is logged once per file prefix and counted under its status code.

A malformed logging config stops the server at start (``configure`` raises
``ValueError`` naming the model and the field).
"""
from __future__ import annotations

import collections
import logging
import os
import random
import threading
import time
from typing import Dict, Optional, Sequence, Tuple

from tensorflow_serving.apis import prediction_log_pb2, predict_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfxp.core.signatures import SERVING_TAGS
from tfxp.core.uris import is_uri

log = logging.getLogger(__name__)

DEFAULT_QUEUE_SIZE = 1000
# How often the writer drains the queue. Waking the writer per request cost
# ~10% of a 1 ms Predict on 2 cores (bench/serving_bench.py --ops); batches
# of a few dozen records cost the request threads next to nothing.
DRAIN_SECONDS = 0.05
DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_FILE_SECONDS = 3600.0
COLLECTOR_TYPES = ("", "tfrecord")
_LOG_FIELDS = {"predict": "predict_log", "classify": "classify_log",
               "regress": "regress_log", "multi_inference": "multi_inference_log"}


def validate_logging_config(model: model_server_config_pb2.ModelConfig) -> None:
    """Checks ``model.logging_config``, if set.

    Raises:
      ValueError: one line naming the model and the bad field.
    """
    if not model.HasField("logging_config"):
        return
    config = model.logging_config
    where = f"model {model.name!r}: logging_config"
    rate = config.sampling_config.sampling_rate
    if not 0.0 <= rate <= 1.0:  # also refuses NaN
        raise ValueError(f"{where}.sampling_config.sampling_rate must be in [0, 1], "
                         f"got {rate}")
    collector = config.log_collector_config
    if collector.type not in COLLECTOR_TYPES:
        raise ValueError(f"{where}.log_collector_config.type {collector.type!r} is not "
                         f"supported; expected one of: {', '.join(map(repr, COLLECTOR_TYPES))}")
    prefix = collector.filename_prefix
    if not prefix:
        raise ValueError(f"{where}.log_collector_config.filename_prefix is empty")
    if is_uri(prefix):
        return  # checked by the first write; the request path never waits for it
    folder = os.path.dirname(os.path.abspath(prefix))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{where}.log_collector_config.filename_prefix {prefix!r}: cannot "
                         f"create {folder}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"{where}.log_collector_config.filename_prefix {prefix!r}: "
                         f"{folder} is not writable")


class _Writer:
    """TFRecord files under one prefix, rotated by size and age (writer thread only)."""

    def __init__(self, prefix: str, max_file_bytes: int,
                 max_file_seconds: float = DEFAULT_MAX_FILE_SECONDS):
        self.prefix, self.max_file_bytes = prefix, max_file_bytes
        self.max_file_seconds = max_file_seconds
        self._index, self._bytes, self._file, self._opened = 0, 0, None, 0.0
        self.paths = []

    def write(self, record: bytes) -> None:
        import tensorflow as tf  # the writer thread's import, once
        now = time.time()
        if self._file is not None and (self._bytes + len(record) > self.max_file_bytes
                                       or now - self._opened >= self.max_file_seconds):
            self.close()
        if self._file is None:
            path = f"{self.prefix}-{int(now * 1000)}-{self._index:05d}.tfrecord"
            self._index += 1
            self._file, self._bytes, self._opened = tf.io.TFRecordWriter(path), 0, now
            self.paths.append(path)
        self._file.write(record)
        self._bytes += len(record) + 16  # TFRecord framing: length, two CRCs

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class RequestLogger:
    """Samples requests of the models that have a ``logging_config`` and
    writes them from a thread of its own.

    Args:
      metrics: a ``serving.metrics.ServingMetrics``, or None.
      queue_size: requests waiting to be written, at most; more are dropped.
      max_file_bytes: a file is closed and the next one started past this.
      max_file_seconds: ... or once it is this old (seconds since it was opened).
      tags: the SavedModel tags recorded in each record's metadata.
    """

    def __init__(self, metrics=None, queue_size: int = DEFAULT_QUEUE_SIZE,
                 max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
                 tags: Sequence[str] = SERVING_TAGS,
                 max_file_seconds: float = DEFAULT_MAX_FILE_SECONDS):
        if queue_size < 1 or max_file_bytes < 1:
            raise ValueError(f"queue_size and max_file_bytes must be >= 1, got "
                             f"{queue_size} and {max_file_bytes}")
        if not max_file_seconds > 0:
            raise ValueError(f"max_file_seconds must be > 0, got {max_file_seconds}")
        self._max_file_seconds = max_file_seconds
        self._metrics = metrics
        self._queue: collections.deque = collections.deque()
        self._capacity = queue_size
        self._wake = threading.Event()
        self._stopping = False
        self._busy = False
        self._max_file_bytes = max_file_bytes
        self._tags = list(tags)
        self._configs: Dict[str, model_server_config_pb2.LoggingConfig] = {}
        self._rates: Dict[str, float] = {}
        self._writers: Dict[str, _Writer] = {}
        self._failed_prefixes: set = set()
        self._thread: Optional[threading.Thread] = None
        self._flushed = True
        self._last_config = None
        self._random = random.random
        self.dropped = 0

    def configure(self, config: model_server_config_pb2.ModelServerConfig) -> None:
        """Takes the logging configs of ``config``'s models (validated first;
        on error the previous ones stay).

        Raises:
          ValueError: a malformed logging config (see ``validate_logging_config``).
        """
        models = list(config.model_config_list.config)
        for model in models:
            validate_logging_config(model)
        configs = {m.name: m.logging_config for m in models if m.HasField("logging_config")}
        self._last_config = config
        self._configs = configs
        self._rates = {name: c.sampling_config.sampling_rate for name, c in configs.items()}
        if configs and self._thread is None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="request-log")
            self._thread.start()

    # --- ModelManager observer: a config reload (gRPC HandleReloadConfigRequest
    # or --model_config_file polling) brings its models' logging configs ---

    def availability_changed(self, manager) -> None:
        config = manager.config
        if config is self._last_config:
            return
        self._last_config = config
        try:
            self.configure(config)
        except ValueError as err:
            log.error("request logging keeps its previous settings: %s", err)

    def load_attempted(self, *args) -> None:
        pass

    @property
    def enabled(self) -> bool:
        return bool(self._rates)

    def sampled(self, model_name: str) -> bool:
        """Whether this request of ``model_name`` is to be logged (cheap)."""
        rate = self._rates.get(model_name)
        return rate is not None and rate > 0 and (rate >= 1.0 or self._random() < rate)

    def submit(self, kind: str, model_name: str, spec, request, response) -> None:
        """Queues one sampled request; never blocks.

        ``kind`` is ``predict``, ``classify``, ``regress`` or
        ``multi_inference`` with the request and response messages, or
        ``predict_arrays`` with ``{alias: ndarray}`` inputs and outputs (REST
        Predict). ``spec`` is the answered ``ModelSpec`` (name, version,
        signature).
        """
        # len() and append() are atomic; racing submitters may overshoot the
        # capacity by the number of request threads, which stays bounded.
        if len(self._queue) >= self._capacity:
            self.dropped += 1
            if self._metrics is not None:
                self._metrics.record_log_dropped(model_name)
            return
        self._queue.append((kind, model_name, spec, request, response))
        if len(self._queue) * 2 >= self._capacity:
            self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until everything queued is written and flushed (tests, stop)."""
        if self._thread is None:
            return not self._queue
        deadline = time.monotonic() + timeout
        self._flushed = False
        self._wake.set()
        while not (self._flushed and not self._queue) and time.monotonic() < deadline:
            time.sleep(0.005)
            self._wake.set()
        return not self._queue and self._flushed

    def close(self) -> None:
        """Writes what is queued (a few seconds at most), then closes the files."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join(timeout=10.0)
            self._thread = None

    def files(self, model_name: str) -> list:
        """Paths written for ``model_name`` so far (for tests and reports)."""
        config = self._configs.get(model_name)
        writer = config and self._writers.get(config.log_collector_config.filename_prefix)
        return list(writer.paths) if writer else []

    # --- the writer thread ---

    def _run(self) -> None:
        while True:
            self._wake.wait(DRAIN_SECONDS)
            self._wake.clear()
            stopping = self._stopping
            wrote = False
            while self._queue:
                self._write(*self._queue.popleft())
                wrote = True
                # Hand the GIL back between records: a request thread waiting
                # for it would otherwise wait out the 5 ms switch interval.
                time.sleep(0)
            if wrote or stopping or not self._flushed:
                for writer in self._writers.values():
                    try:
                        writer.close() if stopping else writer.flush()
                    except Exception:  # noqa: BLE001 - logged at the write that failed
                        pass
                self._flushed = not self._queue
            if stopping:
                return

    def _write(self, kind, name, spec, request, response) -> None:
        config = self._configs.get(name)
        if config is None:
            return  # the model left the config since
        prefix = config.log_collector_config.filename_prefix
        status = "OK"
        try:
            record = self._record(kind, spec, request, response, config)
            writer = self._writers.get(prefix)
            if writer is None:
                writer = self._writers[prefix] = _Writer(prefix, self._max_file_bytes,
                                                          self._max_file_seconds)
            writer.write(record)
        except Exception as err:  # noqa: BLE001 - the log must never stop serving
            status = "INTERNAL"
            if prefix not in self._failed_prefixes:
                self._failed_prefixes.add(prefix)
                log.error("request log for model %s under %s failed: %s: %s", name, prefix,
                          type(err).__name__, err)
        if self._metrics is not None:
            self._metrics.record_log(name, status)

    def _record(self, kind, spec, request, response, config) -> bytes:
        entry = prediction_log_pb2.PredictionLog()
        metadata = entry.log_metadata
        metadata.model_spec.CopyFrom(spec)
        metadata.sampling_config.CopyFrom(config.sampling_config)
        metadata.saved_model_tags.extend(self._tags)
        if kind == "predict_arrays":
            request, response = _predict_messages(spec, request, response)
            kind = "predict"
        body = getattr(entry, _LOG_FIELDS[kind])
        body.request.CopyFrom(request)
        body.response.CopyFrom(response)
        return entry.SerializeToString()


def _predict_messages(spec, inputs, outputs) -> Tuple[predict_pb2.PredictRequest,
                                                         predict_pb2.PredictResponse]:
    """REST Predict's arrays as the gRPC messages they stand for."""
    from tfxp.serving import tensors
    request, response = predict_pb2.PredictRequest(), predict_pb2.PredictResponse()
    request.model_spec.name = spec.name
    request.model_spec.signature_name = spec.signature_name
    response.model_spec.CopyFrom(spec)
    for alias, value in inputs.items():
        request.inputs[alias].CopyFrom(tensors.to_proto(value))
    for alias, value in outputs.items():
        response.outputs[alias].CopyFrom(tensors.to_proto(value))
    return request, response
