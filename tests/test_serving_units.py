"""The model server's mechanics on a small real SavedModel (tests/serving_toy.py):
version policies, labels, config reloads, batching, REST JSON, Classify/
Regress/MultiInference, client retries, deployment files. No pipeline run.
"""
from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import socket
import struct
import re
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
import yaml
from google.protobuf import text_format
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow_serving.config import model_server_config_pb2

from tfxp.serving import json_tensor
from tfxp.serving.batching import Batcher, BatchingOptions
from tfxp.serving.client import RestClient, ServingClient
from tfxp.serving.errors import (FailedPreconditionError, InvalidArgumentError, NotFoundError,
                            ServingError, UnavailableError)
from tfxp.serving.manager import aspired_versions, parse_config, single_model_config, validate_config
from tfxp.serving.metrics import parse_monitoring_config
from tfxp.serving.server import ModelServer
from tests.serving_toy import CLASSES, toy_examples, write_toy_model

X = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0], [4.0, 0.0, 1.0]], np.float32)
TAGS = np.array([b"a", b"\xff\x00binary", "na\u00efve".encode()], dtype=object)


@pytest.fixture(scope="module")
def toy_versions(tmp_path_factory):
    """``{scale: SavedModel dir}`` of three toy models (scale 1, 2, 3)."""
    root = tmp_path_factory.mktemp("toy_models")
    return {s: write_toy_model(str(root / f"scale{s}"), scale=float(s)) for s in (1, 2, 3)}


def make_base(tmp_path, toy_versions, versions, name="toy"):
    """A base path whose version ``v`` is the toy model with scale ``v``."""
    base = tmp_path / name
    base.mkdir()
    for v in versions:
        shutil.copytree(toy_versions[v], base / str(v))
    return str(base)


def serve(config, **kwargs) -> ModelServer:
    kwargs.setdefault("grpc_port", 0)
    kwargs.setdefault("rest_port", 0)
    kwargs.setdefault("poll_seconds", 0)
    return ModelServer(config, **kwargs).start()


def config_text(text: str) -> model_server_config_pb2.ModelServerConfig:
    return parse_config(text)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ policies

def test_aspired_versions_follow_latest_all_and_specific_policies():
    def model(policy_text):
        return text_format.Parse(f"name: 'm' base_path: '/b' {policy_text}",
                                 model_server_config_pb2.ModelConfig())
    on_disk = [3, 1, 7, 5]
    assert aspired_versions(model(""), on_disk) == [7]
    assert aspired_versions(model("model_version_policy { latest { num_versions: 2 } }"),
                            on_disk) == [5, 7]
    assert aspired_versions(model("model_version_policy { latest { num_versions: 0 } }"),
                            on_disk) == [7]
    assert aspired_versions(model("model_version_policy { all {} }"), on_disk) == [1, 3, 5, 7]
    assert aspired_versions(model("model_version_policy { specific { versions: 3 "
                                  "versions: 4 } }"), on_disk) == [3]


def test_latest_policy_serves_highest_version_and_ignores_non_numeric_folders(
        tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [1, 2])
    for junk in ("not-a-version", ".push-123", "3a"):
        shutil.copytree(toy_versions[3], os.path.join(base, junk))
    with serve(single_model_config("toy", base)) as server, \
            ServingClient(server.grpc_target) as client:
        out = client.predict("toy", {"x": X, "tag": TAGS})
        assert out.model_version == 2
        np.testing.assert_allclose(out["y"], 2 * X.sum(axis=1), rtol=1e-6)
        assert [(s.version, s.state) for s in client.get_model_status("toy")] == [
            (2, "AVAILABLE")]
        with pytest.raises(NotFoundError, match=r"Specific\(toy, 1\)"):
            client.predict("toy", {"x": X, "tag": TAGS}, version=1)


def test_all_and_specific_policies_serve_the_chosen_versions(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [1, 2, 3])
    config = config_text(f"""model_config_list {{
      config {{ name: 'all' base_path: '{base}' model_platform: 'tensorflow'
               model_version_policy {{ all {{}} }} }}
      config {{ name: 'some' base_path: '{base}' model_platform: 'tensorflow'
               model_version_policy {{ specific {{ versions: 1 versions: 3 }} }} }} }}""")
    with serve(config) as server, ServingClient(server.grpc_target) as client:
        for version in (1, 2, 3):
            out = client.predict("all", {"x": X, "tag": TAGS}, version=version)
            np.testing.assert_allclose(out["y"], version * X.sum(axis=1), rtol=1e-6)
        # Newest first, as TF Serving lists them (servable_state_monitor.h).
        assert [s.version for s in client.get_model_status("some")] == [3, 1]
        assert client.predict("some", {"x": X, "tag": TAGS}).model_version == 3


def test_version_labels_resolve_and_must_point_at_available_versions(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [1, 2])
    template = """model_config_list {{ config {{ name: 'toy' base_path: '{base}'
        model_platform: 'tensorflow' model_version_policy {{ all {{}} }}
        version_labels {{ key: 'stable' value: 1 }}
        version_labels {{ key: 'canary' value: {canary} }} }} }}"""
    with serve(config_text(template.format(base=base, canary=2))) as server, \
            ServingClient(server.grpc_target) as client:
        assert client.predict("toy", {"x": X, "tag": TAGS}, label="stable").model_version == 1
        assert client.predict("toy", {"x": X, "tag": TAGS}, label="canary").model_version == 2
        rest = RestClient(server.rest_url)
        np.testing.assert_allclose(rest.predict("toy", {"x": X, "tag": TAGS},
                                                label="stable")["y"], X.sum(axis=1))
        with pytest.raises(InvalidArgumentError, match="Unrecognized servable version label"):
            client.predict("toy", {"x": X, "tag": TAGS}, label="nightly")
        with pytest.raises(FailedPreconditionError, match="not currently available"):
            client.reload_config(config_text(template.format(base=base, canary=9)))
        # The failed reload changed nothing.
        assert client.predict("toy", {"x": X, "tag": TAGS}, label="canary").model_version == 2
    with pytest.raises(ServingError) as err:
        serve(config_text(template.format(base=base, canary=9)))
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION


def test_reload_config_adds_new_models_and_unloads_removed_ones(tmp_path, toy_versions):
    base_a = make_base(tmp_path, toy_versions, [1], name="a")
    base_b = make_base(tmp_path, toy_versions, [2], name="b")
    with serve(single_model_config("a", base_a)) as server, \
            ServingClient(server.grpc_target) as client:
        client.reload_config(single_model_config("b", base_b))
        assert client.predict("b", {"x": X, "tag": TAGS}).model_version == 2
        with pytest.raises(NotFoundError):
            client.predict("a", {"x": X, "tag": TAGS})
        relative = single_model_config("c", "relative/path")
        with pytest.raises(InvalidArgumentError, match="absolute path"):
            client.reload_config(relative)


@pytest.mark.parametrize("text, code, message", [
    ("config { name: 'a' base_path: '/x' model_platform: 'tensorflow' } "
     "config { name: 'a' base_path: '/y' model_platform: 'tensorflow' }",
     grpc.StatusCode.INVALID_ARGUMENT, "multiple times"),
    ("config { name: '../etc' base_path: '/x' model_platform: 'tensorflow' }",
     grpc.StatusCode.INVALID_ARGUMENT, "Illegal model name"),
    ("config { name: 'a/b' base_path: '/x' model_platform: 'tensorflow' }",
     grpc.StatusCode.INVALID_ARGUMENT, "Illegal model name"),
    ("config { name: 'a' base_path: 'x' model_platform: 'tensorflow' }",
     grpc.StatusCode.INVALID_ARGUMENT, "absolute path"),
    ("config { name: 'a' base_path: '/x' }",
     grpc.StatusCode.INVALID_ARGUMENT, "model_platform"),
    ("config { name: 'a' base_path: '/x' model_platform: 'tflite' }",
     grpc.StatusCode.FAILED_PRECONDITION, "no entry for platform tflite"),
])
def test_invalid_model_configs_are_rejected_like_server_core(text, code, message):
    with pytest.raises(ServingError, match=message) as err:
        validate_config(config_text(f"model_config_list {{ {text} }}"))
    assert err.value.code == code


def test_request_data_never_reaches_the_file_system(tmp_path, toy_versions):
    """Names and labels are looked up, not joined into paths: traversal
    attempts are unknown models/labels."""
    base = make_base(tmp_path, toy_versions, [1])
    with serve(single_model_config("toy", base)) as server:
        for path, status in [("/v1/models/..%2F..%2Ftoy", 404), ("/v1/models/%2E%2E", 404),
                             ("/v1/models/toy/labels/..%2F1/metadata", 400)]:
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(server.rest_url + path)
            assert err.value.code == status, path


# ------------------------------------------------------------------ inference

def test_classify_regress_and_multi_inference_match_the_signatures_in_process(
        tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [2])
    examples = toy_examples(X)
    loaded = tf.saved_model.load(toy_versions[2])
    expected_scores = loaded.signatures["classification"](inputs=tf.constant(examples))[
        "scores"].numpy()
    expected_values = loaded.signatures["regression"](inputs=tf.constant(examples))[
        "outputs"].numpy()
    with serve(single_model_config("toy", base)) as server, \
            ServingClient(server.grpc_target) as client:
        rest = RestClient(server.rest_url)
        for answer in (client.classify("toy", examples, signature="classification"),
                       rest.classify("toy", examples, signature="classification")):
            np.testing.assert_allclose(answer.scores, expected_scores, rtol=1e-6)
            assert answer.labels.tolist() == [list(CLASSES)] * len(X)
        for answer in (client.regress("toy", examples, signature="regression"),
                       rest.regress("toy", examples, signature="regression")):
            np.testing.assert_allclose(answer.values, expected_values, rtol=1e-6)
        # A shared context is merged into every example.
        context = {"x": [1.0, 1.0, 1.0]}
        with_context = client.regress("toy", [{}, {}], signature="regression", context=context)
        np.testing.assert_allclose(with_context.values, [6.0, 6.0])
        both = client.multi_inference("toy", examples, [("classification", "classify"),
                                                        ("regression", "regress")])
        np.testing.assert_allclose(both[0].scores, expected_scores, rtol=1e-6)
        np.testing.assert_allclose(both[1].values, expected_values, rtol=1e-6)
        with pytest.raises(InvalidArgumentError, match="Expected one input Tensor"):
            client.classify("toy", examples)  # serving_default has two inputs
        with pytest.raises(InvalidArgumentError, match="Input is empty"):
            client.regress("toy", [], signature="regression")
        with pytest.raises(InvalidArgumentError, match="No signature was found"):
            client.regress("toy", examples, signature="nope")
        with pytest.raises(InvalidArgumentError, match="Duplicate evaluation"):
            client.multi_inference("toy", examples, [("regression", "regress")] * 2)


def test_rest_predict_row_and_columnar_formats_with_binary_strings(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [2])
    with serve(single_model_config("toy", base)) as server:
        rest = RestClient(server.rest_url)
        for row in (False, True):
            out = rest.predict("toy", {"x": X, "tag": TAGS}, row_format=row)
            np.testing.assert_allclose(out["y"], 2 * X.sum(axis=1), rtol=1e-6)
            assert out["tag_bytes"].tolist() == TAGS.tolist()  # b64 both ways
            assert out["tag_len"].tolist() == [len(t) for t in TAGS]

        def post(body):
            request = urllib.request.Request(server.rest_url + "/v1/models/toy:predict",
                                             data=json.dumps(body).encode())
            try:
                with urllib.request.urlopen(request) as response:
                    return response.status, json.loads(response.read())
            except urllib.error.HTTPError as err:
                return err.code, json.loads(err.read())
        status, answer = post({"instances": [{"x": [1, 2, 3], "tag": {"b64": "/w=="}}]})
        assert status == 200
        assert answer["predictions"][0]["tag_bytes"] == {"b64": "/w=="}
        assert answer["predictions"][0]["y"] == pytest.approx(12.0)
        status, answer = post({"instances": [{"x": [1, 2], "tag": "a"}]})
        assert status == 400 and "error" in answer
        status, answer = post({"inputs": {"x": [[1, 2, 3]], "tag": ["a"]}, "instances": []})
        assert status == 400 and "only one of" in answer["error"]
        status, answer = post({"signature_name": "nope", "inputs": {"x": [[1, 2, 3]]}})
        assert status == 400 and "not found in signature def" in answer["error"]


def test_json_tensor_conversions_follow_json_tensor_cc():
    infos = {"x": meta_graph_pb2.TensorInfo(dtype=types_pb2.DT_FLOAT),
             "s": meta_graph_pb2.TensorInfo(dtype=types_pb2.DT_STRING)}
    arrays, fmt = json_tensor.parse_predict(
        {"instances": [{"x": [1, 2.5], "s": {"b64": "AAE="}}, {"x": [3, 4], "s": "hi"}]}, infos)
    assert fmt == json_tensor.ROW
    np.testing.assert_array_equal(arrays["x"], np.array([[1, 2.5], [3, 4]], np.float32))
    assert arrays["s"].tolist() == [b"\x00\x01", b"hi"]
    arrays, fmt = json_tensor.parse_predict({"inputs": {"x": [[1]], "s": ["a"]}}, infos)
    assert fmt == json_tensor.COLUMNAR and arrays["x"].shape == (1, 1)
    for bad, message in [
        ({"instances": [{"x": [1, 2], "s": "a"}, {"x": [1], "s": "b"}]}, "Expecting tensor size"),
        ({"inputs": {"x": [[1, 2], [3]], "s": ["a"]}}, "unexpected size"),
        ({"inputs": {"x": ["a"], "s": ["a"]}}, "is not of expected type: float"),
        ({"inputs": {"x": [[1]]}}, "Missing named input: s"),
        ({"instances": [1.0]}, "plain list"),
        ({}, "Missing 'inputs' or 'instances' key"),
    ]:
        with pytest.raises(InvalidArgumentError, match=message):
            json_tensor.parse_predict(bad, infos)
    outputs = {"a": np.array([1.5, float("nan")], np.float32),
               "b_bytes": np.array([b"\xff", b"z"], dtype=object)}
    assert json_tensor.predict_response(outputs, json_tensor.ROW)["predictions"][1][
        "b_bytes"] == {"b64": "eg=="}
    columnar = json_tensor.predict_response({"a": outputs["a"]}, json_tensor.COLUMNAR)
    assert columnar["outputs"][0] == 1.5 and np.isnan(columnar["outputs"][1])
    example = json_tensor.json_to_example({"f": 1.0, "i": [1, True], "s": ["x", {"b64": "AA=="}]})
    feature = example.features.feature
    assert list(feature["f"].float_list.value) == [1.0]
    assert list(feature["i"].int64_list.value) == [1, 1]
    assert list(feature["s"].bytes_list.value) == [b"x", b"\x00"]
    with pytest.raises(InvalidArgumentError, match="Unexpected element type"):
        json_tensor.json_to_example({"m": [1, 2.5]})


# ------------------------------------------------------------------ batching

def test_batcher_merges_concurrent_requests_and_splits_outputs_back():
    sizes = []

    def run(batch):
        sizes.append(len(batch["x"]))
        time.sleep(0.05)
        return {"y": batch["x"] * 10}
    batcher = Batcher(run, BatchingOptions(max_batch_size=8, batch_timeout_micros=100_000,
                                           max_enqueued_batches=10, num_batch_threads=1))
    results = {}

    def call(i):
        results[i] = batcher.submit({"x": np.array([i, i + 100])})["y"]
    threads = [threading.Thread(target=call, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.stop()
    assert {i: r.tolist() for i, r in results.items()} == {
        i: [i * 10, (i + 100) * 10] for i in range(8)}
    assert max(sizes) == 8 and sum(sizes) == 16  # merged, never above max_batch_size
    with pytest.raises(InvalidArgumentError, match="larger than maximum input batch size"):
        Batcher(run, BatchingOptions(max_batch_size=2)).submit({"x": np.arange(3)})


def test_batcher_answers_unavailable_when_its_queue_is_full():
    started, release = threading.Event(), threading.Event()

    def run(batch):
        started.set()
        release.wait()
        return batch
    batcher = Batcher(run, BatchingOptions(max_batch_size=1, max_enqueued_batches=1,
                                           num_batch_threads=1))
    errors = []

    def call():
        try:
            batcher.submit({"x": np.zeros(1)})
        except UnavailableError as err:
            errors.append(err)
    threads = [threading.Thread(target=call) for _ in range(4)]
    threads[0].start()
    assert started.wait(10)  # the first request is running ...
    threads[1].start()
    deadline = time.monotonic() + 10
    while batcher._queued_examples < 1 and time.monotonic() < deadline:
        time.sleep(0.01)  # ... the second waits in the (full) queue ...
    for t in threads[2:]:
        t.start()
        t.join()  # ... so these two are turned away at once
    release.set()
    for t in threads[:2]:
        t.join()
    batcher.stop()
    assert len(errors) == 2
    assert all(e.code == grpc.StatusCode.UNAVAILABLE and "queue" in e.message for e in errors)


def test_batching_parameters_file_is_read():
    options = BatchingOptions.from_text(
        "max_batch_size { value: 64 }\nbatch_timeout_micros { value: 2000 }\n"
        "max_enqueued_batches { value: 7 }\nnum_batch_threads { value: 3 }\n"
        "pad_variable_length_inputs: true")
    assert options == BatchingOptions(64, 2000, 7, 3)
    with pytest.raises(ValueError):
        BatchingOptions.from_text("max_batch_size { value: 0 }")


def test_server_side_batching_gives_each_client_its_own_answer(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [2])
    batching = BatchingOptions(max_batch_size=16, batch_timeout_micros=5000)
    with serve(single_model_config("toy", base), batching=batching) as server, \
            ServingClient(server.grpc_target) as client:
        failures, checked = [], []

        def call(i):
            x = np.full((1, 3), i, np.float32)
            for _ in range(5):
                out = client.predict("toy", {"x": x, "tag": np.array([b"t"], object)})
                if not np.allclose(out["y"], [6.0 * i]):
                    failures.append((i, out["y"]))
                checked.append(i)
        threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not failures and len(checked) == 60


# ------------------------------------------------------------------ client and server

def test_client_retries_unavailable_until_the_server_is_up(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [1])
    port = free_port()
    server = ModelServer(single_model_config("toy", base), grpc_port=port, rest_port=None,
                         poll_seconds=0)
    starter = threading.Timer(1.0, server.start)
    starter.start()
    try:
        with ServingClient(f"127.0.0.1:{port}", timeout=30, max_attempts=12,
                           initial_backoff=0.1, max_backoff=0.5) as client:
            started = time.monotonic()
            states = client.get_model_status("toy")
            assert time.monotonic() - started >= 0.5  # it did have to wait
            assert states[0].state == "AVAILABLE"
    finally:
        starter.join()
        server.stop()
    with ServingClient(f"127.0.0.1:{free_port()}", timeout=5, max_attempts=2,
                       initial_backoff=0.05) as client:
        with pytest.raises(UnavailableError) as err:
            client.get_model_status("toy")
        assert err.value.code == grpc.StatusCode.UNAVAILABLE


def test_server_binds_loopback_by_default_and_limits_rest_bodies(tmp_path, toy_versions):
    base = make_base(tmp_path, toy_versions, [1])
    with serve(single_model_config("toy", base), max_request_bytes=1000) as server:
        assert server.host == "127.0.0.1"
        assert server.grpc_target.startswith("127.0.0.1:")
        assert server.rest_url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(server.rest_url + "/v1/models/toy:predict",
                                         data=b"{" + b" " * 2000 + b"}")
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request)
        assert err.value.code == 413  # Content Too Large (RESOURCE_EXHAUSTED to clients)
        assert "larger than max" in json.loads(err.value.read())["error"]
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(server.rest_url + "/metrics")
        assert err.value.code == 404


# ------------------------------------------------------------------ deployment and CLI

def test_deployment_files_serve_the_workspace_models(tmp_path, toy_versions):
    from tfxp.serving.deploy.generate import TF_SERVING_IMAGE, write_deployment

    workspace = tmp_path / "ws"
    (workspace / "serving").mkdir(parents=True)
    make_base(workspace / "serving", toy_versions, [1, 2], name="toy")
    (workspace / "serving" / ".push-partial").mkdir()  # never a model
    paths = write_deployment(str(workspace))
    container = parse_config(open(paths["config"]).read())
    assert [(m.name, m.base_path, m.model_platform)
            for m in container.model_config_list.config] == [("toy", "/models/toy",
                                                              "tensorflow")]
    local = parse_config(open(paths["local_config"]).read())
    # monitoring.config, read as --monitoring_config_file reads it, turns on
    # the exporter at the path the pod annotations give Prometheus.
    metrics_path = parse_monitoring_config(open(paths["monitoring"]).read())
    assert metrics_path == "/monitoring/prometheus/metrics"
    with serve(local, metrics_path=metrics_path) as server, \
            ServingClient(server.grpc_target) as client:
        assert client.predict("toy", {"x": X, "tag": TAGS}).model_version == 2
        scraped = urllib.request.urlopen(server.rest_url + metrics_path).read().decode()
        assert re.search(r'^:tensorflow:serving:request_count\{API="Predict",model_name="toy",'
                         r'signature_name="serving_default",status="OK"\} 1\.0$',
                         scraped, re.M), scraped
    config_map, deployment, service = yaml.safe_load_all(open(paths["kubernetes"]))
    assert parse_config(config_map["data"]["models.config"]) == container
    assert config_map["data"]["monitoring.config"] == open(paths["monitoring"]).read()
    template = deployment["spec"]["template"]
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true", "prometheus.io/port": "8501",
        "prometheus.io/path": metrics_path}
    pod = template["spec"]
    container_spec = pod["containers"][0]
    assert container_spec["image"] == TF_SERVING_IMAGE
    assert "--model_config_file=/config/models.config" in container_spec["args"]
    assert "--monitoring_config_file=/config/monitoring.config" in container_spec["args"]
    assert {m["mountPath"] for m in container_spec["volumeMounts"]} == {"/models", "/config"}
    assert {v["name"] for v in pod["volumes"]} == {"models", "config"}
    assert {p["port"] for p in service["spec"]["ports"]} == {8500, 8501}
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    docker = open(paths["docker"]).read()
    assert f"{workspace / 'serving'}:/models:ro" in docker and TF_SERVING_IMAGE in docker
    assert "--model_config_file=/config/models.config" in docker
    assert (f"{workspace / 'deploy' / 'monitoring.config'}:/config/monitoring.config:ro"
            in docker and "--monitoring_config_file=/config/monitoring.config" in docker)


def test_idx_reader_and_top_class_formatting(tmp_path):
    from tfxp.cli.serving import format_top
    from tfxp.components.tfds_builders.fashion_mnist import read_idx

    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    path = tmp_path / "images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as f:
        f.write(struct.pack(">BBBB3I", 0, 0, 0x08, 3, 2, 28, 28) + images.tobytes())
    np.testing.assert_array_equal(read_idx(str(path)), images)
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01\x00\x00\x00\x01")
    with pytest.raises(ValueError, match="unsigned-byte IDX"):
        read_idx(str(tmp_path / "bad"))
    lines = format_top(np.array([[b"cat", b"dog", b"eel"]], object),
                       np.array([[0.2, 0.7, 0.1]], np.float32), top=2)
    assert lines == ["#0    dog 0.700  cat 0.200"]


def test_serve_without_models_is_a_usage_error(tmp_path, capsys):
    from tfxp.cli.main import EXIT_USAGE, main

    assert main(["serve", "--workspace", str(tmp_path)]) == EXIT_USAGE
    assert "no serving folder" in capsys.readouterr().err


def test_fast_tensor_protos_agree_with_tensorflows_converters():
    from tfxp.serving import tensors
    from tensorflow.core.framework import tensor_pb2

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], np.int64),
              np.array([[True], [False]]), np.array([b"\xff", b"ok"], dtype=object),
              np.array(3.5, np.float64), np.zeros((0, 4), np.int32),
              np.array([1.5], np.float16)]
    for array in arrays:
        ours = tensors.to_proto(array)
        theirs = tf.make_tensor_proto(array)
        assert ours.dtype == theirs.dtype and ours.tensor_shape == theirs.tensor_shape
        np.testing.assert_array_equal(tf.make_ndarray(ours), array)
        np.testing.assert_array_equal(tensors.to_ndarray(theirs), array)
        np.testing.assert_array_equal(tensors.to_ndarray(ours), array)
    typed = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0])
    typed.tensor_shape.dim.add(size=2)
    np.testing.assert_array_equal(tensors.to_ndarray(typed), [1.0, 2.0])
    bad = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, tensor_content=b"\x00" * 8)
    bad.tensor_shape.dim.add(size=3)
    with pytest.raises(ValueError):
        tensors.to_ndarray(bad)


def test_warmup_requests_run_at_load_and_a_failing_one_fails_the_load(tmp_path, toy_versions):
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    def with_warmup(version, signature):
        base = tmp_path / f"w{version}"
        make_base(tmp_path, toy_versions, [version], name=f"w{version}")
        request = predict_pb2.PredictRequest()
        request.model_spec.signature_name = signature
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
        request.inputs["tag"].CopyFrom(tf.make_tensor_proto(TAGS))
        os.makedirs(base / str(version) / "assets.extra")
        with tf.io.TFRecordWriter(str(base / str(version) / "assets.extra" /
                                      "tf_serving_warmup_requests")) as writer:
            writer.write(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)).SerializeToString())
        return str(base)
    with serve(single_model_config("good", with_warmup(1, "serving_default"))) as server:
        assert server.manager.version_state("good", 1).state == "AVAILABLE"
    with serve(single_model_config("bad", with_warmup(2, "nope"))) as server, \
            ServingClient(server.grpc_target) as client:
        [state] = client.get_model_status("bad")
        assert (state.state, state.error_code) == ("END", grpc.StatusCode.INVALID_ARGUMENT)
        assert "unknown signature" in state.error_message


def test_predict_csv_reads_whole_floats_as_ints_and_names_missing_columns(tmp_path):
    """``tfxp predict --csv`` (``serving.inputs``): the taxi CSV writes ``trip_seconds`` as
    ``180.0``; an int64 feature takes it, a fraction is refused, and absent
    columns are all named before anything is sent."""
    from tensorflow.core.framework import types_pb2

    from tfxp.serving.inputs import csv_examples

    dtypes = {"trip_seconds": types_pb2.DT_INT64, "fare": types_pb2.DT_FLOAT,
              "company": types_pb2.DT_STRING}
    good = tmp_path / "good.csv"
    good.write_text("trip_seconds,fare,company,tips\n180.0,7.25,Taxi Co,1\n,3,,0\n")
    rows = csv_examples(str(good), slice(None), dtypes)
    assert rows[0]["trip_seconds"] == 180 and isinstance(rows[0]["trip_seconds"], int)
    assert rows[0]["fare"] == 7.25 and rows[0]["company"] == "Taxi Co"
    assert "trip_seconds" not in rows[1] and "company" not in rows[1]  # empty = missing
    fraction = tmp_path / "fraction.csv"
    fraction.write_text("trip_seconds,fare,company\n180.5,7.25,Taxi Co\n")
    with pytest.raises(ValueError, match=r"row 1, column 'trip_seconds': '180.5' is not a "
                                         r"valid int64"):
        csv_examples(str(fraction), slice(None), dtypes)
    partial = tmp_path / "partial.csv"
    partial.write_text("trip_seconds\n180\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) company, fare; the model's raw "
                                         r"features are company, fare, trip_seconds"):
        csv_examples(str(partial), slice(None), dtypes)


def test_client_inputs_keep_every_byte_and_reject_what_is_not_text():
    """Serialized tf.Examples often end in a NUL byte, which a numpy ``S``
    array drops; the client keeps text as Python objects. Values a string
    tensor cannot hold are a TypeError naming the element, not a silent
    ``str()``; a bare example must come in a list."""
    from tfxp.serving import client, tensors

    example = b"\n\x0c\n\n\n\x01a\x12\x05\n\x03\x00\x01\x00"  # ends in NUL, as 729 taxi eval rows do
    assert np.asarray([example])[0] != example  # numpy S drops the trailing NUL
    for value in ([example], (example,), [[example]], example):
        proto = tensors.to_proto(client._as_array(value))
        assert list(proto.string_val) == [example]
    mixed = tensors.to_proto(client._as_array([b"\xffraw", "caf\u00e9"]))
    assert list(mixed.string_val) == [b"\xffraw", "caf\u00e9".encode("utf-8")]
    assert [d.size for d in mixed.tensor_shape.dim] == [2]
    numbers = client._as_array([[1, 2], [3, 4]])
    assert numbers.dtype == np.int64 and numbers.shape == (2, 2)

    for bad in ([b"ok", None], [b"ok", 3]):
        with pytest.raises(TypeError, match="string tensor element 1 is"):
            tensors.to_proto(client._as_array(bad))
    with pytest.raises(TypeError, match="wrap a single serialized example in a list"):
        client._is_examples(example)
    assert client._is_examples([example]) and not client._is_examples({"inputs": [example]})

    big_endian = np.arange(3, dtype=">f4")
    np.testing.assert_array_equal(tensors.to_ndarray(tensors.to_proto(big_endian)), [0, 1, 2])
    out = tensors.to_ndarray(tensors.to_proto(np.arange(3, dtype=np.float32)))
    out[0] = 7.0  # writable, as tf.make_ndarray's


# ------------------------------------------------------------------ conformance details

def test_predict_answers_in_typed_fields_as_tf_serving_does(tmp_path, toy_versions):
    """predict_util.cc kAsProtoField: ``float_val``, ``int_val``, ``string_val``
    rather than ``tensor_content``; TF's own reader agrees."""
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    base = make_base(tmp_path, toy_versions, [2])
    with serve(single_model_config("toy", base)) as server:
        channel = grpc.insecure_channel(server.grpc_target)
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "toy"
        request.inputs["x"].CopyFrom(tf.make_tensor_proto(X))
        request.inputs["tag"].CopyFrom(tf.make_tensor_proto(TAGS))
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
            request, timeout=30)
        channel.close()
    y, tag_len, tag_bytes = (response.outputs[k] for k in ("y", "tag_len", "tag_bytes"))
    assert not any(t.tensor_content for t in (y, tag_len, tag_bytes))
    np.testing.assert_allclose(list(y.float_val), 2 * X.sum(axis=1), rtol=1e-6)
    assert list(tag_len.int_val) == [len(t) for t in TAGS]
    assert list(tag_bytes.string_val) == TAGS.tolist()
    np.testing.assert_allclose(tf.make_ndarray(y), 2 * X.sum(axis=1), rtol=1e-6)


def test_tensor_readers_take_typed_fields_and_tensor_content_alike():
    """Both encodings are legal and both are read (client, infra validator and
    bench read through ``serving.tensors``), including TensorFlow's rules for
    short typed fields: the last value repeats, none means zeros."""
    from tensorflow.core.framework import tensor_pb2

    from tfxp.serving import tensors

    arrays = [np.arange(6, dtype=np.float32).reshape(2, 3), np.array([1, -2], np.int64),
              np.array([[True], [False]]), np.array([b"\xff", b"ok"], dtype=object),
              np.array(3.5, np.float64), np.zeros((0, 4), np.int32),
              np.array([1.5, -2], np.float16), np.array([1 + 2j], np.complex64),
              np.array([200, 7], np.uint8), np.array([2 ** 64 - 1], np.uint64),
              np.random.default_rng(0).random(10_000).astype(np.float32)]  # packed read
    for array in arrays:
        typed, dense = tensors.to_proto_field(array), tensors.to_proto(array)
        assert not typed.tensor_content
        for proto in (typed, dense, tf.make_tensor_proto(array)):
            out = tensors.to_ndarray(proto)
            assert out.dtype == array.dtype and out.shape == array.shape
            np.testing.assert_array_equal(out, array)
            assert out.flags.writeable
        np.testing.assert_array_equal(tf.make_ndarray(typed), array)
    short = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0])
    short.tensor_shape.dim.add(size=4)
    np.testing.assert_array_equal(tensors.to_ndarray(short), [1.0, 2.0, 2.0, 2.0])
    np.testing.assert_array_equal(tensors.to_ndarray(short), tf.make_ndarray(short))
    empty = tensor_pb2.TensorProto(dtype=types_pb2.DT_INT64)
    empty.tensor_shape.dim.add(size=3)
    np.testing.assert_array_equal(tensors.to_ndarray(empty), [0, 0, 0])
    too_many = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[1.0, 2.0, 3.0])
    too_many.tensor_shape.dim.add(size=2)
    with pytest.raises(ValueError, match="3 values for shape"):
        tensors.to_ndarray(too_many)


def test_client_builds_inputs_in_the_signature_dtypes(tmp_path, toy_versions):
    """Plain Python floats and ints reach a float32 input as float32 (TF
    Serving's clients: ``tf.make_tensor_proto(values, dtype)``); a value that
    cannot be cast within its kind still gets the server's INVALID_ARGUMENT."""
    base = make_base(tmp_path, toy_versions, [2])
    with serve(single_model_config("toy", base)) as server, \
            ServingClient(server.grpc_target) as client:
        for x in (X.tolist(), X.astype(np.float64), [[1, 2, 3], [0, -1, 0], [4, 0, 1]]):
            out = client.predict("toy", {"x": x, "tag": ["a", "b", "c"]})
            np.testing.assert_allclose(out["y"], 2 * np.sum(x, axis=1), rtol=1e-6)
        with pytest.raises(InvalidArgumentError, match="to be float but string"):
            client.predict("toy", {"x": [["a", "b", "c"]], "tag": ["a"]})
        with pytest.raises(InvalidArgumentError, match="to be string but"):
            client.predict("toy", {"x": X, "tag": [1.0, 2.0, 3.0]})


def test_tf1_savedmodel_without_recorded_shapes_is_served(tmp_path):
    """A TF1-style SavedModel like TF Serving's saved_model_half_plus_three:
    ``tf.saved_model.load`` cannot load it; the server runs it in a Session
    and answers like TF Serving, whatever the batch's shape."""
    from tensorflow.python.tools import saved_model_utils

    from tests.serving_tf1 import CLASSIFY, REGRESS, half_plus_three, write_half_plus_three

    export = write_half_plus_three(str(tmp_path / "h3" / "123"))
    with pytest.raises(ValueError, match="Shapes must be equal rank"):
        tf.saved_model.load(export)
    with serve(single_model_config("h3", str(tmp_path / "h3"))) as server, \
            ServingClient(server.grpc_target) as client:
        assert [(s.version, s.state) for s in client.get_model_status("h3")] == [
            (123, "AVAILABLE")]
        for x in ([1.0, 2.0, 5.0], [[1.0], [2.0]], [[[7.0]]]):  # any shape
            x = np.array(x, np.float32)
            np.testing.assert_allclose(client.predict("h3", {"x": x})["y"], 0.5 * x + 3)
        examples = [{"x": 1.0}, {"x": 2.0}]
        np.testing.assert_allclose(client.regress("h3", examples, signature=REGRESS).values,
                                   half_plus_three([1.0, 2.0]))
        np.testing.assert_allclose(client.classify("h3", examples, signature=CLASSIFY).scores,
                                   [[3.5], [4.0]])
        with pytest.raises(InvalidArgumentError, match="Feature: x"):
            client.regress("h3", [{"y": 1.0}], signature=REGRESS)
        expected = dict(saved_model_utils.get_meta_graph_def(export, "serve").signature_def)
        assert client.get_model_metadata("h3").signature_defs == expected
        rest = RestClient(server.rest_url)
        np.testing.assert_allclose(rest.regress("h3", examples, signature=REGRESS).values,
                                   half_plus_three([1.0, 2.0]))


def test_a_failed_load_reports_the_load_errors_code(tmp_path, toy_versions):
    """GetModelStatus gives the load error's own code (here TensorFlow's
    NOT_FOUND for missing variables), not UNKNOWN."""
    from tfxp.serving.errors import error_from_exception

    base = make_base(tmp_path, toy_versions, [1])
    shutil.rmtree(os.path.join(base, "1", "variables"))
    with serve(single_model_config("toy", base)) as server, \
            ServingClient(server.grpc_target) as client:
        [state] = client.get_model_status("toy")
    assert (state.state, state.error_code) == ("END", grpc.StatusCode.NOT_FOUND)
    assert "variables" in state.error_message
    try:
        try:
            raise tf.errors.InvalidArgumentError(None, None, "Shape must be rank 1")
        except tf.errors.OpError:
            raise ValueError("re-raised by TF's Python layer")
    except ValueError as err:
        chained = error_from_exception(err)
    assert (chained.code, chained.message) == (grpc.StatusCode.INVALID_ARGUMENT,
                                               "Shape must be rank 1")
    for err, code in [(ValueError("v"), grpc.StatusCode.INVALID_ARGUMENT),
                      (FileNotFoundError("f"), grpc.StatusCode.NOT_FOUND),
                      (PermissionError("p"), grpc.StatusCode.PERMISSION_DENIED),
                      (RuntimeError("r"), grpc.StatusCode.UNKNOWN),
                      (NotFoundError(grpc.StatusCode.NOT_FOUND, "n"), grpc.StatusCode.NOT_FOUND)]:
        assert error_from_exception(err).code == code


def test_a_real_deployment_command_line_starts_the_server(tmp_path, toy_versions, caplog):
    """tensorflow_model_server's flags (model_servers/main.cc) all parse; the
    ones implemented here take effect, each of the others is logged once as
    accepted but not implemented."""
    import argparse

    from tfxp.serving.flags import ACCEPTED_NOT_IMPLEMENTED, add_server_flags
    from tfxp.serving.main import main, server_from_args

    base = make_base(tmp_path, toy_versions, [1])
    rest_port = free_port()
    monitoring = tmp_path / "monitoring.config"
    monitoring.write_text('prometheus_config { enable: true path: "/monitoring/prometheus/'
                          'metrics" }\n')
    not_implemented = ["--tensorflow_intra_op_parallelism=2", "--ssl_config_file=",
                       "--per_process_gpu_memory_fraction=0.5", "--mixed_precision=bfloat16"]
    argv = [f"--port={free_port()}", f"--rest_api_port={rest_port}", "--model_name=toy",
            f"--model_base_path={base}", "--rest_api_num_threads=4",
            "--rest_api_timeout_in_ms=5000", "--rest_api_enable_cors_support=true",
            "--file_system_poll_wait_seconds=0", "--enable_batching=false",
            "--grpc_channel_arguments=grpc.max_connection_age_ms=60000",
            f"--monitoring_config_file={monitoring}", "--enable_grpc_healthcheck_service=true",
            "--enable_model_warmup", "--max_num_load_retries=5",
            "--load_retry_interval_micros=60000000", *not_implemented]
    parser = argparse.ArgumentParser()
    add_server_flags(parser)
    caplog.set_level(logging.WARNING, logger="tfxp.serving.main")
    server = server_from_args(parser.parse_args(argv))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == len(not_implemented)
    for flag in not_implemented:
        name = flag[2:].split("=")[0]
        assert name in ACCEPTED_NOT_IMPLEMENTED
        assert [line for line in lines if line.startswith(f"--{name} ")] == [
            f"--{name} is accepted but not implemented by this server; ignored"]
    with server:
        request = urllib.request.Request(f"http://127.0.0.1:{rest_port}/v1/models/toy")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        metrics = f"http://127.0.0.1:{rest_port}/monitoring/prometheus/metrics"
        with urllib.request.urlopen(metrics, timeout=30) as response:
            assert b"process_start_time_seconds" in response.read()
    for name, kind in ACCEPTED_NOT_IMPLEMENTED.items():  # every one parses
        value = "true" if kind is bool else "1"
        assert getattr(parser.parse_args([f"--{name}={value}"]), name) is not None
    assert main(["--version"]) == 0


@pytest.mark.parametrize("message, expected", [
    # A tf.function traced in this process: indented frames.
    ('Graph execution error:\n\nDetected at node Assert/Assert defined at (most recent call '
     'last):\n  File "<stdin>", line 9, in <module>\n\n  File "<stdin>", line 6, in f\n\n'
     'assertion failed: [images: got] [1 5]\n\t [[{{node Assert/Assert}}]] '
     '[Op:__inference_f_19]', "assertion failed: [images: got] [1 5]"),
    # A loaded SavedModel: no frames.
    ('Graph execution error:\n\nDetected at node Assert/Assert defined at (most recent call '
     'last):\n<stack traces unavailable>\nassertion failed: [x]\n\t [[{{node Assert/Assert}}]] '
     '[Op:__inference_signature_wrapper_7]', "assertion failed: [x]"),
    # Already one line (a C++ kernel's own status): unchanged.
    ("Expects arg[0] to be float but string is provided",
     "Expects arg[0] to be float but string is provided"),
])
def test_op_errors_reach_clients_without_graph_framing(message, expected):
    from tfxp.serving.errors import op_error_message
    assert op_error_message(message) == expected


@pytest.mark.parametrize("flag", ["--monitoring_config_file", "--batching_parameters_file"])
def test_the_server_refuses_an_unreadable_config_file_in_one_line(capsys, flag):
    from tfxp.serving.main import main
    assert main(["--model_name=x", "--model_base_path=/tmp", f"{flag}=/nonexistent"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        f"python -m tfxp.serving.main: error: {flag}: cannot read '/nonexistent': "
        f"No such file or directory"]


def test_run_until_signal_returns_after_stop_has_finished():
    """Ctrl-C: the process must not end while ``stop`` still writes the
    request log's queue (``stop`` marks the server stopped first, so
    returning from ``wait`` alone lost the last requests' records)."""
    import os
    import signal
    import threading
    import time

    from tfxp.serving.server import run_until_signal

    class SlowStop:
        rest_url, grpc_target = None, "127.0.0.1:0"

        def __init__(self):
            self.stopped, self.finished = threading.Event(), False
            self.manager = type("M", (), {"model_names": lambda self: ["m"]})()

        def start(self):
            threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

        def wait(self):
            self.stopped.wait()

        def stop(self):
            self.stopped.set()          # as ModelServer.stop: marked first ...
            time.sleep(0.5)             # ... then the ports, models, request log
            self.finished = True

    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        server = SlowStop()
        assert run_until_signal(server) == 0
        assert server.finished
    finally:
        signal.signal(signal.SIGINT, handlers[0])
        signal.signal(signal.SIGTERM, handlers[1])
