"""TF Serving's handler, Predict, Classify, Regress and GetModelStatus unit
test cases (tests/tfserving_cases/) against our REST handler and
InferenceCore, on small SavedModels built like the TF tests' models
(tests/tfserving_models.py):

- model_servers/http_rest_api_handler_test.cc -> ``RestApiHandler``;
- servables/tensorflow/predict_util_test.cc -> ``InferenceCore.predict``;
- servables/tensorflow/classifier_test.cc, regressor_test.cc ->
  ``InferenceCore.classify`` / ``regress``;
- model_servers/get_model_status_impl_test.cc ->
  ``InferenceCore.get_model_status``.
"""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
from google.protobuf import text_format
from tensorflow_serving.apis import (classification_pb2, get_model_status_pb2, input_pb2,
                                     predict_pb2, regression_pb2)

from tfxp.serving import tensors
from tfxp.serving.errors import HTTP_STATUS, ServingError
from tfxp.serving.http_server import RestHttpServer
from tfxp.serving.inference import InferenceCore
from tfxp.serving.manager import ModelManager, parse_config
from tfxp.serving.rest import RestApiHandler
from tests import tfserving_models as models
from tests.tfserving_cases import classifier_cases, get_model_status_cases
from tests.tfserving_cases import http_rest_api_handler_cases as handler_cases
from tests.tfserving_cases import predict_util_cases, regressor_cases
from tests.tfserving_checks import assert_error, assert_tensor_proto_equal, params


def _core(base_paths, policy="", labels=None) -> InferenceCore:
    """An InferenceCore over ``{name: base path}`` (polled once, no thread)."""
    text = "model_config_list {"
    for name, base in base_paths.items():
        text += (f" config {{ name: '{name}' base_path: '{base}' model_platform: "
                 f"'tensorflow' {policy} ")
        for label, version in (labels or {}).items():
            text += f" version_labels {{ key: '{label}' value: {version} }}"
        text += "}"
    manager = ModelManager(parse_config(text + " }"))
    manager.start(poll_seconds=0)
    return InferenceCore(manager)


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """The SavedModels, written once: ``{kind: export dir}``."""
    root = tmp_path_factory.mktemp("tfserving_models")
    return {
        "half_plus_two": models.write_half_plus_two(str(root / "half_plus_two")),
        "half_plus_two_methods": models.write_half_plus_two(
            str(root / "half_plus_two_methods"), method_signatures=True),
        "tf1_half_plus_two": models.write_tf1_half_plus_two(str(root / "tf1_half_plus_two")),
        "counter": models.write_counter(str(root / "counter")),
        "classifier": models.write_classifier(str(root / "classifier")),
        "regressor": models.write_regressor(str(root / "regressor")),
        "no_signatures": models.write_no_signatures(str(root / "no_signatures")),
    }


def _base(tmp_path_factory, saved_models, kind, versions=(123,)) -> str:
    base = tmp_path_factory.mktemp(kind) / "model"
    for version in versions:
        shutil.copytree(saved_models[kind], base / str(version))
    return str(base)


# ------------------------------------------------------------------ REST handler

@pytest.fixture(scope="module")
def handlers(tmp_path_factory, saved_models):
    """http_rest_api_handler_test's server core: half_plus_two version 123
    (specific policy) with label Version_Label; and the TF1-built twin."""
    cores = {name: _core({handler_cases.MODEL: _base(tmp_path_factory, saved_models, kind)},
                         policy="model_version_policy { specific { versions: 123 } }",
                         labels={handler_cases.LABEL: handler_cases.VERSION})
             for name, kind in (("tf2", "half_plus_two"), ("tf1", "tf1_half_plus_two"))}
    yield {name: RestApiHandler(core) for name, core in cores.items()}
    for core in cores.values():
        core.manager.stop()


def _process(handler, call):
    return handler.process_request(call["method"], call["path"], call["body"].encode())


@pytest.mark.parametrize("case", params(handler_cases.HANDLER + handler_cases.TF1_HANDLER))
def test_http_rest_api_handler(case, handlers):
    status, payload = _process(handlers[case.input.get("model", "tf2")], case.input)
    if case.error:
        code, fragment = case.error
        assert status == HTTP_STATUS[getattr(grpc.StatusCode, code)], payload
        assert fragment in payload["error"]
        return
    assert status == 200, payload
    assert payload == case.expect


def test_http_rest_api_handler_metadata(handlers):
    case = handler_cases.METADATA
    status, payload = _process(handlers["tf2"], case.input)
    assert status == 200, payload
    assert payload["model_spec"] == case.expect["model_spec"]
    sigs = {k: v for k, v in payload["metadata"]["signature_def"]["signature_def"].items()
            if not k.startswith("__")}
    assert {name: (sig["method_name"],
                   {k: v["dtype"] for k, v in sig["inputs"].items()},
                   {k: v["dtype"] for k, v in sig["outputs"].items()})
            for name, sig in sigs.items()} == case.expect["signatures"]


@pytest.mark.parametrize("case", params(handler_cases.PATH_REGEX))
def test_http_rest_api_handler_path_regex(case, handlers):
    server = RestHttpServer(("127.0.0.1", 0), handlers["tf2"], 1 << 20, 1).start()
    try:
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"http://127.0.0.1:{server.port}{case.input}", timeout=30)
        message = json.loads(err.value.read())["error"]
    finally:
        server.stop()
    handled = not message.startswith("Not found:")
    assert handled == case.expect, message


# ------------------------------------------------------------------ Predict

@pytest.fixture(scope="module")
def predict_cores(tmp_path_factory, saved_models):
    """predict_util_test's three server cores, each serving test_model v123."""
    cores = {server: _core({predict_util_cases.MODEL: _base(tmp_path_factory, saved_models,
                                                            kind)})
             for server, kind in (("default", "half_plus_two_methods"),
                                  ("counter", "counter"), ("bad", "no_signatures"))}
    yield cores
    for core in cores.values():
        core.manager.stop()


def _assert_response(response, expected_text):
    expected = text_format.Parse(expected_text, predict_pb2.PredictResponse())
    assert response.model_spec == expected.model_spec
    assert set(response.outputs) == set(expected.outputs)
    for alias, proto in expected.outputs.items():
        # Values first (what the answer means), then the typed field TF uses.
        np.testing.assert_array_equal(tensors.to_ndarray(response.outputs[alias]),
                                      tensors.to_ndarray(proto))
        assert_tensor_proto_equal(response.outputs[alias], proto, alias)


@pytest.mark.parametrize("case", params(predict_util_cases.PREDICT))
def test_predict_util(case, predict_cores):
    core = predict_cores[case.input.get("server", "default")]
    if "steps" in case.input:
        for signature, extra, value in case.input["steps"]:
            request = text_format.Parse(
                f'model_spec {{ name: "{predict_util_cases.MODEL}" version {{ value: '
                f'{predict_util_cases.VERSION} }} signature_name: "{signature}" }} {extra}',
                predict_pb2.PredictRequest())
            response = core.predict(request)
            expected = text_format.Parse(
                f'outputs {{ key: "output" value {{ dtype: DT_FLOAT tensor_shape {{}} '
                f'float_val: {value} }} }}', predict_pb2.PredictResponse())
            expected.model_spec.CopyFrom(request.model_spec)
            _assert_response(response, text_format.MessageToString(expected))
        return
    request = text_format.Parse(case.input["request"], predict_pb2.PredictRequest())
    if "lookup_as" in case.input:
        request.model_spec.name = case.input["lookup_as"]
    if case.error:
        with pytest.raises(ServingError) as err:
            core.predict(request)
        assert_error(err.value, case.error)
        if case.id == "InputTensorsDontMatchModelSpecInputs":
            assert "Missing but required: {x}" in err.value.message
        return
    response = core.predict(request)
    if "response" in case.expect:
        _assert_response(response, case.expect["response"])


# ------------------------------------------------------------------ Classify / Regress

@pytest.fixture(scope="module")
def example_core(tmp_path_factory, saved_models):
    core = _core({kind: _base(tmp_path_factory, saved_models, kind)
                  for kind in ("classifier", "regressor")})
    yield core
    core.manager.stop()


def _example_request(kind, name, case):
    request = kind(input=text_format.Parse(case.input["input"], input_pb2.Input()))
    request.model_spec.name = name
    if case.input["signature"]:
        request.model_spec.signature_name = case.input["signature"]
    return request


@pytest.mark.parametrize("case", params(classifier_cases.CLASSIFY))
def test_classifier(case, example_core):
    request = _example_request(classification_pb2.ClassificationRequest, "classifier", case)
    if case.error:
        with pytest.raises(ServingError) as err:
            example_core.classify(request)
        assert_error(err.value, case.error)
        return
    result = example_core.classify(request).result
    if "result" in case.expect:
        assert result == text_format.Parse(case.expect["result"],
                                           classification_pb2.ClassificationResult())
    elif "scores_near" in case.expect:
        scores = [[c.score for c in cl.classes] for cl in result.classifications]
        np.testing.assert_allclose(scores, case.expect["scores_near"], atol=1e-7)


@pytest.mark.parametrize("case", params(regressor_cases.REGRESS))
def test_regressor(case, example_core):
    request = _example_request(regression_pb2.RegressionRequest, "regressor", case)
    if case.error:
        with pytest.raises(ServingError) as err:
            example_core.regress(request)
        assert_error(err.value, case.error)
        return
    result = example_core.regress(request).result
    assert result == text_format.Parse(case.expect["result"],
                                       regression_pb2.RegressionResult())


# ------------------------------------------------------------------ GetModelStatus

@pytest.fixture(scope="module")
def status_core(tmp_path_factory, saved_models):
    core = _core({get_model_status_cases.MODEL: _base(tmp_path_factory, saved_models,
                                                      "half_plus_two", versions=(123, 124))},
                 policy="model_version_policy { specific { versions: 123 versions: 124 } }")
    yield core
    core.manager.stop()


@pytest.mark.parametrize("case", params(get_model_status_cases.STATUS))
def test_get_model_status(case, status_core):
    request = text_format.Parse(case.input["request"],
                                get_model_status_pb2.GetModelStatusRequest())
    if case.error:
        with pytest.raises(ServingError) as err:
            status_core.get_model_status(request)
        assert_error(err.value, case.error)
        return
    response = status_core.get_model_status(request)
    assert {s.version for s in response.model_version_status} == case.expect["versions"]
    assert len(response.model_version_status) == len(case.expect["versions"])
    for status in response.model_version_status:
        assert status.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
        assert status.status.error_code == 0 and status.status.error_message == ""
