"""Run reports (observability/report.py) from a real small run: files, the values
MLMD/TFMA/TFDV hold, PNG sizes, a headless Chromium render; the comparison
page; ``run --config`` repeating a run and writing its report and log."""
from __future__ import annotations

import csv
import glob
import html.parser
import json
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

import numpy as np
import pytest
from PIL import Image

from tfxp.cli import main as cli

from tfxp.observability import mlmd, report
from tfxp.core.datasets import taxi_csv_dir
from tests.mlmd_fixtures import build_store, several_families

PNGS = {"timeline.png": report.TIMELINE_SIZE, "training.png": report.TRAINING_SIZE,
        "slices.png": report.SLICES_SIZE, "confusion.png": report.CONFUSION_SIZE,
        "roc_pr.png": report.ROC_PR_SIZE}


class _Tables(html.parser.HTMLParser):
    """Cells of every <table id=...>: ``{id: [[cell text, ...], ...]}``."""

    def __init__(self):
        super().__init__()
        self.tables, self._id, self._row, self._cell = {}, None, None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._id = attrs.get("id") or attrs.get("class")
            self.tables.setdefault(self._id, [])
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _tables(text: str):
    parser = _Tables()
    parser.feed(text)
    return parser.tables


@pytest.fixture(scope="module")
def dense_report(dense_run):
    """``(config, summary, path of index.html, its text)`` of the dense run."""
    config, summary = dense_run
    path = report.write_report(config.workspace, summary.run_id)
    with open(path, encoding="utf-8") as f:
        return config, summary, path, f.read()


def test_report_is_written_under_reports_run_id_with_every_chart(dense_report):
    config, summary, path, _ = dense_report
    assert path == os.path.join(config.workspace, "reports", summary.run_id, "index.html")
    for name, size in PNGS.items():
        image = Image.open(os.path.join(os.path.dirname(path), name))
        image.load()
        assert image.format == "PNG" and image.size == size, name
        pixels = np.asarray(image.convert("L"), dtype=np.float32)
        assert pixels.std() > 5, f"{name} is blank"


def test_report_metric_tables_hold_the_values_mlmd_and_tfma_hold(dense_report):
    _, summary, _, text = dense_report
    rows = _tables(text)["metrics"]
    header = rows[0][1:]
    shown = {row[0]: dict(zip(header, row[1:])) for row in rows[1:]}
    assert set(shown) == set(summary.metrics)  # Overall + every trip_start_hour
    for slice_name, values in summary.metrics.items():
        for metric, value in values.items():
            assert shown[slice_name][metric] == mlmd.format_metric(value, metric), (
                slice_name, metric)
    # And the status listing formats them the same way.
    assert f"auc={mlmd.format_metric(summary.metrics['Overall']['auc'])}" in \
        mlmd.format_status([summary])


def test_confusion_matrix_has_label_names_and_agrees_with_tfma_accuracy(dense_report):
    _, summary, _, text = dense_report
    rows = _tables(text)["confusion"]
    assert "<h3>Confusion matrix at threshold 0.5 (BinaryAccuracy's)</h3>" in text
    assert rows[0] == ["actual \\ predicted", "not_big_tipper", "big_tipper"]
    assert [r[0] for r in rows[1:]] == ["not_big_tipper", "big_tipper"]
    counts = np.array([[int(c) for c in r[1:]] for r in rows[1:]])
    overall = summary.metrics["Overall"]
    assert counts.sum() == overall["example_count"]
    # TFMA's BinaryAccuracy and the report's matrix (ConfusionMatrixAtThresholds
    # at 0.5, pipeline/evaluation.py) are the same exact computation.
    assert np.trace(counts) / counts.sum() == pytest.approx(overall["binary_accuracy"],
                                                            abs=1e-9)


def test_binary_matrix_is_exact_where_the_plot_histogram_bins_predictions(tmp_path):
    """Predictions just above 0.5 (13 positives at 0.50003, as repeated taxi
    rows gave in CI) and exactly at 0.5: the report's matrix counts them as
    BinaryAccuracy does (prediction > 0.5), checked against numpy; the plot's
    histogram puts the 0.50003s below its 0.5 threshold, which is why the
    matrix is not read from it."""
    import pandas as pd
    import tensorflow_model_analysis as tfma

    from tfxp.core.datasets import get_dataset
    from tfxp.pipeline import evaluation

    rng = np.random.default_rng(7)
    p = rng.uniform(0.0, 1.0, 400).astype(np.float32)
    p[:13], p[13:20] = np.float32(0.50003), np.float32(0.5)
    label = (rng.uniform(0.0, 1.0, 400) < p).astype(np.int64)
    label[:13] = 1
    config = evaluation.eval_config(get_dataset("chicago_taxi"), None)
    raw = tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(label_key="label", prediction_key="prediction")],
        metrics_specs=config.metrics_specs, slicing_specs=[tfma.SlicingSpec()])
    out = str(tmp_path / "eval")
    tfma.analyze_raw_data(pd.DataFrame({"label": label, "prediction": p}), raw,
                          output_path=out)

    matrix, threshold, curve = report.load_plots(out, 2)
    positive = p > 0.5
    expected = np.array([[np.sum(~positive & (label == 0)), np.sum(positive & (label == 0))],
                         [np.sum(~positive & (label == 1)), np.sum(positive & (label == 1))]])
    assert threshold == 0.5
    np.testing.assert_array_equal(matrix, expected)
    accuracy = [kv.value.double_value.value for m in tfma.load_metrics(out)
                for kv in m.metric_keys_and_values if kv.key.name == "binary_accuracy"]
    assert accuracy == [pytest.approx(np.trace(matrix) / 400, abs=1e-12)]
    # The plot (ROC/PR) holds 0.5 among its 1000 thresholds, binned.
    at_half = [r for r in curve if r["threshold"] == 0.5]
    assert len(at_half) == 1 and at_half[0]["tp"] == expected[1, 1] - 13


def test_blessing_section_states_the_threshold_and_the_outcome(dense_report):
    config, summary, _, text = dense_report
    assert summary.blessed is True
    assert re.search(r'Blessed:\s*<span class="ok">yes</span>', text)
    assert f"auc &gt;= {config.resolved_threshold:g}" in text
    assert "TFMA validation passed" in text


def test_report_names_the_exported_epoch_and_the_majority_share_floor(dense_report):
    config, summary, _, text = dense_report
    with open(os.path.join(summary.model_run_uri, "history.json")) as f:
        history = json.load(f)
    exported = history["exported_epoch"]
    assert exported["monitor"] == "val_auc"
    assert exported["curve"] == pytest.approx(history["history"]["val_auc"])
    # The best val_auc among the epochs whose val_accuracy clears the
    # majority floor (models/best_epoch.py); all epochs when none does.
    key, minimum = exported["floor"]
    eligible = [a >= minimum for a in history["history"][key]]
    candidates = [i for i, ok in enumerate(eligible) if ok] or range(len(eligible))
    best = max(candidates, key=lambda i: exported["curve"][i])
    assert exported["best_epoch"] == best + 1
    rows = _tables(text)["exported-epoch"]
    marked = [int(r[0]) for r in rows[1:] if r[2] == "exported"]
    assert marked == [exported["best_epoch"]]
    assert f"epoch {exported['best_epoch']}</b>: highest val_auc" in text

    floor = report.collect(config.workspace, summary.run_id).majority_floor
    overall = summary.metrics["Overall"]
    assert floor["examples"] == overall["example_count"]  # the split TFMA evaluated
    assert floor["floor"] == pytest.approx(floor["majority_share"] + 1 / floor["examples"])
    assert 0.5 < floor["majority_share"] < overall["binary_accuracy"]
    assert f"binary_accuracy &gt;= {floor['floor']:g} (Overall)" in text
    assert 'id="majority-floor"' in text


def test_data_section_counts_match_the_csv(dense_report):
    """Present values per feature, summed over the splits, equal the CSV's
    non-empty cells: the missing-% logic read from TFDV's statistics."""
    _, _, _, text = dense_report
    with open(os.path.join(taxi_csv_dir(), "data.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    non_empty = {c: sum(1 for r in rows if r[c] != "") for c in rows[0]}
    present = {}
    stats = _tables(text)["stats"]  # one table per split, headers included
    assert [r[0] for r in stats].count("feature") == 3  # train, validation, eval
    for row in stats:
        if row[0] != "feature":
            present[row[0]] = present.get(row[0], 0) + int(row[2])
    assert present == non_empty
    assert "No anomalies against the schema." in text or "<table id=\"anomalies\">" in text


def test_model_section_names_family_params_size_signatures_and_push(dense_report):
    _, summary, _, text = dense_report
    with open(os.path.join(summary.model_run_uri, "history.json")) as f:
        params = json.load(f)["params"]
    serving = os.path.join(summary.model_uri, "Format-Serving")
    size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(serving, "**"),
                                                     recursive=True) if os.path.isfile(p))
    assert f"{params:,}" in text and f"{size:,} bytes" in text
    assert f"version <b>{summary.pushed_version}</b>" in text and summary.pushed_path in text
    sigs = {s.name: s for s in report.load_signatures(serving)}
    assert set(sigs) == {"serving_default", "predict", "serving_raw", "transform_features"}
    for name in ("serving_default", "predict"):
        assert [(t.name, t.dtype, t.shape) for t in sigs[name].inputs] == [
            ("inputs", "string", "[None]")]
        assert f"<code>{name}</code>" in text
    assert [(t.name, t.dtype, t.shape) for t in sigs["serving_default"].outputs] == [
        ("classes", "string", "[None, 2]"), ("scores", "float", "[None, 2]")]
    assert sigs["serving_default"].method == "tensorflow/serving/classify"
    outputs = {t.name: (t.dtype, t.shape) for t in sigs["predict"].outputs}
    assert outputs == {"classes": ("string", "[None, 2]"), "scores": ("float", "[None, 2]"),
                       "class_ids": ("int64", "[None]"), "top_class": ("string", "[None]"),
                       "probability": ("float", "[None]")}
    assert sigs["predict"].method == "tensorflow/serving/predict"


def test_report_links_the_tensorboard_logs_the_trainer_wrote(dense_report):
    _, summary, _, text = dense_report
    logs = os.path.join(summary.model_run_uri, "logs")
    assert glob.glob(os.path.join(logs, "**", "events.out.tfevents.*"), recursive=True)
    assert f"--logdir {logs}" in text
    assert f'href="file://{urllib.parse.quote(logs)}"' in text


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_report_renders_in_headless_chromium_without_console_errors(dense_report):
    """The page's own script records each image's decoded size and logs
    failures to the console; --dump-dom returns the DOM after the load event."""
    _, _, path, _ = dense_report
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium not installed (scripts/setup.sh installs the Debian "
                    "package `chromium` when run as root)")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}",
             "--enable-logging=stderr", "--v=0", "--dump-dom",
             "file://" + urllib.parse.quote(os.path.abspath(path))],
            capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line
               or "Uncaught" in line]
    assert console == []
    decoded = dict(re.findall(r'<img src="([^"]+)"[^>]*data-decoded="(\d+x\d+)"', proc.stdout))
    assert decoded == {name: f"{w}x{h}" for name, (w, h) in PNGS.items()}


def test_report_command_writes_the_latest_run_by_default(dense_run, capsys):
    config, _ = dense_run
    latest = mlmd.list_runs(mlmd.open_store(config.metadata_path))[-1][1]
    assert cli.main(["report", "--workspace", config.workspace]) == 0
    assert capsys.readouterr().out.strip() == os.path.join(
        config.workspace, "reports", latest, "index.html")


def test_report_of_an_unknown_run_exits_2(dense_run, capsys):
    config, _ = dense_run
    assert cli.main(["report", "--workspace", config.workspace, "--run", "nope"]) == 2
    assert capsys.readouterr().err.strip() == "tfxp: error: no pipeline run 'nope' in MLMD"


def test_reports_of_failed_and_unevaluated_runs_say_what_is_missing(tmp_path):
    runs = several_families()
    build_store(str(tmp_path / "metadata.sqlite"), runs)
    failed = runs[2]
    path = report.write_report(str(tmp_path), failed.run_id)
    with open(path) as f:
        text = f.read()
    assert "state <b>failed</b>" in text and "No evaluation (the Evaluator did not run)" in text
    assert "No statistics (StatisticsGen did not run)" in text
    assert "family <b>lstm</b> &middot; dataset <b>rotten_tomatoes</b>" in text
    assert sorted(os.listdir(os.path.dirname(path))) == ["index.html", "timeline.png"]
    assert _tables(text)  # the component table is there
    assert "FAILED" in text


def test_comparison_page_puts_runs_side_by_side(dense_run, tmp_path):
    config, summary = dense_run
    # Several families and outcomes (recorded store), then the real run.
    build_store(str(tmp_path / "metadata.sqlite"), several_families())
    ids = [r.run_id for r in several_families()]
    path = report.write_comparison(str(tmp_path), ids)
    assert path == os.path.join(report.comparison_dir(str(tmp_path), ids), "index.html")
    with open(path) as f:
        rows = _tables(f.read())["comparison"]
    assert [r[0] for r in rows[1:]] == ["dense", "cnn", "lstm", "dense"]
    assert [r[3] for r in rows[1:]] == ["auc", "sparse_categorical_accuracy", "auc", "auc"]
    assert [r[8] for r in rows[1:]] == ["yes", "no", "-", "-"]
    image = Image.open(os.path.join(os.path.dirname(path), "comparison.png"))
    assert image.size == report.COMPARISON_SIZE

    real = report.write_comparison(config.workspace, [summary.run_id])
    with open(real) as f:
        text = f.read()
    [row] = _tables(text)["comparison"][1:]
    assert row[:4] == ["dense", "chicago_taxi", summary.run_id, "auc"]
    assert row[4] == mlmd.format_metric(summary.metrics["Overall"]["auc"])
    assert row[5] == mlmd.format_metric(summary.metrics["Overall"]["binary_accuracy"])
    assert row[8:10] == ["yes", summary.pushed_version]


def test_run_with_config_json_repeats_the_run_and_writes_report_and_log(
        dense_run, capsys, tmp_path, monkeypatch):
    """``run --config runs/<id>/config.json``, from another working folder,
    rebuilds the same pipeline: every component up to the Trainer is a cache
    hit (TFX keys the cache on inputs and execution properties, so any config
    difference would re-execute). The saved paths are absolute."""
    config, first = dense_run
    saved = os.path.join(config.workspace, "runs", first.run_id, "config.json")
    with open(saved) as f:
        saved_text = f.read()
    saved_config = json.loads(saved_text)
    for key in ("workspace", "data_dir"):
        assert os.path.isabs(saved_config[key]), saved_config
    monkeypatch.chdir(tmp_path)
    code = cli.main(["run", "--config", saved])
    out = capsys.readouterr().out
    assert code == 0, out[-3000:]
    store = mlmd.open_store(config.metadata_path)
    second = mlmd.list_runs(store, "dense-pipeline")[-1][1]
    assert second != first.run_id
    with open(os.path.join(config.workspace, "runs", second, "config.json")) as f:
        assert f.read() == saved_text
    states = {c.component: c.state for c in mlmd.run_summary(store, second).components}
    for component in ("CsvExampleGen", "StatisticsGen", "Transform", "Trainer"):
        assert states[component] == "CACHED", states
    trainer = mlmd.run_outputs(store, second)["Trainer"]["Model"]
    assert trainer.uri == first.model_uri
    report_path = os.path.join(config.workspace, "reports", second, "index.html")
    log_path = os.path.join(config.workspace, "logs", f"{second}.log")
    assert f"  report: {report_path}" in out and f"  log: {log_path}" in out
    assert os.path.isfile(report_path) and os.path.isfile(log_path)
    assert re.search(r"^\[tfxp \d\d:\d\d:\d\d\] Trainer: cached in [\d.]+s", out, re.M)
