"""TF Serving's util/json_tensor_test.cc cases (tests/tfserving_cases/
json_tensor_cases.py) against serving/json_tensor.py, without a model:
REST JSON -> tensors (row and columnar, b64, NaN/Infinity, errors),
tensors -> JSON (float text, bytes, batch checks), classify/regress request
parsing and result writing, error JSON.
"""
from __future__ import annotations

import json

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.apis import classification_pb2, regression_pb2

from tfxp.serving import json_tensor, tensors
from tfxp.serving.errors import ServingError
from tests.tfserving_cases import json_tensor_cases as cases
from tests.tfserving_checks import (assert_error, assert_tensor_proto_equal, json_strings,
                                    json_values, params, tensor_proto)


def _infos(names):
    return {alias: meta_graph_pb2.TensorInfo(dtype=types_pb2.DataType.Value(dtype))
            for alias, dtype in names.items()}


@pytest.mark.parametrize("case", params(cases.PREDICT_REQUEST))
def test_predict_request_from_json(case):
    infos = _infos(case.input["infos"])
    asked = []

    def get_infos(signature_name):
        asked.append(signature_name)
        return infos
    if case.error:
        with pytest.raises(ServingError) as err:
            json_tensor.fill_predict_request_from_json(case.input["json"], get_infos)
        assert_error(err.value, case.error)
        return
    request, fmt = json_tensor.fill_predict_request_from_json(case.input["json"], get_infos)
    assert fmt == case.expect["format"]
    assert asked == [case.expect["signature_name"]]
    assert request.model_spec.signature_name == case.expect["signature_name"]
    assert set(request.inputs) == set(case.expect["tensors"])
    for alias, text in case.expect["tensors"].items():
        expected = tensor_proto(text)
        assert_tensor_proto_equal(request.inputs[alias], expected, alias)
    # The REST path (parse_predict on the parsed body) gives the same arrays.
    arrays, fmt = json_tensor.parse_predict(json_tensor.parse_json(case.input["json"]), infos)
    assert fmt == case.expect["format"]
    for alias, text in case.expect["tensors"].items():
        expected = tensors.to_ndarray(tensor_proto(text))
        assert arrays[alias].dtype == expected.dtype and arrays[alias].shape == expected.shape
        np.testing.assert_array_equal(arrays[alias], expected)


def _compare(text, expect):
    if expect["compare"] == "strings":
        assert json_strings(text) == json_strings(expect["json"])
    else:
        assert json_values(text) == json_values(expect["json"])


@pytest.mark.parametrize("case", params(cases.TENSORS_TO_JSON))
def test_json_from_tensors(case):
    arrays = {name: tensors.to_ndarray(tensor_proto(text))
              for name, text in case.input["tensors"].items()}
    fmt = json_tensor.ROW if case.input["format"] == "row" else json_tensor.COLUMNAR
    if case.error:
        with pytest.raises(ServingError) as err:
            json_tensor.make_json_from_tensors(arrays, fmt)
        assert_error(err.value, case.error)
        with pytest.raises(ServingError):
            json_tensor.predict_response(arrays, fmt)
        return
    text = json_tensor.make_json_from_tensors(arrays, fmt)
    _compare(text, case.expect)
    # The object the REST handler answers with serializes to the same values.
    assert json_strings(json.dumps(json_tensor.predict_response(arrays, fmt))) == \
        json_strings(json.dumps(json.loads(text)))


@pytest.mark.parametrize("case", params(cases.CLASSIFY_REGRESS_REQUEST))
def test_classify_regress_request_from_json(case):
    kind = (classification_pb2.ClassificationRequest if case.input["method"] == "classify"
            else regression_pb2.RegressionRequest)
    request = kind()
    if case.error:
        with pytest.raises(ServingError) as err:
            json_tensor.fill_classify_regress_request_from_json(case.input["json"], request)
        assert_error(err.value, case.error)
        return
    json_tensor.fill_classify_regress_request_from_json(case.input["json"], request)
    expected = text_format.Parse(case.expect, kind())
    # Map entries print sorted by key; NaN prints as nan on both sides.
    assert text_format.MessageToString(request) == text_format.MessageToString(expected)


@pytest.mark.parametrize("case", params(cases.RESULT_TO_JSON))
def test_json_from_classification_and_regression_results(case):
    if "classification_result" in case.input:
        result = text_format.Parse(case.input["classification_result"],
                                   classification_pb2.ClassificationResult())
        write, as_object = (json_tensor.make_json_from_classification_result,
                            json_tensor.classification_response)
    else:
        result = text_format.Parse(case.input["regression_result"],
                                   regression_pb2.RegressionResult())
        write, as_object = (json_tensor.make_json_from_regression_result,
                            json_tensor.regression_response)
    if case.error:
        with pytest.raises(ServingError) as err:
            write(result)
        assert_error(err.value, case.error)
        return
    text = write(result)
    _compare(text, case.expect)
    assert json_strings(json.dumps(as_object(result))) == json_strings(text)


@pytest.mark.parametrize("case", params(cases.STATUS_TO_JSON))
def test_json_from_status(case):
    code, message = case.input
    text = json_tensor.make_json_from_status(getattr(grpc.StatusCode, code), message)
    if not case.expect:
        assert text == ""
    else:
        assert json.loads(text) == json.loads(case.expect)


def test_rest_json_floats_are_written_as_tf_serving_writes_them():
    """Not a TF Serving case: the object the REST handler answers with, as
    ``json.dumps`` (http_server) writes it, has float32 values at their
    WriteDecimal text (<= 9 digits), not their 17-digit float64 value."""
    outputs = {"y": np.array([0.1, 0.2, 1 / 3, 1e-8, np.nan, -np.inf], np.float32)}
    text = json.dumps(json_tensor.predict_response(outputs, json_tensor.ROW))
    assert text == '{"predictions": [0.1, 0.2, 0.333333343, 1e-08, NaN, -Infinity]}'
    assert json_tensor.make_json_from_tensors(outputs, json_tensor.ROW) == text
