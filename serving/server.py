"""A local model server that speaks TF Serving's gRPC and REST protocols.

Why this exists: the real ``tensorflow_model_server`` cannot be obtained on
these machines (it ships only in Google's apt repository and Docker images,
neither reachable; no PyPI/Debian package holds it; building it needs Bazel
and GitHub downloads; see shared/STACK.md). ``tensorflow-serving-api`` does
ship the protos and servicer base classes, so this module and the ones it
wires implement the server side on them. A client cannot tell the two apart for what is covered
here, and deployment stays the real thing (``serving/deploy/``).

What it serves, with the TF Serving source each behaviour follows:

- gRPC ``PredictionService``: Predict (servables/tensorflow/predict_util.cc),
  Classify (classifier.cc), Regress (regressor.cc), MultiInference
  (multi_inference.cc, multi_inference_helper.cc), GetModelMetadata
  (get_model_metadata_impl.cc); ``ModelService``: GetModelStatus
  (model_servers/get_model_status_impl.cc), HandleReloadConfigRequest
  (model_service_impl.cc, server_core.cc). The request rules are
  ``serving.inference``, the servicers ``serving.grpc_service``.
- REST on a second port (model_servers/http_rest_api_handler.cc,
  http_rest_api_util.cc, util/json_tensor.cc, g3doc/api_rest.md):
  ``GET /v1/models/NAME[/versions/N|/labels/L][/metadata]`` and
  ``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``.
  Errors answer ``{"error": message}`` with http_server.cc's status mapping
  (NOT_FOUND 404; INVALID_ARGUMENT and FAILED_PRECONDITION 400;
  RESOURCE_EXHAUSTED 429; UNAVAILABLE 503). Routing and JSON are
  ``serving.rest``; the HTTP server (keep-alive, the CORS preflight,
  ``--rest_api_timeout_in_ms``, ``--rest_api_enable_cors_support``) is
  ``serving.http_server``.
- Versions, policies, labels, warm-up, availability-preserving reloads: see
  ``serving.manager``. Server-side batching: ``serving.batching``. Predict
  answers in the typed ``TensorProto`` fields (``float_val``, ...), as
  predict_util.cc does; requests are read in either encoding
  (``serving.tensors``).
- Error messages are cut at 1024 characters (grpc_status_util.cc).
- Operations: Prometheus metrics on the REST port with
  ``--monitoring_config_file`` (``serving.metrics``), the gRPC health
  service with ``--enable_grpc_healthcheck_service`` (``serving.health``),
  sampled request logs for models with a ``logging_config``
  (``serving.request_log``); the front ends see the core through
  ``serving.instrumented.InstrumentedCore``, which records both.

This module is the wiring, after model_servers/server.cc and server_core.cc:
``ModelServer`` starts and stops the ``ModelManager``, the gRPC server and the
REST server, and re-reads ``--model_config_file`` when asked to;
``run_until_signal`` serves until SIGINT/SIGTERM. Flags: ``serving.flags``;
the command line: ``serving.main``.

Deliberate differences from ``tensorflow_model_server``, all on the safe side:
- it binds 127.0.0.1 unless ``--host`` says otherwise (TF Serving: 0.0.0.0);
- REST is on 8501 by default (TF Serving: off unless ``--rest_api_port``);
- requests are limited to ``--max_request_bytes`` (default 4 MiB, gRPC's own
  default; TF Serving raises gRPC's limit to 2 GiB). Larger gRPC messages get
  RESOURCE_EXHAUSTED from gRPC itself, larger REST bodies 413 (a client reads the same
  code); ``--grpc_channel_arguments`` can still override gRPC's options;
- model names must be ``[A-Za-z0-9_][A-Za-z0-9_.-]*``; request data is never
  turned into a file path;
- a TF2 SavedModel's signatures run as concrete functions of the loaded
  SavedModel (``tf.saved_model.load``), not in a Session; input dtypes and
  shapes are checked against the SignatureDef first, so mismatches are
  INVALID_ARGUMENT as in TF Serving. TF1 SavedModels (no object graph) run
  in a Session, as TF Serving runs every model (``serving.session_model``);
- ``tensorflow_model_server`` flags without an equivalent here are accepted
  and logged as not implemented (``serving.flags.ACCEPTED_NOT_IMPLEMENTED``);
- ``__saved_model_init_op`` and other signatures without a callable function
  are listed by GetModelMetadata but cannot be run;
- nothing is ever unpickled; SavedModels are read as protobuf and TF graphs.

Run: ``python -m tfxp.serving.main --model_name=dense --model_base_path=/abs/path``
or ``--model_config_file=models.config`` (same flags as tensorflow_model_server;
``tfxp serve`` serves a workspace).
"""
from __future__ import annotations

import concurrent.futures
import logging
import signal
import sys
import threading
from typing import Any, Optional, Sequence, Tuple

import grpc
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc
from tensorflow_serving.config import model_server_config_pb2

from tfxp.core.signatures import SERVING_TAGS
from tfxp.serving.batching import BatchingOptions
from tfxp.serving.errors import ServingError
from tfxp.serving.flags import (DEFAULT_GRPC_PORT, DEFAULT_GRPC_THREADS, DEFAULT_HOST,
                                DEFAULT_MAX_REQUEST_BYTES, DEFAULT_POLL_SECONDS,
                                DEFAULT_REST_PORT, DEFAULT_REST_THREADS,
                                DEFAULT_REST_TIMEOUT_MS)
from tfxp.serving.flags import DEFAULT_LOAD_RETRY_INTERVAL_S, DEFAULT_MAX_NUM_LOAD_RETRIES
from tfxp.serving.grpc_service import ModelServicer, PredictionServicer
from tfxp.serving.health import HealthReporter
from tfxp.serving.instrumented import GRPC, REST, InstrumentedCore
from tfxp.serving.metrics import ServingMetrics
from tfxp.serving.warmup import warm_up
from tfxp.serving.request_log import DEFAULT_MAX_FILE_BYTES, DEFAULT_QUEUE_SIZE, RequestLogger
from tfxp.serving.http_server import RestHttpServer
from tfxp.serving.inference import InferenceCore
from tfxp.serving.manager import ModelManager, parse_config
from tfxp.serving.rest import RestApiHandler

log = logging.getLogger(__name__)


class ModelServer:
    """gRPC (+ optional REST) model server over a ``ModelManager``.

    Args:
      config: ``ModelServerConfig`` with a ``model_config_list`` (absolute
        base paths, platform ``tensorflow``).
      host: interface to bind; ``127.0.0.1`` unless told otherwise.
      grpc_port: gRPC port; 0 picks a free one (see ``grpc_port`` after start).
      rest_port: REST port; 0 picks a free one, None disables REST.
      poll_seconds: version poll interval in seconds; <= 0 polls only at start.
      max_request_bytes: largest gRPC message / REST body accepted, in bytes.
      grpc_threads, rest_threads: request thread pool sizes.
      rest_timeout_s: REST request deadline and connection idle/read timeout
        (``--rest_api_timeout_in_ms`` / 1000; ``serving.http_server``).
      rest_cors: CORS headers on REST responses
        (``--rest_api_enable_cors_support``).
      batching: server-side batching options, or None for none.
      tags: SavedModel meta graph tags to load.
      allow_version_labels_for_unavailable_models: as TF Serving's flag.
      grpc_channel_arguments: extra ``(key, value)`` gRPC server options,
        applied last (TF Serving's ``--grpc_channel_arguments``).
      config_file, config_poll_seconds: re-read ``config_file`` every
        ``config_poll_seconds`` and reload when it changed
        (``--model_config_file_poll_wait_seconds``); 0 = never.
      max_num_load_retries, load_retry_interval_s: load retries (``serving.manager``).
      enable_model_warmup: run warm-up records at load.
      enable_grpc_healthcheck_service: serve ``grpc.health.v1`` (``serving.health``).
      metrics_path: serve Prometheus metrics on the REST port at this path
        (``serving.metrics``); None = no metrics.
      request_log_queue_size, request_log_max_file_bytes: request logging
        (``serving.request_log``; on for models with a ``logging_config``).

    Raises:
      ValueError: bad options, or a malformed ``logging_config`` (one line
        naming the model and the field).
      ServingError: the model config is invalid.
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, *,
                 host: str = DEFAULT_HOST, grpc_port: int = DEFAULT_GRPC_PORT,
                 rest_port: Optional[int] = DEFAULT_REST_PORT,
                 poll_seconds: float = DEFAULT_POLL_SECONDS,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 grpc_threads: int = DEFAULT_GRPC_THREADS,
                 rest_threads: int = DEFAULT_REST_THREADS,
                 rest_timeout_s: float = DEFAULT_REST_TIMEOUT_MS / 1000.0,
                 rest_cors: bool = False,
                 batching: Optional[BatchingOptions] = None,
                 tags: Sequence[str] = SERVING_TAGS,
                 allow_version_labels_for_unavailable_models: bool = False,
                 grpc_channel_arguments: Sequence[Tuple[str, Any]] = (),
                 config_file: Optional[str] = None, config_poll_seconds: float = 0,
                 max_num_load_retries: int = DEFAULT_MAX_NUM_LOAD_RETRIES,
                 load_retry_interval_s: float = DEFAULT_LOAD_RETRY_INTERVAL_S,
                 enable_model_warmup: bool = True,
                 enable_grpc_healthcheck_service: bool = False,
                 metrics_path: Optional[str] = None,
                 request_log_queue_size: int = DEFAULT_QUEUE_SIZE,
                 request_log_max_file_bytes: int = DEFAULT_MAX_FILE_BYTES):
        if max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be >= 1, got {max_request_bytes}")
        if metrics_path is not None and rest_port is None:
            raise ValueError("--monitoring_config_file turns on Prometheus metrics, which are "
                             "served on the REST port: give --rest_api_port")
        # Metrics and request logs (serving.metrics, serving.request_log): a
        # malformed logging config raises ValueError here, before anything loads.
        self.metrics = ServingMetrics() if metrics_path is not None else None
        self.metrics_path = metrics_path
        self.request_log = RequestLogger(self.metrics, request_log_queue_size,
                                         request_log_max_file_bytes, tags)
        self.health = HealthReporter() if enable_grpc_healthcheck_service else None
        # Retries happen at polls; with polling off (poll_seconds <= 0) there
        # is no later attempt, so a failed load ends at once instead of
        # staying LOADING.
        self.manager = ModelManager(config, tags, batching,
                                    allow_version_labels_for_unavailable_models,
                                    max_num_load_retries if poll_seconds > 0 else 0,
                                    load_retry_interval_s,
                                    observer=self.metrics,
                                    warm_up=warm_up if enable_model_warmup else None)
        self.request_log.configure(config)  # after the manager validated the config
        self.manager.add_observer(self.request_log)
        if self.health is not None:
            self.manager.add_observer(self.health)
        self.core = InferenceCore(self.manager)
        self.host = host
        self._grpc_port, self._rest_port = grpc_port, rest_port
        self._poll_seconds = poll_seconds
        self.max_request_bytes = max_request_bytes
        self._grpc_threads, self._rest_threads = grpc_threads, rest_threads
        self._rest_timeout_s, self._rest_cors = rest_timeout_s, rest_cors
        self._channel_arguments = list(grpc_channel_arguments)
        self._config_file, self._config_poll_seconds = config_file, config_poll_seconds
        self._grpc_server: Optional[grpc.Server] = None
        self._rest_server: Optional[RestHttpServer] = None
        self._stopped = threading.Event()
        self.grpc_port: Optional[int] = None
        self.rest_port: Optional[int] = None

    @property
    def grpc_target(self) -> str:
        """``host:port`` for ``grpc.insecure_channel``."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def rest_url(self) -> Optional[str]:
        return None if self.rest_port is None else f"http://{self.host}:{self.rest_port}"

    def start(self) -> "ModelServer":
        """Loads the models (first poll), then opens the ports.

        Raises:
          ServingError: a version label points at an unavailable version.
          OSError: a port cannot be bound.
        """
        try:
            self.manager.start(self._poll_seconds)
        except BaseException:
            self.manager.stop()
            raise
        try:
            self._start_grpc()
            if self._rest_port is not None:
                pages = ({self.metrics_path: self.metrics.page}
                         if self.metrics is not None else {})
                self._rest_server = RestHttpServer(
                    (self.host, self._rest_port),
                    RestApiHandler(InstrumentedCore(self.core, REST, self.metrics,
                                                    self.request_log)),
                    self.max_request_bytes, self._rest_threads,
                    timeout_s=self._rest_timeout_s, cors=self._rest_cors, pages=pages)
                self.rest_port = self._rest_server.port
                self._rest_server.start()
        except BaseException:
            self.stop()
            raise
        if self._config_file and self._config_poll_seconds > 0:
            threading.Thread(target=self._watch_config, daemon=True,
                             name="config-poller").start()
        log.info("serving %s on gRPC %s%s", ", ".join(self.manager.model_names()),
                 self.grpc_target, f", REST {self.rest_url}" if self.rest_url else "")
        return self

    def _start_grpc(self) -> None:
        options = [("grpc.max_receive_message_length", self.max_request_bytes),
                   ("grpc.max_send_message_length", 2 ** 31 - 1),
                   # gRPC-Python sets SO_REUSEPORT by default, which would let two
                   # servers share a port silently.
                   ("grpc.so_reuseport", 0)] + self._channel_arguments
        server = grpc.server(concurrent.futures.ThreadPoolExecutor(
            self._grpc_threads, thread_name_prefix="grpc"), options=options)
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
            PredictionServicer(InstrumentedCore(self.core, GRPC, self.metrics,
                                                self.request_log)), server)
        if self.health is not None:
            self.health.add_to_server(server)
        model_service_pb2_grpc.add_ModelServiceServicer_to_server(ModelServicer(self.core),
                                                                  server)
        address = f"{self.host}:{self._grpc_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as err:
            raise OSError(f"cannot bind gRPC to {address}: {err}") from None
        if not port:
            raise OSError(f"cannot bind gRPC to {address}")
        server.start()
        self._grpc_server, self.grpc_port = server, port

    def _watch_config(self) -> None:
        last = None
        while not self._stopped.wait(self._config_poll_seconds):
            try:
                with open(self._config_file) as f:
                    text = f.read()
                if text != last and last is not None:
                    config = parse_config(text)
                    self.request_log.configure(config)
                    self.manager.reload_config(config)
                    log.info("reloaded %s", self._config_file)
                last = text
            except (OSError, ValueError, ServingError) as err:
                log.error("reloading %s failed: %s", self._config_file, err)

    def stop(self, grace: float = 1.0) -> None:
        """Closes the ports (in-flight gRPC calls get ``grace`` seconds) and
        unloads every model."""
        self._stopped.set()
        if self.health is not None:
            self.health.shutdown()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace).wait()
            self._grpc_server = None
        if self._rest_server is not None:
            self._rest_server.stop()
            self._rest_server = None
        self.manager.stop()
        self.request_log.close()

    def wait(self) -> None:
        """Blocks until ``stop`` is called (from another thread or a signal)."""
        self._stopped.wait()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def run_until_signal(server: ModelServer) -> int:
    """Starts ``server`` and serves until SIGINT/SIGTERM; returns an exit code.

    Returns only after ``stop`` has finished, so the request log's queue is
    written and its files closed before the process ends (``stop`` marks the
    server stopped first; returning then lost the last requests' records).
    """
    stopper: list = []

    def handle(signum, frame):
        if not stopper:
            stopper.append(threading.Thread(target=server.stop, daemon=True))
            stopper[0].start()
    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
    try:
        server.start()
    except (ServingError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"serving {', '.join(server.manager.model_names())} on gRPC "
          f"{server.grpc_target}" + (f" and REST {server.rest_url}" if server.rest_url else ""),
          flush=True)
    server.wait()
    if stopper:
        stopper[0].join()
    return 0
