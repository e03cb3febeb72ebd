"""Fast ``TensorProto`` <-> ndarray for the server's request path.

``tf.make_tensor_proto`` costs about 0.1-1 ms per tensor in Python, which is
as much as a small model's whole signature call; the server answers with
``tensor_content`` (numbers, host byte order, as TF's
``Tensor::AsProtoTensorContent``) or ``string_val`` (strings) built directly.
Reading takes the same two fast paths and falls back to ``tf.make_ndarray``
for everything else (typed ``*_val`` fields, half precision, ...). Both ends
decode either encoding, as TF Serving's clients do.

``to_typed_proto`` writes the typed ``*_val`` fields instead, as TF's
``Tensor::AsProtoField`` does (what TF Serving's Predict answers with, and
what json_tensor.cc fills from REST JSON).
"""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

_FAST_NUMPY = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64,
               types_pb2.DT_INT32: np.int32, types_pb2.DT_INT64: np.int64,
               types_pb2.DT_INT16: np.int16, types_pb2.DT_INT8: np.int8,
               types_pb2.DT_UINT8: np.uint8, types_pb2.DT_UINT16: np.uint16,
               types_pb2.DT_UINT32: np.uint32, types_pb2.DT_UINT64: np.uint64,
               types_pb2.DT_BOOL: np.bool_}
_FAST_ENUM = {np.dtype(v): k for k, v in _FAST_NUMPY.items()}


def is_string(array: np.ndarray) -> bool:
    return array.dtype == object or array.dtype.kind in "SU"


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """ndarray -> TensorProto (``tensor_content`` or ``string_val``).

    Raises:
      TypeError/ValueError: a dtype TensorFlow has no equivalent for, or an
        object array holding something other than bytes or str.
    """
    array = np.asarray(array)
    if not array.dtype.isnative:  # e.g. big-endian '>f4' read from a file
        array = array.astype(array.dtype.newbyteorder("="))
    if not is_string(array) and array.dtype not in _FAST_ENUM:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]))
    if is_string(array):
        proto.dtype = types_pb2.DT_STRING
        proto.string_val.extend(_string_value(v, i)
                                for i, v in enumerate(array.reshape(-1).tolist()))
    else:
        proto.dtype = _FAST_ENUM[array.dtype]
        proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


# Tensor::AsProtoField: the repeated field each dtype's values go to.
_TYPED_FIELD = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
                types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val",
                types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
                types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val",
                types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
                types_pb2.DT_BOOL: "bool_val", types_pb2.DT_HALF: "half_val",
                types_pb2.DT_BFLOAT16: "half_val", types_pb2.DT_COMPLEX64: "scomplex_val",
                types_pb2.DT_COMPLEX128: "dcomplex_val", types_pb2.DT_STRING: "string_val"}


def typed_field(dtype: int) -> str:
    """The ``TensorProto`` repeated field ``Tensor::AsProtoField`` fills for
    ``dtype`` (``float_val`` for DT_FLOAT, ``int_val`` for DT_INT32, ...)."""
    return _TYPED_FIELD[dtype]


def to_typed_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """ndarray -> TensorProto with its values in the typed ``*_val`` field
    (``Tensor::AsProtoField``): ``float_val`` for float32, ``int_val`` for
    int32/int16/int8/uint8/uint16, ``int64_val``, ``bool_val``,
    ``string_val``, ``half_val`` (the bits of float16/bfloat16 values),
    ``scomplex_val``/``dcomplex_val`` (real, imaginary pairs), ...

    Raises:
      TypeError/ValueError: a dtype without a typed field, or an object array
        holding something other than bytes or str.
    """
    array = np.asarray(array)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    dtype = types_pb2.DT_STRING if is_string(array) else \
        tf.dtypes.as_dtype(array.dtype).as_datatype_enum
    field = _TYPED_FIELD.get(dtype)
    if field is None:
        raise TypeError(f"no typed TensorProto field for {array.dtype}")
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape]))
    flat = array.reshape(-1)
    if dtype == types_pb2.DT_STRING:
        values = [_string_value(v, i) for i, v in enumerate(flat.tolist())]
    elif dtype == types_pb2.DT_HALF:
        values = flat.view(np.uint16).tolist()
    elif dtype == types_pb2.DT_BFLOAT16:
        values = flat.view(np.uint16).tolist()
    elif dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        values = np.stack([flat.real, flat.imag], axis=-1).reshape(-1).tolist()
    else:
        values = flat.tolist()
    getattr(proto, field).extend(values)
    return proto


def _string_value(value, index: int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"string tensor element {index} is {type(value).__name__} "
                    f"({value!r:.40}); expected bytes or str")


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto -> a new, writable ndarray (strings as an object array of
    bytes).

    Raises:
      TypeError/ValueError: a malformed proto (wrong content size, bad dtype).
    """
    shape = [d.size for d in proto.tensor_shape.dim]
    if any(s < 0 for s in shape):
        raise ValueError(f"negative dimension in shape {shape}")
    count = int(np.prod(shape, dtype=np.int64))
    if proto.dtype == types_pb2.DT_STRING and len(proto.string_val) == count:
        array = np.empty(count, dtype=object)
        array[:] = list(proto.string_val)
        return array.reshape(shape)
    numpy_type = _FAST_NUMPY.get(proto.dtype)
    if numpy_type is not None and proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=numpy_type)
        if array.size != count:
            raise ValueError(f"tensor_content holds {array.size} values for shape {shape}")
        return array.reshape(shape).copy()  # writable, as tf.make_ndarray's
    return tf.make_ndarray(proto)
