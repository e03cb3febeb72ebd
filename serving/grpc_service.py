"""TF Serving's gRPC services over ``InferenceCore``.

``PredictionServicer`` follows model_servers/prediction_service_impl.cc and
``ModelServicer`` model_service_impl.cc: each RPC hands its request to
``serving.inference.InferenceCore``; ``_serve`` turns what it raises into the
gRPC status, as grpc_status_util.cc does (codes unchanged, messages over
1024 characters cut).
"""
from __future__ import annotations

import logging
from typing import Callable

import grpc
import tensorflow as tf
from tensorflow_serving.apis import model_service_pb2_grpc, prediction_service_pb2_grpc

from tfxp.serving.errors import ServingError, code_from_number, make_error, truncate
from tfxp.serving.inference import InferenceCore

log = logging.getLogger(__name__)


def _serve(context: grpc.ServicerContext, handler: Callable, request):
    """Runs ``handler`` and turns ``ServingError`` into the gRPC status.

    The one place where errors become statuses (grpc_status_util.cc
    ToGRPCStatus): the code is kept, the message cut at 1024 characters; a
    TensorFlow ``OpError`` keeps its code; anything else is INTERNAL.
    """
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "Deadline Exceeded")
    try:
        return handler(request)
    except ServingError as err:
        error = err
    except tf.errors.OpError as err:
        error = make_error(code_from_number(err.error_code), err.message)
    except Exception as err:  # noqa: BLE001 - every failure becomes a status
        log.exception("request failed")
        error = make_error(grpc.StatusCode.INTERNAL, f"{type(err).__name__}: {err}")
    context.abort(error.code, truncate(error.message))


class PredictionServicer(prediction_service_pb2_grpc.PredictionServiceServicer):
    """tensorflow.serving.PredictionService (model_servers/prediction_service_impl.cc)."""

    def __init__(self, core: InferenceCore):
        self._core = core

    def Predict(self, request, context):  # noqa: N802 - gRPC method names
        return _serve(context, self._core.predict, request)

    def Classify(self, request, context):  # noqa: N802
        return _serve(context, self._core.classify, request)

    def Regress(self, request, context):  # noqa: N802
        return _serve(context, self._core.regress, request)

    def MultiInference(self, request, context):  # noqa: N802
        return _serve(context, self._core.multi_inference, request)

    def GetModelMetadata(self, request, context):  # noqa: N802
        return _serve(context, self._core.get_model_metadata, request)


class ModelServicer(model_service_pb2_grpc.ModelServiceServicer):
    """tensorflow.serving.ModelService (model_servers/model_service_impl.cc)."""

    def __init__(self, core: InferenceCore):
        self._core = core

    def GetModelStatus(self, request, context):  # noqa: N802
        return _serve(context, self._core.get_model_status, request)

    def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        return _serve(context, self._core.reload_config, request)
