"""Test helpers for the cases ported from TF Serving (tests/tfserving_cases)."""
from __future__ import annotations

import json
import math
from typing import Iterable, List

import grpc
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import tensor_pb2

from tfxp.serving.errors import ServingError

_TYPED_FIELDS = ("float_val", "double_val", "int_val", "int64_val", "uint32_val",
                 "uint64_val", "bool_val", "string_val", "half_val", "scomplex_val",
                 "dcomplex_val", "tensor_content")


def params(cases) -> List:
    """pytest params of ``Case``s: id, and skip/xfail(strict) marks."""
    out = []
    for case in cases:
        marks = []
        if case.skip:
            marks.append(pytest.mark.skip(reason=case.skip))
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=True, reason=case.xfail))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


def tensor_proto(text: str) -> tensor_pb2.TensorProto:
    return text_format.Parse(text, tensor_pb2.TensorProto())


def _same_values(a: Iterable, b: Iterable) -> bool:
    a, b = list(a), list(b)
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
            continue
        if x != y:
            return False
    return True


def assert_tensor_proto_equal(actual: tensor_pb2.TensorProto,
                              expected: tensor_pb2.TensorProto, what: str = "") -> None:
    """EqualsProto for TensorProtos: same dtype, shape and typed fields (NaN
    equals NaN, 0.0 equals -0.0 as in C++ ==)."""
    assert actual.dtype == expected.dtype, what
    assert ([d.size for d in actual.tensor_shape.dim], actual.tensor_shape.unknown_rank) == (
        [d.size for d in expected.tensor_shape.dim], expected.tensor_shape.unknown_rank), what
    for field in _TYPED_FIELDS:
        got, want = getattr(actual, field), getattr(expected, field)
        if field == "tensor_content":
            assert got == want, f"{what} {field}"
        else:
            assert _same_values(got, want), f"{what} {field}: {list(got)} != {list(want)}"


def assert_error(err: ServingError, error) -> None:
    """``err`` has the case's gRPC code (any, for "") and message fragment."""
    code, fragment = error
    if code:
        assert err.code == getattr(grpc.StatusCode, code), err
    assert fragment in err.message, err.message


def json_values(text: str):
    """CompareJson: numbers compared by value (42 == 42.0)."""
    return json.loads(text)


def json_strings(text: str):
    """CompareJsonAllValuesAsStrings: numbers compared by their text."""
    return json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
