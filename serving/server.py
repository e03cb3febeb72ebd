"""A local model server that speaks TF Serving's gRPC and REST protocols.

Why this exists: the real ``tensorflow_model_server`` cannot be obtained on
these machines (it ships only in Google's apt repository and Docker images,
neither reachable; no PyPI/Debian package holds it; building it needs Bazel
and GitHub downloads; see shared/STACK.md). ``tensorflow-serving-api`` does
ship the protos and servicer base classes, so this module implements the
server side on them. A client cannot tell the two apart for what is covered
here, and deployment stays the real thing (``serving/deploy/``).

What it serves, with the TF Serving source each behaviour follows:

- gRPC ``PredictionService``: Predict (servables/tensorflow/predict_util.cc),
  Classify (classifier.cc), Regress (regressor.cc), MultiInference
  (multi_inference.cc, multi_inference_helper.cc), GetModelMetadata
  (get_model_metadata_impl.cc); ``ModelService``: GetModelStatus
  (model_servers/get_model_status_impl.cc), HandleReloadConfigRequest
  (model_service_impl.cc, server_core.cc).
- REST on a second port (model_servers/http_rest_api_handler.cc,
  http_rest_api_util.cc, util/json_tensor.cc, g3doc/api_rest.md):
  ``GET /v1/models/NAME[/versions/N|/labels/L][/metadata]`` and
  ``POST /v1/models/NAME[/versions/N|/labels/L]:(predict|classify|regress)``.
  Errors answer ``{"error": message}`` with http_server.cc's status mapping
  (NOT_FOUND 404; INVALID_ARGUMENT and FAILED_PRECONDITION 400;
  RESOURCE_EXHAUSTED 429; UNAVAILABLE 503).
- Versions, policies, labels, warm-up, availability-preserving reloads: see
  ``serving.manager``. Server-side batching: ``serving.batching``. Tensors
  travel as ``tensor_content``/``string_val`` (``serving.tensors``).
- Error messages are cut at 1024 characters (grpc_status_util.cc).

Deliberate differences from ``tensorflow_model_server``, all on the safe side:
- it binds 127.0.0.1 unless ``--host`` says otherwise (TF Serving: 0.0.0.0);
- REST is on 8501 by default (TF Serving: off unless ``--rest_api_port``);
- requests are limited to ``--max_request_bytes`` (default 4 MiB, gRPC's own
  default; TF Serving raises gRPC's limit to 2 GiB). Larger gRPC messages get
  RESOURCE_EXHAUSTED from gRPC itself, larger REST bodies 429 with the same
  code; ``--grpc_channel_arguments`` can still override gRPC's options;
- model names must be ``[A-Za-z0-9_][A-Za-z0-9_.-]*``; request data is never
  turned into a file path;
- signature functions run as TF2 concrete functions of the loaded SavedModel
  (``tf.saved_model.load``), not in a TF1 session; input dtypes and shapes are
  checked against the SignatureDef first, so mismatches are INVALID_ARGUMENT
  as in TF Serving;
- ``__saved_model_init_op`` and other signatures without a callable function
  are listed by GetModelMetadata but cannot be run;
- nothing is ever unpickled; SavedModels are read as protobuf and TF graphs.

Run: ``python -m tfxp.serving.server --model_name=dense --model_base_path=/abs/path``
or ``--model_config_file=models.config`` (same flags as tensorflow_model_server;
``tfxp serve`` serves a workspace).
"""
from __future__ import annotations

from tfxp.core import env  # noqa: F401  (TF_USE_LEGACY_KERAS before TensorFlow)

import argparse  # noqa: E402
import concurrent.futures  # noqa: E402
import http.server  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import urllib.parse  # noqa: E402
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple  # noqa: E402

import grpc  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from tensorflow.core.framework import types_pb2  # noqa: E402
from tensorflow.core.protobuf import meta_graph_pb2  # noqa: E402
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,  # noqa: E402
                                     get_model_status_pb2, inference_pb2, input_pb2,
                                     model_management_pb2, model_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc, regression_pb2)
from tensorflow_serving.config import model_server_config_pb2  # noqa: E402

from tfxp.serving import json_tensor, tensors  # noqa: E402
from tfxp.serving.batching import BatchingOptions  # noqa: E402
from tfxp.serving.errors import (HTTP_STATUS, ServingError, code_from_number,  # noqa: E402
                            failed_precondition, invalid_argument, make_error, truncate)
from tfxp.serving.manager import (DEFAULT_TAGS, ModelManager, Servable,  # noqa: E402
                             examples_from_input, parse_config, single_model_config)

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_GRPC_PORT = 8500
DEFAULT_REST_PORT = 8501
DEFAULT_POLL_SECONDS = 1.0
DEFAULT_MAX_REQUEST_BYTES = 4 * 1024 * 1024
DEFAULT_GRPC_THREADS = 16
DEFAULT_REST_THREADS = 8

DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # "serving_default"
PREDICT_METHOD = tf.saved_model.PREDICT_METHOD_NAME    # "tensorflow/serving/predict"
CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME  # "tensorflow/serving/classify"
REGRESS_METHOD = tf.saved_model.REGRESS_METHOD_NAME    # "tensorflow/serving/regress"
SIGNATURE_DEF_FIELD = "signature_def"  # GetModelMetadataImpl::kSignatureDef

_STATE_ENUM = {name: value for name, value in
               get_model_status_pb2.ModelVersionStatus.State.items()}
Arrays = Dict[str, np.ndarray]


# ------------------------------------------------------------------ helpers

def _require_spec(request) -> model_pb2.ModelSpec:
    if not request.HasField("model_spec"):
        raise invalid_argument("Missing ModelSpec")
    return request.model_spec


def _response_spec(out: model_pb2.ModelSpec, name: str, signature: Optional[str],
                   version: Optional[int]) -> None:
    """util.cc MakeModelSpec."""
    out.Clear()
    out.name = name
    if signature is not None:
        out.signature_name = signature or DEFAULT_SIGNATURE
    if version is not None:
        out.version.value = version


def _shape_compatible(shape: Tuple[int, ...], proto) -> bool:
    if proto.unknown_rank:
        return True
    if len(shape) != len(proto.dim):
        return False
    return all(d.size < 0 or d.size == s for d, s in zip(proto.dim, shape))


def _shape_text(proto) -> str:
    if proto.unknown_rank:
        return "<unknown>"
    return "[" + ",".join("?" if d.size < 0 else str(d.size) for d in proto.dim) + "]"


def _dtype_name(dtype: int) -> str:
    return tf.dtypes.as_dtype(dtype).name if dtype else "invalid"


def _array_dtype_enum(array: np.ndarray) -> int:
    if array.dtype == object or array.dtype.kind in "SU":
        return types_pb2.DT_STRING
    return tf.dtypes.as_dtype(array.dtype).as_datatype_enum


def _to_ndarray(alias: str, proto) -> np.ndarray:
    """TensorProto -> ndarray; unparsable -> INVALID_ARGUMENT (GetInputValues)."""
    try:
        return tensors.to_ndarray(proto)
    except MemoryError:
        raise make_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                         f"tensor {alias} is too large to allocate") from None
    except Exception:  # noqa: BLE001 - TypeError/ValueError/KeyError from bad protos
        raise invalid_argument(f"tensor parsing error: {alias}") from None


def classification_aliases(sigdef: meta_graph_pb2.SignatureDef) -> Tuple[str, List[str]]:
    """classifier.cc PreProcessClassification (method-name check off, TF
    Serving's default): -> (input alias, output aliases)."""
    if len(sigdef.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(sigdef.outputs) not in (1, 2):
        raise invalid_argument(f"Expected one or two output Tensors, found "
                               f"{len(sigdef.outputs)}")
    if "inputs" not in sigdef.inputs:
        raise invalid_argument(f"No classification inputs found in SignatureDef: {sigdef}")
    outputs = [k for k in ("classes", "scores") if k in sigdef.outputs]
    if not outputs:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of '
            f'"classes" or "scores". Signature was: {sigdef}')
    return "inputs", outputs


def regression_aliases(sigdef: meta_graph_pb2.SignatureDef) -> Tuple[str, List[str]]:
    """regressor.cc PreProcessRegression."""
    if len(sigdef.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(sigdef.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if "inputs" not in sigdef.inputs:
        raise invalid_argument(f"No regression inputs found in SignatureDef: {sigdef}")
    if "outputs" not in sigdef.outputs:
        raise invalid_argument(f"No regression outputs found in SignatureDef: {sigdef}")
    return "inputs", ["outputs"]


def _fill_classification(outputs: Arrays, num_examples: int,
                         result: classification_pb2.ClassificationResult) -> None:
    """classifier.cc PostProcessClassificationResult."""
    classes, scores = outputs.get("classes"), outputs.get("scores")
    for name, value, dtype in (("classes", classes, "DT_STRING"), ("scores", scores, "DT_FLOAT")):
        if value is None:
            continue
        if value.ndim != 2:
            raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but "
                                   f"got {list(value.shape)}")
        ok = value.dtype == object if name == "classes" else value.dtype == np.float32
        if not ok:
            raise invalid_argument(f"Expected {name} Tensor of {dtype}. Got: "
                                   f"{_dtype_name(_array_dtype_enum(value))}")
        if value.shape[0] != num_examples:
            raise invalid_argument(f"Expected {name} output batch size of {num_examples}. "
                                   f"Got: {value.shape[0]}")
    if classes is not None and scores is not None and classes.shape[1] != scores.shape[1]:
        raise invalid_argument(f"Tensors class and score should match in dim_size(1). Got "
                               f"{classes.shape[1]} vs. {scores.shape[1]}")
    num_classes = (classes if classes is not None else scores).shape[1]
    for i in range(num_examples):
        out = result.classifications.add()
        for c in range(num_classes):
            cls = out.classes.add()
            if classes is not None:
                cls.label = bytes(classes[i, c]).decode("utf-8", errors="replace")
            if scores is not None:
                cls.score = float(scores[i, c])


def _fill_regression(outputs: Arrays, num_examples: int,
                     result: regression_pb2.RegressionResult) -> None:
    """regressor.cc PostProcessRegressionResult."""
    value = outputs["outputs"]
    if not (value.ndim == 1 or (value.ndim == 2 and value.shape[1] == 1)):
        raise invalid_argument(f"Expected output Tensor shape to be either [batch_size] or "
                               f"[batch_size, 1] but got {list(value.shape)}")
    if value.shape[0] != num_examples:
        raise invalid_argument(f"Input batch size did not match output batch size: "
                               f"{num_examples} vs. {value.shape[0]}")
    if value.dtype != np.float32:
        raise invalid_argument(f"Expected output Tensor of DT_FLOAT.  Got: "
                               f"{_dtype_name(_array_dtype_enum(value))}")
    for v in value.reshape(-1):
        result.regressions.add().value = float(v)


# ------------------------------------------------------------------ core

class InferenceCore:
    """The request handling shared by the gRPC servicers and the REST API.

    Every method takes and returns tensorflow_serving.apis messages and raises
    ``ServingError`` with TF Serving's code and message.
    """

    def __init__(self, manager: ModelManager):
        self.manager = manager

    # --- Predict (predict_util.cc) ---

    def predict(self, request: predict_pb2.PredictRequest) -> predict_pb2.PredictResponse:
        spec = _require_spec(request)
        servable = self.manager.servable(spec)
        signature = spec.signature_name or DEFAULT_SIGNATURE
        sigdef = self._predict_signature(servable, signature)
        self._verify_inputs_size(sigdef, request.inputs.keys())
        inputs = {alias: _to_ndarray(alias, proto) for alias, proto in request.inputs.items()}
        outputs = self.run_predict(servable, signature, inputs, list(request.output_filter))
        response = predict_pb2.PredictResponse()
        _response_spec(response.model_spec, spec.name, signature, servable.version)
        for alias, value in outputs.items():
            response.outputs[alias].CopyFrom(tensors.to_proto(value))
        return response

    @staticmethod
    def _predict_signature(servable: Servable, signature: str) -> meta_graph_pb2.SignatureDef:
        sigdef = servable.signature_defs.get(signature)
        if sigdef is None or signature not in servable.functions:
            raise failed_precondition(f'Serving signature key "{signature}" not found.')
        return sigdef

    @staticmethod
    def _verify_inputs_size(sigdef, request_keys) -> None:
        """predict_util.cc VerifyRequestInputsSize."""
        sent, expected = set(request_keys), set(sigdef.inputs)
        if len(sent) > len(expected) or (len(sent) < len(expected) and not sigdef.defaults):
            raise invalid_argument(
                f"input size does not match signature: {len(sent)}!={len(expected)} "
                f"len({{{','.join(sorted(sent))}}}) != len({{{','.join(sorted(expected))}}}). "
                f"Sent extra: {{{','.join(sorted(sent - expected))}}}. "
                f"Missing but required: {{{','.join(sorted(expected - sent))}}}.")

    def run_predict(self, servable: Servable, signature: str, inputs: Arrays,
                    output_filter: Sequence[str] = ()) -> Arrays:
        """Validates ``inputs`` ({alias: ndarray}) against the SignatureDef and
        runs it; returns the (filtered) outputs.

        Raises:
          ServingError: FAILED_PRECONDITION unknown signature; INVALID_ARGUMENT
            unknown/missing alias, dtype or shape mismatch, bad output filter.
        """
        sigdef = self._predict_signature(servable, signature)
        self._verify_inputs_size(sigdef, inputs.keys())
        unknown = sorted(set(inputs) - set(sigdef.inputs))
        if unknown:
            raise invalid_argument(
                f"input tensor alias not found in signature: {unknown[0]}. Inputs expected "
                f"to be in the set {{{','.join(sorted(sigdef.inputs))}}}.")
        for index, (alias, info) in enumerate(sorted(sigdef.inputs.items())):
            if alias not in inputs:
                raise invalid_argument(f"Missing input: {alias}; default values are not "
                                       f"supported")
            value = inputs[alias]
            got = _array_dtype_enum(value)
            if got != info.dtype:
                raise invalid_argument(f"Expects arg[{index}] ({alias}) to be "
                                       f"{_dtype_name(info.dtype)} but {_dtype_name(got)} "
                                       f"is provided")
            if not _shape_compatible(value.shape, info.tensor_shape):
                raise invalid_argument(f"input {alias} has shape {list(value.shape)}, which "
                                       f"is not compatible with the signature's shape "
                                       f"{_shape_text(info.tensor_shape)}")
        seen = set()
        for alias in output_filter:
            if alias not in sigdef.outputs:
                raise invalid_argument(
                    f"output tensor alias not found in signature: {alias} Outputs expected "
                    f"to be in the set {{{','.join(sorted(sigdef.outputs))}}}.")
            if alias in seen:
                raise invalid_argument(f"duplicate output tensor alias: {alias}")
            seen.add(alias)
        outputs = servable.call(signature, inputs)
        wanted = list(output_filter) or list(sigdef.outputs)
        return {alias: outputs[alias] for alias in wanted}

    # --- Classify / Regress (classifier.cc, regressor.cc) ---

    def _example_signature(self, spec, kind: str):
        servable = self.manager.servable(spec)
        signature = spec.signature_name or DEFAULT_SIGNATURE
        sigdef = servable.signature_defs.get(signature)
        if sigdef is None:
            raise invalid_argument(f"No signature was found with the name: {signature}")
        aliases = (classification_aliases if kind == "classify" else regression_aliases)(sigdef)
        if signature not in servable.functions:
            raise failed_precondition(f'Serving signature key "{signature}" not found.')
        return servable, signature, aliases

    def classify(self, request: classification_pb2.ClassificationRequest
                 ) -> classification_pb2.ClassificationResponse:
        spec = _require_spec(request)
        servable, signature, (input_alias, _) = self._example_signature(spec, "classify")
        examples = examples_from_input(request.input)
        outputs = servable.call(signature, {input_alias: examples})
        response = classification_pb2.ClassificationResponse()
        _response_spec(response.model_spec, spec.name, spec.signature_name, servable.version)
        _fill_classification(outputs, len(examples), response.result)
        return response

    def regress(self, request: regression_pb2.RegressionRequest
                ) -> regression_pb2.RegressionResponse:
        spec = _require_spec(request)
        servable, signature, (input_alias, _) = self._example_signature(spec, "regress")
        examples = examples_from_input(request.input)
        outputs = servable.call(signature, {input_alias: examples})
        response = regression_pb2.RegressionResponse()
        _response_spec(response.model_spec, spec.name, spec.signature_name, servable.version)
        _fill_regression(outputs, len(examples), response.result)
        return response

    def multi_inference(self, request: inference_pb2.MultiInferenceRequest
                        ) -> inference_pb2.MultiInferenceResponse:
        """multi_inference_helper.cc + multi_inference.cc."""
        spec = (request.tasks[0].model_spec if request.tasks
                and request.tasks[0].HasField("model_spec") else model_pb2.ModelSpec())
        servable = self.manager.servable(spec)
        plan = []
        names = set()
        for task in request.tasks:
            if not task.model_spec.name:
                raise invalid_argument("Found ModelSpec with an empty model name.")
            if task.model_spec.name != spec.name:
                raise invalid_argument("All ModelSpecs in a MultiInferenceRequest must access "
                                       "the same model name.")
            signature = task.model_spec.signature_name or DEFAULT_SIGNATURE
            if signature in names:
                raise invalid_argument(f"Duplicate evaluation of signature: {signature}")
            names.add(signature)
            sigdef = servable.signature_defs.get(signature)
            if sigdef is None:
                raise invalid_argument(f"Requested signature not found in model graph: "
                                       f"{signature}")
            if task.method_name == CLASSIFY_METHOD:
                aliases = classification_aliases(sigdef)
            elif task.method_name == REGRESS_METHOD:
                aliases = regression_aliases(sigdef)
            else:
                raise make_error(grpc.StatusCode.UNIMPLEMENTED,
                                 f"Unsupported signature method_name: {task.method_name}")
            if signature not in servable.functions:
                raise failed_precondition(f'Serving signature key "{signature}" not found.')
            plan.append((task, signature, aliases[0]))
        examples = examples_from_input(request.input)
        response = inference_pb2.MultiInferenceResponse()
        for task, signature, input_alias in plan:
            outputs = servable.call(signature, {input_alias: examples})
            result = response.results.add()
            if task.method_name == CLASSIFY_METHOD:
                _fill_classification(outputs, len(examples), result.classification_result)
            else:
                _fill_regression(outputs, len(examples), result.regression_result)
            _response_spec(result.model_spec, task.model_spec.name,
                           task.model_spec.signature_name, servable.version)
        return response

    # --- metadata and status ---

    def get_model_metadata(self, request: get_model_metadata_pb2.GetModelMetadataRequest
                           ) -> get_model_metadata_pb2.GetModelMetadataResponse:
        """get_model_metadata_impl.cc."""
        spec = _require_spec(request)
        if not request.metadata_field:
            raise invalid_argument("GetModelMetadataRequest must specify at least one "
                                   "metadata_field")
        for field in request.metadata_field:
            if field != SIGNATURE_DEF_FIELD:
                raise invalid_argument(f"Metadata field {field} is not supported")
        servable = self.manager.servable(spec)
        response = get_model_metadata_pb2.GetModelMetadataResponse()
        response.model_spec.name = servable.name
        response.model_spec.version.value = servable.version
        sigmap = get_model_metadata_pb2.SignatureDefMap()
        for key, sigdef in servable.signature_defs.items():
            sigmap.signature_def[key].CopyFrom(sigdef)
        response.metadata[SIGNATURE_DEF_FIELD].Pack(sigmap)
        return response

    def get_model_status(self, request: get_model_status_pb2.GetModelStatusRequest
                         ) -> get_model_status_pb2.GetModelStatusResponse:
        spec = _require_spec(request)
        response = get_model_status_pb2.GetModelStatusResponse()
        for state in self.manager.status(spec):
            out = response.model_version_status.add()
            out.version = state.version
            out.state = _STATE_ENUM[state.state]
            out.status.SetInParent()  # TF Serving always sets it (OK when healthy)
            if state.error is not None:
                out.status.error_code = state.error[0].value[0]
                out.status.error_message = state.error[1]
        return response

    def reload_config(self, request: model_management_pb2.ReloadConfigRequest
                      ) -> model_management_pb2.ReloadConfigResponse:
        self.manager.reload_config(request.config)
        return model_management_pb2.ReloadConfigResponse()

    # --- REST (http_rest_api_handler.cc) ---

    _PREDICT_PATH = re.compile(
        r"/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
        r":(classify|regress|predict)", re.IGNORECASE)
    _STATUS_PATH = re.compile(
        r"/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/([^/:]+)))?"
        r"(?:/(metadata))?", re.IGNORECASE)

    def rest(self, method: str, path: str, body: bytes) -> Tuple[int, Dict[str, Any]]:
        """One REST request -> (HTTP status, JSON object)."""
        try:
            return 200, self._rest(method, path, body)
        except ServingError as err:
            return HTTP_STATUS.get(err.code, 500), {"error": truncate(err.message)}
        except Exception as err:  # noqa: BLE001 - reported as INTERNAL, like gRPC
            log.exception("REST request failed")
            return 500, {"error": truncate(f"{type(err).__name__}: {err}")}

    def _rest(self, method: str, path: str, body: bytes) -> Dict[str, Any]:
        malformed = invalid_argument(f"Malformed request: {method} {path}")
        match = (self._PREDICT_PATH.fullmatch(path) if method == "POST" else
                 self._STATUS_PATH.fullmatch(path) if method == "GET" else None)
        if match is None:
            raise malformed
        name, version, label, verb = (urllib.parse.unquote(match.group(1) or ""),
                                      match.group(2), match.group(3), match.group(4))
        spec = model_pb2.ModelSpec(name=name)
        if version is not None and label is not None:
            raise invalid_argument(f"Both model version ({version}) and model version label "
                                   f"({label}) cannot be supplied.")
        if version is not None:
            if int(version) >= 1 << 63:
                raise invalid_argument(f"Failed to convert version: {version} to numeric.")
            spec.version.value = int(version)
        if label is not None:
            spec.version_label = urllib.parse.unquote(label)
        if method == "GET":
            if not name:
                raise invalid_argument("Missing model name in request.")
            if verb:
                if verb != "metadata":
                    raise malformed
                request = get_model_metadata_pb2.GetModelMetadataRequest(
                    model_spec=spec, metadata_field=[SIGNATURE_DEF_FIELD])
                return self._metadata_json(self.get_model_metadata(request))
            request = get_model_status_pb2.GetModelStatusRequest(model_spec=spec)
            return json_format.MessageToDict(
                self.get_model_status(request), preserving_proto_field_name=True,
                including_default_value_fields=True)
        if verb not in ("predict", "classify", "regress"):
            raise malformed
        document = self._parse_json(body)
        if "signature_name" in document:
            if not isinstance(document["signature_name"], str):
                raise invalid_argument("JSON Value: not formatted correctly. "
                                       "'signature_name' key must be a string value.")
            spec.signature_name = document["signature_name"]
        if verb == "predict":
            return self._rest_predict(spec, document)
        examples, context = json_tensor.parse_classify_regress(document, verb)
        inp = input_pb2.Input()
        if context is not None:
            inp.example_list_with_context.context.ParseFromString(context)
            for data in examples:
                inp.example_list_with_context.examples.add().ParseFromString(data)
        else:
            for data in examples:
                inp.example_list.examples.add().ParseFromString(data)
        if verb == "classify":
            result = self.classify(classification_pb2.ClassificationRequest(
                model_spec=spec, input=inp)).result
            return {"result": [[[c.label, c.score] for c in cl.classes]
                               for cl in result.classifications]}
        result = self.regress(regression_pb2.RegressionRequest(model_spec=spec, input=inp)).result
        return {"result": [r.value for r in result.regressions]}

    @staticmethod
    def _parse_json(body: bytes) -> Dict[str, Any]:
        """json_tensor.cc ParseJson."""
        if not body:
            raise invalid_argument("JSON Parse error: The document is empty")
        try:
            document = json.loads(body)
        except json.JSONDecodeError as err:
            raise invalid_argument(f"JSON Parse error: {err.msg} at offset: {err.pos}") from None
        except UnicodeDecodeError as err:
            raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at "
                                   f"offset: {err.start}") from None
        except RecursionError:
            # A nesting bomb ("[[[[..."): rapidjson's kParseErrorStackOverflow.
            raise invalid_argument("JSON Parse error: The document nests too deeply "
                                   "(nesting bomb)") from None
        if not isinstance(document, dict):
            raise invalid_argument(f"JSON Value: {body[:256].decode('utf-8', 'replace')} "
                                   f"Is not object")
        return document

    def _rest_predict(self, spec: model_pb2.ModelSpec, document) -> Dict[str, Any]:
        servable = self.manager.servable(spec)
        signature = spec.signature_name or DEFAULT_SIGNATURE
        sigdef = servable.signature_defs.get(signature)
        if sigdef is None:  # HttpRestApiHandler::GetInfoMap
            raise invalid_argument(f'Serving signature name: "{signature}" not found in '
                                   f'signature def')
        inputs, fmt = json_tensor.parse_predict(document, sigdef.inputs)
        return json_tensor.predict_response(self.run_predict(servable, signature, inputs), fmt)

    @staticmethod
    def _metadata_json(response: get_model_metadata_pb2.GetModelMetadataResponse) -> Dict:
        """http_rest_api_util.cc ToJsonString(GetModelMetadataResponse)."""
        sigmap = get_model_metadata_pb2.SignatureDefMap()
        response.metadata[SIGNATURE_DEF_FIELD].Unpack(sigmap)
        kwargs = dict(preserving_proto_field_name=True, including_default_value_fields=True)
        return {"model_spec": json_format.MessageToDict(response.model_spec, **kwargs),
                "metadata": {SIGNATURE_DEF_FIELD: json_format.MessageToDict(sigmap, **kwargs)}}


# ------------------------------------------------------------------ gRPC

def _serve(context: grpc.ServicerContext, handler: Callable, request):
    """Runs ``handler`` and turns ``ServingError`` into the gRPC status."""
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


# ------------------------------------------------------------------ REST

class _RestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so clients reuse connections
    server_version = "tfx-pipelines-model-server"

    def do_GET(self):  # noqa: N802 - http.server names
        self._handle("GET")

    def do_POST(self):  # noqa: N802
        self._handle("POST")

    def log_message(self, fmt, *args):  # route access logs to logging, quietly
        log.debug("REST %s " + fmt, self.client_address[0], *args)

    def _handle(self, method: str) -> None:
        server: _RestServer = self.server  # type: ignore[assignment]
        path = urllib.parse.urlsplit(self.path).path
        if not re.fullmatch(r"/v1/.*", path, re.IGNORECASE):
            self._reply(404, {"error": f"Not found: {method} {path}"})
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self.close_connection = True
            self._reply(411, {"error": "chunked request bodies are not supported; send "
                                       "Content-Length"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            self._reply(400, {"error": "invalid Content-Length"})
            return
        if length > server.max_request_bytes:
            # The body is not read; closing the connection discards it.
            self.close_connection = True
            self._reply(HTTP_STATUS[grpc.StatusCode.RESOURCE_EXHAUSTED], {
                "error": f"Request body of {length} bytes is larger than max "
                         f"({server.max_request_bytes})"})
            return
        body = self.rfile.read(length) if length else b""
        status, payload = server.core.rest(method, path, body)
        self._reply(status, payload)

    def _reply(self, status: int, payload: Dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(data)


class _RestServer(http.server.HTTPServer):
    """HTTPServer whose requests run on a bounded thread pool
    (``--rest_api_num_threads``), not a thread per connection."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address, core: InferenceCore, max_request_bytes: int, threads: int):
        super().__init__(address, _RestHandler)
        self.core = core
        self.max_request_bytes = max_request_bytes
        self._pool = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="rest")

    def process_request(self, request, client_address):
        self._pool.submit(self._work, request, client_address)

    def _work(self, request, client_address):
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001 - a broken connection must not kill the pool
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)

    def server_close(self):
        super().server_close()
        self._pool.shutdown(wait=False, cancel_futures=True)


# ------------------------------------------------------------------ server

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
      batching: server-side batching options, or None for none.
      tags: SavedModel meta graph tags to load.
      allow_version_labels_for_unavailable_models: as TF Serving's flag.
      grpc_channel_arguments: extra ``(key, value)`` gRPC server options,
        applied last (TF Serving's ``--grpc_channel_arguments``).
      config_file, config_poll_seconds: re-read ``config_file`` every
        ``config_poll_seconds`` and reload when it changed
        (``--model_config_file_poll_wait_seconds``); 0 = never.
    """

    def __init__(self, config: model_server_config_pb2.ModelServerConfig, *,
                 host: str = DEFAULT_HOST, grpc_port: int = DEFAULT_GRPC_PORT,
                 rest_port: Optional[int] = DEFAULT_REST_PORT,
                 poll_seconds: float = DEFAULT_POLL_SECONDS,
                 max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
                 grpc_threads: int = DEFAULT_GRPC_THREADS,
                 rest_threads: int = DEFAULT_REST_THREADS,
                 batching: Optional[BatchingOptions] = None,
                 tags: Sequence[str] = DEFAULT_TAGS,
                 allow_version_labels_for_unavailable_models: bool = False,
                 grpc_channel_arguments: Sequence[Tuple[str, Any]] = (),
                 config_file: Optional[str] = None, config_poll_seconds: float = 0):
        if max_request_bytes < 1:
            raise ValueError(f"max_request_bytes must be >= 1, got {max_request_bytes}")
        self.manager = ModelManager(config, tags, batching,
                                    allow_version_labels_for_unavailable_models)
        self.core = InferenceCore(self.manager)
        self.host = host
        self._grpc_port, self._rest_port = grpc_port, rest_port
        self._poll_seconds = poll_seconds
        self.max_request_bytes = max_request_bytes
        self._grpc_threads, self._rest_threads = grpc_threads, rest_threads
        self._channel_arguments = list(grpc_channel_arguments)
        self._config_file, self._config_poll_seconds = config_file, config_poll_seconds
        self._grpc_server: Optional[grpc.Server] = None
        self._rest_server: Optional[_RestServer] = None
        self._rest_thread: Optional[threading.Thread] = None
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
                self._rest_server = _RestServer((self.host, self._rest_port), self.core,
                                                self.max_request_bytes, self._rest_threads)
                self.rest_port = self._rest_server.server_address[1]
                self._rest_thread = threading.Thread(
                    target=self._rest_server.serve_forever, kwargs={"poll_interval": 0.2},
                    daemon=True, name="rest")
                self._rest_thread.start()
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
            PredictionServicer(self.core), server)
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
                    self.manager.reload_config(parse_config(text))
                    log.info("reloaded %s", self._config_file)
                last = text
            except (OSError, ValueError, ServingError) as err:
                log.error("reloading %s failed: %s", self._config_file, err)

    def stop(self, grace: float = 1.0) -> None:
        """Closes the ports (in-flight gRPC calls get ``grace`` seconds) and
        unloads every model."""
        self._stopped.set()
        if self._grpc_server is not None:
            self._grpc_server.stop(grace).wait()
            self._grpc_server = None
        if self._rest_server is not None:
            self._rest_server.shutdown()
            self._rest_server.server_close()
            self._rest_server = None
        self.manager.stop()

    def wait(self) -> None:
        """Blocks until ``stop`` is called (from another thread or a signal)."""
        self._stopped.wait()

    def __enter__(self) -> "ModelServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# ------------------------------------------------------------------ command line

def _flag_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def parse_channel_arguments(text: str) -> List[Tuple[str, Any]]:
    """``key=value,key=value`` (server.cc parseGrpcChannelArgs); integer
    values become ints.

    Raises:
      ValueError: an item without ``=``.
    """
    args = []
    for item in filter(None, (s.strip() for s in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"grpc channel argument {item!r} is not key=value")
        args.append((key.strip(), int(value) if re.fullmatch(r"-?\d+", value.strip())
                     else value.strip()))
    return args


def add_server_flags(parser: argparse.ArgumentParser, *, models_required: bool = True) -> None:
    """The ``tensorflow_model_server`` flags this server takes, plus ours
    (``--host``, ``--max_request_bytes`` and the batching knobs)."""
    if models_required:
        parser.add_argument("--model_name", default="default",
                            help="name of the model (with --model_base_path)")
        parser.add_argument("--model_base_path", help="folder of integer version folders")
    parser.add_argument("--model_config_file",
                        help="ModelServerConfig text proto" + (
                            "; overrides --model_name" if models_required else
                            "; overrides the workspace's serving folder"))
    parser.add_argument("--model_config_file_poll_wait_seconds", type=float, default=0,
                        help="re-read --model_config_file this often (0 = never)")
    parser.add_argument("--host", default=DEFAULT_HOST,
                        help="interface to bind (0.0.0.0 exposes the server)")
    parser.add_argument("--port", type=int, default=DEFAULT_GRPC_PORT, help="gRPC port")
    parser.add_argument("--rest_api_port", type=int, default=DEFAULT_REST_PORT,
                        help="REST port (0 disables REST)")
    parser.add_argument("--file_system_poll_wait_seconds", type=float,
                        default=DEFAULT_POLL_SECONDS,
                        help="seconds between polls of the base paths for new versions")
    parser.add_argument("--max_request_bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES,
                        help="largest gRPC request / REST body accepted, in bytes")
    parser.add_argument("--grpc_max_threads", type=int, default=DEFAULT_GRPC_THREADS,
                        help="gRPC request threads")
    parser.add_argument("--rest_api_num_threads", type=int, default=DEFAULT_REST_THREADS,
                        help="REST request threads")
    parser.add_argument("--grpc_channel_arguments", default="",
                        help="extra gRPC server options: key=value,key=value")
    parser.add_argument("--saved_model_tags", default=",".join(DEFAULT_TAGS),
                        help="comma-separated meta graph tags to load")
    parser.add_argument("--allow_version_labels_for_unavailable_models", type=_flag_bool,
                        nargs="?", const=True, default=False)
    parser.add_argument("--enable_batching", type=_flag_bool, nargs="?", const=True,
                        default=False, help="batch concurrent requests server-side")
    parser.add_argument("--batching_parameters_file",
                        help="BatchingParameters text proto (implies --enable_batching)")
    defaults = BatchingOptions()
    parser.add_argument("--max_batch_size", type=int, default=defaults.max_batch_size)
    parser.add_argument("--batch_timeout_micros", type=int,
                        default=defaults.batch_timeout_micros)
    parser.add_argument("--max_enqueued_batches", type=int,
                        default=defaults.max_enqueued_batches)
    parser.add_argument("--num_batch_threads", type=int, default=defaults.num_batch_threads)


def server_from_args(args: argparse.Namespace,
                     config: Optional[model_server_config_pb2.ModelServerConfig] = None
                     ) -> ModelServer:
    """Builds (does not start) the server the flags describe.

    ``config`` is used when no ``--model_config_file`` is given.

    Raises:
      ValueError: no models, unreadable files or bad flag values.
    """
    if args.model_config_file:
        try:
            with open(args.model_config_file) as f:
                config = parse_config(f.read())
        except OSError as err:
            raise ValueError(f"cannot read {args.model_config_file!r}: "
                             f"{err.strerror or err}") from None
    elif getattr(args, "model_base_path", None):
        from tfxp.core.uris import is_uri

        base = args.model_base_path  # a URI (gs://...) stays one, as in main.cc
        config = single_model_config(args.model_name,
                                     base if is_uri(base) else os.path.abspath(base))
    if config is None:
        raise ValueError("nothing to serve: give --model_base_path or --model_config_file")
    batching = None
    if args.batching_parameters_file:
        try:
            with open(args.batching_parameters_file) as f:
                batching = BatchingOptions.from_text(f.read())
        except OSError as err:
            raise ValueError(f"cannot read {args.batching_parameters_file!r}: "
                             f"{err.strerror or err}") from None
    elif args.enable_batching:
        batching = BatchingOptions(args.max_batch_size, args.batch_timeout_micros,
                                   args.max_enqueued_batches, args.num_batch_threads)
    try:
        return ModelServer(
            config, host=args.host, grpc_port=args.port,
            rest_port=args.rest_api_port or None,
            poll_seconds=args.file_system_poll_wait_seconds,
            max_request_bytes=args.max_request_bytes,
            grpc_threads=args.grpc_max_threads, rest_threads=args.rest_api_num_threads,
            batching=batching,
            tags=tuple(t for t in args.saved_model_tags.split(",") if t),
            allow_version_labels_for_unavailable_models=(
                args.allow_version_labels_for_unavailable_models),
            grpc_channel_arguments=parse_channel_arguments(args.grpc_channel_arguments),
            config_file=args.model_config_file,
            config_poll_seconds=args.model_config_file_poll_wait_seconds)
    except ServingError as err:
        raise ValueError(err.message) from None


def run_until_signal(server: ModelServer) -> int:
    """Starts ``server`` and serves until SIGINT/SIGTERM; returns an exit code."""
    def handle(signum, frame):
        threading.Thread(target=server.stop, daemon=True).start()
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
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tfxp.serving.server",
                                     description=__doc__.split("\n")[0])
    add_server_flags(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        server = server_from_args(args)
    except ValueError as err:
        parser.error(str(err))
    return run_until_signal(server)


if __name__ == "__main__":
    sys.exit(main())
