"""Fast ``TensorProto`` <-> ndarray for the server's request path.

``tf.make_tensor_proto`` costs about 0.1-1 ms per tensor in Python, which is
as much as a small model's whole signature call; the server answers with
``tensor_content`` (numbers, host byte order, as TF's
``Tensor::AsProtoTensorContent``) or ``string_val`` (strings) built directly.
Reading takes the same two fast paths and falls back to ``tf.make_ndarray``
for everything else (typed ``*_val`` fields, half precision, ...). Both ends
decode either encoding, as TF Serving's clients do.
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
