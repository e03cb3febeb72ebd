"""TF Serving's own clients and REST examples pass against our server, and
against a real ``tensorflow_model_server`` when one is on PATH.

Each test re-implements (our code, not copied) what a piece of TF Serving's
material does with requests and responses, changing only the model name,
the input key and the payload:

- tensorflow_serving/example/resnet_client_grpc.py: one Predict with a
  ``tf.make_tensor_proto`` input and a 10 s timeout; reads
  ``outputs[key].float_val`` and takes the argmax;
- example/mnist_client.py: concurrent ``Predict.future`` calls with done
  callbacks, throttled to a concurrency; reads ``outputs['scores'].float_val``;
- example/resnet_client.py: ``requests.post`` of a JSON ``instances`` body,
  warm-up calls, ``response.json()['predictions'][0]``;
- g3doc/api_rest.md's curl examples on ``half_plus_three`` (status, predict,
  regress, the 404 error; plus metadata, classify and the columnar format of
  the same page), all on one reused HTTP connection, as curl and browsers
  keep connections alive;
- GetModelStatus read as ``model_version_status[0]`` (the newest version,
  servable_state_monitor.h), HandleReloadConfigRequest with ``metric_names``
  (model_service_impl.cc), the CORS preflight and other methods
  (http_server.cc).

Models: ``half_plus_three`` (``tests/serving_tf1.py``: a TF1-style SavedModel
whose signatures record no shapes, as TF Serving's test model) and ``toy``
(``tests/serving_toy.py``, versions 1 and 2, policy ``all``).
"""
from __future__ import annotations

import http.client
import json
import shutil
import socket
import subprocess
import threading
import types

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (get_model_status_pb2, model_management_pb2,
                                     model_service_pb2_grpc, predict_pb2,
                                     prediction_service_pb2_grpc)

from tfxp.serving.client import ServingClient
from tfxp.serving.manager import parse_config
from tfxp.serving.server import ModelServer
from tests.serving_tf1 import CLASSIFY, REGRESS, half_plus_three, write_half_plus_three
from tests.serving_toy import toy_examples, write_toy_model

H3 = "half_plus_three"


@pytest.fixture(scope="module")
def config_text(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfs_clients")
    write_half_plus_three(str(root / H3 / "123"))
    for version in (1, 2):
        write_toy_model(str(root / "toy" / str(version)), scale=float(version))
    return (f'model_config_list {{\n'
            f'  config {{ name: "{H3}" base_path: "{root / H3}" model_platform: "tensorflow" }}\n'
            f'  config {{ name: "toy" base_path: "{root / "toy"}" model_platform: "tensorflow"\n'
            f'           model_version_policy {{ all {{}} }} }}\n}}\n'), root


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module", params=["ours", "real"])
def server(request, config_text):
    """The models served with CORS on: by ``serving.server`` ("ours") or by a
    real ``tensorflow_model_server`` subprocess ("real", skipped without one)."""
    text, root = config_text
    if request.param == "ours":
        ours = ModelServer(parse_config(text), grpc_port=0, rest_port=0, poll_seconds=0,
                           rest_cors=True).start()
        yield types.SimpleNamespace(grpc_target=ours.grpc_target, host="127.0.0.1",
                                    rest_port=ours.rest_port, config=text)
        ours.stop()
        return
    if shutil.which("tensorflow_model_server") is None:
        pytest.skip("tensorflow_model_server is not on PATH (it ships only in Google's apt "
                    "repository and Docker images, unreachable here; see shared/STACK.md)")
    config = root / "models.config"
    config.write_text(text)
    port, rest_port = _free_port(), _free_port()
    process = subprocess.Popen(
        ["tensorflow_model_server", f"--port={port}", f"--rest_api_port={rest_port}",
         f"--model_config_file={config}", "--rest_api_enable_cors_support=true"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with ServingClient(f"127.0.0.1:{port}", timeout=120, max_attempts=60,
                           initial_backoff=0.2) as client:
            for name in (H3, "toy"):
                client.wait_until_available(name, timeout=120)
        yield types.SimpleNamespace(grpc_target=f"127.0.0.1:{port}", host="127.0.0.1",
                                    rest_port=rest_port, config=text)
    finally:
        process.terminate()
        process.wait(timeout=30)


# ------------------------------------------------------------------ gRPC example clients

def test_resnet_client_grpc_reads_float_val(server):
    """resnet_client_grpc.py: ``stub.Predict(request, 10.0)``, then
    ``result.outputs[...].float_val`` and its argmax."""
    data = np.array([[1.0, 7.0, 2.0]], np.float32)
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = H3
    request.model_spec.signature_name = "serving_default"
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(data))
    result = stub.Predict(request, 10.0)  # 10 secs timeout
    values = result.outputs["y"].float_val
    channel.close()
    assert list(values) == half_plus_three([1.0, 7.0, 2.0])
    assert np.argmax(values) == 1


def test_mnist_client_futures_read_scores_float_val(server):
    """mnist_client.py: throttled ``Predict.future`` calls whose callbacks read
    ``outputs['scores'].float_val``; every prediction is right."""
    rng = np.random.default_rng(0)
    num_tests, concurrency = 24, 4
    rows = rng.normal(size=(num_tests, 3)).astype(np.float32)
    labels = np.argmax(rows, axis=1)  # toy's scores are softmax(scale * x)
    state = {"error": 0, "done": 0, "active": 0}
    condition = threading.Condition()

    def callback_for(label):
        def callback(result_future):
            exception = result_future.exception()
            wrong = bool(exception)
            if not exception:
                response = np.array(result_future.result().outputs["scores"].float_val)
                wrong = label != np.argmax(response)
            with condition:
                state["error"] += wrong
                state["done"] += 1
                state["active"] -= 1
                condition.notify_all()
        return callback
    channel = grpc.insecure_channel(server.grpc_target)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    for row, label in zip(rows, labels):
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "toy"
        request.model_spec.signature_name = "classification"
        request.inputs["inputs"].CopyFrom(tf.make_tensor_proto(toy_examples(row[None])[0],
                                                               shape=[1]))
        with condition:  # throttle
            assert condition.wait_for(lambda: state["active"] < concurrency, timeout=30)
            state["active"] += 1
        stub.Predict.future(request, 5.0).add_done_callback(callback_for(label))
    with condition:  # get_error_rate, bounded instead of waiting forever
        assert condition.wait_for(lambda: state["done"] == num_tests, timeout=60), state
    channel.close()
    assert state["error"] / num_tests == 0.0


def test_model_status_lists_the_newest_version_first(server):
    """Clients read ``model_version_status[0]`` as the newest version."""
    channel = grpc.insecure_channel(server.grpc_target)
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "toy"
    response = stub.GetModelStatus(request, 10.0)
    channel.close()
    assert [s.version for s in response.model_version_status] == [2, 1]
    assert response.model_version_status[0].state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    status, body = _rest_call(server, "GET", "/v1/models/toy")
    assert status == 200
    assert [s["version"] for s in body["model_version_status"]] == ["2", "1"]


def test_reload_config_reports_one_metric_per_name(server):
    """model_service_impl.cc: one ``metric`` per ``metric_names`` item (its
    increase over the reload; 0 for a metric nobody counts)."""
    channel = grpc.insecure_channel(server.grpc_target)
    stub = model_service_pb2_grpc.ModelServiceStub(channel)
    request = model_management_pb2.ReloadConfigRequest(
        config=parse_config(server.config),
        metric_names=["/tensorflow/serving/no_such_metric", "/tfxp/also_unknown"])
    response = stub.HandleReloadConfigRequest(request, 60.0)
    channel.close()
    assert sorted((m.name, m.int64_value_increase) for m in response.metric) == [
        ("/tensorflow/serving/no_such_metric", 0), ("/tfxp/also_unknown", 0)]
    assert response.status.error_code == 0


# ------------------------------------------------------------------ REST example client

def test_resnet_client_rest_reads_predictions(server):
    """resnet_client.py: ``requests.post`` of an ``instances`` body, three
    warm-up calls, then ``response.json()['predictions'][0]``."""
    requests = pytest.importorskip("requests")
    server_url = f"http://{server.host}:{server.rest_port}/v1/models/{H3}:predict"
    predict_request = json.dumps({"instances": [[1.0, 7.0, 2.0]]})
    for _ in range(3):
        response = requests.post(server_url, data=predict_request, timeout=30)
        response.raise_for_status()
    total_time = 0.0
    for _ in range(10):
        response = requests.post(server_url, data=predict_request, timeout=30)
        response.raise_for_status()
        total_time += response.elapsed.total_seconds()
        prediction = response.json()["predictions"][0]
    assert prediction == half_plus_three([1.0, 7.0, 2.0])
    assert np.argmax(prediction) == 1
    assert total_time > 0


# ------------------------------------------------------------------ api_rest.md, one connection

def _rest_call(server, method, path, body=None, headers=None, connection=None):
    """One request; on ``connection`` if given (kept open), else a new one."""
    conn = connection or http.client.HTTPConnection(server.host, server.rest_port, timeout=30)
    data = None if body is None else (body if isinstance(body, bytes) else
                                      json.dumps(body).encode())
    conn.request(method, path, body=data, headers=headers or {})
    response = conn.getresponse()
    payload = response.read()
    if connection is None:
        conn.close()
    return response.status, (json.loads(payload) if payload else None)


def test_api_rest_md_examples_on_one_reused_connection(server):
    conn = http.client.HTTPConnection(server.host, server.rest_port, timeout=30)
    base = f"/v1/models/{H3}"
    calls = [
        ("GET", base, None, 200, {"model_version_status": [{
            "version": "123", "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""}}]}),
        ("POST", base + ":predict", {"instances": [1.0, 2.0, 5.0]}, 200,
         {"predictions": [3.5, 4.0, 5.5]}),
        ("POST", base + ":regress", {"signature_name": REGRESS,
                                     "examples": [{"x": 1.0}, {"x": 2.0}]}, 200,
         {"results": [3.5, 4.0]}),
        ("POST", "/v1/models/half:predict", {"instances": [1.0, 5.0]}, 404,
         {"error": "Servable not found for request: Latest(half)"}),
        # The same page's other request classes, on the same model.
        ("POST", base + ":predict", {"inputs": [1.0, 2.0]}, 200, {"outputs": [3.5, 4.0]}),
        ("POST", base + ":classify", {"signature_name": CLASSIFY,
                                      "examples": [{"x": 1.0}, {"x": 5.0}]}, 200,
         {"results": [[["", 3.5]], [["", 5.5]]]}),
    ]
    sockets = set()
    for method, path, body, status, expected in calls:
        got_status, got = _rest_call(server, method, path, body, connection=conn)
        assert (got_status, got) == (status, expected), (method, path)
        sockets.add(id(conn.sock))
    status, metadata = _rest_call(server, "GET", base + "/metadata", connection=conn)
    sockets.add(id(conn.sock))
    conn.close()
    assert status == 200
    assert metadata["model_spec"]["name"] == H3 and metadata["model_spec"]["version"] == "123"
    assert set(metadata["metadata"]["signature_def"]["signature_def"]) >= {
        "serving_default", REGRESS, CLASSIFY}
    assert len(sockets) == 1  # every answer came back on the one connection


def test_error_answers_are_json_with_the_json_content_type(server):
    conn = http.client.HTTPConnection(server.host, server.rest_port, timeout=30)
    conn.request("POST", "/v1/models/half:predict", body=b'{"instances": [1.0,5.0]}')
    response = conn.getresponse()
    body = json.loads(response.read())
    conn.close()
    assert response.status == 404
    assert response.getheader("Content-Type") == "application/json"
    assert body == {"error": "Servable not found for request: Latest(half)"}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_other_methods_answer_malformed_request_as_json(server, method):
    status, body = _rest_call(server, method, f"/v1/models/{H3}", b"{}")
    assert status == 400
    assert body == {"error": f"Malformed request: {method} /v1/models/{H3}"}


def test_cors_preflight_and_headers(server):
    """http_server.cc: OPTIONS with an http(s) Origin is 200, without one 400
    (both with an empty body); with CORS support on, answers carry the three
    Access-Control headers."""
    conn = http.client.HTTPConnection(server.host, server.rest_port, timeout=30)
    conn.request("OPTIONS", f"/v1/models/{H3}:predict",
                 headers={"Origin": "https://example.com",
                          "Access-Control-Request-Method": "POST"})
    response = conn.getresponse()
    assert (response.status, response.read()) == (200, b"")
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert response.getheader("Access-Control-Allow-Methods") == "POST, GET"
    assert response.getheader("Access-Control-Allow-Headers") == "Content-Type"
    conn.request("OPTIONS", f"/v1/models/{H3}:predict")
    response = conn.getresponse()
    assert (response.status, response.read()) == (400, b"")
    conn.request("POST", f"/v1/models/{H3}:predict", body=b'{"instances": [1.0]}')
    response = conn.getresponse()
    assert json.loads(response.read()) == {"predictions": [3.5]}
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    conn.close()
