"""Fast ``TensorProto`` <-> ndarray for the server's and the clients' request paths.

A ``TensorProto`` carries numbers in one of two legal encodings, and both
ends here read either:

- the typed repeated fields (``float_val``, ``int64_val``, ``int_val``, ...),
  which TF Serving's Predict answers with: servables/tensorflow/
  predict_util.cc runs ``Tensor::AsProtoField`` (``kAsProtoField``, its
  default), and clients such as tensorflow_serving/example/
  resnet_client_grpc.py and mnist_client.py read ``outputs[k].float_val``.
  The server answers with ``to_proto_field``;
- ``tensor_content`` (host byte order, as ``Tensor::AsProtoTensorContent``
  and ``tf.make_tensor_proto`` for numpy arrays write it), which the clients
  send with ``to_proto``.

``tf.make_tensor_proto`` / ``tf.make_ndarray`` cost about 0.1-1 ms per
tensor in Python, as much as a small model's whole signature call, so the
common dtypes are converted directly here (packed fixed-width fields are
written as one wire-format chunk) and everything else falls back to them.
The typed-field rules follow TensorFlow's tensor.cc (``ProtoHelper``: which
field each dtype uses) and tensor_util.MakeNdarray (fewer values than
elements repeat the last value; none means zeros).
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
               types_pb2.DT_BOOL: np.bool_, types_pb2.DT_HALF: np.float16,
               types_pb2.DT_COMPLEX64: np.complex64, types_pb2.DT_COMPLEX128: np.complex128}
_FAST_ENUM = {np.dtype(v): k for k, v in _FAST_NUMPY.items()}

# dtype -> the TensorProto field that holds its values (tensor.cc ProtoHelper).
_FIELD = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
          types_pb2.DT_INT32: "int_val", types_pb2.DT_INT16: "int_val",
          types_pb2.DT_INT8: "int_val", types_pb2.DT_UINT8: "int_val",
          types_pb2.DT_UINT16: "int_val", types_pb2.DT_INT64: "int64_val",
          types_pb2.DT_UINT32: "uint32_val", types_pb2.DT_UINT64: "uint64_val",
          types_pb2.DT_BOOL: "bool_val", types_pb2.DT_HALF: "half_val",
          types_pb2.DT_COMPLEX64: "scomplex_val", types_pb2.DT_COMPLEX128: "dcomplex_val"}
# Fixed-width fields, written as one packed chunk: little-endian element type.
_PACKED = {"float_val": "<f4", "double_val": "<f8", "scomplex_val": "<f4",
           "dcomplex_val": "<f8"}
_FIELD_NUMBER = {f.name: f.number for f in tensor_pb2.TensorProto.DESCRIPTOR.fields}


def is_string(array: np.ndarray) -> bool:
    return array.dtype == object or array.dtype.kind in "SU"


def _shape_proto(shape) -> tensor_shape_pb2.TensorShapeProto:
    return tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape])


def _native(array) -> np.ndarray:
    array = np.asarray(array)
    if not array.dtype.isnative:  # e.g. big-endian '>f4' read from a file
        array = array.astype(array.dtype.newbyteorder("="))
    return array


def to_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    """ndarray -> TensorProto in ``tensor_content`` (numbers) or
    ``string_val`` (text), as ``tf.make_tensor_proto`` writes numpy arrays.

    Raises:
      TypeError/ValueError: a dtype TensorFlow has no equivalent for, or an
        object array holding something other than bytes or str.
    """
    array = _native(array)
    if is_string(array):
        return _string_proto(array)
    if array.dtype not in _FAST_ENUM:
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=_FAST_ENUM[array.dtype],
                                   tensor_shape=_shape_proto(array.shape))
    proto.tensor_content = np.ascontiguousarray(array).tobytes()
    return proto


def to_proto_field(array: np.ndarray) -> tensor_pb2.TensorProto:
    """ndarray -> TensorProto in its typed field (``float_val``, ``int64_val``,
    ``string_val``, ...), every element written: ``Tensor::AsProtoField``, what
    TF Serving's Predict answers with.

    Raises:
      TypeError/ValueError: as ``to_proto``.
    """
    array = _native(array)
    if is_string(array):
        return _string_proto(array)
    dtype = _FAST_ENUM.get(array.dtype)
    if dtype is None:  # bfloat16, quantized types, ...: TensorFlow's own encoder
        return tf.make_tensor_proto(array)
    proto = tensor_pb2.TensorProto(dtype=dtype, tensor_shape=_shape_proto(array.shape))
    field = _FIELD[dtype]
    flat = array.reshape(-1)
    if field in _PACKED:
        if flat.size:
            data = np.ascontiguousarray(flat).view(flat.real.dtype if flat.dtype.kind == "c"
                                                   else flat.dtype)
            raw = data.astype(_PACKED[field], copy=False).tobytes()
            proto.MergeFromString(_varint(_FIELD_NUMBER[field] << 3 | 2) + _varint(len(raw))
                                  + raw)
    elif dtype == types_pb2.DT_HALF:
        proto.half_val.extend(flat.view(np.uint16).tolist())
    else:
        getattr(proto, field).extend(flat.tolist())
    return proto


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        low, value = value & 0x7F, value >> 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _string_proto(array: np.ndarray) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING,
                                   tensor_shape=_shape_proto(array.shape))
    proto.string_val.extend(_string_value(v, i) for i, v in enumerate(array.reshape(-1).tolist()))
    return proto


def _string_value(value, index: int) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"string tensor element {index} is {type(value).__name__} "
                    f"({value!r:.40}); expected bytes or str")


def to_ndarray(proto: tensor_pb2.TensorProto) -> np.ndarray:
    """TensorProto (``tensor_content`` or typed fields) -> a new, writable
    ndarray (strings as an object array of bytes).

    Raises:
      TypeError/ValueError: a malformed proto (wrong content size, more
        values than the shape holds, bad dtype).
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
    if numpy_type is None:
        return tf.make_ndarray(proto)
    if proto.tensor_content:
        array = np.frombuffer(proto.tensor_content, dtype=numpy_type)
        if array.size != count:
            raise ValueError(f"tensor_content holds {array.size} values for shape {shape}")
        return array.reshape(shape).copy()  # writable, as tf.make_ndarray's
    values = _field_values(proto, numpy_type)
    if values.size > count:
        raise ValueError(f"{_FIELD[proto.dtype]} holds {values.size} values for shape {shape}")
    if values.size == 0:
        return np.zeros(shape, dtype=numpy_type)
    if values.size < count:  # the last value repeats (tensor_util.MakeNdarray)
        values = np.pad(values, (0, count - values.size), "edge")
    return values.reshape(shape)


def _field_values(proto: tensor_pb2.TensorProto, numpy_type) -> np.ndarray:
    name = _FIELD[proto.dtype]
    field = getattr(proto, name)
    if name in _PACKED and len(field) > _WIRE_READ_MIN:
        # Iterating a repeated field costs ~40 ns a value; the packed bytes
        # of the serialized message are one np.frombuffer away.
        values = np.frombuffer(_packed_bytes(proto.SerializeToString(), _FIELD_NUMBER[name]),
                               dtype=_PACKED[name]).copy()  # writable
    elif proto.dtype == types_pb2.DT_HALF:
        return np.fromiter(field, np.uint16, len(field)).view(np.float16)
    else:
        values = np.fromiter(field, _PACKED.get(name, numpy_type), len(field))
    if proto.dtype in (types_pb2.DT_COMPLEX64, types_pb2.DT_COMPLEX128):
        if values.size % 2:
            raise ValueError(f"{name} holds an odd number of floats")
        return values.astype(values.dtype.newbyteorder("="), copy=False).view(numpy_type)
    return values.astype(numpy_type, copy=False)


_WIRE_READ_MIN = 4096


def _packed_bytes(wire: bytes, number: int) -> bytes:
    """The payload of packed field ``number`` of a serialized message (its
    chunks joined, should a writer have split it)."""
    chunks, pos = [], 0
    while pos < len(wire):
        key, pos = _read_varint(wire, pos)
        field, kind = key >> 3, key & 7
        if kind == 0:
            _, pos = _read_varint(wire, pos)
        elif kind == 1:
            pos += 8
        elif kind == 5:
            pos += 4
        elif kind == 2:
            size, pos = _read_varint(wire, pos)
            if field == number:
                chunks.append(wire[pos:pos + size])
            pos += size
        else:
            raise ValueError(f"unexpected wire type {kind} in a TensorProto")
    return b"".join(chunks)


def _read_varint(data: bytes, pos: int):
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
