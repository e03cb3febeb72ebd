"""Security basics of the model server (``serving.server``), provoked for real.

- Model names, version numbers and labels from requests (gRPC and REST) or
  from the config cannot reach a SavedModel outside the configured base
  paths: a decoy model sits next to the base path, every traversal spelling
  is tried, and neither its answer nor a Python-level file access to it
  (``sys.addaudithook``: ``open``, ``os.listdir``, ``os.scandir``) occurs.
- The request size limit is explicit (``--max_request_bytes``, default
  4 MiB) and enforced on both protocols; the server keeps serving after.
- Nothing sent to the server is unpickled: payloads that would create a
  marker file if unpickled go through every request field that carries
  bytes; the file never appears. A scan of the project's code backs it up.
- It listens on loopback only unless told otherwise (``/proc/net/tcp``).
"""
from __future__ import annotations

import base64
import json
import os
import pathlib
import pickle
import re
import sys
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (classification_pb2, model_pb2, predict_pb2,
                                     prediction_service_pb2_grpc)

from tfxp.serving.manager import parse_config
from tfxp.serving.flags import DEFAULT_HOST, DEFAULT_MAX_REQUEST_BYTES
from tfxp.serving.server import ModelServer
from tests.conftest import PROJECT_ROOT
from tests.serving_toy import write_toy_model

X = np.array([[1.0, 2.0, 3.0]], np.float32)
TOY_SCALE, DECOY_SCALE = 1.0, 99.0


@pytest.fixture(scope="module")
def layout(tmp_path_factory):
    """``root/models/toy/1`` (scale 1, served) and ``root/decoy/1`` (scale 99,
    outside every base path)."""
    root = tmp_path_factory.mktemp("security")
    write_toy_model(str(root / "models" / "toy" / "1"), scale=TOY_SCALE)
    write_toy_model(str(root / "decoy" / "1"), scale=DECOY_SCALE)
    return root


def _config(root):
    """Serves ``toy`` with labels ``stable`` and ``../../decoy``, both -> 1."""
    labels = ('version_labels { key: "stable" value: 1 } '
              'version_labels { key: "../../decoy" value: 1 }')
    return parse_config(
        f'model_config_list {{ config {{ name: "toy" base_path: "{root}/models/toy" '
        f'model_platform: "tensorflow" {labels} }} }}')


@pytest.fixture(scope="module")
def server(layout):
    server = ModelServer(_config(layout), grpc_port=0, rest_port=0, poll_seconds=0,
                         max_request_bytes=64 * 1024).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stub(server):
    channel = grpc.insecure_channel(server.grpc_target)
    yield prediction_service_pb2_grpc.PredictionServiceStub(channel)
    channel.close()


def _predict_request(spec: model_pb2.ModelSpec, x=X, tags=(b"t",)) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=spec)
    request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    request.inputs["tag"].CopyFrom(tf.make_tensor_proto(np.array(tags, dtype=object)))
    return request


def _rest(server, path: str, body: bytes, content_type: str = "application/json"):
    request = urllib.request.Request(server.rest_url + path, data=body,
                                     headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


class _FileAudit:
    """Records the paths Python opens or lists while ``active``."""

    _installed = None

    def __init__(self):
        self.paths, self.active = [], False

    @classmethod
    def get(cls) -> "_FileAudit":
        if cls._installed is None:  # audit hooks cannot be removed: one per process
            cls._installed = cls()
            sys.addaudithook(cls._installed._hook)
        return cls._installed

    def _hook(self, event, args):
        if self.active and event in ("open", "os.listdir", "os.scandir") and args:
            if isinstance(args[0], (str, bytes, os.PathLike)):
                self.paths.append(os.fsdecode(args[0]))


TRAVERSAL_NAMES = ["../decoy", "../../decoy", "toy/../../decoy", "toy/../../../decoy",
                   "..", ".", "/", "decoy", "toy/1", "models/toy", "..%2Fdecoy",
                   "%2e%2e/decoy", "toy\\..\\..\\decoy", "toy\x00/../decoy"]


def test_names_and_labels_from_requests_never_reach_outside_the_base_path(
        layout, server, stub):
    decoy = str(layout / "decoy")
    audit = _FileAudit.get()
    audit.paths.clear()
    audit.active = True
    try:
        for name in TRAVERSAL_NAMES + [decoy, f"{layout}/models/toy/../../decoy"]:
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(_predict_request(model_pb2.ModelSpec(name=name)), timeout=30)
            assert err.value.code() in (grpc.StatusCode.NOT_FOUND,
                                        grpc.StatusCode.INVALID_ARGUMENT), (name, err.value)
        for label in ("../decoy", "..", decoy, "1", "stable/../../decoy"):
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(_predict_request(model_pb2.ModelSpec(
                    name="toy", version_label=label)), timeout=30)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (label, err.value)
        for version in (0, 2, -1, 2 ** 63 - 1):
            spec = model_pb2.ModelSpec(name="toy")
            spec.version.value = version
            with pytest.raises(grpc.RpcError) as err:
                stub.Predict(_predict_request(spec), timeout=30)
            assert err.value.code() == grpc.StatusCode.NOT_FOUND, (version, err.value)
        body = json.dumps({"instances": [{"x": [1.0, 2.0, 3.0], "tag": "t"}]}).encode()
        for path in ["/v1/models/..%2Fdecoy:predict", "/v1/models/%2E%2E%2Fdecoy/versions/1:predict",
                     "/v1/models/%252E%252E%252Fdecoy:predict", "/v1/models/toy/labels/..%2Fdecoy:predict",
                     "/v1/models/toy/versions/1/../../../decoy:predict",
                     "/v1/models/" + decoy.replace("/", "%2F") + ":predict",
                     "/v1/models/toy%2F..%2F..%2Fdecoy/metadata"]:
            status, payload = _rest(server, path, body)
            assert status in (400, 404), (path, status, payload)
            assert str(DECOY_SCALE * X.sum()) not in payload.decode(errors="replace")
        # A config label that looks like a path is just a key: it names version 1.
        answer = stub.Predict(_predict_request(model_pb2.ModelSpec(
            name="toy", version_label="../../decoy")), timeout=30)
        assert tf.make_ndarray(answer.outputs["y"])[0] == pytest.approx(TOY_SCALE * X.sum())
        assert answer.model_spec.version.value == 1
    finally:
        audit.active = False
    touched = [p for p in audit.paths if os.path.abspath(p).startswith(decoy)]
    assert not touched, touched


class _Exploit:
    """Unpickling this creates ``marker``: proof that something unpickled it."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.marker),)


def test_pickled_payloads_are_never_unpickled(tmp_path, server, stub):
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(_Exploit(str(marker)), protocol=pickle.HIGHEST_PROTOCOL)
    pickle.loads(payload)  # the payload works: unpickling it does create the file
    assert marker.exists()
    marker.unlink()

    toy = model_pb2.ModelSpec(name="toy")
    # As string tensor content: a valid request, echoed back as bytes.
    answer = stub.Predict(_predict_request(toy, tags=(payload,)), timeout=30)
    assert tf.make_ndarray(answer.outputs["tag_bytes"])[0] == payload
    # As the whole gRPC message, bypassing the client's serializer.
    channel = grpc.insecure_channel(server.grpc_target)
    raw = channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                              request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError):
        raw(payload, timeout=30)
    channel.close()
    # As a feature value inside Classify examples.
    request = classification_pb2.ClassificationRequest(
        model_spec=model_pb2.ModelSpec(name="toy", signature_name="classification"))
    example = request.input.example_list.examples.add()
    example.features.feature["x"].bytes_list.value.append(payload)
    with pytest.raises(grpc.RpcError) as err:
        stub.Classify(request, timeout=30)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # As REST bodies: raw, and base64 inside JSON.
    for body, content_type in [(payload, "application/octet-stream"),
                               (payload, "application/python-pickle"),
                               (json.dumps({"instances": [{"x": [1.0, 2.0, 3.0], "tag": {
                                   "b64": base64.b64encode(payload).decode()}}]}).encode(),
                                "application/json")]:
        status, _ = _rest(server, "/v1/models/toy:predict", body, content_type)
        assert status in (200, 400), status
    assert not marker.exists()
    # ...and the server is still fine.
    stub.Predict(_predict_request(toy), timeout=30)


# Calls that deserialize Python objects or run code from data.
_UNSAFE = re.compile(r"\b(pickle|cPickle|dill|cloudpickle|marshal|shelve|jsonpickle)\.(loads?|Unpickler|open)\b"
                     r"|\b(eval|exec)\(|yaml\.(unsafe_)?load\((?![^)]*SafeLoader)|allow_pickle\s*=\s*True"
                     r"|torch\.load\(")


def test_project_code_holds_no_unpickling_or_eval():
    """Static backstop to the test above: no module of the project (tests
    aside) calls an unpickler, ``eval``/``exec``, unsafe YAML or
    ``np.load(allow_pickle=True)``."""
    offenders = []
    for folder in ("serving", "pipeline", "components", "models", "kubeflow", "scripts"):
        for path in sorted(pathlib.Path(PROJECT_ROOT, folder).rglob("*.py")):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                code = line.split("#", 1)[0]
                if _UNSAFE.search(code):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert (pathlib.Path(PROJECT_ROOT) / "serving" / "server.py").is_file()
    assert not offenders, "\n".join(offenders)
    assert _UNSAFE.search("obj = pickle.loads(data)") and _UNSAFE.search("eval(text)")


def test_request_size_limit_is_explicit_and_enforced_on_both_protocols(server, stub):
    assert DEFAULT_MAX_REQUEST_BYTES == 4 * 1024 * 1024
    assert server.max_request_bytes == 64 * 1024
    toy = model_pb2.ModelSpec(name="toy")
    small = _predict_request(toy, x=np.ones((1000, 3), np.float32))  # ~12 KB
    assert small.ByteSize() < server.max_request_bytes
    stub.Predict(small, timeout=30)
    big = _predict_request(toy, x=np.ones((8000, 3), np.float32))  # ~96 KB
    assert big.ByteSize() > server.max_request_bytes
    with pytest.raises(grpc.RpcError) as err:
        stub.Predict(big, timeout=30)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    body = json.dumps({"instances": [{"x": [1.0, 2.0, 3.0], "tag": "t"}] * 3000}).encode()
    assert len(body) > server.max_request_bytes
    status, payload = _rest(server, "/v1/models/toy:predict", body)
    assert status == 413 and b"larger than max" in payload
    # Oversized requests cost nothing lasting: normal requests still work.
    assert stub.Predict(small, timeout=30).outputs["y"].tensor_shape.dim[0].size == 1000


def _listening(port: int) -> list:
    """Local addresses (hex, as /proc/net/tcp[6] writes them) listening on ``port``."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                address, state = fields[1], fields[3]
                if state == "0A" and int(address.split(":")[1], 16) == port:
                    found.append(address.split(":")[0])
    return found


# 127.0.0.1 as /proc/net/tcp writes it, and as tcp6 writes ::ffff:127.0.0.1
# (gRPC listens on an IPv4-mapped IPv6 socket).
LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F"}


def test_server_listens_on_loopback_only_by_default(server):
    assert DEFAULT_HOST == "127.0.0.1" and server.host == DEFAULT_HOST
    for port in (server.grpc_port, server.rest_port):
        addresses = _listening(port)
        assert addresses and set(addresses) <= LOOPBACK, (port, addresses)
