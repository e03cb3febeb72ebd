"""Metrics and request logs around ``InferenceCore``, one wrapper per front end.

TF Serving records a request's count and latency where the RPC or the HTTP
request is handled (model_servers/prediction_service_impl.cc, entrypoint
``GRPC``; http_server.cc, entrypoint ``REST``), and logs sampled requests
in the servable layer once they succeeded (core/server_request_logger.cc).
``InstrumentedCore`` does both for the front end it is given to: the gRPC
servicers and the REST handler take it where they took the core, and every
other attribute is the core's own, so neither front end changes.

REST Predict reaches the core through ``run_predict`` after looking the
model up itself (``serving.rest``); it is counted from there, so a REST
Predict for an unknown model is not counted (its gRPC twin is, as
NOT_FOUND).
"""
from __future__ import annotations

import time
from typing import Callable, Optional

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_pb2

from tfxp.core.signatures import DEFAULT_SIGNATURE
from tfxp.serving.errors import ServingError, code_from_number
from tfxp.serving.inference import InferenceCore

GRPC, REST = "GRPC", "REST"
# API label values: prediction_service_impl.cc for gRPC, the URL verb for REST.
_API = {GRPC: {"predict": "Predict", "classify": "Classify", "regress": "Regress",
               "multi_inference": "MultiInference"},
        REST: {"predict": "predict", "classify": "classify", "regress": "regress",
               "multi_inference": "multi_inference"}}


def status_name(err: BaseException) -> str:
    """The canonical code name a failed request is counted under."""
    if isinstance(err, ServingError):
        return err.code.name
    if isinstance(err, tf.errors.OpError):
        return code_from_number(err.error_code).name
    return grpc.StatusCode.INTERNAL.name


class InstrumentedCore:
    """``InferenceCore`` seen through one front end, with metrics and logs.

    Args:
      core: the server's ``InferenceCore``.
      entrypoint: ``GRPC`` or ``REST`` (the latency's ``entrypoint`` label).
      metrics: ``serving.metrics.ServingMetrics`` or None.
      request_log: ``serving.request_log.RequestLogger`` or None.
    """

    def __init__(self, core: InferenceCore, entrypoint: str, metrics=None, request_log=None):
        self._core, self._entrypoint = core, entrypoint
        self._metrics = metrics
        self._request_log = request_log

    def __getattr__(self, name):
        return getattr(self._core, name)

    def predict(self, request):
        return self._observe("predict", request, self._core.predict)

    def classify(self, request):
        return self._observe("classify", request, self._core.classify)

    def regress(self, request):
        return self._observe("regress", request, self._core.regress)

    def multi_inference(self, request):
        return self._observe("multi_inference", request, self._core.multi_inference)

    def run_predict(self, servable, signature: str, inputs, output_filter=()):
        """REST Predict's path (``serving.rest``): arrays in and out."""
        started = time.perf_counter()
        status = "OK"
        try:
            outputs = self._core.run_predict(servable, signature, inputs, output_filter)
        except BaseException as err:
            status = status_name(err)
            raise
        finally:
            if self._metrics is not None:
                self._metrics.record_request(servable.name, _API[self._entrypoint]["predict"],
                                             self._entrypoint, signature, status,
                                             time.perf_counter() - started)
        logger = self._logger()
        if logger is not None and logger.sampled(servable.name):
            spec = model_pb2.ModelSpec(name=servable.name, signature_name=signature)
            spec.version.value = servable.version
            logger.submit("predict_arrays", servable.name, spec, inputs, outputs)
        return outputs

    def _logger(self):
        # Re-read each time: a config reload may turn logging on.
        logger = self._request_log
        return logger if logger is not None and logger.enabled else None

    def _observe(self, kind: str, request, call: Callable):
        started = time.perf_counter()
        status = "OK"
        response = None
        try:
            response = call(request)
            return response
        except BaseException as err:
            status = status_name(err)
            raise
        finally:
            spec = _request_spec(request)
            name = spec.name if spec is not None else ""
            if self._metrics is not None:
                signature = (spec.signature_name if spec is not None else "") or DEFAULT_SIGNATURE
                self._metrics.record_request(name, _API[self._entrypoint][kind],
                                             self._entrypoint, signature, status,
                                             time.perf_counter() - started)
            logger = self._logger() if response is not None else None
            if logger is not None and logger.sampled(name):
                logger.submit(kind, name, _answered_spec(response, spec), request, response)


def _request_spec(request) -> Optional[model_pb2.ModelSpec]:
    if hasattr(request, "tasks"):  # MultiInferenceRequest
        return request.tasks[0].model_spec if request.tasks else None
    return request.model_spec if request.HasField("model_spec") else None


def _answered_spec(response, spec) -> model_pb2.ModelSpec:
    """The model spec the answer carries (name, version, signature)."""
    if hasattr(response, "results"):  # MultiInferenceResponse
        answered = model_pb2.ModelSpec()
        if response.results:
            answered.CopyFrom(response.results[0].model_spec)
        return answered
    answered = model_pb2.ModelSpec()
    answered.CopyFrom(response.model_spec)
    if not answered.signature_name:
        answered.signature_name = (spec.signature_name if spec is not None else "") or \
            DEFAULT_SIGNATURE
    return answered
