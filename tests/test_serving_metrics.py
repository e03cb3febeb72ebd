"""Prometheus metrics, the gRPC health service and request logs of the model
server (serving.metrics, serving.health, serving.request_log), on the toy
SavedModel (tests/serving_toy.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import grpc
import numpy as np
import pytest
import tensorflow as tf
from grpc_health.v1 import health_pb2, health_pb2_grpc
from tensorflow_serving.apis import prediction_log_pb2

from tfxp.serving.client import RestClient, ServingClient
from tfxp.serving.errors import ServingError
from tfxp.serving.flags import add_server_flags
from tfxp.serving.main import server_from_args
from tfxp.serving.manager import parse_config, single_model_config
from tfxp.serving.metrics import DEFAULT_PATH, parse_monitoring_config
from tfxp.serving.server import ModelServer
from tests.serving_toy import toy_examples, write_toy_model

X = np.array([[1.0, 2.0, 3.0]], np.float32)
TAG = np.array([b"t"], dtype=object)
# Strings for the float32 input: the client cannot cast them, the server refuses.
BAD_X = np.array([[b"a", b"b", b"c"]], dtype=object)


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics_toy")
    return write_toy_model(str(root / "toy"))


def _base(tmp_path, toy, name="m"):
    base = tmp_path / name
    base.mkdir()
    shutil.copytree(toy, base / "1")
    return str(base)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def _sample(page: str, name: str, **labels) -> float:
    """Sum of the samples ``name{...}`` whose labels include ``labels``."""
    total = 0.0
    for line in page.splitlines():
        match = re.fullmatch(r"(\S+?)\{(.*)\} (\S+)", line)
        if not match or match.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2)))
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(match.group(3))
    return total


# ----- monitoring config -----

@pytest.mark.parametrize("text, expected", [
    ("", None),
    ("prometheus_config { enable: false path: '/x' }", None),
    ("prometheus_config { enable: true }", DEFAULT_PATH),
    ("prometheus_config { enable: true path: '/metrics' }", "/metrics"),
])
def test_monitoring_config_turns_metrics_on_at_its_path(text, expected):
    assert parse_monitoring_config(text) == expected


@pytest.mark.parametrize("text, field", [
    ("prometheus_config { enable: maybe }", "enable"),
    ("prometheus_config { enabled: true }", "enabled"),
    ("prometheus_config { enable: true path: 'metrics' }", "prometheus_config.path"),
    ("not a proto", "MonitoringConfig"),
])
def test_malformed_monitoring_config_stops_the_server_with_one_line(tmp_path, text, field):
    path = tmp_path / "monitoring.config"
    path.write_text(text)
    import argparse
    parser = argparse.ArgumentParser()
    add_server_flags(parser)
    args = parser.parse_args(["--model_base_path", str(tmp_path), "--rest_api_port", "0",
                              "--port", "0", f"--monitoring_config_file={path}"])
    with pytest.raises(ValueError) as info:
        server_from_args(args)
    message = str(info.value)
    assert "\n" not in message and field in message and "--monitoring_config_file" in message


# ----- the metrics page -----

def test_metrics_page_counts_requests_by_model_api_signature_and_status(tmp_path, toy):
    base = _base(tmp_path, toy)
    with ModelServer(single_model_config("m", base), grpc_port=0, rest_port=0,
                     poll_seconds=0, metrics_path="/monitoring/prometheus/metrics") as server, \
            ServingClient(server.grpc_target) as client:
        rest = RestClient(server.rest_url)
        for _ in range(3):
            client.predict("m", {"x": X, "tag": TAG})
        client.classify("m", toy_examples(X), signature="classification")
        with pytest.raises(ServingError):
            client.predict("m", {"x": BAD_X, "tag": TAG})  # a string x: INVALID_ARGUMENT
        with pytest.raises(ServingError):
            client.predict("nope", {"x": X, "tag": TAG})
        for _ in range(2):
            rest.predict("m", {"x": X, "tag": TAG})
        page = _get(server.rest_url + "/monitoring/prometheus/metrics")
    count = ":tensorflow:serving:request_count"
    assert _sample(page, count, model_name="m", status="OK", API="Predict",
                   signature_name="serving_default") == 3
    assert _sample(page, count, model_name="m", status="OK", API="Classify",
                   signature_name="classification") == 1
    assert _sample(page, count, model_name="m", status="INVALID_ARGUMENT") == 1
    assert _sample(page, count, model_name="nope", status="NOT_FOUND") == 1
    assert _sample(page, count, model_name="m", status="OK", API="predict") == 2
    latency = ":tensorflow:serving:request_latency_count"
    assert _sample(page, latency, model_name="m", entrypoint="GRPC", API="Predict") == 4
    assert _sample(page, latency, model_name="m", entrypoint="REST") == 2
    assert _sample(page, ":tensorflow:cc:saved_model:load_attempt_count",
                   status="success") == 1
    assert re.search(r"^process_start_time_seconds \d", page, re.M)
    assert "# TYPE :tensorflow:serving:request_latency histogram" in page


def test_metrics_need_rest_and_are_off_by_default(tmp_path, toy):
    base = _base(tmp_path, toy)
    with pytest.raises(ValueError, match="REST"):
        ModelServer(single_model_config("m", base), rest_port=None, metrics_path="/m")
    with ModelServer(single_model_config("m", base), grpc_port=0, rest_port=0,
                     poll_seconds=0) as server:
        with pytest.raises(urllib.error.HTTPError) as info:
            _get(server.rest_url + DEFAULT_PATH)
        assert info.value.code == 404


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_prometheus_scrapes_the_page_and_reads_the_counts_back(tmp_path, toy):
    """The real Prometheus server (Debian's ``prometheus``) scrapes our page;
    the request counts are read back through its HTTP query API."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus binary is not installed (scripts/setup.sh installs the "
                    "Debian package as root)")
    base = _base(tmp_path, toy)
    with ModelServer(single_model_config("m", base), grpc_port=0, rest_port=0,
                     poll_seconds=0, metrics_path=DEFAULT_PATH) as server, \
            ServingClient(server.grpc_target) as client:
        for _ in range(5):
            client.predict("m", {"x": X, "tag": TAG})
        with pytest.raises(ServingError):
            client.predict("m", {"x": X, "tag": TAG}, signature="nope")
        port = _free_port()
        (tmp_path / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n"
            "scrape_configs:\n  - job_name: tfxp\n"
            f"    metrics_path: {DEFAULT_PATH}\n"
            f"    static_configs:\n      - targets: ['127.0.0.1:{server.rest_port}']\n")
        process = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            # A name with ':' at the start needs the __name__ matcher in PromQL.
            query = urllib.parse.quote('sum by (status) ({__name__='
                                       '":tensorflow:serving:request_count",model_name="m"})')
            url = f"http://127.0.0.1:{port}/api/v1/query?query={query}"
            deadline, counts = time.monotonic() + 60, {}
            while time.monotonic() < deadline:
                assert process.poll() is None, process.stderr.read().decode()[-2000:]
                try:
                    answer = json.loads(_get(url))
                    counts = {r["metric"].get("status"): float(r["value"][1])
                              for r in answer["data"]["result"]}
                except (OSError, ValueError, KeyError):
                    pass
                if counts.get("OK") == 5:
                    break
                time.sleep(0.5)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    assert counts == {"OK": 5.0, "FAILED_PRECONDITION": 1.0}


# ----- gRPC health -----

def test_health_is_not_serving_until_every_model_has_a_version(tmp_path, toy):
    ready = _base(tmp_path, toy, "ready")
    empty = tmp_path / "later"
    empty.mkdir()
    config = single_model_config("ready", ready)
    later = config.model_config_list.config.add()
    later.CopyFrom(config.model_config_list.config[0])
    later.name, later.base_path = "later", str(empty)
    with ModelServer(config, grpc_port=0, rest_port=None, poll_seconds=0,
                     enable_grpc_healthcheck_service=True) as server, \
            grpc.insecure_channel(server.grpc_target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)

        def status(service=""):
            return stub.Check(health_pb2.HealthCheckRequest(service=service),
                              timeout=10).status
        serving, not_serving = (health_pb2.HealthCheckResponse.SERVING,
                                health_pb2.HealthCheckResponse.NOT_SERVING)
        assert status() == not_serving and status("PredictionService") == not_serving
        assert status("ModelService") == serving
        assert status("ready") == serving and status("later") == not_serving
        shutil.copytree(toy, empty / "1")
        server.manager.poll()
        assert status() == serving and status("PredictionService") == serving
        assert status("later") == serving
        with pytest.raises(grpc.RpcError) as info:
            status("unknown-service")
        assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_health_service_is_off_without_the_flag(tmp_path, toy):
    with ModelServer(single_model_config("m", _base(tmp_path, toy)), grpc_port=0,
                     rest_port=None, poll_seconds=0) as server, \
            grpc.insecure_channel(server.grpc_target) as channel:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(),
                                                      timeout=10)
        assert info.value.code() == grpc.StatusCode.UNIMPLEMENTED


# ----- request logs -----

def _logging_config(base, prefix, rate=1.0, extra=""):
    return parse_config(f"""model_config_list {{ config {{
        name: 'm' base_path: '{base}' model_platform: 'tensorflow'
        logging_config {{
          log_collector_config {{ filename_prefix: '{prefix}' {extra} }}
          sampling_config {{ sampling_rate: {rate} }} }} }} }}""")


def _read_logs(paths):
    out = []
    for path in paths:
        for record in tf.data.TFRecordDataset(path):
            out.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return out


def test_request_logs_read_back_as_prediction_logs_and_rotate(tmp_path, toy):
    base = _base(tmp_path, toy)
    prefix = str(tmp_path / "logs" / "m")
    with ModelServer(_logging_config(base, prefix), grpc_port=0, rest_port=0, poll_seconds=0,
                     request_log_max_file_bytes=600) as server, \
            ServingClient(server.grpc_target) as client:
        rest = RestClient(server.rest_url)
        for i in range(4):
            client.predict("m", {"x": X * i, "tag": TAG})
        client.classify("m", toy_examples(X), signature="classification")
        with pytest.raises(ServingError):  # failures are not logged
            client.predict("m", {"x": BAD_X, "tag": TAG})  # a string x: INVALID_ARGUMENT
        rest.predict("m", {"x": X, "tag": TAG})
        assert server.request_log.flush()
        paths = server.request_log.files("m")
    logs = _read_logs(paths)
    assert len(paths) > 1  # rotated by size
    assert all(os.path.basename(p).startswith("m-") and p.endswith(".tfrecord") for p in paths)
    kinds = [entry.WhichOneof("log_type") for entry in logs]
    assert kinds == ["predict_log"] * 4 + ["classify_log", "predict_log"]
    first = logs[0]
    assert first.log_metadata.model_spec.name == "m"
    assert first.log_metadata.model_spec.version.value == 1
    assert first.log_metadata.model_spec.signature_name == "serving_default"
    assert first.log_metadata.sampling_config.sampling_rate == 1.0
    assert list(first.log_metadata.saved_model_tags) == ["serve"]
    np.testing.assert_allclose(tf.make_ndarray(logs[2].predict_log.request.inputs["x"]), X * 2)
    np.testing.assert_allclose(tf.make_ndarray(logs[2].predict_log.response.outputs["y"]),
                               [24.0])  # scale 2 * sum(2x)
    assert logs[4].classify_log.response.result.classifications
    np.testing.assert_allclose(tf.make_ndarray(logs[5].predict_log.request.inputs["x"]), X)


def test_log_files_are_named_after_the_time_they_opened_and_rotate_by_age(tmp_path):
    """A PredictionLog holds no time: ``tfxp drift`` places records in time
    by their file's name (when it opened) and modification time, so a file
    covers at most ``max_file_seconds``."""
    from tensorflow_serving.apis import model_pb2, predict_pb2
    from tfxp.serving.request_log import RequestLogger
    logger = RequestLogger(max_file_seconds=0.2)
    logger.configure(_logging_config(str(tmp_path / "base"), str(tmp_path / "logs" / "m")))
    spec = model_pb2.ModelSpec(name="m", signature_name="serving_default")
    spec.version.value = 1
    opened = []
    for _ in range(3):
        opened.append(time.time())
        logger.submit("predict", "m", spec, predict_pb2.PredictRequest(),
                      predict_pb2.PredictResponse())
        assert logger.flush()
        time.sleep(0.25)
    logger.close()
    paths = logger.files("m")
    assert len(paths) == 3 and len(_read_logs(paths)) == 3
    stamps = [int(re.search(r"m-(\d{13})-(\d{5})\.tfrecord$", p).group(1)) / 1000.0
              for p in paths]
    for stamp, before, path in zip(stamps, opened, paths):
        assert before - 0.01 <= stamp <= os.path.getmtime(path) + 0.01
    assert stamps == sorted(stamps)


def test_sampling_rate_zero_logs_nothing(tmp_path, toy):
    base = _base(tmp_path, toy)
    with ModelServer(_logging_config(base, str(tmp_path / "m"), rate=0.0), grpc_port=0,
                     rest_port=None, poll_seconds=0) as server, \
            ServingClient(server.grpc_target) as client:
        client.predict("m", {"x": X, "tag": TAG})
        assert server.request_log.flush()
        assert server.request_log.files("m") == []


def test_a_full_log_queue_drops_and_counts_instead_of_blocking(tmp_path, toy):
    from tfxp.serving.metrics import ServingMetrics
    from tfxp.serving.request_log import RequestLogger
    metrics = ServingMetrics()
    logger = RequestLogger(metrics, queue_size=2)
    # No configure(): no writer thread drains the queue, as with a hung disk.
    logger._rates = {"m": 1.0}
    blocker = logger._queue
    started = time.monotonic()
    for _ in range(50):
        logger.submit("predict_arrays", "m", None, {}, {})
    assert time.monotonic() - started < 1.0
    assert len(blocker) == 2 and logger.dropped == 48
    assert metrics.counters.value(":tensorflow:serving:request_log_dropped",
                                  model_name="m") == 48


@pytest.mark.parametrize("rate, extra, prefix, field", [
    (1.5, "", "ok", "sampling_config.sampling_rate"),
    (-0.1, "", "ok", "sampling_config.sampling_rate"),
    (1.0, "type: 'kafka'", "ok", "log_collector_config.type"),
    (1.0, "", "", "log_collector_config.filename_prefix"),
    (1.0, "", "/proc/no/such/dir/m", "log_collector_config.filename_prefix"),
])
def test_malformed_logging_config_stops_the_server_naming_the_field(tmp_path, toy, rate,
                                                                    extra, prefix, field):
    base = _base(tmp_path, toy)
    prefix = prefix if prefix != "ok" else str(tmp_path / "m")
    with pytest.raises(ValueError) as info:
        ModelServer(_logging_config(base, prefix, rate, extra), grpc_port=0, rest_port=None)
    assert field in str(info.value) and "'m'" in str(info.value)
    assert "\n" not in str(info.value)


def test_a_config_reload_turns_request_logging_on(tmp_path, toy):
    base = _base(tmp_path, toy)
    prefix = str(tmp_path / "logs" / "m")
    with ModelServer(single_model_config("m", base), grpc_port=0, rest_port=None,
                     poll_seconds=0) as server, ServingClient(server.grpc_target) as client:
        client.predict("m", {"x": X, "tag": TAG})
        assert not server.request_log.enabled
        server.core.reload_config(_reload_request(_logging_config(base, prefix)))
        client.predict("m", {"x": X, "tag": TAG})
        assert server.request_log.flush()
        assert len(_read_logs(server.request_log.files("m"))) == 1


def _reload_request(config):
    from tensorflow_serving.apis import model_management_pb2
    return model_management_pb2.ReloadConfigRequest(config=config)
