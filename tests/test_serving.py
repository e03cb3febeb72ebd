"""The model server and clients on the model the real pipeline pushed
(``dense_run``: Dense/taxi, tiny steps): answers equal in-process SavedModel
calls, metadata equals the SavedModel's, TF Serving's error contract, hot
version swaps under load, broken versions, message size limits, the CLI, and
the same client against a real ``tensorflow_model_server`` when one exists.
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import threading
import time

import grpc
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from tensorflow.python.tools import saved_model_utils
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2,
                                     get_model_status_pb2, model_pb2, predict_pb2,
                                     prediction_service_pb2_grpc, model_service_pb2_grpc)

from tfxp.serving.client import RestClient, ServingClient, make_example
from tfxp.serving.errors import ResourceExhaustedError, ServingError
from tfxp.serving.manager import AVAILABLE, END, single_model_config
from tfxp.serving.server import ModelServer
from tests.serving_checks import assert_same, in_process

MODEL = "dense"
POLL_SECONDS = 1.0
BIG = 64 * 1024 * 1024
RTOL, ATOL = 1e-6, 1e-7


@pytest.fixture(scope="module")
def dense_model(dense_run) -> str:
    """The SavedModel the pipeline pushed (the Trainer's, should it not be pushed)."""
    config, summary = dense_run
    if summary.pushed_path:
        return summary.pushed_path
    return os.path.join(summary.model_uri, "Format-Serving")


@pytest.fixture(scope="module")
def eval_examples(dense_run):
    """64 serialized eval-split tf.Examples written by the pipeline's ExampleGen."""
    from tfxp.components.infra_validator import read_examples

    config, _ = dense_run
    splits = sorted(glob.glob(os.path.join(config.pipeline_root, "CsvExampleGen", "examples",
                                           "*", "Split-eval")))
    examples = read_examples(splits[-1], 64)
    assert len(examples) == 64
    return examples


@pytest.fixture(scope="module")
def reference(dense_model):
    """The pushed SavedModel loaded in this process, independently of the server."""
    return tf.saved_model.load(dense_model)


@pytest.fixture(scope="module")
def dense_server(tmp_path_factory, dense_model):
    """Version 1 of ``dense`` on free loopback ports; limits raised to 64 MiB."""
    base = tmp_path_factory.mktemp("dense_serving") / MODEL
    shutil.copytree(dense_model, base / "1")
    server = ModelServer(single_model_config(MODEL, str(base)), grpc_port=0, rest_port=0,
                         poll_seconds=POLL_SECONDS, max_request_bytes=BIG).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def client(dense_server):
    with ServingClient(dense_server.grpc_target, timeout=60, max_message_bytes=BIG) as c:
        yield c


@pytest.fixture(scope="module")
def rest(dense_server):
    return RestClient(dense_server.rest_url, timeout=60)


# ------------------------------------------------------------------ answers

@pytest.mark.parametrize("signature", [None, "predict"])
@pytest.mark.parametrize("batch", [1, 64])
@pytest.mark.parametrize("transport", ["grpc", "rest", "rest-row"])
def test_predict_equals_the_in_process_savedmodel_call(
        transport, batch, signature, client, rest, reference, eval_examples):
    """Predict without a signature name runs serving_default (classes, scores);
    with ``predict`` it returns every output."""
    examples = eval_examples[:batch]
    if transport == "grpc":
        served = client.predict(MODEL, examples, signature=signature)
        assert (served.model_version, served.signature_name) == (
            1, signature or "serving_default")
    else:
        served = rest.predict(MODEL, examples, signature=signature,
                              row_format=transport == "rest-row")
    assert_same(served, in_process(reference, examples, signature or "serving_default"))
    assert served["scores"].shape == (batch, 2)
    assert set(served) == ({"classes", "scores"} if signature is None else
                           {"classes", "scores", "class_ids", "top_class", "probability"})


def test_raw_values_predict_equals_in_process(client, reference, eval_examples):
    """numpy/str inputs (``serving_raw``) go through make_tensor_proto and back."""
    signature = client.get_model_metadata(MODEL).signature_defs["serving_raw"]
    parsed = [tf.train.Example.FromString(e).features.feature for e in eval_examples[:8]]
    inputs = {}
    for name, info in signature.inputs.items():
        dtype = tf.dtypes.as_dtype(info.dtype)
        column = []
        for feature in parsed:
            values = getattr(feature[name], feature[name].WhichOneof("kind") or "int64_list"
                             ).value if name in feature else []
            missing = "" if dtype == tf.string else float("nan")
            column.append(values[0] if len(values) else missing)
        if dtype == tf.string:
            inputs[name] = [v.decode() if isinstance(v, bytes) else v for v in column]
        elif dtype.is_integer:
            inputs[name] = np.array([0 if v != v else v for v in column], dtype.as_numpy_dtype)
        else:
            inputs[name] = np.array(column, dtype.as_numpy_dtype)
    served = client.predict(MODEL, inputs, signature="serving_raw")
    expected = reference.signatures["serving_raw"](**{
        k: tf.constant(v, dtype=tf.dtypes.as_dtype(signature.inputs[k].dtype))
        for k, v in inputs.items()})
    assert_same(served, {k: v.numpy() for k, v in expected.items()})


def test_default_classify_answers_label_names_and_the_predict_signature_scores(
        client, rest, reference, eval_examples):
    """Classify without a signature name (gRPC, REST ``:classify``) runs
    ``serving_default``, as tensorflow_model_server does: label names as
    classes, and the scores of the in-process ``predict`` signature."""
    examples = eval_examples[:16]
    expected = in_process(reference, examples, "predict")
    grpc_answer = client.classify(MODEL, examples)
    assert grpc_answer.model_version == 1
    for answer in (grpc_answer, rest.classify(MODEL, examples)):
        assert answer.labels.tolist() == [["not_big_tipper", "big_tipper"]] * 16
        assert answer.scores.dtype == np.float32
        np.testing.assert_allclose(answer.scores, expected["scores"], rtol=RTOL, atol=ATOL)
        np.testing.assert_array_equal(np.argmax(answer.scores, axis=1), expected["class_ids"])


def test_metadata_equals_the_savedmodel_signature_defs(client, rest, dense_model):
    expected = dict(saved_model_utils.get_meta_graph_def(dense_model, "serve").signature_def)
    for answer in (client.get_model_metadata(MODEL), rest.get_model_metadata(MODEL)):
        assert (answer.name, answer.version) == (MODEL, 1)
        assert answer.signature_defs == expected
        sigs = answer.signature_defs
        assert {name: sig.method_name for name, sig in sigs.items()
                if not name.startswith("__")} == {  # __saved_model_init_op
            "serving_default": "tensorflow/serving/classify",
            "predict": "tensorflow/serving/predict",
            "serving_raw": "tensorflow/serving/predict",
            "transform_features": "tensorflow/serving/predict"}
        assert set(sigs["serving_default"].inputs) == set(sigs["predict"].inputs) == {"inputs"}
        assert set(sigs["serving_default"].outputs) == {"classes", "scores"}
        assert set(sigs["predict"].outputs) == {"classes", "scores", "class_ids", "top_class",
                                                "probability"}
    status = client.get_model_status(MODEL, version=1)
    assert [(s.version, s.state, s.error_code) for s in status] == [
        (1, "AVAILABLE", grpc.StatusCode.OK)]
    assert rest.get_model_status(MODEL, version=1) == status


# ------------------------------------------------------------------ error contract

def _tensor(dtype, shape, **values):
    return tensor_pb2.TensorProto(dtype=dtype, tensor_shape=tensor_shape_pb2.TensorShapeProto(
        dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in shape]), **values)


def _predict(spec_kwargs, inputs):
    request = predict_pb2.PredictRequest()
    if spec_kwargs is not None:
        request.model_spec.CopyFrom(model_pb2.ModelSpec(**spec_kwargs))
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(value)
    return request


EXAMPLE = _tensor(types_pb2.DT_STRING, [1], string_val=[
    make_example({"fare": 5.0, "company": "x", "payment_type": "Cash"}).SerializeToString()])

GRPC_ERROR_CONTRACT = [
    # (row name, service, method, request, code)
    ("unknown model", "predict", "Predict",
     _predict({"name": "nope"}, {"inputs": EXAMPLE}), grpc.StatusCode.NOT_FOUND),
    ("unknown version", "predict", "Predict",
     _predict({"name": MODEL, "version": {"value": 99}}, {"inputs": EXAMPLE}),
     grpc.StatusCode.NOT_FOUND),
    ("missing model name", "predict", "Predict", _predict({}, {"inputs": EXAMPLE}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("missing model spec", "predict", "Predict", _predict(None, {"inputs": EXAMPLE}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("unknown label", "predict", "Predict",
     _predict({"name": MODEL, "version_label": "canary"}, {"inputs": EXAMPLE}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("bad input alias", "predict", "Predict",
     _predict({"name": MODEL}, {"examples": EXAMPLE}), grpc.StatusCode.INVALID_ARGUMENT),
    ("extra input", "predict", "Predict",
     _predict({"name": MODEL}, {"inputs": EXAMPLE, "more": EXAMPLE}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("bad dtype", "predict", "Predict",
     _predict({"name": MODEL}, {"inputs": _tensor(types_pb2.DT_FLOAT, [1], float_val=[1.0])}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("bad shape", "predict", "Predict",
     _predict({"name": MODEL}, {"inputs": _tensor(types_pb2.DT_STRING, [1, 1],
                                                  string_val=[b"x"])}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("unparsable TensorProto", "predict", "Predict",
     _predict({"name": MODEL}, {"inputs": _tensor(types_pb2.DT_FLOAT, [1],
                                                  tensor_content=b"\x00\x01\x02")}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("malformed tf.Example", "predict", "Predict",
     _predict({"name": MODEL}, {"inputs": _tensor(types_pb2.DT_STRING, [1],
                                                  string_val=[b"\xff\xfe not a proto"])}),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("unknown signature on Predict", "predict", "Predict",
     _predict({"name": MODEL, "signature_name": "nope"}, {"inputs": EXAMPLE}),
     grpc.StatusCode.FAILED_PRECONDITION),
    ("Classify on the 5-output predict signature", "predict", "Classify",
     classification_pb2.ClassificationRequest(
         model_spec=model_pb2.ModelSpec(name=MODEL, signature_name="predict")),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("Classify without examples", "predict", "Classify",
     classification_pb2.ClassificationRequest(model_spec=model_pb2.ModelSpec(name=MODEL)),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("metadata without model spec", "predict", "GetModelMetadata",
     get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"]),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("metadata of an unknown model", "predict", "GetModelMetadata",
     get_model_metadata_pb2.GetModelMetadataRequest(
         model_spec=model_pb2.ModelSpec(name="nope"), metadata_field=["signature_def"]),
     grpc.StatusCode.NOT_FOUND),
    ("status of an unknown model", "model", "GetModelStatus",
     get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(name="nope")),
     grpc.StatusCode.NOT_FOUND),
    ("status of an unknown version", "model", "GetModelStatus",
     get_model_status_pb2.GetModelStatusRequest(model_spec=model_pb2.ModelSpec(
         name=MODEL, version={"value": 99})), grpc.StatusCode.NOT_FOUND),
]


@pytest.mark.parametrize("row", GRPC_ERROR_CONTRACT, ids=[r[0] for r in GRPC_ERROR_CONTRACT])
def test_grpc_error_contract(row, dense_server):
    _, service, method, request, code = row
    channel = grpc.insecure_channel(dense_server.grpc_target)
    stub = (prediction_service_pb2_grpc.PredictionServiceStub(channel) if service == "predict"
            else model_service_pb2_grpc.ModelServiceStub(channel))
    with pytest.raises(grpc.RpcError) as err:
        getattr(stub, method)(request, timeout=60)
    channel.close()
    assert err.value.code() == code, err.value.details()


REST_ERROR_CONTRACT = [
    ("unknown model", "POST", "/v1/models/nope:predict", b'{"instances": ["x"]}', 404),
    ("unknown version", "POST", f"/v1/models/{MODEL}/versions/99:predict",
     b'{"instances": ["x"]}', 404),
    ("unknown label", "GET", f"/v1/models/{MODEL}/labels/canary/metadata", b"", 400),
    ("missing model name", "GET", "/v1/models", b"", 400),
    ("unknown signature", "POST", f"/v1/models/{MODEL}:predict",
     b'{"signature_name": "nope", "instances": ["x"]}', 400),
    ("bad input alias", "POST", f"/v1/models/{MODEL}:predict",
     b'{"inputs": {"examples": ["x"]}}', 400),
    ("bad dtype", "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [1.5]}', 400),
    ("bad shape", "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [["x"]]}', 400),
    ("malformed JSON", "POST", f"/v1/models/{MODEL}:predict", b'{"instances": [', 400),
    ("unknown verb", "POST", f"/v1/models/{MODEL}:explain", b"{}", 400),
]


@pytest.mark.parametrize("row", REST_ERROR_CONTRACT, ids=[r[0] for r in REST_ERROR_CONTRACT])
def test_rest_error_contract(row, dense_server):
    import json
    import urllib.error
    import urllib.request

    _, method, path, body, status = row
    request = urllib.request.Request(dense_server.rest_url + path,
                                     data=body if method == "POST" else None, method=method)
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=60)
    assert err.value.code == status
    assert isinstance(json.loads(err.value.read())["error"], str)


# ------------------------------------------------------------------ versions

def test_new_version_pushed_under_load_is_picked_up_within_the_poll_interval(
        tmp_path, dense_model, eval_examples):
    base = tmp_path / MODEL
    shutil.copytree(dense_model, base / "1")
    with ModelServer(single_model_config(MODEL, str(base)), grpc_port=0, rest_port=None,
                     poll_seconds=POLL_SECONDS) as server:
        stop, failures, answers = threading.Event(), [], []

        def send(i):
            with ServingClient(server.grpc_target, timeout=60) as client:
                while not stop.is_set():
                    try:
                        out = client.predict(MODEL, eval_examples[i:i + 1])
                        answers.append((time.monotonic(), out.model_version))
                    except ServingError as err:
                        failures.append(err)
                    time.sleep(0.02)
        threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        try:
            time.sleep(1.0)
            # Publish version 2 as the Pusher does: copy beside, then rename.
            shutil.copytree(dense_model, base / ".push-test")
            pushed_at = time.monotonic()
            os.rename(base / ".push-test", base / "2")
            deadline = pushed_at + 180
            while time.monotonic() < deadline:
                old = server.manager.version_state(MODEL, 1)
                if old.state == END and any(v == 2 for _, v in answers[-8:]):
                    break
                time.sleep(0.1)
            time.sleep(0.5)
        finally:
            stop.set()
            for t in threads:
                t.join()
        new = server.manager.version_state(MODEL, 2)
    assert not failures, failures[:3]
    assert new.state == AVAILABLE and new.error is None
    # Seen by the next poll: within one interval (plus scheduling slack on 2 cores).
    assert new.detected_at - pushed_at <= POLL_SECONDS + 1.0
    assert old.state == END  # unloaded only after version 2 was available
    # Requests switch over as soon as it is available (answers are timed at
    # completion; a 2-core machine shared with other work can be slow).
    first_v2 = min(t for t, v in answers if v == 2)
    assert new.available_at <= first_v2 <= new.available_at + 5.0
    assert all(v == 2 for t, v in answers if t > new.available_at + 10.0)
    assert sum(1 for _, v in answers if v == 1) > 8  # it really served during the swap


def test_a_broken_version_folder_does_not_take_the_model_down(
        dense_server, client, reference, eval_examples):
    base = os.path.dirname(dense_server.manager.version_state(MODEL, 1).path)
    broken = os.path.join(base, "7")
    os.makedirs(broken)
    with open(os.path.join(broken, "saved_model.pb"), "wb") as f:
        f.write(b"\x0a\xff\xff truncated")
    os.makedirs(os.path.join(base, "not_a_version"))
    try:
        deadline = time.monotonic() + POLL_SECONDS + 30
        while time.monotonic() < deadline:
            states = {s.version: s for s in client.get_model_status(MODEL)}
            if 7 in states and states[7].state == "END":
                break
            time.sleep(0.1)
        assert states[7].state == "END" and states[7].error_code != grpc.StatusCode.OK
        assert "SavedModel" in states[7].error_message
        assert states[1].state == "AVAILABLE"
        assert set(states) == {1, 7}  # not_a_version is no version
        served = client.predict(MODEL, eval_examples[:4])
        assert served.model_version == 1
        assert_same(served, in_process(reference, eval_examples[:4]))
    finally:
        shutil.rmtree(broken)
        shutil.rmtree(os.path.join(base, "not_a_version"))


def test_requests_over_4mb_work_only_when_the_limits_are_raised(
        tmp_path, dense_server, dense_model, reference, eval_examples):
    example = tf.train.Example.FromString(eval_examples[0])
    example.features.feature["padding"].bytes_list.value.append(b"\x00" * (5 << 20))
    big = [example.SerializeToString()]
    assert len(big[0]) > 5 << 20
    # Raised on both ends: served, and equal to in-process.
    with ServingClient(dense_server.grpc_target, timeout=60, max_message_bytes=BIG) as raised:
        assert_same(raised.predict(MODEL, big), in_process(reference, big))
    # The client's default limit stops it at the client ...
    with ServingClient(dense_server.grpc_target, timeout=60) as default_client:
        with pytest.raises(ResourceExhaustedError):
            default_client.predict(MODEL, big)
    # ... and a server with the default limit refuses it.
    base = tmp_path / MODEL
    shutil.copytree(dense_model, base / "1")
    with ModelServer(single_model_config(MODEL, str(base)), grpc_port=0, rest_port=None,
                     poll_seconds=0) as server, \
            ServingClient(server.grpc_target, timeout=60, max_message_bytes=BIG) as c:
        with pytest.raises(ResourceExhaustedError) as err:
            c.predict(MODEL, big)
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert c.predict(MODEL, eval_examples[:2]).model_version == 1  # small ones still work


# ------------------------------------------------------------------ CLI

def test_cli_predict_prints_top_classes_over_grpc_and_rest(dense_server, capsys):
    from tfxp.cli.main import main
    from tfxp.core.datasets import taxi_csv_dir

    csv_path = os.path.join(taxi_csv_dir(), "data.csv")
    outputs = []
    for transport in (["--server", dense_server.grpc_target],
                      ["--rest", "--rest-url", dense_server.rest_url]):
        code = main(["predict", "--model", MODEL, "--csv", csv_path, "--rows", "0:3",
                     "--top", "2", *transport])
        out = capsys.readouterr().out.strip().splitlines()
        assert code == 0
        outputs.append(out)
    assert outputs[0] == outputs[1] and len(outputs[0]) == 3
    for line in outputs[0]:
        fields = line.split()
        assert {fields[1], fields[3]} == {"big_tipper", "not_big_tipper"}
        assert float(fields[2]) + float(fields[4]) == pytest.approx(1.0, abs=2e-3)
    assert main(["predict", "--model", "nope", "--server", dense_server.grpc_target,
                 "--csv", csv_path]) == 1
    assert "NOT_FOUND" in capsys.readouterr().err


def test_cli_predict_names_the_row_without_a_required_feature(dense_server, capsys, tmp_path):
    """The server refuses the batch with TF's parser message, which names the
    feature but no example; the CLI names the row, over gRPC and REST."""
    from tfxp.cli.main import main
    from tfxp.core.datasets import taxi_csv_dir

    with open(os.path.join(taxi_csv_dir(), "data.csv")) as f:
        lines = f.read().splitlines()[:4]
    header = lines[0].split(",")
    cells = lines[2].split(",")
    assert len(cells) == len(header)
    cells[header.index("trip_start_hour")] = ""
    lines[2] = ",".join(cells)
    path = tmp_path / "rows.csv"
    path.write_text("\n".join(lines) + "\n")
    for transport in (["--server", dense_server.grpc_target],
                      ["--rest", "--rest-url", dense_server.rest_url]):
        assert main(["predict", "--model", MODEL, "--csv", str(path), *transport]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err == [f"tfxp: error: INVALID_ARGUMENT: {path}: row 2: no value for "
                       f"'trip_start_hour', which the model requires (its schema gives "
                       f"'trip_start_hour' one value in every example; an empty cell is a "
                       f"missing value)"], err
    # rows past the one without it are not blamed: rows 3.. are all whole
    assert main(["predict", "--model", MODEL, "--csv", str(path), "--rows", "2:3",
                 "--server", dense_server.grpc_target]) == 0
    capsys.readouterr()


# ------------------------------------------------------------------ real TF Serving

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("tensorflow_model_server") is None,
                    reason="tensorflow_model_server is not on PATH (it ships only in Google's "
                           "apt repository and Docker images, unreachable here; see "
                           "shared/STACK.md), so the client is not checked against it")
def test_client_against_a_real_tensorflow_model_server(tmp_path, dense_model, reference,
                                                       eval_examples):
    base = tmp_path / MODEL
    shutil.copytree(dense_model, base / "1")
    port, rest_port = _free_port(), _free_port()
    process = subprocess.Popen(
        ["tensorflow_model_server", f"--port={port}", f"--rest_api_port={rest_port}",
         f"--model_name={MODEL}", f"--model_base_path={base}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with ServingClient(f"127.0.0.1:{port}", timeout=60, max_attempts=30,
                           initial_backoff=0.2) as real:
            assert real.wait_until_available(MODEL, timeout=120) == 1
            assert_same(real.predict(MODEL, eval_examples), in_process(reference,
                                                                       eval_examples))
            rest_answer = RestClient(f"http://127.0.0.1:{rest_port}").predict(
                MODEL, eval_examples[:4])
            assert_same(rest_answer, in_process(reference, eval_examples[:4]))
            expected = dict(saved_model_utils.get_meta_graph_def(str(base / "1"), "serve")
                            .signature_def)
            assert real.get_model_metadata(MODEL).signature_defs == expected
            # Classify without a signature name runs serving_default, over
            # gRPC and over REST (whose answer is under "results").
            expected_scores = in_process(reference, eval_examples[:4], "predict")["scores"]
            rest = RestClient(f"http://127.0.0.1:{rest_port}")
            for classified in (real.classify(MODEL, eval_examples[:4]),
                               rest.classify(MODEL, eval_examples[:4])):
                np.testing.assert_allclose(classified.scores, expected_scores, rtol=1e-5)
                assert classified.labels.tolist() == [["not_big_tipper", "big_tipper"]] * 4
            # Predict answers in typed fields (predict_util.cc kAsProtoField),
            # which the client reads as it reads ours.
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            request = _predict({"name": MODEL}, {"inputs": _tensor(
                types_pb2.DT_STRING, [4], string_val=eval_examples[:4])})
            response = prediction_service_pb2_grpc.PredictionServiceStub(channel).Predict(
                request, timeout=60)
            channel.close()
            np.testing.assert_allclose(np.reshape(response.outputs["scores"].float_val,
                                                  (4, 2)),
                                       in_process(reference, eval_examples[:4])["scores"],
                                       rtol=1e-5)
            for call, code in [
                    (lambda: real.predict("nope", eval_examples[:1]), grpc.StatusCode.NOT_FOUND),
                    (lambda: real.predict(MODEL, eval_examples[:1], signature="nope"),
                     grpc.StatusCode.FAILED_PRECONDITION),
                    (lambda: real.predict(MODEL, eval_examples[:1], version=99),
                     grpc.StatusCode.NOT_FOUND)]:
                with pytest.raises(ServingError) as err:
                    call()
                assert err.value.code == code
    finally:
        process.terminate()
        process.wait(timeout=30)
