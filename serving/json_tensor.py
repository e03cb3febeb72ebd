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
- JSON numbers follow rapidjson's reading of them: a float tensor takes any
  number (cast to float32, so 1e300 is inf), an integer tensor only integers
  in its range (int32 for DT_INT32/16/8/UINT8, then C-cast to the type).
  ``NaN``, ``Infinity`` and ``-Infinity`` are numbers (``parse_json``).

Response side (``make_json_from_tensors`` writes TF Serving's text,
``predict_response`` the same as a JSON object): row format answers
``{"predictions": [...]}`` (one object per example when the signature has
several outputs), columnar format ``{"outputs": ...}``; string outputs whose
alias ends in ``_bytes`` are written as ``{"b64": ...}``. Floats are written
as json_tensor.cc ``WriteDecimal`` does: ``%.6g`` when that reads back as the
same float32 (double), else ``%.9g`` (``%.17g``), ``.0`` added to whole
numbers, and ``NaN``/``Infinity``/``-Infinity``; so a float32 0.1 is ``0.1``,
never the ``0.10000000149011612`` of its float64 value.

``:classify``/``:regress`` take ``{"examples": [{feature: value|list}],
"context": {...}}`` -> ``tf.train.Example``s: JSON floats -> float_list,
integers and booleans -> int64_list, strings and b64 objects -> bytes_list;
results are written as ``{"results": ...}`` (``classification_response``,
``regression_response``). Errors are ``{"error": message}``
(``make_json_from_status``).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple, Union

import grpc
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import (classification_pb2, input_pb2, predict_pb2,
                                     regression_pb2)

from tfxp.serving import tensors
from tfxp.serving.errors import ServingError, invalid_argument, make_error

ROW, COLUMNAR = "row", "columnar"
B64 = "b64"
BYTES_SUFFIX = "_bytes"
SIGNATURE_KEY = "signature_name"
# json_tensor.cc kClassifyRegressResponseKey. (api_rest.md's prose says
# "result", a typo: its own curl example and the server answer "results".)
RESULTS_KEY = "results"
ERROR_KEY = "error"
# Our cap on a JSON value quoted in an error message (json_tensor.cc quotes
# it whole; a REST body may be megabytes).
_MAX_DEBUG_CHARS = 1024

_INT32_TYPES = {types_pb2.DT_INT32, types_pb2.DT_INT16, types_pb2.DT_INT8, types_pb2.DT_UINT8}
_INT_TYPES = _INT32_TYPES | {types_pb2.DT_INT64, types_pb2.DT_UINT32, types_pb2.DT_UINT64}
_SUPPORTED = _INT_TYPES | {types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE, types_pb2.DT_STRING,
                           types_pb2.DT_BOOL}
# rapidjson's integer kinds: IsInt, IsUint, IsInt64, IsUint64 (a JSON integer
# outside [-2^63, 2^64) is read as a double).
_INT_RANGE = {types_pb2.DT_INT32: (-(1 << 31), 1 << 31),
              types_pb2.DT_INT16: (-(1 << 31), 1 << 31),
              types_pb2.DT_INT8: (-(1 << 31), 1 << 31),
              types_pb2.DT_UINT8: (-(1 << 31), 1 << 31),
              types_pb2.DT_INT64: (-(1 << 63), 1 << 63),
              types_pb2.DT_UINT32: (0, 1 << 32),
              types_pb2.DT_UINT64: (0, 1 << 64)}
_JSON_INT_RANGE = (-(1 << 63), 1 << 64)

# What each numpy kind of output is written as (AddSingleValueAndAdvance).
_WRITABLE_INTS = {np.dtype(t) for t in (np.int8, np.int16, np.int32, np.uint8, np.int64,
                                        np.uint32, np.uint64)}


def data_type_string(dtype: int) -> str:
    """TF's ``DataTypeString``: DT_FLOAT -> ``float``, DT_STRING -> ``string``."""
    try:
        return types_pb2.DataType.Name(dtype)[3:].lower()
    except ValueError:
        return f"unknown dtype enum ({dtype})"


# ------------------------------------------------------------------ JSON text

_RAPIDJSON_MESSAGES = [
    # (Python json's message prefix, rapidjson GetParseError_En's message)
    ("Expecting value", "Invalid value."),
    ("Extra data", "The document root must not be followed by other values."),
    ("Expecting property name enclosed in double quotes", "Missing a name for object member."),
    ("Expecting ':' delimiter", "Missing a colon after a name of object member."),
    ("Unterminated string", "Missing a closing quotation mark in string."),
    ("Invalid control character", "Invalid encoding in string."),
    ("Invalid \\uXXXX escape", "Incorrect hex digit after \\u escape in string."),
    ("Invalid \\escape", "Invalid escape character in string."),
]


def _innermost_open(text: str, end: int) -> str:
    """The innermost unclosed bracket (``[`` or ``{``) in ``text[:end]``."""
    stack, in_string, escaped = [], False, False
    for char in text[:end]:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append(char)
        elif char in "]}" and stack:
            stack.pop()
    return stack[-1] if stack else ""


def _rapidjson_message(err: json.JSONDecodeError) -> str:
    if err.msg.startswith("Expecting ',' delimiter"):
        if _innermost_open(err.doc, err.pos) == "[":
            return "Missing a comma or ']' after an array element."
        return "Missing a comma or '}' after an object member."
    for prefix, message in _RAPIDJSON_MESSAGES:
        if err.msg.startswith(prefix):
            return message
    return err.msg


class _ParseError(ValueError):
    pass


def _parse_int(text: str) -> Union[int, float]:
    value = int(text)
    if _JSON_INT_RANGE[0] <= value < _JSON_INT_RANGE[1]:
        return value
    return _parse_float(text)  # rapidjson reads it as a double


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _ParseError("Number too big to be stored in double.")
    return value


def parse_json(body: Union[bytes, str]) -> Dict[str, Any]:
    """A request body -> its top-level JSON object (json_tensor.cc ParseJson,
    rapidjson with ``kParseNanAndInfFlag``).

    Raises:
      ServingError: INVALID_ARGUMENT "JSON Parse error: <rapidjson message> at
        offset: N", or "JSON Value: ... Is not object".
    """
    if not body:
        raise invalid_argument("JSON Parse error: The document is empty")
    if isinstance(body, (bytes, bytearray)):
        try:
            text = bytes(body).decode("utf-8")
        except UnicodeDecodeError as err:
            raise invalid_argument(f"JSON Parse error: Invalid encoding in string. at "
                                   f"offset: {err.start}") from None
    else:
        text = body
    try:
        document = json.loads(text, parse_int=_parse_int, parse_float=_parse_float)
    except json.JSONDecodeError as err:
        if not text.strip():
            raise invalid_argument(f"JSON Parse error: The document is empty. at offset: "
                                   f"{err.pos}") from None
        raise invalid_argument(f"JSON Parse error: {_rapidjson_message(err)} at offset: "
                               f"{err.pos}") from None
    except _ParseError as err:
        raise invalid_argument(f"JSON Parse error: {err}") from None
    except RecursionError:
        # A nesting bomb ("[[[[..."): rapidjson's kParseErrorStackOverflow.
        raise invalid_argument("JSON Parse error: The document nests too deeply "
                               "(nesting bomb)") from None
    if not isinstance(document, dict):
        raise format_error(document, "Is not object")
    return document


def _debug(value: Any) -> str:
    """json_tensor.cc JsonValueToString: rapidjson's PrettyWriter (4-space
    indent), cut at ``_MAX_DEBUG_CHARS``."""
    if isinstance(value, float):
        text = format_decimal(value, double=True)
    else:
        try:
            text = json.dumps(value, indent=4, ensure_ascii=False, default=str)
        except (ValueError, RecursionError):
            text = repr(value)
    return text if len(text) <= _MAX_DEBUG_CHARS else text[:_MAX_DEBUG_CHARS]


def format_error(value: Any, *parts: Any) -> ServingError:
    """json_tensor.cc FormatError: ``JSON Value: <value> <parts>``."""
    return invalid_argument(f"JSON Value: {_debug(value)} " + "".join(str(p) for p in parts))


def _json_type(value: Any) -> str:
    """json_tensor.cc JsonTypeString (rapidjson's value types)."""
    if value is None:
        return "Null"
    if value is True:
        return "True"
    if value is False:
        return "False"
    if isinstance(value, (int, float)):
        return "Number"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"


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
                            f"of expected type: {data_type_string(dtype)}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any, dtype: int) -> bool:
    if not isinstance(value, int) or isinstance(value, bool):
        return False  # a JSON number with a fraction or exponent is a double
    low, high = _INT_RANGE[dtype]
    return low <= value < high


def _leaf(value: Any, dtype: int) -> Any:
    """One JSON scalar as a value of ``dtype`` (json_tensor.cc AddValueToTensor)."""
    if isinstance(value, dict):
        if dtype == types_pb2.DT_STRING:
            return _decode_b64(value)
        raise _type_error(value, dtype)
    if dtype in (types_pb2.DT_FLOAT, types_pb2.DT_DOUBLE):
        if not _is_number(value):
            raise _type_error(value, dtype)
        try:
            return float(value)
        except OverflowError:  # an integer beyond any double
            raise _type_error(value, dtype) from None
    if dtype in _INT_TYPES:
        if not _is_integer(value, dtype):
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
                     f"{data_type_string(dtype)}")


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
      ServingError: INVALID_ARGUMENT for ragged lists or wrong value types,
        UNIMPLEMENTED for a dtype JSON does not convert to.
    """
    shape = _shape_of(value)
    if len(shape) > MAX_RANK:
        raise invalid_argument(f"JSON Value nests {len(shape)} lists deep; tensors have at "
                               f"most {MAX_RANK} dimensions")
    leaves: List[Any] = []
    _fill(value, 0, shape, dtype, leaves)
    if dtype == types_pb2.DT_STRING:
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
    elif dtype in _INT32_TYPES and dtype != types_pb2.DT_INT32:
        # int_val holds int32s; the tensor C-casts them (300 -> int8 44).
        array = np.array(leaves, dtype=np.int64).astype(numpy_dtype(dtype))
    elif dtype in _SUPPORTED or not leaves:
        with np.errstate(over="ignore"):  # 1e300 -> float32 inf, as GetFloat()
            array = np.array(leaves, dtype=numpy_dtype(dtype))
    else:
        raise make_error(grpc.StatusCode.UNIMPLEMENTED,
                         f"Conversion of JSON Value: {_debug(value)} to type: "
                         f"{data_type_string(dtype)}")
    return array.reshape(shape)


def _shape_text(shape) -> str:
    """json_tensor.cc ShapeToString: ``[3,2]``."""
    return "[" + ",".join(str(d) for d in shape) + "]"


def parse_predict(body: Mapping[str, Any],
                  input_infos: Mapping[str, meta_graph_pb2.TensorInfo],
                  signature_name: str = "") -> Tuple[Dict[str, np.ndarray], str]:
    """Request JSON -> (``{alias: array}``, ``ROW`` or ``COLUMNAR``).

    ``input_infos`` are the signature's inputs (their dtypes decide the
    conversion). Follows FillPredictRequestFromJson.

    Raises:
      ServingError: INVALID_ARGUMENT (message as in json_tensor.cc).
    """
    if not input_infos:
        raise invalid_argument(f"Failed to get input map for signature: "
                               f"{signature_name or 'DEFAULT'}")
    has_instances, has_inputs = "instances" in body, "inputs" in body
    if has_instances and has_inputs:
        raise format_error(body, "Not formatted correctly expecting only one of 'inputs' or "
                                 "'instances' keys to exist ")
    names = sorted(input_infos)
    if has_instances:
        instances = body["instances"]
        if not isinstance(instances, list):
            raise format_error(body, "Expecting 'instances' to be an list/array")
        if not instances:
            raise format_error(body, "No values in 'instances' array")
        return _parse_instances(instances, input_infos, names), ROW
    if has_inputs:
        return _parse_inputs(body["inputs"], input_infos, names), COLUMNAR
    raise invalid_argument("Missing 'inputs' or 'instances' key")


def _is_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _parse_instances(instances: List[Any], infos, names) -> Dict[str, np.ndarray]:
    """FillTensorMapFromInstancesList."""
    if not isinstance(instances[0], dict) and len(names) > 1:
        raise invalid_argument("instances is a plain list, but expecting list of objects "
                               "as multiple input tensors required as per tensorinfo_map")
    objects = _is_object(instances[0])
    columns: Dict[str, List[np.ndarray]] = {name: [] for name in names}
    for i, item in enumerate(instances):
        if objects:
            if not _is_object(item):
                raise invalid_argument(f"Expecting object but got list at item {i} of "
                                       f"input list")
            for key, value in item.items():
                try:
                    array = _instance_item(value, key, infos, columns)
                except ServingError as err:
                    raise invalid_argument(f"Failed to process element: {i} key: {key} of "
                                           f"'instances' list. Error: {err}") from None
                columns[key].append(array)
            if set(item) != set(names):
                raise invalid_argument(
                    f"Failed to process element: {i} of 'instances' list. JSON object: "
                    f"{_debug(item)} keys must be equal to: {','.join(names)}")
        else:
            if _is_object(item):
                raise invalid_argument(f"Expecting value/list but got object at item {i} "
                                       f"of input list")
            try:
                columns[names[0]].append(_instance_item(item, names[0], infos, columns))
            except ServingError as err:
                raise invalid_argument(f"Failed to process element: {i} of 'instances' "
                                       f"list. Error: {err}") from None
    return {name: np.stack(items) for name, items in columns.items() if items}


def _instance_item(value, key, infos, columns) -> np.ndarray:
    """AddInstanceItem."""
    if key not in infos:
        raise invalid_argument(f"JSON object: does not have named input: {key}")
    array = json_to_array(value, infos[key].dtype)
    if columns.get(key):
        first = columns[key][0]
        if first.size != array.size:
            raise invalid_argument(f"Expecting tensor size: {first.size} but got: "
                                   f"{array.size}")
        if first.shape != array.shape:
            raise invalid_argument(f"Expecting shape {_shape_text(first.shape)} but got: "
                                   f"{_shape_text(array.shape)}")
    return array


def _parse_inputs(value: Any, infos, names) -> Dict[str, np.ndarray]:
    """FillTensorMapFromInputsMap."""
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


def _signature_name(document: Mapping[str, Any]) -> Optional[str]:
    """FillSignature: the optional ``signature_name`` (a string)."""
    if SIGNATURE_KEY not in document:
        return None
    name = document[SIGNATURE_KEY]
    if not isinstance(name, str):
        raise format_error(document, "not formatted correctly. 'signature_name' key must be "
                                     "a string value.")
    return name


def fill_predict_request_from_json(
        body: Union[bytes, str],
        get_input_infos: Callable[[str], Mapping[str, meta_graph_pb2.TensorInfo]]
) -> Tuple[predict_pb2.PredictRequest, str]:
    """json_tensor.cc FillPredictRequestFromJson: a ``:predict`` body ->
    (PredictRequest with ``model_spec.signature_name`` and typed input
    TensorProtos, ``ROW`` or ``COLUMNAR``). ``get_input_infos(signature_name)``
    returns the signature's inputs.

    Raises:
      ServingError: INVALID_ARGUMENT (message as in json_tensor.cc).
    """
    document = parse_json(body)
    request = predict_pb2.PredictRequest()
    name = _signature_name(document)
    if name is not None:
        request.model_spec.signature_name = name
    signature = request.model_spec.signature_name
    arrays, fmt = parse_predict(document, get_input_infos(signature), signature)
    for alias, array in arrays.items():
        request.inputs[alias].CopyFrom(tensors.to_proto_field(array))
    return request, fmt


# ------------------------------------------------------------------ writing JSON

def format_decimal(value: float, double: bool = False) -> str:
    """json_tensor.cc WriteDecimal: the JSON text TF Serving writes for a
    float (``double=False``: a float32 value) or a double."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "-Infinity" if value < 0 else "Infinity"
    text = "%.6g" % value  # absl::StrCat
    same = (float(text) == value if double
            else np.float32(float(text)) == np.float32(value))
    if not same:
        text = ("%.17g" if double else "%.9g") % value
    if "." not in text and "e" not in text:
        text += ".0"
    return text


def _decimal_texts(flat: np.ndarray) -> List[str]:
    """``format_decimal`` over a 1-D float32/float64 array."""
    double = flat.dtype == np.float64
    values = flat.astype(np.float64).tolist()
    texts = ["%.6g" % v for v in values]
    finite = np.isfinite(flat)
    with np.errstate(invalid="ignore", over="ignore"):
        parsed = np.array([float(t) for t in texts], dtype=np.float64)
        same = parsed == flat if double else parsed.astype(np.float32) == flat
    wide = "%.17g" if double else "%.9g"
    for i in np.flatnonzero(~(same & finite)).tolist():
        v = values[i]
        texts[i] = ("NaN" if v != v else "Infinity" if v == math.inf
                    else "-Infinity" if v == -math.inf else wide % v)
    for i in np.flatnonzero(finite).tolist():
        text = texts[i]
        if "." not in text and "e" not in text:
            texts[i] = text + ".0"
    return texts


def _string_texts(flat: np.ndarray, as_bytes: bool) -> List[str]:
    texts = []
    for item in flat.tolist():
        data = item if isinstance(item, bytes) else str(item).encode("utf-8")
        if as_bytes:
            texts.append('{"b64": "' + base64.b64encode(data).decode("ascii") + '"}')
        else:
            # rapidjson writes the bytes as they are; JSON text must be UTF-8.
            texts.append(json.dumps(data.decode("utf-8", errors="replace"),
                                    ensure_ascii=False))
    return texts


def _value_texts(name: str, array: np.ndarray) -> List[str]:
    """The JSON text of each value of ``array`` (row-major), as
    AddSingleValueAndAdvance writes it.

    Raises:
      ServingError: INVALID_ARGUMENT for a dtype JSON has no value for.
    """
    flat = array.reshape(-1)
    if tensors.is_string(array):
        return _string_texts(flat, name.endswith(BYTES_SUFFIX))
    if array.dtype in (np.float32, np.float64):
        return _decimal_texts(flat)
    if array.dtype in _WRITABLE_INTS:
        return [str(v) for v in flat.tolist()]
    if array.dtype == np.bool_:
        return ["true" if v else "false" for v in flat.tolist()]
    if flat.size == 0:
        return []
    try:
        type_name = data_type_string(tf.dtypes.as_dtype(array.dtype).as_datatype_enum)
    except TypeError:
        type_name = str(array.dtype)
    raise invalid_argument(f"Failed to write JSON value for tensor type: {type_name}")


def _nest(texts: List[str], shape: Tuple[int, ...]) -> str:
    """AddTensorValues: row-major value texts -> nested JSON arrays."""
    if not shape:
        return texts[0]
    if len(shape) == 1:
        return "[" + ", ".join(texts) + "]"
    step = len(texts) // shape[0] if shape[0] else 0
    return "[" + ", ".join(_nest(texts[i * step:(i + 1) * step], shape[1:])
                           for i in range(shape[0])) + "]"


def make_json_from_tensors(outputs: Mapping[str, np.ndarray], fmt: str) -> str:
    """json_tensor.cc MakeJsonFromTensors: outputs -> TF Serving's response text.

    Raises:
      ServingError: INVALID_ARGUMENT for no outputs, a dtype JSON has no value
        for, or (row format) outputs without a batch dimension or with
        different batch sizes.
    """
    if not outputs:
        raise invalid_argument("Cannot convert empty tensor map to JSON")
    if fmt not in (ROW, COLUMNAR):
        raise invalid_argument("Invalid request format")
    names = sorted(outputs)
    arrays = {n: np.asarray(outputs[n]) for n in names}
    if fmt == ROW:
        batch = None
        for name in names:
            if arrays[name].ndim == 0:
                raise invalid_argument(f"Tensor name: {name} has no shape information ")
            if batch is not None and arrays[name].shape[0] != batch:
                raise invalid_argument(f"Tensor name: {name} has inconsistent batch size: "
                                       f"{arrays[name].shape[0]} expecting: {batch}")
            batch = arrays[name].shape[0]
    texts = {n: _value_texts(n, arrays[n]) for n in names}
    key = lambda n: json.dumps(n, ensure_ascii=False)  # noqa: E731
    if fmt == COLUMNAR:
        if len(names) == 1:
            return '{"outputs": ' + _nest(texts[names[0]], arrays[names[0]].shape) + "}"
        return '{"outputs": {' + ", ".join(
            key(n) + ": " + _nest(texts[n], arrays[n].shape) for n in names) + "}}"
    rows = []
    for i in range(batch):
        items = {}
        for n in names:
            step = arrays[n].size // batch if batch else 0
            items[n] = _nest(texts[n][i * step:(i + 1) * step], arrays[n].shape[1:])
        rows.append(items[names[0]] if len(names) == 1 else
                    "{" + ", ".join(key(n) + ": " + items[n] for n in names) + "}")
    return '{"predictions": [' + ", ".join(rows) + "]}"


def _loads(text: str) -> Dict[str, Any]:
    return json.loads(text)  # NaN/Infinity read back as float nan/inf


def predict_response(outputs: Mapping[str, np.ndarray], fmt: str) -> Dict[str, Any]:
    """``make_json_from_tensors`` as a JSON object: each float is the double
    of the text TF Serving writes (float32 0.1 is 0.1, so ``json.dumps``
    prints ``0.1``), NaN/infinities are float nan/inf (``json.dumps`` writes
    ``NaN``/``Infinity``).

    Raises:
      ServingError: as ``make_json_from_tensors``.
    """
    return _loads(make_json_from_tensors(outputs, fmt))


def make_json_from_classification_result(
        result: classification_pb2.ClassificationResult) -> str:
    """json_tensor.cc MakeJsonFromClassificationResult:
    ``{"results": [[[label, score], ...], ...]}``.

    Raises:
      ServingError: INVALID_ARGUMENT for a result without classifications.
    """
    if not result.classifications:
        raise invalid_argument("Cannot convert empty ClassificationResults to JSON")
    rows = []
    for classifications in result.classifications:
        scores = _decimal_texts(np.array([c.score for c in classifications.classes],
                                         dtype=np.float32))
        rows.append("[" + ", ".join(
            "[" + json.dumps(c.label, ensure_ascii=False) + ", " + score + "]"
            for c, score in zip(classifications.classes, scores)) + "]")
    return '{"' + RESULTS_KEY + '": [' + ", ".join(rows) + "]}"


def make_json_from_regression_result(result: regression_pb2.RegressionResult) -> str:
    """json_tensor.cc MakeJsonFromRegressionResult: ``{"results": [v, ...]}``.

    Raises:
      ServingError: INVALID_ARGUMENT for a result without regressions.
    """
    if not result.regressions:
        raise invalid_argument("Cannot convert empty RegressionResults to JSON")
    values = _decimal_texts(np.array([r.value for r in result.regressions], dtype=np.float32))
    return '{"' + RESULTS_KEY + '": [' + ", ".join(values) + "]}"


def classification_response(result: classification_pb2.ClassificationResult
                            ) -> Dict[str, Any]:
    """``make_json_from_classification_result`` as a JSON object."""
    return _loads(make_json_from_classification_result(result))


def regression_response(result: regression_pb2.RegressionResult) -> Dict[str, Any]:
    """``make_json_from_regression_result`` as a JSON object."""
    return _loads(make_json_from_regression_result(result))


def make_json_from_status(code: grpc.StatusCode, message: str) -> str:
    """json_tensor.cc MakeJsonFromStatus: ``""`` for OK, else
    ``{"error": message}``."""
    if code == grpc.StatusCode.OK:
        return ""
    return json.dumps({ERROR_KEY: message}, ensure_ascii=False)


# ------------------------------------------------------------------ tf.Example

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
    elif isinstance(value, float) or not (_JSON_INT_RANGE[0] <= value < _JSON_INT_RANGE[1]):
        # A JSON double (an integer beyond 64 bits is one, for rapidjson).
        kind_ok("float_list")
        try:
            feature.float_list.value.append(float(value))
        except OverflowError:
            feature.float_list.value.append(math.copysign(math.inf, value))
    else:
        kind_ok("int64_list")
        if value >= 1 << 63:
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


def parse_classify_regress(body: Mapping[str, Any], method: str = "classify"
                           ) -> Tuple[List[bytes], Optional[bytes]]:
    """``:classify``/``:regress`` JSON -> (serialized examples, serialized context).

    ``method`` is kept for callers; json_tensor.cc names ``classify`` in the
    missing-``examples`` message for both methods, and so does this.

    Raises:
      ServingError: INVALID_ARGUMENT (FillClassifyRegressRequestFromJson).
    """
    context = None
    if "context" in body:
        context = json_to_example(body["context"]).SerializeToString()
    if "examples" not in body:
        raise format_error(body, "When method is classify, key 'examples' is expected and "
                                 "was not found")
    examples = body["examples"]
    if not isinstance(examples, list):
        raise format_error(body, "Expecting 'examples' value to be an list/array")
    if not examples:
        raise format_error(body, "'examples' value is an empty array")
    return [json_to_example(e).SerializeToString() for e in examples], context


ClassifyOrRegressRequest = Union[classification_pb2.ClassificationRequest,
                                 regression_pb2.RegressionRequest]


def fill_classify_regress_request_from_json(body: Union[bytes, str],
                                            request: ClassifyOrRegressRequest) -> None:
    """json_tensor.cc FillClassificationRequestFromJson /
    FillRegressionRequestFromJson: sets ``model_spec.signature_name`` (if
    given) and ``input`` (an ``example_list``, or ``example_list_with_context``
    when the body has a ``context``).

    Raises:
      ServingError: INVALID_ARGUMENT (message as in json_tensor.cc).
    """
    document = parse_json(body)
    name = _signature_name(document)
    if name is not None:
        request.model_spec.signature_name = name
    examples, context = parse_classify_regress(document)
    inp: input_pb2.Input = request.input
    if context is not None:
        inp.example_list_with_context.context.ParseFromString(context)
        target = inp.example_list_with_context.examples
    else:
        target = inp.example_list.examples
    for data in examples:
        target.add().ParseFromString(data)
