"""Clients for TF Serving's gRPC and REST APIs.

They work against a real ``tensorflow_model_server`` and against
``serving.server`` alike. ``ServingClient`` follows TF Serving's own example
clients (tensorflow_serving/example/*_client.py): one stub per service over a
single channel, requests built from a ``ModelSpec`` (name, version or label,
signature) and ``TensorProto`` inputs, outputs read back as numpy arrays, and
a deadline on every call. Tensors are converted by ``serving.tensors`` (the
server's converters: ``tensor_content`` / ``string_val`` built directly, with
``tf.make_tensor_proto`` / ``tf.make_ndarray`` as the fallback), because the
TF functions cost 0.1-1 ms a tensor in Python, as much as a small model's
whole signature call. Responses are read in either legal encoding, typed
fields (``float_val``, ...: what TF Serving's Predict answers) or
``tensor_content``.

Inputs are built in the dtype the signature declares, as TF Serving's
clients do with ``tf.make_tensor_proto(values, dtype)``: ``ServingClient``
reads the signature's input dtypes from GetModelMetadata once per (model,
version or label, signature) and casts numbers within their kind (float64
-> float32, int64 -> int32, ints -> floats), so plain Python floats reach a
float32 input as float32. A value that cannot be cast within its kind is
sent as it is, and the server's INVALID_ARGUMENT stands.

Errors are raised as ``serving.errors.ServingError`` subclasses that keep the
``grpc.StatusCode`` (``NotFoundError``, ``InvalidArgumentError``, ...).
UNAVAILABLE (server not up yet, batch queue full) is retried with exponential
backoff while the call's time budget lasts, at most ``max_attempts`` times.
"""
from __future__ import annotations

import base64
import dataclasses
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import grpc
import numpy as np
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, inference_pb2, input_pb2,
                                     model_management_pb2, model_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc,
                                     regression_pb2)
from tensorflow_serving.config import model_server_config_pb2

from tfxp.core.signatures import (CLASSIFY_METHOD, DEFAULT_SIGNATURE, EXAMPLES_INPUT,
                                  REGRESS_METHOD)
from tfxp.serving import json_tensor, tensors
from tfxp.serving.errors import CODE_FOR_HTTP, ServingError, UnavailableError, make_error

DEFAULT_TIMEOUT_S = 10.0
DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default receive limit
DEFAULT_MAX_ATTEMPTS = 4

ExampleLike = Union[bytes, tf.train.Example, Mapping[str, Any]]


# ------------------------------------------------------------------ results

class PredictResult(dict):
    """``{output alias: ndarray}`` plus what answered.

    Attributes:
      model_version: the version that served the request (gRPC only; None
        over REST, whose predict response does not say).
      signature_name: the signature that ran (gRPC only).
    """
    model_version: Optional[int] = None
    signature_name: Optional[str] = None


@dataclasses.dataclass
class ClassifyResult:
    """``labels``: str ndarray [N, C] ('' when the signature has no classes);
    ``scores``: float32 [N, C] (NaN when it has no scores)."""
    labels: np.ndarray
    scores: np.ndarray
    model_version: Optional[int] = None


@dataclasses.dataclass
class RegressResult:
    """``values``: float32 [N]."""
    values: np.ndarray
    model_version: Optional[int] = None


@dataclasses.dataclass
class ModelMetadata:
    name: str
    version: int
    signature_defs: Dict[str, meta_graph_pb2.SignatureDef]


@dataclasses.dataclass
class VersionStatus:
    """One ``ModelVersionStatus``: ``state`` is START/LOADING/AVAILABLE/
    UNLOADING/END; ``error_code`` OK unless the version failed to load."""
    version: int
    state: str
    error_code: grpc.StatusCode
    error_message: str


# ------------------------------------------------------------------ inputs

def make_example(features: Mapping[str, Any]) -> tf.train.Example:
    """``{name: value or list}`` -> ``tf.train.Example``.

    bytes/str -> bytes_list; float -> float_list; int/bool -> int64_list
    (numpy scalars and arrays too). ``None`` and empty lists leave the
    feature out, which ``tf.io.parse_example`` reads as missing.

    Raises:
      TypeError: a value of another type, or a list mixing kinds.
    """
    example = tf.train.Example()
    for name, value in features.items():
        values = list(np.asarray(value, dtype=object).reshape(-1)) if isinstance(
            value, (list, tuple, np.ndarray)) else [value]
        values = [v for v in values if v is not None]
        if not values:
            continue
        feature = example.features.feature[name]
        if all(isinstance(v, (bytes, str, np.bytes_, np.str_)) for v in values):
            feature.bytes_list.value.extend(
                v.encode("utf-8") if isinstance(v, str) else bytes(v) for v in values)
        elif all(isinstance(v, (bool, int, np.integer, np.bool_)) for v in values):
            feature.int64_list.value.extend(int(v) for v in values)
        elif all(isinstance(v, (float, int, np.floating, np.integer)) for v in values):
            feature.float_list.value.extend(float(v) for v in values)
        else:
            raise TypeError(f"feature {name!r}: cannot store {values[:3]!r} in a tf.Example; "
                            f"expected bytes/str, ints or floats")
    return example


def serialize_examples(examples: Sequence[ExampleLike]) -> List[bytes]:
    """Serialized ``tf.Example``s from bytes, ``tf.train.Example`` or dicts."""
    out = []
    for e in examples:
        if isinstance(e, (bytes, np.bytes_)):
            out.append(bytes(e))
        elif isinstance(e, tf.train.Example):
            out.append(e.SerializeToString())
        elif isinstance(e, Mapping):
            out.append(make_example(e).SerializeToString())
        else:
            raise TypeError(f"expected serialized bytes, tf.train.Example or a feature "
                            f"dict, got {type(e).__name__}")
    return out


def _is_examples(inputs: Any) -> bool:
    """True for a sequence of examples, False for an ``{alias: value}`` mapping.

    Raises:
      TypeError: ``inputs`` is one bytes/str: a single serialized example
        must be wrapped in a list.
    """
    if isinstance(inputs, Mapping):
        return False
    if isinstance(inputs, (str, bytes)):
        raise TypeError("inputs: give an {alias: array} mapping or a list of examples; "
                        "wrap a single serialized example in a list")
    return True


def _as_array(value: Any) -> np.ndarray:
    """An input value -> ndarray; text stays Python bytes/str (dtype object).

    Text becomes an object array rather than a numpy ``S`` array, which drops
    trailing NUL bytes (serialized tf.Examples often end with one) and cannot
    mix bytes with str. An ``S`` array the caller built has lost those bytes
    already; it is sent as it is.
    """
    if isinstance(value, np.ndarray):  # tensors.to_proto takes bytes or str objects
        return value.astype(object) if value.dtype.kind in "SU" else value
    try:
        array = np.asarray(value)
    except UnicodeError:  # bytes mixed with str
        return np.array(value, dtype=object)
    return np.array(value, dtype=object) if array.dtype.kind in "SU" else array


def _numpy_dtype(dtype: Optional[int]) -> Optional[np.dtype]:
    """A numeric DataType enum -> its numpy dtype; None for strings, unknown
    or unset."""
    if not dtype or dtype == types_pb2.DT_STRING:
        return None
    try:
        return np.dtype(tf.dtypes.as_dtype(dtype).as_numpy_dtype)
    except (TypeError, ValueError):
        return None


def _model_spec(model: str, signature: Optional[str], version: Optional[int],
                label: Optional[str]) -> model_pb2.ModelSpec:
    if version is not None and label is not None:
        raise ValueError(f"give a version ({version}) or a label ({label!r}), not both")
    spec = model_pb2.ModelSpec(name=model)
    if signature:
        spec.signature_name = signature
    if version is not None:
        spec.version.value = int(version)
    if label is not None:
        spec.version_label = label
    return spec


def _classifications(result: classification_pb2.ClassificationResult) -> Tuple[np.ndarray,
                                                                                 np.ndarray]:
    rows = [list(c.classes) for c in result.classifications]
    width = max((len(r) for r in rows), default=0)
    labels = np.full((len(rows), width), "", dtype=object)
    scores = np.full((len(rows), width), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, cls in enumerate(row):
            labels[i, j], scores[i, j] = cls.label, cls.score
    return labels, scores


class _Retry:
    """Exponential backoff for UNAVAILABLE within a time budget."""

    def __init__(self, max_attempts: int, initial_backoff: float, max_backoff: float):
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        self.max_attempts, self.initial, self.max = max_attempts, initial_backoff, max_backoff

    def run(self, call: Callable[[float], Any], timeout: float) -> Any:
        deadline = time.monotonic() + timeout
        backoff = self.initial
        for attempt in range(1, self.max_attempts + 1):
            remaining = deadline - time.monotonic()
            try:
                return call(max(remaining, 0.001))
            except UnavailableError:
                remaining = deadline - time.monotonic()
                if attempt == self.max_attempts or remaining <= backoff:
                    raise
                time.sleep(backoff)
                backoff = min(backoff * 2, self.max)


# ------------------------------------------------------------------ gRPC

class ServingClient:
    """gRPC client of one model server.

    Args:
      target: ``host:port`` of the gRPC API.
      timeout: deadline of each call in seconds, retries included.
      max_message_bytes: largest message sent or received (the channel's
        ``grpc.max_send/receive_message_length``); raise it, and the server's
        limit, for requests or responses above 4 MiB.
      max_attempts, initial_backoff, max_backoff: UNAVAILABLE retry policy
        (seconds).
      channel_options: extra ``(key, value)`` gRPC channel options.
    """

    def __init__(self, target: str = "localhost:8500", *, timeout: float = DEFAULT_TIMEOUT_S,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 max_attempts: int = DEFAULT_MAX_ATTEMPTS, initial_backoff: float = 0.05,
                 max_backoff: float = 1.0,
                 channel_options: Sequence[Tuple[str, Any]] = ()):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.target, self.timeout = target, timeout
        self._retry = _Retry(max_attempts, initial_backoff, max_backoff)
        self._channel = grpc.insecure_channel(target, options=[
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.max_receive_message_length", max_message_bytes),
            *channel_options])
        self._prediction = prediction_service_pb2_grpc.PredictionServiceStub(self._channel)
        self._models = model_service_pb2_grpc.ModelServiceStub(self._channel)
        self._input_dtypes: Dict[tuple, Dict[str, int]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> "ServingClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _call(self, method, request, timeout: Optional[float] = None):
        def once(remaining: float):
            try:
                return method(request, timeout=remaining)
            except grpc.RpcError as err:
                raise make_error(err.code(), err.details() or "") from None
        return self._retry.run(once, timeout or self.timeout)

    def predict(self, model: str, inputs: Union[Mapping[str, Any], Sequence[ExampleLike]], *,
                signature: Optional[str] = None, version: Optional[int] = None,
                label: Optional[str] = None, output_filter: Sequence[str] = (),
                timeout: Optional[float] = None) -> PredictResult:
        """Predict RPC.

        Args:
          inputs: ``{alias: array-like}`` (numpy arrays, lists, str/bytes),
            numbers cast to the signature's declared dtypes within their kind
            (see the module doc), or a sequence of examples (serialized
            bytes, ``tf.train.Example`` or feature dicts) sent as the string
            tensor ``inputs`` [N].
          signature: signature key; None means ``serving_default``.
          version / label: a specific version or version label; neither means
            the latest.
          output_filter: output aliases to return; empty means all.
        Returns:
          ``PredictResult``: ``{alias: ndarray}`` (strings as bytes objects).
        Raises:
          ServingError: the server's status (typed by code); ValueError for
            both version and label.
        """
        request = predict_pb2.PredictRequest(
            model_spec=_model_spec(model, signature, version, label),
            output_filter=list(output_filter))
        if _is_examples(inputs):
            request.inputs[EXAMPLES_INPUT].CopyFrom(tensors.to_proto(
                np.array(serialize_examples(inputs) or [], dtype=object)))
            cast = False
        else:
            arrays = {alias: _as_array(value) for alias, value in inputs.items()}
            key = (model, version, label, signature or DEFAULT_SIGNATURE)
            arrays, cast = self._in_declared_dtypes(key, arrays, timeout)
            for alias, array in arrays.items():
                request.inputs[alias].CopyFrom(tensors.to_proto(array))
        try:
            response = self._call(self._prediction.Predict, request, timeout)
        except ServingError as err:
            if cast and err.code == grpc.StatusCode.INVALID_ARGUMENT:
                with self._lock:  # the model may have changed: read its dtypes again
                    self._input_dtypes.pop(key, None)
            raise
        result = PredictResult({k: tensors.to_ndarray(v) for k, v in response.outputs.items()})
        result.model_version = (response.model_spec.version.value
                                if response.model_spec.HasField("version") else None)
        result.signature_name = response.model_spec.signature_name or None
        return result

    def _in_declared_dtypes(self, key: tuple, arrays: Dict[str, np.ndarray],
                            timeout: Optional[float]) -> Tuple[Dict[str, np.ndarray], bool]:
        """``arrays`` cast to the signature's declared input dtypes, where the
        cast stays within the kind; -> (arrays, whether any was cast).

        Text needs no dtype, so only numeric inputs look the dtypes up
        (GetModelMetadata, cached per ``key``). If the lookup fails with
        anything but UNAVAILABLE/DEADLINE_EXCEEDED, the arrays go as they are
        and Predict reports the problem.
        """
        if all(tensors.is_string(a) for a in arrays.values()):
            return arrays, False
        with self._lock:
            dtypes = self._input_dtypes.get(key)
        if dtypes is None:
            model, version, label, signature = key
            try:
                meta = self.get_model_metadata(model, version=version, label=label,
                                               timeout=timeout)
            except ServingError as err:
                if err.code in (grpc.StatusCode.UNAVAILABLE,
                                grpc.StatusCode.DEADLINE_EXCEEDED):
                    raise
                return arrays, False
            sigdef = meta.signature_defs.get(signature)
            dtypes = {k: v.dtype for k, v in sigdef.inputs.items()} if sigdef else {}
            with self._lock:
                self._input_dtypes[key] = dtypes
        out, cast = {}, False
        for alias, array in arrays.items():
            target = _numpy_dtype(dtypes.get(alias))
            if (target is not None and not tensors.is_string(array) and array.dtype != target
                    and np.can_cast(array.dtype, target, casting="same_kind")):
                array, cast = array.astype(target), True
            out[alias] = array
        return out, cast

    @staticmethod
    def _input(examples: Sequence[ExampleLike],
               context: Optional[ExampleLike] = None) -> input_pb2.Input:
        inp = input_pb2.Input()
        if context is not None:
            inp.example_list_with_context.context.ParseFromString(
                serialize_examples([context])[0])
            target = inp.example_list_with_context.examples
        else:
            target = inp.example_list.examples
        for data in serialize_examples(examples):
            target.add().ParseFromString(data)
        return inp

    def classify(self, model: str, examples: Sequence[ExampleLike], *,
                 signature: Optional[str] = None, version: Optional[int] = None,
                 label: Optional[str] = None, context: Optional[ExampleLike] = None,
                 timeout: Optional[float] = None) -> ClassifyResult:
        """Classify RPC: ``tf.Example``s in; labels [N, C] and scores [N, C] out.

        The signature must be a TF Serving classification signature (one
        input ``inputs``; outputs ``classes`` and/or ``scores``, no others).
        """
        request = classification_pb2.ClassificationRequest(
            model_spec=_model_spec(model, signature, version, label),
            input=self._input(examples, context))
        response = self._call(self._prediction.Classify, request, timeout)
        labels, scores = _classifications(response.result)
        return ClassifyResult(labels, scores, response.model_spec.version.value
                              if response.model_spec.HasField("version") else None)

    def regress(self, model: str, examples: Sequence[ExampleLike], *,
                signature: Optional[str] = None, version: Optional[int] = None,
                label: Optional[str] = None, context: Optional[ExampleLike] = None,
                timeout: Optional[float] = None) -> RegressResult:
        """Regress RPC: ``tf.Example``s in; float32 [N] out."""
        request = regression_pb2.RegressionRequest(
            model_spec=_model_spec(model, signature, version, label),
            input=self._input(examples, context))
        response = self._call(self._prediction.Regress, request, timeout)
        values = np.array([r.value for r in response.result.regressions], dtype=np.float32)
        return RegressResult(values, response.model_spec.version.value
                             if response.model_spec.HasField("version") else None)

    def multi_inference(self, model: str, examples: Sequence[ExampleLike],
                        tasks: Sequence[Tuple[str, str]], *, version: Optional[int] = None,
                        label: Optional[str] = None, timeout: Optional[float] = None
                        ) -> List[Union[ClassifyResult, RegressResult]]:
        """MultiInference RPC. ``tasks``: ``(signature, "classify"|"regress")``."""
        request = inference_pb2.MultiInferenceRequest(input=self._input(examples))
        for signature, method in tasks:
            if method not in ("classify", "regress"):
                raise ValueError(f"unknown method {method!r}; expected classify or regress")
            task = request.tasks.add(method_name=CLASSIFY_METHOD if method == "classify"
                                     else REGRESS_METHOD)
            task.model_spec.CopyFrom(_model_spec(model, signature, version, label))
        response = self._call(self._prediction.MultiInference, request, timeout)
        results = []
        for result in response.results:
            served = result.model_spec.version.value
            if result.WhichOneof("result") == "classification_result":
                results.append(ClassifyResult(*_classifications(result.classification_result),
                                              served))
            else:
                results.append(RegressResult(np.array(
                    [r.value for r in result.regression_result.regressions], np.float32),
                    served))
        return results

    def get_model_metadata(self, model: str, *, version: Optional[int] = None,
                           label: Optional[str] = None,
                           timeout: Optional[float] = None) -> ModelMetadata:
        """GetModelMetadata RPC -> the served version's SignatureDefs."""
        request = get_model_metadata_pb2.GetModelMetadataRequest(
            model_spec=_model_spec(model, None, version, label),
            metadata_field=["signature_def"])
        response = self._call(self._prediction.GetModelMetadata, request, timeout)
        sigmap = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sigmap)
        return ModelMetadata(response.model_spec.name, response.model_spec.version.value,
                             dict(sigmap.signature_def))

    def get_model_status(self, model: str, *, version: Optional[int] = None,
                         label: Optional[str] = None,
                         timeout: Optional[float] = None) -> List[VersionStatus]:
        """GetModelStatus RPC -> one ``VersionStatus`` per known version."""
        request = get_model_status_pb2.GetModelStatusRequest(
            model_spec=_model_spec(model, None, version, label))
        response = self._call(self._models.GetModelStatus, request, timeout)
        return [_version_status(s) for s in response.model_version_status]

    def reload_config(self, config: model_server_config_pb2.ModelServerConfig,
                      timeout: Optional[float] = None) -> None:
        """HandleReloadConfigRequest RPC."""
        self._call(self._models.HandleReloadConfigRequest,
                   model_management_pb2.ReloadConfigRequest(config=config), timeout)

    def wait_until_available(self, model: str, version: Optional[int] = None,
                             timeout: float = 60.0, poll: float = 0.1) -> int:
        """Polls GetModelStatus until ``version`` (or any version) is
        AVAILABLE; returns that version.

        Raises:
          ServingError: DEADLINE_EXCEEDED after ``timeout`` seconds, or the
            load error of ``version`` if it ended in error.
        """
        deadline = time.monotonic() + timeout
        while True:
            try:
                states = self.get_model_status(model, version=version,
                                               timeout=min(self.timeout, timeout))
            except (UnavailableError, ServingError) as err:
                if err.code not in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE):
                    raise
                states = []
            ready = [s.version for s in states if s.state == "AVAILABLE"]
            if ready:
                return max(ready)
            failed = [s for s in states if s.state == "END" and s.error_code
                      != grpc.StatusCode.OK]
            if version is not None and failed:
                raise make_error(failed[0].error_code, failed[0].error_message)
            if time.monotonic() > deadline:
                raise make_error(grpc.StatusCode.DEADLINE_EXCEEDED,
                                 f"model {model} version {version or 'any'} not available "
                                 f"after {timeout:.0f}s")
            time.sleep(poll)


def _version_status(status: get_model_status_pb2.ModelVersionStatus) -> VersionStatus:
    from tfxp.serving.errors import code_from_number
    return VersionStatus(
        int(status.version),
        get_model_status_pb2.ModelVersionStatus.State.Name(status.state),
        code_from_number(status.status.error_code), status.status.error_message)


# ------------------------------------------------------------------ REST

class RestClient:
    """Client of TF Serving's REST API (g3doc/api_rest.md).

    Same methods and results as ``ServingClient``; strings come back as bytes
    (decoded from ``{"b64": ...}`` or UTF-8) and numbers are cast to the
    output dtypes the model's metadata declares, so results compare equal to
    gRPC's. Errors carry the HTTP status and the code it maps to (400 reads
    as INVALID_ARGUMENT, though FAILED_PRECONDITION also answers 400).

    Args:
      base_url: e.g. ``http://localhost:8501``.
      timeout: seconds per call, retries included.
      max_attempts, initial_backoff, max_backoff: retries of 503 and refused
        connections.
    """

    def __init__(self, base_url: str = "http://localhost:8501", *,
                 timeout: float = DEFAULT_TIMEOUT_S, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 initial_backoff: float = 0.05, max_backoff: float = 1.0):
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
        self.base_url, self.timeout = base_url.rstrip("/"), timeout
        self._retry = _Retry(max_attempts, initial_backoff, max_backoff)
        self._dtypes: Dict[tuple, Dict[str, int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _path(model: str, version: Optional[int], label: Optional[str]) -> str:
        if version is not None and label is not None:
            raise ValueError(f"give a version ({version}) or a label ({label!r}), not both")
        path = f"/v1/models/{urllib.parse.quote(model, safe='')}"
        if version is not None:
            path += f"/versions/{int(version)}"
        if label is not None:
            path += f"/labels/{urllib.parse.quote(label, safe='')}"
        return path

    def _request(self, method: str, path: str, body: Optional[Dict] = None,
                 timeout: Optional[float] = None) -> Dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf-8")

        def once(remaining: float):
            request = urllib.request.Request(self.base_url + path, data=data, method=method,
                                             headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=remaining) as response:
                    return json.loads(response.read())
            except urllib.error.HTTPError as err:
                payload = err.read()
                try:
                    message = json.loads(payload).get("error", "")
                except (ValueError, AttributeError):
                    message = payload.decode("utf-8", "replace")
                raise make_error(CODE_FOR_HTTP.get(err.code, grpc.StatusCode.UNKNOWN),
                                 message, err.code) from None
            except (urllib.error.URLError, ConnectionError) as err:
                reason = getattr(err, "reason", err)
                if isinstance(reason, TimeoutError) or "timed out" in str(reason):
                    raise make_error(grpc.StatusCode.DEADLINE_EXCEEDED, str(reason)) from None
                raise make_error(grpc.StatusCode.UNAVAILABLE, str(reason)) from None
            except TimeoutError as err:
                raise make_error(grpc.StatusCode.DEADLINE_EXCEEDED, str(err)) from None
        return self._retry.run(once, timeout or self.timeout)

    @staticmethod
    def _json_value(array: np.ndarray) -> Any:
        if array.dtype == object or array.dtype.kind in "SU":
            def convert(item):
                if isinstance(item, list):
                    return [convert(i) for i in item]
                if isinstance(item, (bytes, np.bytes_)):
                    return {"b64": base64.b64encode(bytes(item)).decode("ascii")}
                return str(item)
            return convert(array.tolist())
        return array.tolist()

    def _output_dtypes(self, model: str, version, label, signature: str) -> Dict[str, int]:
        key = (model, version, label, signature)
        with self._lock:
            if key in self._dtypes:
                return self._dtypes[key]
        meta = self.get_model_metadata(model, version=version, label=label)
        sigdef = meta.signature_defs.get(signature)
        dtypes = {k: v.dtype for k, v in sigdef.outputs.items()} if sigdef else {}
        with self._lock:
            self._dtypes[key] = dtypes
        return dtypes

    @staticmethod
    def _to_array(value: Any, dtype: Optional[int]) -> np.ndarray:
        if dtype == types_pb2.DT_STRING:
            def convert(item):
                if isinstance(item, list):
                    return [convert(i) for i in item]
                if isinstance(item, dict):
                    return base64.b64decode(item["b64"])
                return str(item).encode("utf-8")
            return np.array(convert(value), dtype=object)
        return np.asarray(value, dtype=json_tensor.numpy_dtype(dtype) if dtype else None)

    def predict(self, model: str, inputs: Union[Mapping[str, Any], Sequence[ExampleLike]], *,
                signature: Optional[str] = None, version: Optional[int] = None,
                label: Optional[str] = None, row_format: bool = False,
                timeout: Optional[float] = None) -> PredictResult:
        """``POST .../MODEL:predict``, columnar (``inputs``) by default, row
        (``instances``) with ``row_format``. Arguments as ``ServingClient.predict``.

        Raises:
          ServingError: the server's status (typed by the HTTP status's code).
        """
        if _is_examples(inputs):
            arrays = {EXAMPLES_INPUT: np.array(serialize_examples(inputs), dtype=object)}
        else:
            arrays = {k: _as_array(v) for k, v in inputs.items()}
        columns = {k: self._json_value(v) for k, v in arrays.items()}
        body: Dict[str, Any] = {}
        if signature:
            body["signature_name"] = signature
        if row_format:
            if _is_examples(inputs):
                body["instances"] = columns[EXAMPLES_INPUT]
            else:
                n = len(next(iter(columns.values())))
                body["instances"] = [{k: columns[k][i] for k in columns} for i in range(n)]
        else:
            body["inputs"] = columns[EXAMPLES_INPUT] if _is_examples(inputs) else columns
        answer = self._request("POST", self._path(model, version, label) + ":predict", body,
                               timeout)
        dtypes = self._output_dtypes(model, version, label, signature or DEFAULT_SIGNATURE)
        single = next(iter(dtypes)) if len(dtypes) == 1 else None
        if "outputs" in answer:
            outputs = {single: answer["outputs"]} if single else answer["outputs"]
        elif single:
            outputs = {single: answer["predictions"]}
        else:
            rows = answer["predictions"]
            outputs = {k: [row[k] for row in rows] for k in (rows[0] if rows else {})}
        return PredictResult({k: self._to_array(v, dtypes.get(k)) for k, v in outputs.items()})

    def _examples_body(self, examples, signature, context) -> Dict[str, Any]:
        body: Dict[str, Any] = {"examples": [_example_json(e) for e in examples]}
        if signature:
            body["signature_name"] = signature
        if context is not None:
            body["context"] = _example_json(context)
        return body

    def classify(self, model: str, examples: Sequence[ExampleLike], *,
                 signature: Optional[str] = None, version: Optional[int] = None,
                 label: Optional[str] = None, context: Optional[ExampleLike] = None,
                 timeout: Optional[float] = None) -> ClassifyResult:
        """``POST .../MODEL:classify``."""
        answer = self._request("POST", self._path(model, version, label) + ":classify",
                               self._examples_body(examples, signature, context), timeout)
        rows = _results(answer)
        width = max((len(r) for r in rows), default=0)
        labels = np.full((len(rows), width), "", dtype=object)
        scores = np.full((len(rows), width), np.nan, dtype=np.float32)
        for i, row in enumerate(rows):
            for j, (name, score) in enumerate(row):
                labels[i, j], scores[i, j] = name, score
        return ClassifyResult(labels, scores)

    def regress(self, model: str, examples: Sequence[ExampleLike], *,
                signature: Optional[str] = None, version: Optional[int] = None,
                label: Optional[str] = None, context: Optional[ExampleLike] = None,
                timeout: Optional[float] = None) -> RegressResult:
        """``POST .../MODEL:regress``."""
        answer = self._request("POST", self._path(model, version, label) + ":regress",
                               self._examples_body(examples, signature, context), timeout)
        return RegressResult(np.array(_results(answer), dtype=np.float32))

    def get_model_metadata(self, model: str, *, version: Optional[int] = None,
                           label: Optional[str] = None,
                           timeout: Optional[float] = None) -> ModelMetadata:
        """``GET .../MODEL[/versions/N|/labels/L]/metadata``."""
        answer = self._request("GET", self._path(model, version, label) + "/metadata",
                               timeout=timeout)
        sigmap = json_format.ParseDict(answer["metadata"]["signature_def"],
                                       get_model_metadata_pb2.SignatureDefMap())
        spec = answer["model_spec"]
        # Int64Value is written as a bare (string) number in proto JSON.
        return ModelMetadata(spec["name"], int(spec.get("version") or 0),
                             dict(sigmap.signature_def))

    def get_model_status(self, model: str, *, version: Optional[int] = None,
                         label: Optional[str] = None,
                         timeout: Optional[float] = None) -> List[VersionStatus]:
        """``GET .../MODEL[/versions/N|/labels/L]``."""
        answer = self._request("GET", self._path(model, version, label), timeout=timeout)
        response = json_format.ParseDict(answer, get_model_status_pb2.GetModelStatusResponse())
        return [_version_status(s) for s in response.model_version_status]


def _results(answer: Dict[str, Any]) -> List[Any]:
    """The classify/regress answer: ``"results"`` (json_tensor.cc
    kClassifyRegressResponseKey); ``"result"`` is read too, as this project's
    server answered before it followed TF Serving."""
    return (answer[json_tensor.RESULTS_KEY] if json_tensor.RESULTS_KEY in answer
            else answer["result"])


def _example_json(example: ExampleLike) -> Dict[str, Any]:
    """``tf.Example`` -> the REST API's JSON example (bytes as b64 unless UTF-8)."""
    proto = tf.train.Example.FromString(serialize_examples([example])[0])
    out: Dict[str, Any] = {}
    for name, feature in proto.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind == "float_list":
            # json writes Python floats with a decimal point (2.0), which the
            # server reads back as float_list (json_tensor.cc AddValueToFeature).
            out[name] = [float(v) for v in feature.float_list.value]
        elif kind == "int64_list":
            out[name] = list(feature.int64_list.value)
        elif kind == "bytes_list":
            out[name] = [_bytes_json(v) for v in feature.bytes_list.value]
    return out


def _bytes_json(value: bytes) -> Any:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode("ascii")}
