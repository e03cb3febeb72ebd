"""``tfxp drift``: served traffic against the training data, on real taxi rows.

Most tests use a small workspace of their own: an MLMD store laid out as
TFX writes it (``tests/mlmd_fixtures.py``) whose run pushed version 7 of
``dense``, with training statistics that TFDV computed from 6,000 real taxi
rows stored as CsvExampleGen stores them, and the curated schema. Request
logs are real ``PredictionLog`` records of other taxi rows
(``tests/drift_logs.py``), shifted where a test says so. The distances are
checked against independent computations: L-infinity from the rows with
numpy, Jensen-Shannon from TFDV's own histograms with the formula of
metrics.cc written out here. One test serves the real trained model
(``dense_run``) with request logging on and checks the loop end to end.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import time

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import statistics_pb2

from tests.conftest import DATA_DIR
from tests.drift_logs import (classify_record, log_path, predict_record, schema_types,
                              served_example, training_example, write_log)
from tests.mlmd_fixtures import COMPONENTS, FakeRun, build_store
from tests.taxi_rows import read_rows
from tfxp.cli.main import main
from tfxp.core.errors import (EXIT_ANOMALIES, EXIT_FAILED, EXIT_OK, EXIT_THRESHOLD,
                              EXIT_USAGE)
from tfxp.core.features import SERVING_FEATURES
from tfxp.core.workspace import Workspace
from tfxp.observability import drift, report, request_logs
from tfxp.pipeline.schemas import schema_file

VERSION = 7
RUN_ID = "2026-12-01T10:00:00.000001"
FEATURES = SERVING_FEATURES["tabular"]
DAY = 86400.0


@pytest.fixture(scope="module")
def rows():
    """The taxi CSV's rows in a fixed random order (the file is ordered by
    area, so consecutive blocks differ)."""
    table = read_rows()
    order = np.random.default_rng(17).permutation(len(table))
    return [table[i] for i in order]


@pytest.fixture(scope="module")
def types():
    return schema_types()


def _artifacts(root, examples, dataset):
    """``(statistics dir, schema dir)`` as StatisticsGen and ImportSchemaGen
    leave them: TFDV statistics of ``examples`` (serialized) in
    ``Split-train/FeatureStats.pb``, the curated schema in ``schema.pbtxt``."""
    from tfx_bsl.coders import example_coder
    import tensorflow_data_validation as tfdv

    builder = drift.StatsBuilder(tfdv.StatsOptions())
    builder.add(example_coder.ExamplesToRecordBatchDecoder().DecodeBatch(list(examples)))
    stats_dir = os.path.join(root, "StatisticsGen", "statistics", "3")
    os.makedirs(os.path.join(stats_dir, "Split-train"))
    with open(os.path.join(stats_dir, "Split-train", "FeatureStats.pb"), "wb") as f:
        f.write(builder.result().SerializeToString())
    schema_dir = os.path.join(root, "ImportSchemaGen", "schema", "2")
    os.makedirs(schema_dir)
    shutil.copy(schema_file(dataset), os.path.join(schema_dir, "schema.pbtxt"))
    return stats_dir, schema_dir


def _workspace(root, family, dataset, stats_dir, schema_dir):
    """A workspace whose run pushed version 7 of ``family`` (MLMD laid out as
    TFX writes it, the run's statistics and schema artifacts)."""
    workspace = Workspace(root)
    os.makedirs(os.path.join(workspace.serving_base(family), str(VERSION)))
    build_store(workspace.metadata_path, [FakeRun(
        f"{family}-pipeline", RUN_ID, family, dataset,
        [(c, "COMPLETE") for c in COMPONENTS], blessed=True, pushed_version=str(VERSION),
        serving_dir=workspace.serving_dir,
        outputs={"StatisticsGen": {"ExampleStatistics": stats_dir},
                 "SchemaGen": {"Schema": schema_dir}})])
    return workspace


@pytest.fixture(scope="module")
def training(rows, types, tmp_path_factory):
    """``(statistics dir, schema dir, training rows)``: 6,000 taxi rows as
    CsvExampleGen stores them."""
    train = rows[:6000]
    return (*_artifacts(str(tmp_path_factory.mktemp("artifacts")),
                        [training_example(r, types) for r in train], "chicago_taxi"), train)


@pytest.fixture
def ws(tmp_path, training):
    """A workspace whose run pushed version 7 of ``dense``."""
    return _workspace(str(tmp_path / "ws"), "dense", "chicago_taxi", *training[:2])


def _classify_log(ws, rows, types, start_s=None, index=0, model="dense", **kwargs):
    """One log file of Classify requests, one row each, as ``tfxp predict`` sends."""
    start_s = time.time() - 600 if start_s is None else start_s
    return write_log(log_path(ws.request_logs_dir(model), model, start_s, index),
                     [classify_record([served_example(r, types)], version=VERSION, **kwargs)
                      for r in rows], end_s=start_s + 60)


def _drift(ws, *extra):
    return main(["drift", "--model", "dense", "--workspace", ws.root, *extra])


def _result(ws, window=None, **kwargs):
    return drift.run(drift.check_inputs(ws.root, "dense", window=window, **kwargs))


def _row(result, feature, comparison=drift.SKEW):
    [row] = [r for r in result.rows if r.feature == feature and r.comparison == comparison]
    return row


def _scaled(rows, column, factor):
    out = []
    for r in rows:
        r = dict(r)
        if r[column]:
            r[column] = str(float(r[column]) * factor)
        out.append(r)
    return out


def _complete(rows, types):
    """Rows whose integer model features all have a value: ``serving_raw``
    has no way to say an integer is missing (NaN and '' mark floats and strings)."""
    from tensorflow_metadata.proto.v0 import schema_pb2
    return [r for r in rows
            if all(r[k] for k in FEATURES if types[k] == schema_pb2.INT)]


def _shares(values):
    values = [v for v in values if v != ""]
    names, counts = np.unique(values, return_counts=True)
    return dict(zip(names, counts / counts.sum()))


# ----------------------------------------------------------- independent JSD

def _hand_jsd(first, second):
    """Jensen-Shannon divergence of two TFDV histograms as metrics.cc defines
    it, written out independently: finite buckets cut at every boundary of
    both, counts spread evenly over each bucket's width; point buckets, inf
    and NaN counts as extra buckets; log2."""
    def split(h):
        finite = [(b.low_value, b.high_value, b.sample_count) for b in h.buckets
                  if math.isfinite(b.low_value) and math.isfinite(b.high_value)
                  and b.low_value < b.high_value]
        points = {}
        for b in h.buckets:
            if b.low_value == b.high_value and math.isfinite(b.low_value):
                points[b.low_value] = points.get(b.low_value, 0) + b.sample_count
        inf = sum(b.sample_count for b in h.buckets
                  if not (math.isfinite(b.low_value) and math.isfinite(b.high_value)))
        return finite, points, inf

    (f1, p1, i1), (f2, p2, i2) = split(first), split(second)
    edges = np.unique([x for lo, hi, _ in f1 + f2 for x in (lo, hi)])

    def mass(finite):
        out = np.zeros(len(edges) - 1)
        for lo, hi, count in finite:
            overlap = np.clip(np.minimum(edges[1:], hi) - np.maximum(edges[:-1], lo), 0, None)
            out += count * overlap / (hi - lo)
        return out

    a, b = list(mass(f1)), list(mass(f2))
    for point in sorted(set(p1) | set(p2)):
        a.append(p1.get(point, 0))
        b.append(p2.get(point, 0))
    a += [i1, 0] if i1 else []
    b += [0, i2] if i1 else []
    if i2 and not i1:
        a.append(0)
        b.append(i2)
    p, q = np.array(a) / sum(a), np.array(b) / sum(b)
    m = (p + q) / 2
    kl = lambda x: sum(xi * math.log2(xi / mi) for xi, mi in zip(x, m) if xi > 0)  # noqa: E731
    return min((kl(p) + kl(q)) / 2, 1.0)


def _histogram(statistics, feature, kind):
    stats = drift.feature_stats(statistics, feature)
    [histogram] = [h for h in stats.num_stats.histograms if h.type == kind]
    return histogram


# ----------------------------------------------------------- distances

def test_l_infinity_of_a_categorical_feature_is_the_largest_share_difference(
        ws, rows, types, training):
    served = rows[6000:8000]
    cash = [dict(r, payment_type="Credit Card" if i % 10 < 7 else "Cash")
            for i, r in enumerate(served)]
    _classify_log(ws, cash, types)
    result = _result(ws)
    trained = _shares([r["payment_type"] for r in training[2]])
    now = _shares([r["payment_type"] for r in cash])
    expected = max(abs(trained.get(v, 0) - now.get(v, 0)) for v in set(trained) | set(now))
    row = _row(result, "payment_type")
    assert row.measure == "L-infinity" and row.kind == "categorical"
    assert row.distance == pytest.approx(expected, abs=1e-12)
    assert expected > 0.1 and row.verdict == drift.CROSSED
    assert result.exit_code == EXIT_THRESHOLD


def test_jensen_shannon_is_tfdvs_formula_on_the_histogram_the_threshold_names(
        ws, rows, types, training):
    _classify_log(ws, _scaled(rows[6000:8000], "fare", 1.3), types)
    result = _result(ws)
    import tensorflow_data_validation as tfdv
    trained = tfdv.load_stats_binary(result.baseline.statistics_path)
    served = result.traffic.overall
    fare, hour = _row(result, "fare"), _row(result, "trip_start_hour")
    assert (fare.histogram, hour.histogram) == ("quantiles", "standard")  # drift_skew.pbtxt
    assert fare.distance == pytest.approx(_hand_jsd(
        _histogram(trained, "fare", statistics_pb2.Histogram.QUANTILES),
        _histogram(served, "fare", statistics_pb2.Histogram.QUANTILES)), abs=1e-9)
    assert hour.distance == pytest.approx(_hand_jsd(
        _histogram(trained, "trip_start_hour", statistics_pb2.Histogram.STANDARD),
        _histogram(served, "trip_start_hour", statistics_pb2.Histogram.STANDARD)), abs=1e-9)
    # the chart helper aligns the histograms the same way
    labels, p, q = drift.align_histograms(
        _histogram(trained, "fare", statistics_pb2.Histogram.QUANTILES),
        _histogram(served, "fare", statistics_pb2.Histogram.QUANTILES))
    assert len(labels) == len(p) == len(q) and sum(p) == pytest.approx(1.0)


def test_a_doubled_fare_crosses_its_threshold_and_the_other_features_do_not(ws, rows, types):
    _classify_log(ws, _scaled(rows[6000:8000], "fare", 2.0), types)
    result = _result(ws)
    assert [r.feature for r in result.crossed] == ["fare"]
    assert _row(result, "fare").distance > 0.25
    assert {r.feature for r in result.rows} == set(FEATURES)
    assert result.findings == [] and result.exit_code == EXIT_THRESHOLD


def test_unshifted_traffic_passes_every_threshold_and_exits_0(ws, rows, types, capsys):
    _classify_log(ws, rows[8000:10000], types)
    assert _drift(ws) == EXIT_OK
    out = capsys.readouterr().out
    assert "verdict: ok (exit 0)" in out and "CROSSED" not in out
    assert re.search(r"fare\s+numeric\s+skew vs training\s+Jensen-Shannon \(quantiles\)"
                     r"\s+0\.\d{4}\s+0\.2000\s+ok", out)


def test_drift_compares_each_window_with_the_one_before(ws, rows, types):
    now = time.time()
    hours_later = [dict(r, trip_start_hour=str((int(r["trip_start_hour"]) + 6) % 24))
                   for r in rows[8000:10000]]
    _classify_log(ws, rows[6000:8000], types, start_s=now - 2 * DAY)
    _classify_log(ws, hours_later, types, start_s=now - 3600)
    result = _result(ws, window="1d")
    assert len(result.traffic.windows) == 2
    hour = _row(result, "trip_start_hour", drift.DRIFT)
    assert hour.window == 1 and hour.verdict == drift.CROSSED
    assert _row(result, "fare", drift.DRIFT).verdict == drift.OK
    # --since keeps only the newer file: one window, no drift rows
    recent = _result(ws, window="1d", since="6h")
    assert len(recent.inputs.files) == 1 and all(r.comparison == drift.SKEW for r in recent.rows)


def test_schema_anomalies_without_a_crossed_threshold_exit_4(ws, rows, types, capsys):
    served = [dict(r, payment_type="Bitcoin" if i % 25 == 0 else r["payment_type"],
                   dropoff_community_area="") for i, r in enumerate(rows[6000:8000])]
    _classify_log(ws, served, types)
    assert _drift(ws) == EXIT_ANOMALIES
    out = capsys.readouterr().out
    assert "payment_type: Unexpected string values" in out and "Bitcoin" in out
    assert "dropoff_community_area: Column dropped" in out
    assert "verdict: schema anomalies (exit 4)" in out
    assert re.search(r"dropoff_community_area .* no data", out)


@pytest.mark.parametrize("signature", ["serving_raw", "serving_default"])
def test_predict_requests_read_back_as_the_examples_classify_sends(ws, rows, types, signature):
    served = _complete(rows[6000:6700], types)[:600]
    _classify_log(ws, served, types)
    by_classify = {(r.feature, r.comparison): r.distance for r in _result(ws).rows}
    shutil.rmtree(ws.request_logs_dir("dense"))
    if signature == "serving_raw":  # one tensor per feature, NaN/'' for missing
        batches = [served[i:i + 50] for i in range(0, len(served), 50)]
        records = [predict_record({k: _column(b, k, types[k]) for k in FEATURES}, version=VERSION)
                   for b in batches]
    else:
        records = [predict_record({"inputs": np.array([served_example(r, types)
                                                       for r in served[i:i + 30]],
                                                      dtype=object)},
                                  signature="serving_default", version=VERSION)
                   for i in range(0, len(served), 30)]
    write_log(log_path(ws.request_logs_dir("dense"), "dense", time.time() - 600), records)
    result = _result(ws)
    assert result.traffic.examples == len(served)
    assert {(r.feature, r.comparison): r.distance for r in result.rows} == pytest.approx(
        by_classify, abs=1e-12)


def _column(rows, name, kind):
    from tensorflow_metadata.proto.v0 import schema_pb2
    cells = [r[name] for r in rows]
    if kind == schema_pb2.BYTES:
        return np.array([c.encode() for c in cells], dtype=object)
    if kind == schema_pb2.INT:
        return np.array([int(float(c)) for c in cells], dtype=np.int64)
    return np.array([float(c) if c else np.nan for c in cells], dtype=np.float32)


# ----------------------------------------------------------- page and report

def test_the_page_shows_every_distance_and_charts_what_crossed(ws, rows, types, capsys):
    _classify_log(ws, _scaled(rows[6000:8000], "fare", 2.0), types)
    assert _drift(ws) == EXIT_THRESHOLD
    page = re.search(r"page: (\S+)", capsys.readouterr().out).group(1)
    assert os.path.dirname(os.path.dirname(page)) == ws.drift_reports_dir("dense")
    html = open(page).read()
    table = html.split('id="distances-table"')[1].split("</table>")[0]
    assert table.count("<tr>") == 1 + len(FEATURES)  # header + one skew row each
    assert table.count(">crossed<") == 1
    charts = re.findall(r'<div class="chart" data-feature="([^"]+)"><svg', html)
    assert charts == ["fare"]
    chart = html.split('data-feature="fare"')[1].split("</svg>")[0]
    assert chart.count('class="bar"') == 2 * len(re.findall(r"<title>training ", chart))
    assert "training" in chart and "served" in chart and "quantiles" in chart
    assert "https://" not in html and "<script" not in html  # self-contained
    summary = json.load(open(os.path.join(os.path.dirname(page), "drift.json")))
    assert summary["run_id"] == RUN_ID and summary["exit_code"] == EXIT_THRESHOLD
    assert summary["crossed"] == ["fare (skew)"] and summary["requests"] == 2000
    linked = report.latest_drift(ws.root, RUN_ID)
    assert linked["page"] == page and linked["verdict"] == "threshold crossed"
    assert report.latest_drift(ws.root, "another run") is None


# ----------------------------------------------------------- bad input

def _tree(root):
    """Every path under ``root`` with its size and modification time."""
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = os.path.join(folder, name)
            info = os.stat(path)
            out[path] = (info.st_size, info.st_mtime_ns)
    return out


def _truncated(ws, rows, types):
    path = _classify_log(ws, rows[6000:6100], types)
    data = open(path, "rb").read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2 + 5])
    return path


def _cut_in_a_header(ws, rows, types):
    """Cut 5 bytes into the second record's 12-byte header: TensorFlow's
    reader takes the partial header for the end of the file."""
    path = _classify_log(ws, rows[6000:6002], types)
    data = open(path, "rb").read()
    first = 16 + int.from_bytes(data[:8], "little")
    with open(path, "wb") as f:
        f.write(data[:first + 5])
    return path


def _other_model(ws, rows, types):
    _classify_log(ws, rows[6000:6100], types, model="dense")
    path = log_path(ws.request_logs_dir("dense"), "dense", time.time() - 300, 1)
    write_log(path, [classify_record([served_example(rows[0], types)], model="cnn")])


def _other_signature(ws, rows, types):
    write_log(log_path(ws.request_logs_dir("dense"), "dense", time.time() - 300),
              [predict_record({"images": np.zeros((1, 28, 28), np.float32)})])


def _image_examples(ws, rows, types):
    image = tf.train.Example()
    image.features.feature["image"].int64_list.value.extend([0] * 784)
    write_log(log_path(ws.request_logs_dir("dense"), "dense", time.time() - 300),
              [classify_record([image.SerializeToString()])])


def _empty(ws, rows, types):
    os.makedirs(ws.request_logs_dir("dense"))
    open(log_path(ws.request_logs_dir("dense"), "dense", time.time()), "wb").close()


BAD_INPUTS = [
    ("missing", lambda ws, rows, types: None, [], r"no request logs of model 'dense' at .*"
     r"request_logs/dense'; serve with `tfxp serve --workspace .* --log-requests 1\.0`"),
    ("empty", _empty, [], r"the request logs at .* are empty \(1 file\(s\) of 0 bytes\)"),
    ("truncated", _truncated, [], r"request log '.*dense-\d+-00000\.tfrecord' is truncated "
     r"or corrupt after record \d+ \(truncated record at byte \d+"),
    ("cut inside a record header", _cut_in_a_header, [], r"request log "
     r"'.*dense-\d+-00000\.tfrecord' is truncated or corrupt after record 1 \(5 byte\(s\) "
     r"at byte \d+ are not a whole record\)"),
    ("other model", _other_model, [], r"dense-\d+-00001\.tfrecord, record 1 logs a request "
     r"to model 'cnn', not 'dense'"),
    ("other signature", _other_signature, [], r"record 1: Predict on 'serving_raw' with "
     r"inputs \['images'\]; model 'dense' \(tabular\) takes \["),
    ("other examples", _image_examples, [], r"its examples carry none of model 'dense''s "
     r"features .*only image: requests to another model"),
    ("since in the future", lambda ws, rows, types: _classify_log(ws, rows[:10], types),
     ["--since", "2999-01-01"], r"--since '2999-01-01' is in the future"),
    ("since unparsable", lambda ws, rows, types: _classify_log(ws, rows[:10], types),
     ["--since", "yesterday"], r"--since 'yesterday': expected a date or time"),
    ("nothing since", lambda ws, rows, types: _classify_log(
        ws, rows[:10], types, start_s=time.time() - 3 * DAY), ["--since", "1d"],
     r"no request logged since .*: the newest log file .* was last written at"),
    ("bad window", lambda ws, rows, types: _classify_log(ws, rows[:10], types),
     ["--window", "weekly"], r"--window 'weekly': expected a duration"),
    ("unknown model", lambda ws, rows, types: None, ["--model", "densee"],
     r"unknown model 'densee'; the workspace '.*' serves: dense$"),
    ("unknown version", lambda ws, rows, types: _classify_log(ws, rows[:10], types),
     ["--version", "8"], r"version 8 of model 'dense' was not pushed by any run recorded in "
     r".*; pushed versions: 7"),
]


@pytest.mark.parametrize("make, argv, message", [b[1:] for b in BAD_INPUTS],
                         ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(ws, rows, types, capsys, make,
                                                         argv, message):
    make(ws, rows, types)
    before = _tree(ws.root)
    assert _drift(ws, *argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert err.startswith("tfxp: error: ") and re.search(message, err), err
    assert _tree(ws.root) == before


def test_image_traffic_is_compared_on_its_pixel_histogram(tmp_path):
    """Fashion-MNIST: raw Predict ``images`` float [N, 28, 28] read back as the
    ``image`` int64 [784] examples; real test images pass, inverted ones
    (a client sending white on black) cross the 0.05 threshold."""
    from tfxp.components.tfds_builders.fashion_mnist import read_idx
    images = read_idx(os.path.join(DATA_DIR, "fashion_mnist", "t10k-images-idx3-ubyte.gz"))
    train = []
    for image in images[:1000]:
        example = tf.train.Example()
        example.features.feature["image"].int64_list.value.extend(image.reshape(-1).tolist())
        example.features.feature["label"].int64_list.value.append(0)
        train.append(example.SerializeToString())
    ws = _workspace(str(tmp_path / "ws"), "cnn", "fashion_mnist",
                    *_artifacts(str(tmp_path / "artifacts"), train, "fashion_mnist"))
    now, folder = time.time(), ws.request_logs_dir("cnn")
    normal = images[5000:5200].astype(np.float32)
    first = write_log(log_path(folder, "cnn", now - 2 * DAY), [
        predict_record({"images": normal[i:i + 20]}, model="cnn", version=VERSION)
        for i in range(0, 200, 20)], end_s=now - 2 * DAY + 60)
    write_log(log_path(folder, "cnn", now - 3600), [
        predict_record({"images": 255.0 - normal[i:i + 20, :, :, None]}, model="cnn",
                       version=VERSION) for i in range(0, 200, 20)], end_s=now - 60)
    result = drift.run(drift.check_inputs(ws.root, "cnn", window="1d"))
    assert result.traffic.examples == 400 and result.findings == []
    image = _row(result, "image", drift.DRIFT)
    assert image.histogram == "standard" and image.distance > 0.3
    assert image.verdict == drift.CROSSED and result.exit_code == EXIT_THRESHOLD
    alone = drift.run(drift.check_inputs(ws.root, "cnn", logs=first))
    assert _row(alone, "image").distance < 0.01 and alone.exit_code == EXIT_OK


def test_text_traffic_has_no_thresholds_and_is_checked_against_its_schema(tmp_path):
    """Rotten Tomatoes: no comparator (schemas/rotten_tomatoes/drift_skew.pbtxt
    says why), but the served texts are still validated."""
    import bz2
    import csv
    with bz2.open(os.path.join(DATA_DIR, "rotten_tomatoes",
                               "rotten_tomatoes_corpus_full.csv.bz2"), "rt") as f:
        texts = [r["text"] for r in csv.DictReader(f) if r["category"] != "plot"][:600]
    train = []
    for text in texts[:500]:
        example = tf.train.Example()
        example.features.feature["text"].bytes_list.value.append(text.encode())
        example.features.feature["label"].int64_list.value.append(1)
        train.append(example.SerializeToString())
    ws = _workspace(str(tmp_path / "ws"), "lstm", "rotten_tomatoes",
                    *_artifacts(str(tmp_path / "artifacts"), train, "rotten_tomatoes"))
    write_log(log_path(ws.request_logs_dir("lstm"), "lstm", time.time() - 600), [
        predict_record({"text": np.array([t.encode() for t in texts[i:i + 25]], dtype=object)},
                       model="lstm", version=VERSION) for i in range(500, 600, 25)])
    result = drift.run(drift.check_inputs(ws.root, "lstm"))
    assert result.traffic.examples == 100
    assert result.rows == [] and result.findings == [] and result.exit_code == EXIT_OK
    assert "drift_skew.pbtxt sets no threshold" in drift.format_result(result)


def test_unreadable_training_statistics_are_a_failure_exit_1(tmp_path, rows, types, capsys):
    stats_dir, schema_dir = _artifacts(str(tmp_path / "artifacts"),
                                       [training_example(rows[0], types)], "chicago_taxi")
    with open(os.path.join(stats_dir, "Split-train", "FeatureStats.pb"), "wb") as f:
        f.write(b"not a statistics proto")
    ws = _workspace(str(tmp_path / "ws"), "dense", "chicago_taxi", stats_dir, schema_dir)
    _classify_log(ws, rows[:50], types)
    before = _tree(ws.root)
    assert _drift(ws) == EXIT_FAILED
    err = capsys.readouterr().err.strip()
    assert err.startswith("tfxp: error: drift of model 'dense' failed: ")
    assert len(err.splitlines()) == 1 and _tree(ws.root) == before


def test_since_and_window_parse_times_and_durations():
    now = 1_800_000_000.0
    assert request_logs.parse_since("90m", now) == now - 5400
    assert request_logs.parse_since("2026-12-01T14:30", now) == time.mktime(
        (2026, 12, 1, 14, 30, 0, 0, 0, -1))
    assert request_logs.parse_duration("1.5d", "--window") == 1.5 * DAY
    files = [request_logs.LogFile(f"f{i}", start, start + 60, 1)
             for i, start in enumerate([0, 100, DAY + 5, 3 * DAY])]
    cut = request_logs.windows(files, DAY)
    assert [[f.path for f in w.files] for w in cut] == [["f0", "f1"], ["f2"], ["f3"]]
    assert [w.start_s for w in cut] == [0, DAY, 3 * DAY]
    assert len(request_logs.windows(files, None)) == 1


# ----------------------------------------------------------- end to end

def test_served_traffic_of_the_trained_model_comes_back_as_a_drift_page(dense_run, types,
                                                                        rows, capsys):
    """The real loop: the pipeline's pushed model served with request logging
    (what ``tfxp serve --log-requests 1`` configures), Classify and raw
    Predict requests over gRPC, then ``tfxp drift`` on the workspace."""
    from tfxp.serving.client import ServingClient
    from tfxp.serving.deploy.generate import models_config
    from tfxp.serving.server import ModelServer

    config, summary = dense_run
    ws = Workspace(config.workspace)
    shutil.rmtree(ws.request_logs_dir("dense"), ignore_errors=True)
    served_config = models_config({"dense": ws.serving_base("dense")},
                                  log_prefixes={"dense": ws.request_log_prefix("dense")})
    doubled = _scaled(_complete(rows[6000:7000], types)[:800], "fare", 2.0)
    with ModelServer(served_config, grpc_port=0, rest_port=None, poll_seconds=0) as server, \
            ServingClient(server.grpc_target) as client:
        client.wait_until_available("dense")
        for i in range(0, 800, 40):  # Classify, then raw Predict, 20 rows each
            client.classify("dense", [served_example(r, types, FEATURES)
                                      for r in doubled[i:i + 20]])
            shifted = doubled[i + 20:i + 40]
            client.predict("dense", {k: _column(shifted, k, types[k]) for k in FEATURES},
                           signature="serving_raw")
        assert server.request_log.flush()
    assert _drift(ws) == EXIT_THRESHOLD
    out = capsys.readouterr().out
    assert f"version {summary.pushed_version} (run {summary.run_id}" in out
    assert "traffic: 40 requests, 800 examples in 1 file(s)" in out
    assert re.search(r"fare .* CROSSED", out)
    page = re.search(r"page: (\S+)", out).group(1)
    run_report = open(ws.report_dir(summary.run_id) + "/index.html").read()
    link = re.search(r'<td id="drift"><a href="([^"]+)">', run_report).group(1)
    assert os.path.normpath(os.path.join(ws.report_dir(summary.run_id), link)) == page


def test_serve_log_requests_logs_each_workspace_model_where_drift_reads(ws, capsys):
    from tfxp.serving.deploy.generate import models_config
    config = models_config({"dense": ws.serving_base("dense")},
                           log_prefixes={"dense": ws.request_log_prefix("dense")},
                           sampling_rate=0.25)
    [model] = config.model_config_list.config
    assert model.logging_config.log_collector_config.filename_prefix == os.path.join(
        ws.request_logs_dir("dense"), "dense")
    assert model.logging_config.sampling_config.sampling_rate == 0.25
    assert main(["serve", "--workspace", ws.root, "--log-requests", "1.5"]) == EXIT_USAGE
    assert "--log-requests must be in [0, 1], got 1.5" in capsys.readouterr().err
    assert main(["serve", "--workspace", ws.root, "--log-requests", "1",
                 "--model_config_file", "models.config"]) == EXIT_USAGE
    assert "set each model's logging_config there" in capsys.readouterr().err


def test_a_feature_logged_as_int64_in_some_requests_and_float_in_others_is_read():
    """Clients type CSV cells one by one ('0' and '0.0'): one decode batch
    may hold a feature both ways, which a schema-less decode refuses."""
    from tfx_bsl.coders import example_coder
    from tfxp.observability.drift import unify_types

    def example(**features):
        out = tf.train.Example()
        for name, value in features.items():
            kind = "int64_list" if isinstance(value, int) else "float_list"
            getattr(out.features.feature[name], kind).value.append(value)
        return out.SerializeToString()

    batch = [example(fare=12, tips=0), example(fare=7.5, tips=0.5), example(fare=3, tips=1)]
    decoder = example_coder.ExamplesToRecordBatchDecoder()
    with pytest.raises(RuntimeError, match="wrong type"):
        decoder.DecodeBatch(batch)
    ignored, seen = {}, set()
    record_batch = decoder.DecodeBatch(unify_types(batch, ("fare",), ignored, seen))
    assert record_batch.schema.names == ["fare"]
    assert record_batch.column(0).to_pylist() == [[12.0], [7.5], [3.0]]
    assert ignored == {"tips": 3} and seen == {"fare", "tips"}
