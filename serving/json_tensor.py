"""JSON <-> tensors for the REST API, after tensorflow_serving/util/json_tensor.cc.

Request side (``:predict``):
- ``{"signature_name": s, "instances": [...]}`` (row format): each instance is
  one example; a plain value/list when the signature has one input, else an
  object with one key per input. All instances must have the same shape.
- ``{"signature_name": s, "inputs": ...}`` (columnar format): a value/list
  for a single input, else an object of input name -> value/list.
- a string tensor element may be ``{"b64": "<base64>"}`` for binary data.
- exactly one of ``instances`` / ``inputs``; errors are INVALID_ARGUMENT with
  json_tensor.cc's messages.

Response side: row format answers ``{"predictions": [...]}`` (one object per
example when the signature has several outputs), columnar format
``{"outputs": ...}``; string outputs whose alias ends in ``_bytes`` are
written as ``{"b64": ...}``; NaN and infinities as ``NaN``/``Infinity``.

``:classify``/``:regress`` take ``{"examples": [{feature: value|list}],
"context": {...}}`` -> ``tf.train.Example``s: JSON floats -> float_list,
integers and booleans -> int64_list, strings and b64 objects -> bytes_list.
"""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2

from tfxp.serving.errors import ServingError, invalid_argument, make_error

import grpc

ROW, COLUMNAR = "row", "columnar"
B64 = "b64"
BYTES_SUFFIX = "_bytes"
_MAX_DEBUG_CHARS = 256

_INT_TYPES = {types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8,
              types_pb2.DT_INT64, types_pb2.DT_UINT32, types_pb2.DT_UINT64}
_SUPPORTED = _INT_TYPES | {types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_STRING,
                           types_pb2.DT_BOOL}


def _debug(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= _MAX_DEBUG_CHARS else text[:_MAX_DEBUG_CHARS]


def _json_type(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, (int, float)):
        return "NUMBER"
    if isinstance(value, str):
        return "STRING"
    if isinstance(value, list):
        return "ARRAY"
    return "OBJECT"


def _is_b64(value: Any) -> bool:
    return (isinstance(value, dict) and len(value) == 1
            and isinstance(value.get(B64), str))


def _decode_b64(value: Any) -> bytes:
    if not _is_b64(value):
        raise invalid_argument(f"JSON Value: {_debug(value)} not formatted correctly for "
                               f"base64 data")
    try:
        return base64.b64decode(value[B64], validate=True)
    except (binascii.Error, ValueError):
        raise invalid_argument("Unable to base64 decode") from None


def _type_error(value: Any, dtype: int) -> ServingError:
    return invalid_argument(f"JSON Value: {_debug(value)} Type: {_json_type(value)} is not "
                            f"of expected type: {tf.dtypes.as_dtype(dtype).name}")


def _leaf(value: Any, dtype: int) -> Any:
    """One JSON scalar as a value of ``dtype`` (json_tensor.cc AddValueToTensor)."""
    if isinstance(value, dict):
        if dtype == types_pb2.DT_STRING:
            return _decode_b64(value)
        raise _type_error(value, dtype)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _type_error(value, dtype)
        return value
    if dtype in _INT_TYPES:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(value, dtype)
        return value
    if dtype == types_pb2.DT_STRING:
        if not isinstance(value, str):
            raise _type_error(value, dtype)
        return value.encode("utf-8")
    if dtype == types_pb2.DT_BOOL:
        if not isinstance(value, bool):
            raise _type_error(value, dtype)
        return value
    raise make_error(grpc.StatusCode.UNIMPLEMENTED,
                     f"Conversion of JSON Value: {_debug(value)} to type: "
                     f"{tf.dtypes.as_dtype(dtype).name}")


def _shape_of(value: Any) -> List[int]:
    """GetDenseTensorShape: sizes of the first element at each nesting level."""
    shape = []
    while isinstance(value, list):
        shape.append(len(value))
        if not value:
            break
        value = value[0]
    return shape


def _fill(value: Any, level: int, shape: List[int], dtype: int, out: List[Any]) -> None:
    """FillTensorProto: checks the nesting against ``shape`` and collects leaves."""
    rank = len(shape)
    if not isinstance(value, list):
        if level != rank:
            raise invalid_argument(f"JSON Value: {_debug(value)} found at incorrect level: "
                                   f"{level + 1} in the JSON DOM. Expected at level: {rank}")
        out.append(_leaf(value, dtype))
        return
    if level >= rank:
        raise invalid_argument(f"Encountered list at unexpected level: {level} "
                               f"expected < {rank}")
    if len(value) != shape[level]:
        raise invalid_argument(f"Encountered list at unexpected size: {len(value)} at level: "
                               f"{level} expected size: {shape[level]}")
    for item in value:
        _fill(item, level + 1, shape, dtype, out)


# numpy's limit on ndarray dimensions (NPY_MAXDIMS); deeper lists are a
# nesting bomb, not a tensor.
MAX_RANK = 32


def numpy_dtype(dtype: int):
    """A TensorProto ``DataType`` enum -> the numpy dtype arrays of it use
    (``object`` for DT_STRING, whose values are bytes)."""
    return object if dtype == types_pb2.DT_STRING else tf.dtypes.as_dtype(dtype).as_numpy_dtype


def json_to_array(value: Any, dtype: int) -> np.ndarray:
    """A JSON value/nested list -> ndarray of the TF ``dtype`` enum.

    Raises:
      ServingError: INVALID_ARGUMENT for ragged lists or wrong value types.
    """
    shape = _shape_of(value)
    if len(shape) > MAX_RANK:
        raise invalid_argument(f"JSON Value nests {len(shape)} lists deep; tensors have at "
                               f"most {MAX_RANK} dimensions")
    leaves: List[Any] = []
    _fill(value, 0, shape, dtype, leaves)
    array = np.empty(len(leaves), dtype=numpy_dtype(dtype))
    array[:] = leaves
    return array.reshape(shape)


def parse_predict(body: Mapping[str, Any],
                  input_infos: Mapping[str, meta_graph_pb2.TensorInfo]
                  ) -> Tuple[Dict[str, np.ndarray], str]:
    """Request JSON -> (``{alias: array}``, ``ROW`` or ``COLUMNAR``).

    ``input_infos`` are the signature's inputs (their dtypes decide the
    conversion). Follows FillPredictRequestFromJson.

    Raises:
      ServingError: INVALID_ARGUMENT (message as in json_tensor.cc).
    """
    if not input_infos:
        raise invalid_argument("Failed to get input map for signature")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances and has_inputs:
        raise invalid_argument(f"JSON Value: {_debug(body)} Not formatted correctly "
                               f"expecting only one of 'inputs' or 'instances' keys to exist ")
    names = sorted(input_infos)
    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise invalid_argument(f"JSON Value: {_debug(body)} Expecting 'instances' to be "
                                   f"an list/array")
        if not instances:
            raise invalid_argument(f"JSON Value: {_debug(body)} No values in 'instances' "
                                   f"array")
        return _parse_instances(instances, input_infos, names), ROW
    if has_inputs:
        return _parse_inputs(body["inputs"], input_infos, names), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _parse_instances(instances: List[Any], infos, names) -> Dict[str, np.ndarray]:
    objects = _is_object(instances[0])
    if not objects and len(names) > 1:
        raise invalid_argument("instances is a plain list, but expecting list of objects "
                               "as multiple input tensors required as per tensorinfo_map")
    columns: Dict[str, List[np.ndarray]] = {name: [] for name in names}
    for i, item in enumerate(instances):
        if objects:
            if not _is_object(item):
                raise invalid_argument(f"Expecting object but got list at item {i} of "
                                       f"input list")
            for key, value in item.items():
                if key not in infos:
                    raise invalid_argument(
                        f"Failed to process element: {i} key: {key} of 'instances' list. "
                        f"Error: INVALID_ARGUMENT: JSON object: does not have named "
                        f"input: {key}")
                columns[key].append(_instance_item(value, key, infos, columns, i))
            if set(item) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_debug(item)} keys must be equal to: {','.join(names)}")
        else:
            if _is_object(item):
                raise invalid_argument(f"Expecting value/list but got object at item {i} "
                                       f"of input list")
            columns[names[0]].append(_instance_item(item, names[0], infos, columns, i))
    return {name: np.stack(items) for name, items in columns.items() if items}


def _instance_item(value, key, infos, columns, index) -> np.ndarray:
    try:
        array = json_to_array(value, infos[key].dtype)
    except ServingError as err:
        raise invalid_argument(f"Failed to process element: {index} key: {key} of "
                               f"'instances' list. Error: {err}") from None
    if columns[key] and columns[key][0].shape != array.shape:
        first = columns[key][0]
        if first.size != array.size:
            raise invalid_argument(f"Failed to process element: {index} key: {key} of "
                                   f"'instances' list. Error: Expecting tensor size: "
                                   f"{first.size} but got: {array.size}")
        raise invalid_argument(f"Failed to process element: {index} key: {key} of "
                               f"'instances' list. Error: Expecting shape "
                               f"{list(first.shape)} but got: {list(array.shape)}")
    return array


def _parse_inputs(value: Any, infos, names) -> Dict[str, np.ndarray]:
    if not _is_object(value):
        if len(names) > 1:
            raise invalid_argument("inputs is a plain value/list, but expecting an object "
                                   "as multiple input tensors required as per "
                                   "tensorinfo_map")
        return {names[0]: json_to_array(value, infos[names[0]].dtype)}
    arrays = {}
    for name in names:
        if name not in value:
            raise invalid_argument(f"Missing named input: {name} in 'inputs' object.")
        arrays[name] = json_to_array(value[name], infos[name].dtype)
    return arrays


def _to_json_value(array: np.ndarray, as_bytes: bool) -> Any:
    if array.dtype == object or array.dtype.kind in "SU":
        def convert(item):
            if isinstance(item, list):
                return [convert(i) for i in item]
            data = item if isinstance(item, bytes) else str(item).encode("utf-8")
            if as_bytes:
                return {B64: base64.b64encode(data).decode("ascii")}
            return data.decode("utf-8", errors="replace")
        return convert(array.tolist())
    return array.tolist()


def predict_response(outputs: Mapping[str, np.ndarray], fmt: str) -> Dict[str, Any]:
    """Outputs -> response JSON object (MakeJsonFromTensors).

    Raises:
      ServingError: INVALID_ARGUMENT for no outputs, or (row format) outputs
        without a batch dimension or with different batch sizes.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    converted = {n: _to_json_value(outputs[n], n.endswith(BYTES_SUFFIX)
                                   and outputs[n].dtype == object) for n in names}
    if fmt == COLUMNAR:
        return {"outputs": converted[names[0]] if len(names) == 1 else converted}
    batch = None
    for name in names:
        if outputs[name].ndim == 0:
            raise invalid_argument(f"Tensor name: {name} has no shape information ")
        if batch is not None and outputs[name].shape[0] != batch:
            raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: "
                                   f"{outputs[name].shape[0]} expecting: {batch}")
        batch = outputs[name].shape[0]
    if len(names) == 1:
        return {"predictions": converted[names[0]]}
    return {"predictions": [{n: converted[n][i] for n in names} for i in range(batch)]}


def _add_feature_value(feature: tf.train.Feature, name: str, value: Any) -> None:
    """AddValueToFeature."""
    def kind_ok(kind):
        current = feature.WhichOneof("kind")
        if current not in (None, kind):
            raise invalid_argument(f"Unexpected element type in feature: {name} expecting "
                                   f"type: {current.replace('_list', '')}")
    if value is None or isinstance(value, list) or (isinstance(value, dict)
                                                    and not _is_b64(value)):
        raise invalid_argument(f"Feature: {name} has element with unexpected JSON type: "
                               f"{_json_type(value)}")
    if isinstance(value, bool):
        kind_ok("int64_list")
        feature.int64_list.value.append(int(value))
    elif isinstance(value, dict):
        kind_ok("bytes_list")
        feature.bytes_list.value.append(_decode_b64(value))
    elif isinstance(value, str):
        kind_ok("bytes_list")
        feature.bytes_list.value.append(value.encode("utf-8"))
    elif isinstance(value, float):
        kind_ok("float_list")
        feature.float_list.value.append(value)
    else:
        kind_ok("int64_list")
        if not -(1 << 63) <= value < (1 << 63):
            raise invalid_argument(f"Feature: {name} has uint64_t element. Only int64_t is "
                                   f"supported.")
        feature.int64_list.value.append(value)


def json_to_example(value: Any) -> tf.train.Example:
    """One JSON object -> ``tf.train.Example`` (MakeExampleFromJsonObject).

    Raises:
      ServingError: INVALID_ARGUMENT for non-objects and mixed/unsupported values.
    """
    if not isinstance(value, dict):
        raise invalid_argument(f"Example must be JSON object but got JSON {_json_type(value)}")
    example = tf.train.Example()
    for name, content in value.items():
        feature = example.features.feature[name]
        for item in (content if isinstance(content, list) else [content]):
            _add_feature_value(feature, name, item)
    return example


def parse_classify_regress(body: Mapping[str, Any], method: str
                           ) -> Tuple[List[bytes], Optional[bytes]]:
    """``:classify``/``:regress`` JSON -> (serialized examples, serialized context).

    Raises:
      ServingError: INVALID_ARGUMENT (FillClassifyRegressRequestFromJson).
    """
    context = None
    if "context" in body:
        context = json_to_example(body["context"]).SerializeToString()
    if "examples" not in body:
        raise invalid_argument(f"JSON Value: {_debug(body)} When method is {method}, key "
                               f"'examples' is expected and was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise invalid_argument(f"JSON Value: {_debug(body)} Expecting 'examples' value to be "
                               f"an list/array")
    if not examples:
        raise invalid_argument(f"JSON Value: {_debug(body)} 'examples' value is an empty "
                               f"array")
    return [json_to_example(e).SerializeToString() for e in examples], context
