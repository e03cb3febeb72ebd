"""The request rules of TF Serving's APIs, shared by the gRPC and REST front ends.

``InferenceCore`` takes and returns tensorflow_serving.apis messages and
raises ``ServingError`` with TF Serving's code and message; the gRPC
servicers (``serving.grpc_service``) and the REST handler (``serving.rest``)
only translate to and from it. It follows the sources TF Serving's
model_servers/prediction_service_impl.cc and model_service_impl.cc delegate
to:

- Predict: servables/tensorflow/predict_util.cc (input checks against the
  SignatureDef, output filter);
- Classify and Regress: servables/tensorflow/classifier.cc and regressor.cc
  (signature aliases ``inputs``; ``classes``/``scores`` and ``outputs``;
  result post-processing);
- MultiInference: servables/tensorflow/multi_inference.cc and
  multi_inference_helper.cc;
- GetModelMetadata: servables/tensorflow/get_model_metadata_impl.cc;
- GetModelStatus: model_servers/get_model_status_impl.cc, versions newest
  first as core/servable_state_monitor.h orders them (``std::greater``);
- HandleReloadConfigRequest: model_servers/model_service_impl.cc and
  server_core.cc (through ``serving.manager``); one ``metric`` entry per
  requested ``metric_names`` item, with the value's increase over the reload
  (``RecordMetricsIncrease``).

Predict answers with the typed ``TensorProto`` fields (``float_val``, ...;
predict_util.cc ``kAsProtoField``), through ``serving.tensors.to_proto_field``.
Input shapes are checked against the SignatureDef before the call (a
mismatch is INVALID_ARGUMENT, as the TF2 function runtime reports it); a
TensorInfo that records no shape (TF1 exporters wrote none) accepts any, and
servables run in a TF1 Session (``serving.session_model``) leave shapes to
the Session, as predict_util.cc does.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2,
                                     model_management_pb2, model_pb2, predict_pb2,
                                     regression_pb2)

from tfxp.core.signatures import (CLASSES_OUTPUT, CLASSIFY_METHOD, CLASSIFY_OUTPUTS,
                                  DEFAULT_SIGNATURE, EXAMPLES_INPUT, REGRESS_METHOD,
                                  REGRESS_OUTPUT, SCORES_OUTPUT)
from tfxp.serving import json_tensor, tensors
from tfxp.serving.errors import failed_precondition, invalid_argument, make_error
from tfxp.serving.manager import ModelManager, Servable, examples_from_input

SIGNATURE_DEF_FIELD = "signature_def"  # GetModelMetadataImpl::kSignatureDef

_STATE_ENUM = {name: value for name, value in
               get_model_status_pb2.ModelVersionStatus.State.items()}
Arrays = Dict[str, np.ndarray]


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


def _shape_compatible(shape: Tuple[int, ...], info) -> bool:
    """``shape`` fits TensorInfo ``info``'s shape; no recorded shape fits all."""
    if not info.HasField("tensor_shape"):
        return True
    proto = info.tensor_shape
    if proto.unknown_rank:
        return True
    if len(shape) != len(proto.dim):
        return False
    return all(d.size < 0 or d.size == s for d, s in zip(proto.dim, shape))


def _shape_text(info) -> str:
    proto = info.tensor_shape
    if proto.unknown_rank or not info.HasField("tensor_shape"):
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
    if EXAMPLES_INPUT not in sigdef.inputs:
        raise invalid_argument(f"No classification inputs found in SignatureDef: {sigdef}")
    outputs = [k for k in CLASSIFY_OUTPUTS if k in sigdef.outputs]
    if not outputs:
        raise invalid_argument(
            'Expected classification signature outputs to contain at least one of '
            f'"classes" or "scores". Signature was: {sigdef}')
    return EXAMPLES_INPUT, outputs


def regression_aliases(sigdef: meta_graph_pb2.SignatureDef) -> Tuple[str, List[str]]:
    """regressor.cc PreProcessRegression."""
    if len(sigdef.inputs) != 1:
        raise invalid_argument("Expected one input Tensor.")
    if len(sigdef.outputs) != 1:
        raise invalid_argument("Expected one output Tensor.")
    if EXAMPLES_INPUT not in sigdef.inputs:
        raise invalid_argument(f"No regression inputs found in SignatureDef: {sigdef}")
    if REGRESS_OUTPUT not in sigdef.outputs:
        raise invalid_argument(f"No regression outputs found in SignatureDef: {sigdef}")
    return EXAMPLES_INPUT, [REGRESS_OUTPUT]


def _fill_classification(outputs: Arrays, num_examples: int,
                         result: classification_pb2.ClassificationResult) -> None:
    """classifier.cc PostProcessClassificationResult."""
    classes, scores = outputs.get(CLASSES_OUTPUT), outputs.get(SCORES_OUTPUT)
    for name, value, dtype in ((CLASSES_OUTPUT, classes, "DT_STRING"),
                               (SCORES_OUTPUT, scores, "DT_FLOAT")):
        if value is None:
            continue
        if value.ndim != 2:
            raise invalid_argument(f"Expected Tensor shape: [batch_size num_classes] but "
                                   f"got {list(value.shape)}")
        ok = value.dtype == object if name == CLASSES_OUTPUT else value.dtype == np.float32
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
    value = outputs[REGRESS_OUTPUT]
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


class InferenceCore:
    """The request handling shared by the gRPC servicers and the REST API.

    Every method takes and returns tensorflow_serving.apis messages and raises
    ``ServingError`` with TF Serving's code and message.

    Args:
      manager: the models.
      metric_value: the current int64 value of a monitoring metric by name,
        for ReloadConfig's ``metric_names``; unknown names are 0, as in TF
        Serving. Without a metrics registry every value is 0.
    """

    def __init__(self, manager: ModelManager,
                 metric_value: Optional[Callable[[str], int]] = None):
        self.manager = manager
        self.metric_value = metric_value or (lambda name: 0)

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
            response.outputs[alias].CopyFrom(tensors.to_proto_field(value))
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
                # TF's executor words it so (DataTypeString names); the alias is ours.
                raise invalid_argument(f"Expects arg[{index}] to be "
                                       f"{json_tensor.data_type_string(info.dtype)} but "
                                       f"{json_tensor.data_type_string(got)} is provided "
                                       f"(input {alias})")
            if not servable.runs_in_session and not _shape_compatible(value.shape, info):
                raise invalid_argument(f"input {alias} has shape {list(value.shape)}, which "
                                       f"is not compatible with the signature's shape "
                                       f"{_shape_text(info)}")
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
        return self._run_examples(request, "classify",
                                  classification_pb2.ClassificationResponse(),
                                  _fill_classification)

    def regress(self, request: regression_pb2.RegressionRequest
                ) -> regression_pb2.RegressionResponse:
        return self._run_examples(request, "regress", regression_pb2.RegressionResponse(),
                                  _fill_regression)

    def _run_examples(self, request, kind: str, response, fill: Callable):
        """Classify or Regress: the request's examples through the signature's
        input alias, the outputs filled into ``response.result`` by ``fill``."""
        spec = _require_spec(request)
        servable, signature, (input_alias, _) = self._example_signature(spec, kind)
        examples = examples_from_input(request.input)
        outputs = servable.call(signature, {input_alias: examples})
        _response_spec(response.model_spec, spec.name, spec.signature_name, servable.version)
        fill(outputs, len(examples), response.result)
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
        for state in sorted(self.manager.status(spec), key=lambda s: s.version, reverse=True):
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
        """model_service_impl.cc HandleReloadConfigRequest: reloads, then
        reports each of ``metric_names`` with its increase over the reload;
        ``status`` is set (OK) on success, a failure is the RPC's status."""
        names = list(dict.fromkeys(request.metric_names))
        before = {name: self.metric_value(name) for name in names}
        self.manager.reload_config(request.config)
        response = model_management_pb2.ReloadConfigResponse()
        response.status.SetInParent()
        for name in names:
            response.metric.add(name=name,
                                int64_value_increase=self.metric_value(name) - before[name])
        return response
