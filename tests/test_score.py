"""``tfxp score``: batch scoring with BulkInferrer's RunInference gives the
server's answers for the same inputs, per modality, in CSV and in
PredictionLog TFRecords; regress, multi-inference and predict signatures
give their own logs; bad input is one line, exit code 2, and leaves the
output and the workspace as they were.

Models: the Dense/taxi model the real pipeline pushed (``dense_run``, scored
from its workspace: latest version); the CNN and LSTM SavedModels of the
real export, untrained (``exported_image_model``, ``exported_text_model``: a
pipeline run each would cost minutes, and what is tested is that scoring
answers what serving answers, not what the model learned); TF Serving's
half_plus_two test model and the toy model for the other signature methods.
The server is the project's in-process TF Serving (``serving.server``),
asked over gRPC with the examples ``tfxp predict`` would send.
"""
from __future__ import annotations

import csv
import glob
import gzip
import hashlib
import os
import shutil
import types

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_serving.apis import prediction_log_pb2

from tfxp.cli.main import main
from tfxp.core import features as F
from tfxp.core.datasets import taxi_csv_dir
from tfxp.core.signatures import RAW_SIGNATURE
from tfxp.core.workspace import Workspace
from tfxp.serving import inputs
from tfxp.serving.client import ServingClient, make_example
from tfxp.serving.manager import read_signature_defs, single_model_config
from tfxp.serving.server import ModelServer
from tests.serving_checks import ATOL, RTOL
from tests.taxi_rows import read_rows

MODEL = "dense"
ROWS = 120


def score(capsys, *args: str):
    """Runs ``tfxp score ARGS``; returns (exit code, stdout, stderr lines)."""
    code = main(["score", *args])
    out, err = capsys.readouterr()
    return code, out, [line for line in err.splitlines() if line.strip()]


def read_csv(path: str):
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def read_logs(folder: str):
    logs = []
    for path in sorted(glob.glob(os.path.join(folder, "prediction_logs-*.gz"))):
        for record in tf.data.TFRecordDataset(path, compression_type="GZIP"):
            logs.append(prediction_log_pb2.PredictionLog.FromString(record.numpy()))
    return logs


def tree_digest(folder: str) -> str:
    """Names, sizes and bytes of every file under ``folder``."""
    digest = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            digest.update(path.encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    return digest.hexdigest()


def serve(name: str, base: str):
    """An in-process model server on free loopback ports over ``base``."""
    return ModelServer(single_model_config(name, base), grpc_port=0, rest_port=0,
                       poll_seconds=0).start()


@pytest.fixture(scope="module")
def dense(dense_run, tmp_path_factory):
    """The pushed Dense model, its workspace, a server on its serving base,
    a CSV of the first ``ROWS`` taxi rows and the eval split's TFRecords."""
    config, summary = dense_run
    assert summary.pushed_path, "the pipeline pushed nothing"
    folder = tmp_path_factory.mktemp("score_inputs")
    csv_path = str(folder / "taxi.csv")
    rows = read_rows(ROWS)
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    [split] = sorted(glob.glob(os.path.join(config.pipeline_root, "CsvExampleGen", "examples",
                                            "*", "Split-eval")))[-1:]
    server = serve(MODEL, Workspace(config.workspace).serving_base(MODEL))
    client = ServingClient(server.grpc_target, timeout=60, max_message_bytes=64 << 20)
    yield types.SimpleNamespace(workspace=config.workspace, pushed=summary.pushed_path,
                                csv=csv_path, split=split, client=client, folder=folder)
    client.close()
    server.stop()


def served_scores(client, name: str, examples):
    """The server's Classify of ``examples`` (default signature): labels, scores."""
    answer = client.classify(name, examples)
    labels = [[c.decode() if isinstance(c, bytes) else c for c in row] for row in answer.labels]
    return labels, answer.scores


def assert_csv_matches(rows, labels, scores):
    """The CSV's score columns equal the server's scores, its top class the
    server's argmax."""
    assert len(rows) == len(scores)
    names = labels[0]
    got = np.array([[np.float32(row[f"score_{n}"]) for n in names] for row in rows])
    np.testing.assert_allclose(got, scores, rtol=RTOL, atol=ATOL)
    assert [row["top_class"] for row in rows] == [names[i] for i in np.argmax(scores, 1)]
    np.testing.assert_allclose([np.float32(row["top_score"]) for row in rows],
                               scores.max(axis=1), rtol=RTOL, atol=ATOL)


def test_csv_rows_score_as_the_server_classifies_them_in_input_order(dense, tmp_path,
                                                                     capsys):
    out = str(tmp_path / "out")
    code, stdout, err = score(capsys, "--model", MODEL, "--workspace", dense.workspace,
                              "--input", dense.csv, "--output", out)
    assert code == 0, err
    version = os.path.basename(dense.pushed)
    assert f"scored {ROWS} examples from 1 csv file(s) with model 'dense' version {version}" \
        in stdout and "examples/s" in stdout
    header, rows = read_csv(os.path.join(out, "predictions.csv"))
    assert header == ["input", "row", "top_class", "top_score", "score_not_big_tipper",
                      "score_big_tipper"]
    assert [(r["input"], r["row"]) for r in rows] == [(dense.csv, str(i))
                                                     for i in range(1, ROWS + 1)]
    dtypes = {k: v.dtype for k, v in read_signature_defs(dense.pushed)["serving_raw"]
              .inputs.items()}
    examples = inputs.csv_examples(dense.csv, slice(None), dtypes)  # what `tfxp predict` sends
    assert_csv_matches(rows, *served_scores(dense.client, MODEL, examples))
    assert sorted(os.listdir(out)) == ["predictions.csv", "score.json"]

    # Never overwritten silently: refused, untouched; replaced with --overwrite.
    before = tree_digest(out)
    code, _, err = score(capsys, "--model", MODEL, "--workspace", dense.workspace,
                         "--input", dense.csv, "--output", out)
    assert code == 2 and len(err) == 1 and "already holds results (predictions.csv, " \
        "score.json); pass --overwrite" in err[0]
    assert tree_digest(out) == before
    with open(dense.csv) as f:
        few = f.readlines()[:4]
    few_csv = tmp_path / "few.csv"
    few_csv.write_text("".join(few))
    code, _, err = score(capsys, "--model", MODEL, "--workspace", dense.workspace,
                         "--input", str(few_csv), "--output", out, "--overwrite")
    assert code == 0, err
    _, replaced = read_csv(os.path.join(out, "predictions.csv"))
    assert [r["row"] for r in replaced] == ["1", "2", "3"]
    assert sorted(os.listdir(out)) == ["predictions.csv", "score.json"]


def test_tfrecords_give_prediction_logs_that_equal_the_server(dense, tmp_path, capsys):
    """ExampleGen's eval split (GZIP TFRecords) in, BulkInferrer's
    ``prediction_logs-*.gz`` out, on the ``direct`` Beam preset: one
    classify log per record, with the record as its request, the model's
    name and version as its metadata, the server's scores as its response."""
    out = str(tmp_path / "out")
    code, _, err = score(capsys, "--model", MODEL, "--workspace", dense.workspace,
                         "--input", os.path.join(dense.split, "*"), "--output", out,
                         "--format", "tfrecord", "--beam-preset", "direct")
    assert code == 0, err
    records = []
    for path in sorted(glob.glob(os.path.join(dense.split, "*"))):
        records += [r.numpy() for r in tf.data.TFRecordDataset(path, compression_type="GZIP")]
    logs = read_logs(out)
    assert len(logs) == len(records) > 1000
    assert {log.WhichOneof("log_type") for log in logs} == {"classify_log"}
    meta = logs[0].log_metadata
    assert (meta.model_spec.name, meta.model_spec.version.value,
            meta.model_spec.signature_name, list(meta.saved_model_tags)) == (
        MODEL, int(os.path.basename(dense.pushed)), "serving_default", ["serve"])
    # Beam does not keep the order; each log carries its input.
    requests = [log.classify_log.request.input.example_list.examples[0] for log in logs]
    assert sorted(r.SerializeToString() for r in requests) == sorted(
        tf.train.Example.FromString(r).SerializeToString() for r in records)
    sample = logs[:256]
    labels, scores = served_scores(dense.client, MODEL, [
        log.classify_log.request.input.example_list.examples[0] for log in sample])
    for log, names, want in zip(sample, labels, scores):
        [result] = log.classify_log.response.result.classifications
        assert [c.label for c in result.classes] == names
        np.testing.assert_allclose([c.score for c in result.classes], want, rtol=RTOL,
                                   atol=ATOL)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """TF Serving's half_plus_two test model as a TF1 graph (``tests.
    tfserving_models``: ``regress_x_to_y``, ``regress_x_to_y2`` and
    ``classify_x_to_y`` share one examples input, as a MultiInference needs)
    and the toy model with every method ``predict`` (``tests.serving_toy``),
    each version 1 of a server, and TFRecords of 12 examples for each."""
    from tests.serving_toy import toy_examples, write_toy_model
    from tests.tfserving_models import write_tf1_half_plus_two

    folder = tmp_path_factory.mktemp("small")
    write_tf1_half_plus_two(str(folder / "hpt" / "1"))
    write_toy_model(str(folder / "toy" / "1"), methods=False)
    rng = np.random.default_rng(0)
    records = {"hpt": [make_example({"x": [v]}).SerializeToString()
                       for v in rng.normal(size=12)],
               "toy": list(toy_examples(rng.normal(size=(12, 3))))}
    for name, examples in records.items():
        with tf.io.TFRecordWriter(str(folder / f"{name}.tfrecord")) as writer:
            for record in examples:
                writer.write(record)
    servers = {name: serve(name, str(folder / name)) for name in records}
    clients = {name: ServingClient(s.grpc_target, timeout=60) for name, s in servers.items()}
    yield types.SimpleNamespace(
        model={name: str(folder / name / "1") for name in records},
        input={name: str(folder / f"{name}.tfrecord") for name in records},
        records=records, client=clients)
    for name in records:
        clients[name].close()
        servers[name].stop()


def test_regress_multi_inference_and_predict_logs_follow_the_signature_methods(
        small, tmp_path, capsys, monkeypatch):
    """One regress signature gives ``regress_log``s (CSV ``value``), a classify
    and a regress one together a ``multi_inference_log`` (CSV columns would be
    prefixed by signature), a predict-method one a ``predict_log`` (a CSV
    column per output element); each equals the server's answer to the same
    examples. On a cluster runner (faked: ``runs_locally`` says no) the CSV
    rows go to ``predictions-SSSSS-of-NNNNN.csv`` shards, each with the header."""
    from tfxp.pipeline import beam_presets

    hpt = ["--model", "hpt", "--model-dir", small.model["hpt"], "--input", small.input["hpt"]]
    records = small.records["hpt"]
    monkeypatch.setattr(beam_presets, "runs_locally", lambda args: False)
    code, _, err = score(capsys, *hpt, "--signature", "regress_x_to_y",
                         "--output", str(tmp_path / "regress"))
    assert code == 0, err
    rows = []
    for shard in sorted(glob.glob(str(tmp_path / "regress" / "predictions-*-of-*.csv"))):
        header, part = read_csv(shard)
        assert header == ["input", "row", "value"]
        rows += part
    rows.sort(key=lambda r: int(r["row"]))
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 13)]
    served = small.client["hpt"].regress("hpt", records, signature="regress_x_to_y").values
    np.testing.assert_allclose([np.float32(r["value"]) for r in rows], served, rtol=RTOL)
    monkeypatch.undo()

    code, _, err = score(capsys, *hpt, "--signature", "classify_x_to_y", "--signature",
                         "regress_x_to_y2", "--format", "tfrecord",
                         "--output", str(tmp_path / "multi"))
    assert code == 0, err
    classified, regressed = small.client["hpt"].multi_inference(
        "hpt", records, [("classify_x_to_y", "classify"), ("regress_x_to_y2", "regress")])
    logs = read_logs(str(tmp_path / "multi"))
    order = [records.index(log.multi_inference_log.request.input.example_list.examples[0]
                           .SerializeToString()) for log in logs]
    assert sorted(order) == list(range(12))
    for log, i in zip(logs, order):
        first, second = log.multi_inference_log.response.results
        assert (first.model_spec.signature_name, second.model_spec.signature_name) == (
            "classify_x_to_y", "regress_x_to_y2")
        [classes] = first.classification_result.classifications
        np.testing.assert_allclose([c.score for c in classes.classes], classified.scores[i],
                                   rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(second.regression_result.regressions[0].value,
                                   regressed.values[i], rtol=RTOL)

    code, _, err = score(capsys, "--model", "toy", "--model-dir", small.model["toy"],
                         "--input", small.input["toy"], "--signature", "classification",
                         "--output", str(tmp_path / "predict"))
    assert code == 0, err
    header, rows = read_csv(str(tmp_path / "predict" / "predictions.csv"))
    assert header == ["input", "row", "classes_0", "classes_1", "classes_2", "scores_0",
                      "scores_1", "scores_2"]
    assert [r["row"] for r in rows] == [str(i) for i in range(1, 13)]
    served = small.client["toy"].predict("toy", small.records["toy"], signature="classification")
    assert [[r[f"classes_{j}"] for j in range(3)] for r in rows] == [
        [c.decode() for c in row] for row in served["classes"]]
    np.testing.assert_allclose([[np.float32(r[f"scores_{j}"]) for j in range(3)] for r in rows],
                               served["scores"], rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def image_server(exported_image_model, tmp_path_factory):
    base = tmp_path_factory.mktemp("image_serving") / "cnn"
    shutil.copytree(exported_image_model, base / "1")
    server = serve("cnn", str(base))
    yield server
    server.stop()


def test_png_files_score_as_the_server_classifies_them(exported_image_model, image_server,
                                                       data_dir, tmp_path, capsys):
    from tfxp.components.tfds_builders.fashion_mnist import read_idx

    images = read_idx(os.path.join(data_dir, "fashion_mnist", "t10k-images-idx3-ubyte.gz"))[:5]
    folder = tmp_path / "images"
    folder.mkdir()
    for i, image in enumerate(images):
        tf.io.write_file(str(folder / f"{i}.png"), tf.io.encode_png(image[..., np.newaxis]))
    out = str(tmp_path / "out")
    code, _, err = score(capsys, "--model", "cnn", "--model-dir", exported_image_model,
                         "--input", str(folder / "*.png"), "--output", out)
    assert code == 0, err
    header, rows = read_csv(os.path.join(out, "predictions.csv"))
    assert header[:4] == ["input", "row", "top_class", "top_score"]
    assert header[4:] == [f"score_{name}" for name in
                          ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                           "Shirt", "Sneaker", "Bag", "Ankle boot")]
    assert [(r["input"], r["row"]) for r in rows] == [(str(folder / f"{i}.png"), "1")
                                                     for i in range(5)]
    with ServingClient(image_server.grpc_target, timeout=60) as client:
        assert_csv_matches(rows, *served_scores(client, "cnn", inputs.image_examples(images)))


def test_text_lines_score_as_the_server_classifies_them(exported_text_model, tmp_path,
                                                        capsys):
    lines = ["A moving, beautifully acted film.", "", "Dull and far too long.",
             "great plot, boring acting, funny story " * 12, "   ", "bad"]
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(lines) + "\n")
    out = str(tmp_path / "out")
    code, _, err = score(capsys, "--model", "lstm", "--model-dir", exported_text_model,
                         "--input", str(path), "--output", out)
    assert code == 0, err
    _, rows = read_csv(os.path.join(out, "predictions.csv"))
    assert [r["row"] for r in rows] == ["1", "3", "4", "6"]  # blank lines skipped, numbered
    base = tmp_path / "serving" / "lstm"
    shutil.copytree(exported_text_model, base / "1")
    server = serve("lstm", str(base))
    try:
        with ServingClient(server.grpc_target, timeout=60) as client:
            texts = [{F.TEXT_KEY: line} for line in lines if line.strip()]
            assert_csv_matches(rows, *served_scores(client, "lstm", texts))
    finally:
        server.stop()


# ------------------------------------------------------------------ bad input

def _png(path) -> str:
    tf.io.write_file(str(path), tf.io.encode_png(np.zeros((28, 28, 1), np.uint8)))
    return str(path)


def _image_tfrecord(path) -> str:
    with tf.io.TFRecordWriter(str(path)) as writer:
        writer.write(make_example({F.IMAGE_KEY: np.zeros(784, np.int64)}).SerializeToString())
    return str(path)


def _truncated_gzip(path, dense) -> str:
    """ExampleGen's eval split cut in the middle: a sound GZIP stream of a
    TFRecord file that ends inside a record."""
    [source] = glob.glob(os.path.join(dense.split, "*.gz"))[:1]
    with open(source, "rb") as f:
        data = gzip.decompress(f.read())
    with open(path, "wb") as f:
        f.write(gzip.compress(data[:len(data) // 2]))
    return str(path)


def _write(path, data) -> str:
    if isinstance(data, str):
        path.write_text(data)
    else:
        path.write_bytes(data)
    return str(path)


def _taxi_text(rows: int) -> str:
    """The taxi CSV's header and its first ``rows`` rows."""
    with open(os.path.join(taxi_csv_dir(), "data.csv")) as f:
        return "".join(f.readlines()[:rows + 1])


def _mixed(folder) -> str:
    _write(folder / "a.csv", "x\n1\n")
    _png(folder / "b.png")
    return str(folder / "*")


def _dangling(folder) -> str:
    """A glob matching one CSV that cannot be opened (a link to nothing)."""
    os.symlink(str(folder / "gone.csv"), str(folder / "x.csv"))
    return str(folder / "*.csv")


def _bad_cell(folder) -> str:
    """Three good taxi rows, then the first again with 'twelve' as its fare."""
    first = _taxi_text(1).splitlines()[1]
    assert ",12.45," in first
    return _write(folder / "x.csv", _taxi_text(3) + first.replace(",12.45,", ",twelve,") + "\n")


def _empty_required_cell(folder) -> str:
    """Three good taxi rows, then the first again with its trip_start_hour
    (required: shape [1] in the schema) left empty."""
    lines = _taxi_text(1).splitlines()
    cells = next(csv.reader([lines[1]]))
    cells[next(csv.reader([lines[0]])).index("trip_start_hour")] = ""
    return _write(folder / "x.csv", _taxi_text(3) + ",".join(cells) + "\n")


def _first_row_without_required(folder) -> str:
    """Three taxi rows, the first with its trip_start_hour left empty (met by
    the set-up's probe of the first input, before the Beam pipeline)."""
    lines = _taxi_text(3).splitlines()
    cells = next(csv.reader([lines[1]]))
    cells[next(csv.reader([lines[0]])).index("trip_start_hour")] = ""
    lines[1] = ",".join(cells)
    return _write(folder / "x.csv", "\n".join(lines) + "\n")


def _tfrecord_without_required(folder, dense, empty_list: bool = False) -> str:
    """Three taxi rows as TFRecords typed as the model's raw signature types
    them (``tfxp predict``'s reader), the second without trip_start_hour or,
    with ``empty_list``, holding it with no values (how CsvExampleGen writes
    an empty cell)."""
    import io

    sigdef = read_signature_defs(dense.pushed)[RAW_SIGNATURE]
    dtypes = {k: v.dtype for k, v in sigdef.inputs.items()}
    path = str(folder / "x.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        for number, features in inputs.iter_csv_examples(io.StringIO(_taxi_text(3)), "x",
                                                         dtypes):
            if number == 2:
                del features["trip_start_hour"]
            example = make_example(features)
            if number == 2 and empty_list:
                example.features.feature["trip_start_hour"].int64_list.SetInParent()
            writer.write(example.SerializeToString())
    return path


def _short_row(folder) -> str:
    """Three good taxi rows, then one cut to three cells."""
    return _write(folder / "x.csv", _taxi_text(3) + "8,1,2\n")


# (name, input maker (tmp, dense) -> --input, extra args, expected message part)
BAD_INPUTS = [
    ("missing input", lambda t, d: str(t / "nope.csv"), [], "does not exist"),
    ("empty glob", lambda t, d: str(t / "*.csv"), [], "no file matches --input"),
    ("folder", lambda t, d: str(t), [], "is a folder; give a file or a glob"),
    ("unknown ending", lambda t, d: _write(t / "rows.json", "{}"), [], "unknown input kind"),
    ("mixed kinds", lambda t, d: _mixed(t), [], "mixes csv and png files"),
    ("PNG for the taxi model", lambda t, d: _png(t / "a.png"), [],
     "is a png input, but model 'dense' version"),
    ("image TFRecords for the taxi model", lambda t, d: _image_tfrecord(t / "img.tfrecord"),
     [], "record 1 does not fit model 'dense'"),
    ("CSV without the model's columns", lambda t, d: _write(t / "x.csv", "fare,tips\n1.0,0\n"),
     [], "missing column(s) company, dropoff_community_area"),
    ("CSV with a header only", lambda t, d: _write(t / "x.csv", _taxi_text(0)), [],
     "no inputs to score: the 1 csv file(s) that --input"),
    ("unreadable file", lambda t, d: _dangling(t), [], "x.csv: cannot read it (No such file"),
    ("binary CSV", lambda t, d: _write(t / "x.csv", b"\x89PNG\r\n\x1a\n\xff\xfe"), [],
     "not UTF-8 text"),
    ("bad cell past the first row (met in the Beam worker)", lambda t, d: _bad_cell(t), [],
     "row 4, column 'fare': 'twelve' is not a valid float"),
    ("empty required cell past the first row (the model refuses it)",
     lambda t, d: _empty_required_cell(t), [],
     "x.csv: row 4: no value for 'trip_start_hour', which the model requires"),
    ("TFRecord example without a required feature (the model refuses it)",
     lambda t, d: _tfrecord_without_required(t, d), [],
     "x.tfrecord: record 2: no value for 'trip_start_hour', which the model requires"),
    ("empty required cell in the first row (met by the set-up's probe)",
     lambda t, d: _first_row_without_required(t), [],
     "x.csv: row 1: no value for 'trip_start_hour', which the model requires"),
    ("TFRecord example whose required feature holds no values",
     lambda t, d: _tfrecord_without_required(t, d, empty_list=True), [],
     "x.tfrecord: record 2: no value for 'trip_start_hour', which the model requires"),
    ("short row past the first (met in the Beam worker)", lambda t, d: _short_row(t), [],
     "x.csv: row 4 has 3 cell(s); the header names "),
    ("truncated TFRecord (met in the Beam worker)", lambda t, d: _truncated_gzip(t / "x.gz", d),
     [], "not a GZIP TFRecord file, or truncated after record"),
    ("unknown model", None, ["--model", "nope"], "unknown model 'nope': no "),
    ("version not pushed", None, ["--version", "7"], "model 'dense' has no version 7; "
     "pushed versions: "),
    ("unknown signature", None, ["--signature", "nope"], "has no signature 'nope'; its "
     "signatures: predict, serving_default, serving_raw, transform_features"),
    ("raw signature", None, ["--signature", "serving_raw"], "batch scoring feeds serialized "
     "tf.Examples to a signature with one string input"),
    ("predict signature (tfx_bsl cannot log its 1-D string output)", None,
     ["--signature", "predict"], "has the 1-D string output 'top_class', which TFX's "
     "RunInference (tfx_bsl 1.16) cannot log"),
    ("output in the serving folder", None, ["--output", "@serving"],
     "lies inside the workspace's pushed models"),
    ("Beam preset without its cluster", None, ["--beam-preset", "flink"],
     "Beam preset 'flink' needs --job_endpoint"),
]


@pytest.mark.parametrize("name,make,extra,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(dense, tmp_path, capsys, name,
                                                         make, extra, message):
    folder = tmp_path / "in"
    folder.mkdir()
    given = make(folder, dense) if make else dense.csv
    out = str(tmp_path / "out")
    extra = [os.path.join(dense.workspace, "serving", MODEL, "x") if a == "@serving" else a
             for a in extra]
    args = {"--model": MODEL, "--workspace": dense.workspace, "--input": given,
            "--output": out}
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = value
    serving_before = tree_digest(os.path.join(dense.workspace, "serving"))
    code, stdout, err = score(capsys, *[x for kv in args.items() for x in kv])
    assert code == 2, (stdout, err)
    assert len(err) == 1 and err[0].startswith("tfxp: error: "), err
    assert message in err[0]
    assert not os.path.exists(out)
    assert tree_digest(os.path.join(dense.workspace, "serving")) == serving_before


def test_no_pushed_version_and_an_empty_workspace_are_one_line(tmp_path, exported_image_model,
                                                               capsys):
    png = _png(tmp_path / "a.png")
    code, _, err = score(capsys, "--model", "cnn", "--workspace", str(tmp_path / "ws"),
                         "--input", png, "--output", str(tmp_path / "out"))
    assert code == 2 and err == [f"tfxp: error: unknown model 'cnn': no "
                                 f"{str(tmp_path / 'ws' / 'serving' / 'cnn')!r}; nothing is "
                                 f"pushed in workspace {str(tmp_path / 'ws')!r} (run `tfxp "
                                 f"run`, or pass --model-dir)"]
    (tmp_path / "ws" / "serving" / "cnn").mkdir(parents=True)
    code, _, err = score(capsys, "--model", "cnn", "--workspace", str(tmp_path / "ws"),
                         "--input", png, "--output", str(tmp_path / "out"))
    assert code == 2 and len(err) == 1 and "model 'cnn' has no pushed version in " in err[0]
    code, _, err = score(capsys, "--model", "cnn", "--model-dir", str(tmp_path),
                         "--input", png, "--output", str(tmp_path / "out"))
    assert code == 2 and len(err) == 1 and "holds no SavedModel" in err[0]
    assert not os.path.exists(tmp_path / "out")
