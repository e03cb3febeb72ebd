"""The model server under malformed requests and under load while versions change.

The server runs as its own process (``python -m tfxp.serving.main``), as in
production, so that a crash would show as a dead process rather than a
failed test thread, and its memory (VmRSS) can be measured. It serves two
models built from ``tests/serving_toy.py`` (``y = scale * sum(x)``; the
scale tells versions apart): ``toy`` for the fuzzing, ``live`` for the load
test, into which a new version is pushed mid-load.

Fuzz: ``FUZZ_CASES`` requests from a seeded generator, each one valid
request with one fault, each with the status code the server documents
(TF Serving's contract; see ``serving.server``):

- wrong dtype, rank or shape of an input, unknown or missing input alias,
  missing model name, unknown version label -> INVALID_ARGUMENT (REST 400);
- unknown model or version -> NOT_FOUND (404);
- unknown signature -> FAILED_PRECONDITION (Predict; REST 400);
- tensors over ``--max_request_bytes`` -> RESOURCE_EXHAUSTED (REST 413);
- empty tensors, invalid UTF-8 inside string tensors -> OK (bytes are data);
- truncated protobuf bytes (sent raw): a prefix that still parses is an
  incomplete request -> INVALID_ARGUMENT; bytes that do not parse ->
  INTERNAL, gRPC's own "Exception deserializing request!";
- REST: invalid UTF-8, malformed JSON, JSON nesting bombs -> 400.

Load: ``LOAD_CLIENTS`` threads call Predict (gRPC) and :predict (REST)
for ``LOAD_SECONDS`` (30 s, as the reliability issue asks; 300 s with
``TFXP_SOAK=1``) while a new
version is pushed atomically and the old one unloaded. No request may fail,
and every answer must be exactly a fully loaded version's output.
"""
from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import (get_model_status_pb2, model_pb2, model_service_pb2_grpc,
                                     predict_pb2, prediction_service_pb2_grpc)

from tfxp.serving.versions import push_atomically
from tests.conftest import PROJECT_ROOT
from tests.serving_toy import write_toy_model

SEED = 6
FUZZ_CASES = 1000
MAX_REQUEST_BYTES = 256 * 1024
RSS_GROWTH_LIMIT_MB = 150
LOAD_CLIENTS = 16
SOAK = os.environ.get("TFXP_SOAK", "") not in ("", "0")
LOAD_SECONDS = 300.0 if SOAK else 30.0
POLL_SECONDS = 0.2
OK, INVALID, NOT_FOUND, PRECONDITION, EXHAUSTED, INTERNAL = (
    grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.INTERNAL)
HTTP = {OK: 200, INVALID: 400, NOT_FOUND: 404, PRECONDITION: 400, EXHAUSTED: 429}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise AssertionError(f"no VmRSS for pid {pid}")


class ServerProcess:
    """``python -m tfxp.serving.main`` on free loopback ports, for one module."""

    def __init__(self, root):
        self.models = {1.0: write_toy_model(str(root / "src" / "scale1"), scale=1.0),
                       2.0: write_toy_model(str(root / "src" / "scale2"), scale=2.0)}
        self.toy_base, self.live_base = str(root / "toy"), str(root / "live")
        push_atomically(self.models[1.0], self.toy_base, now=1)
        push_atomically(self.models[1.0], self.live_base, now=1)
        config = root / "models.config"
        config.write_text(
            "model_config_list {\n"
            f'  config {{ name: "toy" base_path: "{self.toy_base}" model_platform: "tensorflow" }}\n'
            f'  config {{ name: "live" base_path: "{self.live_base}" model_platform: "tensorflow" }}\n'
            "}\n")
        self.grpc_port, self.rest_port = _free_port(), _free_port()
        self.log_path = str(root / "server.log")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tfxp.serving.main", f"--model_config_file={config}",
                 f"--port={self.grpc_port}", f"--rest_api_port={self.rest_port}",
                 f"--file_system_poll_wait_seconds={POLL_SECONDS}",
                 f"--max_request_bytes={MAX_REQUEST_BYTES}", "--grpc_max_threads=32"],
                cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.target = f"127.0.0.1:{self.grpc_port}"
        self.rest_url = f"http://127.0.0.1:{self.rest_port}"
        self.channel = grpc.insecure_channel(self.target)
        self.stub = prediction_service_pb2_grpc.PredictionServiceStub(self.channel)
        self.models_stub = model_service_pb2_grpc.ModelServiceStub(self.channel)
        self._wait_ready(timeout_s=600)

    def log(self) -> str:
        with open(self.log_path, errors="replace") as f:
            return f.read()[-4000:]

    def alive(self) -> bool:
        return self.proc.poll() is None

    def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            assert self.alive(), f"server exited {self.proc.returncode}:\n{self.log()}"
            try:
                for name in ("toy", "live"):
                    status = self.models_stub.GetModelStatus(
                        get_model_status_pb2.GetModelStatusRequest(
                            model_spec=model_pb2.ModelSpec(name=name)), timeout=5)
                    assert any(v.state == v.AVAILABLE for v in status.model_version_status)
                return
            except (grpc.RpcError, AssertionError):
                assert time.monotonic() < deadline, f"server not ready:\n{self.log()}"
                time.sleep(0.5)

    def stop(self) -> None:
        self.channel.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = ServerProcess(tmp_path_factory.mktemp("fuzz"))
    yield server
    server.stop()


def _request(name="toy", x=None, tag=None, **spec) -> predict_pb2.PredictRequest:
    request = predict_pb2.PredictRequest(model_spec=model_pb2.ModelSpec(name=name, **spec))
    x = np.ones((2, 3), np.float32) if x is None else x
    tag = np.array([b"a", b"b"], dtype=object) if tag is None else tag
    if x is not False:
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(x))
    if tag is not False:
        request.inputs["tag"].CopyFrom(tf.make_tensor_proto(tag))
    return request


_DTYPES = [np.int32, np.int64, np.float64, np.float16, np.uint8, np.bool_, np.complex64, object]


def _bad_dtype(rng):
    dtype = rng.choice(_DTYPES)
    x = np.array([[b"1", b"2", b"3"]], dtype=object) if dtype is object else \
        np.ones((1, 3), dtype)
    return f"x dtype {np.dtype(dtype).name}", _request(x=x, tag=np.array([b"a"], dtype=object)), INVALID


def _bad_shape(rng):
    shape = rng.choice([(), (3,), (1, 3, 1), (2, 2), (1, 4), (2, 3, 4, 5), (1, 0)])
    return f"x shape {shape}", _request(x=np.ones(shape, np.float32)), INVALID


def _empty(rng):
    request = _request(x=np.zeros((0, 3), np.float32), tag=False)
    request.inputs["tag"].CopyFrom(tf.make_tensor_proto([], dtype=tf.string, shape=[0]))
    return "empty batch", request, OK


def _huge(rng):
    rows = rng.randint(MAX_REQUEST_BYTES // 12 + 100, MAX_REQUEST_BYTES // 6)
    return f"huge x [{rows}, 3]", _request(x=np.ones((rows, 3), np.float32),
                                           tag=np.array([b"a"], dtype=object)), EXHAUSTED


def _invalid_utf8_tag(rng):
    junk = bytes(rng.randrange(128, 256) for _ in range(rng.randint(1, 40)))
    return "invalid UTF-8 tag", _request(x=np.ones((1, 3), np.float32),
                                         tag=np.array([junk], dtype=object)), OK


def _alias(rng):
    kind = rng.choice(["missing", "extra", "renamed"])
    request = _request(x=np.ones((1, 3), np.float32), tag=np.array([b"a"], dtype=object))
    if kind == "missing":
        del request.inputs["tag"]
    elif kind == "extra":
        request.inputs["evil"].CopyFrom(tf.make_tensor_proto(np.ones(1, np.float32)))
    else:
        request.inputs["X"].CopyFrom(request.inputs.pop("x"))
    return f"{kind} input alias", request, INVALID


def _spec(rng):
    kind = rng.choice(["no name", "unknown model", "unknown version", "unknown label",
                       "unknown signature"])
    if kind == "no name":
        return kind, _request(name=""), INVALID
    if kind == "unknown model":
        return kind, _request(name=f"nope{rng.randint(0, 99)}"), NOT_FOUND
    if kind == "unknown version":
        request = _request()
        request.model_spec.version.value = rng.choice([0, 2, 7, 2 ** 62, -5])
        return kind, request, NOT_FOUND
    if kind == "unknown label":
        return kind, _request(version_label=rng.choice(["canary", "../1", "\u2603"])), INVALID
    return kind, _request(signature_name=rng.choice(["nope", "serving_defaults", "\u00e9"])), PRECONDITION


_GRPC_FAULTS = [_bad_dtype, _bad_shape, _empty, _huge, _invalid_utf8_tag, _alias, _spec]


def _rest_case(rng):
    kind = rng.choice(["bomb", "utf8", "malformed", "model", "version", "signature",
                       "dtype", "shape", "huge", "not object"])
    good = {"instances": [{"x": [1.0, 2.0, 3.0], "tag": "a"}]}
    path = "/v1/models/toy:predict"
    if kind == "bomb":
        depth = rng.choice([300, 1000, 10_000, 100_000])
        nested = b"[" * depth + b"1" + b"]" * depth
        body = rng.choice([b"[" * depth + b"]" * depth, b'{"instances":' + nested + b"}",
                           b'{"inputs": {"x": ' + nested + b', "tag": ["a"]}}'])
        return kind, path, body, 400
    if kind == "utf8":
        return kind, path, b'{"instances": [{"x": [1,2,3], "tag": "\xff\xfe"}]}', 400
    if kind == "malformed":
        text = json.dumps(good).encode()
        return kind, path, text[:rng.randint(0, len(text) - 1)], 400
    if kind == "not object":
        return kind, path, rng.choice([b"[]", b"1", b'"x"', b"null"]), 400
    if kind == "model":
        return kind, "/v1/models/nope:predict", json.dumps(good).encode(), 404
    if kind == "version":
        return kind, "/v1/models/toy/versions/9:predict", json.dumps(good).encode(), 404
    if kind == "signature":
        return kind, path, json.dumps({**good, "signature_name": "nope"}).encode(), 400
    if kind == "dtype":
        bad = {"instances": [{"x": ["a", "b", "c"], "tag": "a"}]}
        return kind, path, json.dumps(bad).encode(), 400
    if kind == "shape":
        bad = {"instances": [{"x": [1.0, 2.0], "tag": "a"}]}
        return kind, path, json.dumps(bad).encode(), 400
    body = json.dumps({"instances": [{"x": [1.0, 2.0, 3.0], "tag": "a"}] *
                       (MAX_REQUEST_BYTES // 20)}).encode()
    return kind, path, body, 413


def _post(url: str, body: bytes, timeout: float = 30):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def _expected_for_truncated(data: bytes, cut: int) -> grpc.StatusCode:
    try:
        parsed = predict_pb2.PredictRequest.FromString(data[:cut])
    except Exception:  # noqa: BLE001 - protobuf's DecodeError and friends
        return INTERNAL
    return OK if parsed == predict_pb2.PredictRequest.FromString(data) else INVALID


def test_a_thousand_malformed_requests_get_their_documented_status(server):
    rng = random.Random(SEED)
    raw = server.channel.unary_unary("/tensorflow.serving.PredictionService/Predict",
                                     request_serializer=lambda b: b,
                                     response_deserializer=lambda b: b)
    for _ in range(20):  # warm-up, so that RSS is measured after the first traces
        server.stub.Predict(_request(), timeout=30)
    rss_before = _rss_mb(server.proc.pid)
    mismatches, counts = [], {}
    for i in range(FUZZ_CASES):
        channel = rng.random()
        if channel < 0.6:
            fault = rng.choice(_GRPC_FAULTS)
            what, request, expected = fault(rng)
            kind = fault.__name__
            try:
                server.stub.Predict(request, timeout=30)
                got = OK
            except grpc.RpcError as err:
                got = err.code()
        elif channel < 0.75:
            data = _request(x=np.ones((rng.randint(1, 4), 3), np.float32),
                            tag=np.array([b"t"], dtype=object)).SerializeToString()
            cut = rng.randint(0, len(data))
            what, expected = f"truncated at {cut}/{len(data)}", _expected_for_truncated(data, cut)
            kind = f"truncated -> {expected.name}"
            try:
                raw(data[:cut], timeout=30)
                got = OK
            except grpc.RpcError as err:
                got = err.code()
        else:
            what, path, body, status = _rest_case(rng)
            got_status, _ = _post(server.rest_url + path, body)
            expected, got = status, got_status
            what = kind = f"REST {what}"
        counts[kind] = counts.get(kind, 0) + 1
        if got != expected:
            mismatches.append((i, what, expected, got))
        assert server.alive(), f"server died at case {i} ({what}):\n{server.log()}"
    rss_after = _rss_mb(server.proc.pid)
    assert not mismatches, mismatches[:20]
    # Every kind of fault was drawn, truncations that parse and that do not.
    assert {f.__name__ for f in _GRPC_FAULTS} <= set(counts), sorted(counts)
    assert {"truncated -> INTERNAL", "truncated -> INVALID_ARGUMENT"} <= set(counts)
    assert len([k for k in counts if k.startswith("REST ")]) == 10, sorted(counts)
    growth = rss_after - rss_before
    assert growth < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)
    # Still serving correctly.
    answer = server.stub.Predict(_request(), timeout=30)
    np.testing.assert_allclose(tf.make_ndarray(answer.outputs["y"]), [3.0, 3.0])
    print(f"fuzz: {FUZZ_CASES} requests, 0 mismatches, RSS {rss_before:.0f} -> "
          f"{rss_after:.0f} MB")


def test_sixteen_clients_never_fail_while_a_version_is_pushed_and_the_old_unloaded(server):
    x = np.array([[1.0, 2.0, 3.0]], np.float32)
    expected = {1: 6.0, 2: 12.0}  # version -> y of a fully loaded version
    stop = threading.Event()
    results = {"grpc": {}, "rest": {}}
    failures, lock = [], threading.Lock()

    def grpc_client():
        stub = prediction_service_pb2_grpc.PredictionServiceStub(server.channel)
        request = _request(name="live", x=x, tag=np.array([b"t"], dtype=object))
        while not stop.is_set():
            try:
                answer = stub.Predict(request, timeout=30)
                version = answer.model_spec.version.value
                y = float(tf.make_ndarray(answer.outputs["y"])[0])
                ok = version in expected and y == pytest.approx(expected[version])
                with lock:
                    results["grpc"][version] = results["grpc"].get(version, 0) + 1
                    if not ok:
                        failures.append(("grpc", version, y))
            except Exception as err:  # noqa: BLE001 - every failure is counted
                with lock:
                    failures.append(("grpc", repr(err)))

    def rest_client():
        body = json.dumps({"instances": [{"x": [1.0, 2.0, 3.0], "tag": "t"}]}).encode()
        while not stop.is_set():
            try:
                status, payload = _post(server.rest_url + "/v1/models/live:predict", body)
                y = json.loads(payload)["predictions"][0]["y"] if status == 200 else None
                version = {6.0: 1, 12.0: 2}.get(y)
                with lock:
                    results["rest"][version] = results["rest"].get(version, 0) + 1
                    if status != 200 or version is None:
                        failures.append(("rest", status, payload[:200]))
            except Exception as err:  # noqa: BLE001
                with lock:
                    failures.append(("rest", repr(err)))

    rss_before = _rss_mb(server.proc.pid)
    threads = ([threading.Thread(target=grpc_client) for _ in range(LOAD_CLIENTS * 3 // 4)] +
               [threading.Thread(target=rest_client) for _ in range(LOAD_CLIENTS // 4)])
    for t in threads:
        t.start()
    time.sleep(LOAD_SECONDS / 3)
    version, written = push_atomically(server.models[2.0], server.live_base, now=2)
    assert (version, written) == (2, True)
    # Keep the load on until version 2 serves and version 1 is unloaded.
    deadline = time.monotonic() + 300
    while True:
        status = server.models_stub.GetModelStatus(get_model_status_pb2.GetModelStatusRequest(
            model_spec=model_pb2.ModelSpec(name="live")), timeout=30)
        states = {v.version: v.state for v in status.model_version_status}
        if states.get(2) == get_model_status_pb2.ModelVersionStatus.AVAILABLE and \
                states.get(1) == get_model_status_pb2.ModelVersionStatus.END:
            break
        assert time.monotonic() < deadline, states
        time.sleep(0.1)
    time.sleep(max(LOAD_SECONDS * 2 / 3, 1.0))
    stop.set()
    for t in threads:
        t.join(timeout=60)
    rss_after = _rss_mb(server.proc.pid)
    total = sum(sum(r.values()) for r in results.values())
    assert not failures, failures[:10]
    assert all(results[p].get(1) and results[p].get(2) for p in results), results
    assert server.alive()
    assert rss_after - rss_before < RSS_GROWTH_LIMIT_MB, (rss_before, rss_after)
    print(f"load: {LOAD_CLIENTS} clients, {LOAD_SECONDS:.0f}s, {total} requests, 0 failed, "
          f"per version {results}, RSS {rss_before:.0f} -> {rss_after:.0f} MB")
