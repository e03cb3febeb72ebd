"""Prometheus metrics of the model server, with TF Serving's names.

Follows these TF Serving 2.16 sources:

- config/monitoring_config.proto: ``--monitoring_config_file`` is a text
  ``MonitoringConfig``: ``prometheus_config { enable: true path: "..." }``;
  the path defaults to ``/monitoring/prometheus/metrics``
  (util/prometheus_exporter.cc ``kPrometheusPath``). The page is served on
  the REST port (model_servers/http_server.cc), so REST must be on.
  ``tensorflow-serving-api`` 2.16.1 does not ship that proto's Python module,
  so ``MonitoringConfig`` is built here from the same two messages (same
  package, names and field numbers), in a private descriptor pool.
- util/prometheus_exporter.cc: a TF metric ``/a/b/c`` is exposed as
  ``:a:b:c``; counters without a ``_total`` suffix; samplers as histograms
  (``_bucket``/``_sum``/``_count``).
- servables/tensorflow/util.cc: ``:tensorflow:serving:request_count``
  {model_name, status} (status is the canonical code name, ``OK``,
  ``INVALID_ARGUMENT``...) and ``:tensorflow:serving:request_latency``
  {model_name, API, entrypoint} (microseconds; buckets 10 * 1.8^i, 33 of
  them), recorded by prediction_service_impl.cc (API ``Predict``,
  ``Classify``, ``Regress``, ``MultiInference``, entrypoint ``GRPC``) and
  http_server.cc (API ``predict``/``classify``/``regress``, entrypoint
  ``REST``). Both also carry ``API`` / ``signature_name`` labels here
  (tensorflow/serving#1959, per-signature metrics); ``sum by (model_name,
  status)`` gives TF Serving's own series back.
- servables/tensorflow/saved_model_warmup_util.cc:
  ``:tensorflow:serving:model_warmup_latency`` {model_path, status}.
- TensorFlow's cc/saved_model/loader.cc: ``:tensorflow:cc:saved_model:
  load_attempt_count`` {model_path, status} and ``load_latency``
  {model_path} (microseconds, a counter), the load metrics a TF Serving
  dashboard reads.
- core/request_logger.cc: ``:tensorflow:serving:request_log_count``
  {model_name, status_code}; ours: ``:tensorflow:serving:request_log_dropped``
  {model_name}, records dropped because the log queue was full
  (``serving.request_log``).
- ``process_start_time_seconds`` and the other ``process_*`` series
  (tensorflow/serving#1911), from prometheus_client's ProcessCollector.

Everything lives in this object's own ``CollectorRegistry`` (never the
global one), so two servers in one process keep separate counts. Recording
is a dictionary update under a lock, or a prometheus_client histogram
observation: a few microseconds on the request path.
"""
from __future__ import annotations

import threading
from typing import Dict, Optional, Tuple

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import Metric
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector

DEFAULT_PATH = "/monitoring/prometheus/metrics"  # prometheus_exporter.cc kPrometheusPath
# Exponential(10, 1.8, 33) of util.cc, in microseconds (~20 minutes at the top).
LATENCY_BUCKETS_US = tuple(10 * 1.8 ** i for i in range(33))


def _monitoring_config_class():
    """``tensorflow.serving.MonitoringConfig`` (config/monitoring_config.proto)."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="tensorflow_serving/config/monitoring_config.proto",
        package="tensorflow.serving", syntax="proto3")
    prometheus = proto.message_type.add(name="PrometheusConfig")
    prometheus.field.add(name="enable", number=1, type=8, label=1)  # bool
    prometheus.field.add(name="path", number=2, type=9, label=1)  # string
    monitoring = proto.message_type.add(name="MonitoringConfig")
    monitoring.field.add(name="prometheus_config", number=1, type=11, label=1,
                         type_name=".tensorflow.serving.PrometheusConfig")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.MessageFactory(pool).GetPrototype(
        pool.FindMessageTypeByName("tensorflow.serving.MonitoringConfig"))


MonitoringConfig = _monitoring_config_class()


def parse_monitoring_config(text: str, source: str = "--monitoring_config_file"
                            ) -> Optional[str]:
    """The metrics path a ``MonitoringConfig`` text proto turns on, or None
    when Prometheus is not enabled.

    Raises:
      ValueError: one line naming ``source`` and the field: the text does
        not parse, or ``prometheus_config.path`` does not start with ``/``.
    """
    config = MonitoringConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as err:
        raise ValueError(f"{source}: not a MonitoringConfig text proto: "
                         f"{str(err).splitlines()[0]}") from None
    if not config.prometheus_config.enable:
        return None
    path = config.prometheus_config.path or DEFAULT_PATH
    if not path.startswith("/") or any(c.isspace() for c in path) or "?" in path:
        raise ValueError(f"{source}: prometheus_config.path must be a URL path starting "
                         f"with '/', got {path!r}")
    return path


class _Counters(Collector):
    """Counters exposed under their exact TF Serving names.

    prometheus_client's ``Counter`` always appends ``_total``, which TF
    Serving's exporter does not; these are therefore exposed as untyped
    samples with the exact names (PromQL ``rate`` works on them alike).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self._values: Dict[str, Dict[Tuple[Tuple[str, str], ...], float]] = {}
        self._help: Dict[str, str] = {}

    def define(self, name: str, documentation: str) -> None:
        self._help[name] = documentation
        self._values.setdefault(name, {})

    def add(self, name: str, labels: Tuple[Tuple[str, str], ...], amount: float = 1.0) -> None:
        with self._lock:
            cells = self._values[name]
            cells[labels] = cells.get(labels, 0.0) + amount

    def value(self, name: str, **labels) -> float:
        """Sum over the cells whose labels include ``labels`` (for tests)."""
        with self._lock:
            return sum(v for k, v in self._values.get(name, {}).items()
                       if all(dict(k).get(n) == want for n, want in labels.items()))

    def collect(self):
        with self._lock:
            snapshot = {name: dict(cells) for name, cells in self._values.items()}
        for name, cells in snapshot.items():
            metric = Metric(name, self._help[name], "unknown")
            for labels, value in sorted(cells.items()):
                metric.add_sample(name, dict(labels), value)
            yield metric


REQUEST_COUNT = ":tensorflow:serving:request_count"
REQUEST_LATENCY = ":tensorflow:serving:request_latency"
WARMUP_LATENCY = ":tensorflow:serving:model_warmup_latency"
LOAD_ATTEMPTS = ":tensorflow:cc:saved_model:load_attempt_count"
LOAD_LATENCY = ":tensorflow:cc:saved_model:load_latency"
LOG_COUNT = ":tensorflow:serving:request_log_count"
LOG_DROPPED = ":tensorflow:serving:request_log_dropped"


class ServingMetrics:
    """The server's metrics, in a registry of their own.

    Also a ``ModelManager`` observer (``load_attempted``,
    ``availability_changed``).
    """

    def __init__(self):
        self.registry = CollectorRegistry(auto_describe=True)
        self.counters = _Counters()
        self.counters.define(REQUEST_COUNT, "The total number of requests.")
        self.counters.define(LOAD_ATTEMPTS, "The number of times a SavedModel was "
                                            "attempted to load.")
        self.counters.define(LOAD_LATENCY, "Latency in microseconds for SavedModels that "
                                           "were successfully loaded.")
        self.counters.define(LOG_COUNT, "The total number of requests logged from the model "
                                        "server sliced down by model_name and status code.")
        self.counters.define(LOG_DROPPED, "Request log records dropped because the log "
                                          "queue was full.")
        self.registry.register(self.counters)
        self.request_latency = Histogram(
            REQUEST_LATENCY, "Distribution of wall time (in microseconds) for Tensorflow "
                             "Serving request.",
            ["model_name", "API", "entrypoint", "signature_name"],
            registry=self.registry, buckets=LATENCY_BUCKETS_US)
        self.warmup_latency = Histogram(
            WARMUP_LATENCY, "Distribution of wall time (in microseconds) for warming up "
                            "the model.", ["model_path", "status"],
            registry=self.registry, buckets=LATENCY_BUCKETS_US)
        ProcessCollector(registry=self.registry)  # process_start_time_seconds, ...

    def record_request(self, model_name: str, api: str, entrypoint: str, signature: str,
                       status: str, seconds: float) -> None:
        """One finished request; ``status`` is the canonical code name."""
        self.counters.add(REQUEST_COUNT, (("API", api), ("model_name", model_name),
                                          ("signature_name", signature), ("status", status)))
        self.request_latency.labels(model_name, api, entrypoint, signature).observe(
            seconds * 1e6)

    def record_log(self, model_name: str, status: str) -> None:
        self.counters.add(LOG_COUNT, (("model_name", model_name), ("status_code", status)))

    def record_log_dropped(self, model_name: str) -> None:
        self.counters.add(LOG_DROPPED, (("model_name", model_name),))

    # --- ModelManager observer ---

    def load_attempted(self, model_name: str, version: int, path: str, ok: bool,
                       seconds: float, servable) -> None:
        status = "success" if ok else "failure"  # loader.cc's label values
        self.counters.add(LOAD_ATTEMPTS, (("model_path", path), ("status", status)))
        if ok:
            self.counters.add(LOAD_LATENCY, (("model_path", path),), seconds * 1e6)
            if servable is not None and servable.warmup_records:
                self.warmup_latency.labels(path, "OK").observe(servable.warmup_seconds * 1e6)

    def availability_changed(self, manager) -> None:
        pass

    # --- the page ---

    def page(self) -> Tuple[str, bytes]:
        """``(content type, body)`` of the Prometheus text exposition."""
        return CONTENT_TYPE_LATEST, generate_latest(self.registry)
