"""Run reports: ``<workspace>/reports/<run id>/index.html`` plus PNGs beside it.

Everything comes from what the run left in MLMD and its artefacts:

- **Run:** start, wall duration, state and seconds of each component (MLMD
  executions), a timeline chart, links to ``runs/<id>/config.json`` and
  ``logs/<id>.log``.
- **Training:** loss and metric curves per epoch, train and validation
  split (carved from the training data; the held-out eval split is the
  Evaluator's), from the
  Trainer's ``history.json`` (Keras ``History``, see ``models.training``), and
  the TensorBoard log folder ``<ModelRun>/logs``.
- **Evaluation:** TFMA metrics overall and per slice (table + bar chart), the
  confusion matrix with label names (binary: TFMA's exact
  ``ConfusionMatrixAtThresholds`` metric at 0.5, BinaryAccuracy's threshold;
  multi-class: ``MultiClassConfusionMatrixPlot`` at argmax; both set up in
  ``pipeline.evaluation``), ROC and PR curves for binary tasks (the
  ``ConfusionMatrixPlot``'s 1000 histogram thresholds), and the blessing: the
  thresholds of the eval config and TFMA's validation result.
- **Data:** per-feature statistics of each split from StatisticsGen
  (``FeatureStats.pb``) and the ExampleValidator anomalies (``SchemaDiff.pb``).
- **Model:** family and dataset (the Trainer's ``custom_config``), parameter
  count, SavedModel size, signatures with dtypes and shapes, pushed version,
  and a link to the newest ``tfxp drift`` page that compared served traffic
  with this run (``latest_drift``).

Sections whose component did not run (failed run) say so instead.
``write_comparison`` writes one page comparing several runs (``--model all``).
Charts are rendered with matplotlib's Agg canvas at fixed pixel sizes
(``*_SIZE``), the page with jinja2 (``observability.report_html``).
"""
from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import re
import urllib.parse
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tfxp.core.workspace import (DRIFT_SUMMARY_FILE, MAJORITY_FLOOR_FILE, REPORT_INDEX,
                                 TENSORBOARD_DIR, Workspace)
from tfxp.core.floor import BINARY_THRESHOLD
from tfxp.observability import mlmd

INDEX = REPORT_INDEX
DPI = 100
# Pixel sizes (width, height) of the PNGs.
TIMELINE_SIZE = (1000, 320)
TRAINING_SIZE = (1000, 360)
SLICES_SIZE = (1000, 380)
CONFUSION_SIZE = (640, 560)
ROC_PR_SIZE = (1000, 440)
COMPARISON_SIZE = (1200, 420)
TOP_VALUES = 3


# ---------------------------------------------------------------- data model

@dataclasses.dataclass
class FeatureStats:
    """One feature of one split (TFDV ``FeatureNameStatistics``).

    ``present`` counts examples with at least one value; ``missing_pct`` is
    ``100 * (1 - present / num_examples)``. TFDV counts a CSV cell left empty
    as a present feature with zero values, so for features with at most one
    value ``present`` is ``tot_num_values``; for multi-valued features it is
    ``num_non_missing``. ``minimum``/``mean``/``maximum`` are set for numeric
    features, ``unique``/``top_values`` (value, count) for strings.
    """
    name: str
    kind: str
    present: int
    missing_pct: float
    minimum: Optional[float] = None
    mean: Optional[float] = None
    maximum: Optional[float] = None
    unique: Optional[int] = None
    top_values: List[Tuple[str, int]] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class SplitStats:
    split: str
    num_examples: int
    features: List[FeatureStats]


@dataclasses.dataclass
class Anomaly:
    """One ExampleValidator finding; ``feature`` is ``"(dataset)"`` for
    dataset-level anomalies."""
    split: str
    feature: str
    severity: str
    short: str
    description: str


@dataclasses.dataclass
class TensorRow:
    name: str
    dtype: str
    shape: str


@dataclasses.dataclass
class Signature:
    name: str
    method: str
    inputs: List[TensorRow]
    outputs: List[TensorRow]


@dataclasses.dataclass
class Blessing:
    """Why the model was (not) blessed.

    ``thresholds``: readable rules from the eval config, e.g. ``auc >= 0.6``.
    ``failures``: TFMA's messages for the rules that failed.
    ``no_thresholds``: the eval config set none, so the model was not
    evaluated (TFMA's ``missing_thresholds``; TFX's Evaluator wrote its
    blessing without a ``blessed`` property) and ``validation_ok`` is None.
    """
    blessed: Optional[bool]
    validation_ok: Optional[bool]
    thresholds: List[str]
    failures: List[str]
    baseline: Optional[str]
    no_thresholds: bool = False


@dataclasses.dataclass
class Report:
    """What one report page shows; None/empty where the run has no such output."""
    run_id: str
    pipeline: str
    summary: mlmd.RunSummary
    family: Optional[str] = None
    dataset: Optional[str] = None
    label_names: List[str] = dataclasses.field(default_factory=list)
    history: Dict[str, Any] = dataclasses.field(default_factory=dict)
    metrics: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    confusion: Optional[np.ndarray] = None          # int64 [C, C], rows = actual
    confusion_threshold: Optional[float] = None
    curve: List[Dict[str, float]] = dataclasses.field(default_factory=list)
    blessing: Optional[Blessing] = None
    # components.evaluator FLOOR_FILE: the eval split's class counts,
    # majority-class share and the binary-accuracy floor built from it.
    majority_floor: Optional[Dict[str, Any]] = None
    stats: List[SplitStats] = dataclasses.field(default_factory=list)
    anomalies: Optional[List[Anomaly]] = None
    signatures: List[Signature] = dataclasses.field(default_factory=list)
    saved_model_path: Optional[str] = None
    saved_model_bytes: Optional[int] = None
    tensorboard_dir: Optional[str] = None
    config_path: Optional[str] = None
    log_path: Optional[str] = None
    images: Dict[str, Tuple[str, Tuple[int, int]]] = dataclasses.field(default_factory=dict)
    # The newest ``tfxp drift`` page comparing with this run (its drift.json
    # plus ``page``, the page's path), or None.
    drift: Optional[Dict[str, Any]] = None


# ---------------------------------------------------------------- loaders

def latest_drift(workspace: str, run_id: str) -> Optional[Dict[str, Any]]:
    """The newest drift page whose baseline is ``run_id``: its ``drift.json``
    (``observability.drift.summary``) with ``page`` made the page's path; None
    if ``tfxp drift`` never compared traffic with this run."""
    best = None
    for path in glob.glob(os.path.join(Workspace(workspace).reports_dir, "drift-*", "*",
                                       DRIFT_SUMMARY_FILE)):
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError):
            continue
        if data.get("run_id") != run_id or not isinstance(data.get("created_ms"), int):
            continue
        if best is None or data["created_ms"] > best["created_ms"]:
            best = dict(data, page=os.path.join(os.path.dirname(path), data.get("page", INDEX)))
    return best


def _splits(uri: str, filename: str) -> List[Tuple[str, str]]:
    """``(split, path)`` of ``<uri>/Split-<split>/<filename>``, sorted, train first."""
    found = [(os.path.basename(os.path.dirname(p))[len("Split-"):], p)
             for p in glob.glob(os.path.join(uri, "Split-*", filename))]
    return sorted(found, key=lambda sp: (sp[0] != "train", sp[0]))


def _present(common) -> int:
    """Examples with at least one value (see ``FeatureStats``)."""
    if common.max_num_values <= 1:
        return int(common.tot_num_values)
    return int(common.num_non_missing)


def load_feature_stats(statistics_uri: str) -> List[SplitStats]:
    """Per-split feature statistics of a StatisticsGen ``ExampleStatistics``.

    Raises:
      FileNotFoundError: no ``Split-*/FeatureStats.pb`` under ``statistics_uri``.
    """
    import tensorflow_data_validation as tfdv
    from tensorflow_metadata.proto.v0 import statistics_pb2

    splits = _splits(statistics_uri, "FeatureStats.pb")
    if not splits:
        raise FileNotFoundError(f"no Split-*/FeatureStats.pb under {statistics_uri!r}")
    out = []
    for split, path in splits:
        dataset = tfdv.load_stats_binary(path).datasets[0]
        n = int(dataset.num_examples)
        features = []
        for f in sorted(dataset.features, key=lambda f: ".".join(f.path.step) or f.name):
            kind = statistics_pb2.FeatureNameStatistics.Type.Name(f.type)
            row = FeatureStats(name=".".join(f.path.step) or f.name, kind=kind,
                               present=0, missing_pct=100.0)
            which = f.WhichOneof("stats")
            if which == "num_stats":
                s = f.num_stats
                row.minimum, row.mean, row.maximum = s.min, s.mean, s.max
                common = s.common_stats
            elif which == "string_stats":
                s = f.string_stats
                row.unique = int(s.unique)
                row.top_values = [(v.value, int(v.frequency)) for v in s.top_values[:TOP_VALUES]]
                common = s.common_stats
            elif which == "bytes_stats":
                common = f.bytes_stats.common_stats
            elif which == "struct_stats":
                common = f.struct_stats.common_stats
            else:
                common = None
            if common is not None:
                row.present = _present(common)
                row.missing_pct = 100.0 * (1.0 - row.present / n) if n else 0.0
            features.append(row)
        out.append(SplitStats(split, n, features))
    return out


def load_anomalies(anomalies_uri: str) -> List[Anomaly]:
    """Findings of an ExampleValidator ``ExampleAnomalies`` artefact, all splits.

    Raises:
      FileNotFoundError: no ``Split-*/SchemaDiff.pb`` under ``anomalies_uri``.
    """
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    splits = _splits(anomalies_uri, "SchemaDiff.pb")
    if not splits:
        raise FileNotFoundError(f"no Split-*/SchemaDiff.pb under {anomalies_uri!r}")
    out = []
    for split, path in splits:
        anomalies = anomalies_pb2.Anomalies()
        with open(path, "rb") as f:
            anomalies.ParseFromString(f.read())
        infos = sorted(anomalies.anomaly_info.items())
        if anomalies.HasField("dataset_anomaly_info"):
            infos.append(("(dataset)", anomalies.dataset_anomaly_info))
        for feature, info in infos:
            out.append(Anomaly(
                split, feature, anomalies_pb2.AnomalyInfo.Severity.Name(info.severity),
                info.short_description or "; ".join(r.short_description for r in info.reason),
                info.description or "; ".join(r.description for r in info.reason)))
    return out


def _shape(tensor_info) -> str:
    shape = tensor_info.tensor_shape
    if shape.unknown_rank:
        return "unknown"
    return "[" + ", ".join("None" if d.size < 0 else str(d.size) for d in shape.dim) + "]"


def load_signatures(saved_model_dir: str) -> List[Signature]:
    """Signatures of a SavedModel read from ``saved_model.pb`` (no graph is
    loaded). Dtypes as TF names (``string``, ``float32``), unknown dims ``None``.

    Raises:
      FileNotFoundError: no ``saved_model.pb`` in ``saved_model_dir``.
    """
    from tensorflow.core.framework import types_pb2
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(saved_model_dir, "saved_model.pb")
    saved = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved.ParseFromString(f.read())

    def rows(tensors) -> List[TensorRow]:
        return [TensorRow(name, types_pb2.DataType.Name(t.dtype)[3:].lower(), _shape(t))
                for name, t in sorted(tensors.items())]

    out = []
    for name, sig in sorted(saved.meta_graphs[0].signature_def.items()):
        if name.startswith("__"):  # __saved_model_init_op
            continue
        out.append(Signature(name, sig.method_name, rows(sig.inputs), rows(sig.outputs)))
    return out


def _candidate_name(eval_config) -> str:
    """Model name of the candidate in a TFMA eval config ('' without baseline)."""
    names = [s.name for s in eval_config.model_specs if not s.is_baseline]
    return names[0] if names else ""


def load_plots(evaluation_uri: str, num_classes: int
               ) -> Tuple[Optional[np.ndarray], Optional[float], List[Dict[str, float]]]:
    """Confusion matrix and (binary) threshold curve of the Overall slice.

    Returns:
      ``(matrix, threshold, curve)``: ``matrix`` int64 ``[C, C]`` (rows actual,
      columns predicted class; None without a confusion-matrix plot);
      ``threshold`` the decision threshold it was taken at (binary: 0.5,
      from TFMA's exact ``ConfusionMatrixAtThresholds`` metric, which agrees
      with BinaryAccuracy example for example; for an evaluation written
      before that metric was configured, the plot's threshold nearest 0.5,
      binned at TFMA's 10,000 histogram buckets, which may differ from
      BinaryAccuracy by the predictions in (0.5, 0.5001); multi-class: TFMA's 0.0 =
      argmax);
      ``curve`` (binary only) one dict per threshold with ``threshold, tp, fp,
      tn, fn, precision, recall, fpr``, ascending threshold; ``precision`` is
      NaN where nothing is predicted positive.
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    candidate = _candidate_name(eval_config)
    matrix, threshold, curve = None, None, []
    for plots in tfma.load_plots(evaluation_uri):
        if plots.slice_key.single_slice_keys:
            continue  # Overall only
        for kv in plots.plot_keys_and_values:
            if kv.key.model_name != candidate:
                continue
            value = kv.value
            if value.HasField("confusion_matrix_at_thresholds") and num_classes == 2:
                for m in value.confusion_matrix_at_thresholds.matrices:
                    row = _counts(m)
                    tp, fp, tn, fn = row["tp"], row["fp"], row["tn"], row["fn"]
                    curve.append({
                        **row,
                        "precision": tp / (tp + fp) if tp + fp else float("nan"),
                        "recall": tp / (tp + fn) if tp + fn else 0.0,
                        "fpr": fp / (fp + tn) if fp + tn else 0.0})
                curve.sort(key=lambda r: r["threshold"])
            elif value.HasField("multi_class_confusion_matrix_at_thresholds"):
                matrices = value.multi_class_confusion_matrix_at_thresholds.matrices
                if not matrices:
                    continue
                m = matrices[0]
                matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
                for e in m.entries:
                    if 0 <= e.actual_class_id < num_classes and \
                            0 <= e.predicted_class_id < num_classes:
                        matrix[e.actual_class_id, e.predicted_class_id] += int(
                            round(e.num_weighted_examples))
                threshold = m.threshold
    if num_classes == 2:
        # The exact matrix; without it (older runs), the plot's nearest 0.5.
        best = _exact_binary_matrix(evaluation_uri, candidate) or min(
            curve, key=lambda r: abs(r["threshold"] - BINARY_THRESHOLD), default=None)
        if best is not None:
            matrix, threshold = _binary_matrix(best), best["threshold"]
    return matrix, threshold, curve


def _binary_matrix(m: Dict[str, float]) -> np.ndarray:
    """int64 ``[[tn, fp], [fn, tp]]`` (rows actual, columns predicted)."""
    return np.array([[m["tn"], m["fp"]], [m["fn"], m["tp"]]], dtype=np.int64)


def _exact_binary_matrix(evaluation_uri: str, candidate: str
                         ) -> Optional[Dict[str, float]]:
    """Overall slice's ``confusion_matrix_at_thresholds`` metric at 0.5.

    Returns ``{"threshold", "tp", "fp", "tn", "fn"}`` or None when the
    evaluation has no such metric (runs before it was configured).
    """
    import tensorflow_model_analysis as tfma

    for metrics in tfma.load_metrics(evaluation_uri):
        if metrics.slice_key.single_slice_keys or metrics.HasField("cross_slice_key"):
            continue
        for kv in metrics.metric_keys_and_values:
            if kv.key.model_name != candidate or kv.key.is_diff or \
                    not kv.value.HasField("confusion_matrix_at_thresholds"):
                continue
            for m in kv.value.confusion_matrix_at_thresholds.matrices:
                if abs(m.threshold - BINARY_THRESHOLD) < 1e-9:
                    return _counts(m)
    return None


def _counts(m) -> Dict[str, float]:
    """``{"threshold", "tp", "fp", "tn", "fn"}`` of one TFMA
    ``ConfusionMatrixAtThresholds.Matrix``."""
    return {"threshold": m.threshold, "tp": m.true_positives, "fp": m.false_positives,
            "tn": m.true_negatives, "fn": m.false_negatives}


def _threshold_text(metric: str, threshold) -> List[str]:
    """Readable rules of one TFMA ``MetricThreshold``."""
    import tensorflow_model_analysis as tfma

    out = []
    if threshold.HasField("value_threshold"):
        v = threshold.value_threshold
        if v.HasField("lower_bound"):
            out.append(f"{metric} >= {v.lower_bound.value:g}")
        if v.HasField("upper_bound"):
            out.append(f"{metric} <= {v.upper_bound.value:g}")
    if threshold.HasField("change_threshold"):
        c = threshold.change_threshold
        direction = tfma.MetricDirection.Name(c.direction).lower().replace("_", " ")
        if c.HasField("absolute"):
            out.append(f"{metric} change vs. baseline >= {c.absolute.value:g} "
                       f"(absolute, {direction})")
        if c.HasField("relative"):
            out.append(f"{metric} change vs. baseline >= {c.relative.value:g} "
                       f"(relative, {direction})")
    return out


def _slice_spec_text(spec) -> str:
    """``Overall`` for the empty ``SlicingSpec``, else its one-line text proto."""
    from google.protobuf import text_format

    return text_format.MessageToString(spec, as_one_line=True) or "Overall"


def load_blessing(evaluation_uri: str, blessing: Optional[Any]) -> Blessing:
    """Thresholds of the eval config and TFMA's validation result.

    Args:
      evaluation_uri: the Evaluator's ``ModelEvaluation`` folder.
      blessing: its ``ModelBlessing`` MLMD artefact, or None.
    """
    import tensorflow_model_analysis as tfma
    from tensorflow_model_analysis.writers import eval_config_writer

    eval_config = eval_config_writer.load_eval_run(evaluation_uri)[0]
    thresholds = []
    for spec in eval_config.metrics_specs:
        for metric in spec.metrics:
            name = _snake(metric.class_name)
            if metric.HasField("threshold"):
                thresholds.extend(_threshold_text(name, metric.threshold))
            for per_slice in metric.per_slice_thresholds:
                where = ", ".join(_slice_spec_text(s) for s in per_slice.slicing_specs)
                thresholds.extend(f"{rule} ({where})"
                                  for rule in _threshold_text(name, per_slice.threshold))
        for name, threshold in spec.thresholds.items():
            thresholds.extend(_threshold_text(name, threshold))
    validation_ok, failures, no_thresholds = None, [], False
    try:
        result = tfma.load_validation_result(evaluation_uri)
        # missing_thresholds is a bool: TFMA found no threshold at all and
        # set validation_ok False (metrics_plots_and_validations_writer.py).
        no_thresholds = result.missing_thresholds
        validation_ok = None if no_thresholds else result.validation_ok
        for per_slice in result.metric_validations_per_slice:
            where = tfma.slicer.stringify_slice_key(
                tfma.slicer.deserialize_slice_key(per_slice.slice_key))
            for failure in per_slice.failures:
                failures.append(_failure_text(where, failure))
        failures.sort(key=lambda f: (not f.startswith("Overall:"),
                                     _slice_order(f.split(": ", 1)[0])))
        failures.extend(f"slice not found: {s}" for s in result.missing_slices)
    except (AssertionError, OSError, ValueError):
        pass  # no validations file (TFMA asserts exactly one record): not recorded
    blessed = baseline = None
    if blessing is not None:
        props = blessing.custom_properties
        if "blessed" in props:
            blessed = bool(props["blessed"].int_value)
        if "baseline_model" in props:
            baseline = props["baseline_model"].string_value
    return Blessing(blessed, validation_ok, thresholds, failures, baseline,
                    no_thresholds=blessed is None and (no_thresholds or not thresholds))


def _failure_text(where: str, failure) -> str:
    """``Overall: auc change vs. baseline = -0.0054 fails auc change vs.
    baseline >= -1e-10 (absolute, higher is better)``."""
    key = failure.metric_key
    kind = failure.metric_value.WhichOneof("type")
    value = (mlmd.format_metric(failure.metric_value.double_value.value)
             if kind == "double_value" else str(getattr(failure.metric_value, kind or "",
                                                        "?")).strip())
    name = f"{key.name} change vs. baseline" if key.is_diff else key.name
    threshold = failure.metric_threshold
    rules = [r for r in _threshold_text(key.name, threshold)
             if ("change vs. baseline" in r) == key.is_diff] or [failure.message]
    return f"{where}: {name} = {value} fails {'; '.join(rules)}"


def _snake(class_name: str) -> str:
    """``SparseCategoricalAccuracy`` -> ``sparse_categorical_accuracy`` (TFMA's
    metric names for Keras classes); ``AUC`` -> ``auc``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()


def _run_identity(store, workspace: str, summary: mlmd.RunSummary
                  ) -> Tuple[Optional[str], Optional[str], List[str], Optional[str]]:
    """``(family, dataset, label names, config.json path)`` of a run.

    The Trainer's ``custom_config`` in MLMD names family and dataset; the
    dataset registry gives the label names. ``config.json`` is the one
    ``run_local`` wrote (None if absent).
    """
    from tfxp.core.datasets import get_dataset

    family = dataset = None
    props = mlmd.run_exec_properties(store, summary.run_id, "Trainer")
    if isinstance(props.get("custom_config"), str):
        try:
            custom = json.loads(props["custom_config"])
            family, dataset = custom.get("family"), custom.get("dataset")
        except ValueError:
            pass
    config_path = Workspace(workspace).run_config_path(summary.run_id)
    if not os.path.isfile(config_path):
        config_path = None
    if family is None and config_path:
        from tfxp.pipeline.config import RunConfig
        with open(config_path) as f:
            config = RunConfig.from_json(f.read())
        family, dataset = config.model, config.dataset_spec.name
    labels: List[str] = []
    if dataset:
        try:
            labels = list(get_dataset(dataset).label_names)
        except ValueError:
            pass
    return family, dataset, labels, config_path


def collect(workspace: str, run_id: str) -> Report:
    """Gathers everything a report shows for ``run_id``.

    Raises:
      FileNotFoundError: no MLMD store in ``workspace``.
      KeyError: no such run.
    """
    ws = Workspace(workspace)
    store = mlmd.open_store(ws.metadata_path)
    summary = mlmd.run_summary(store, run_id)
    outputs = mlmd.run_outputs(store, run_id)
    family, dataset, labels, config_path = _run_identity(store, workspace, summary)
    report = Report(run_id=run_id, pipeline=summary.pipeline, summary=summary,
                    family=family, dataset=dataset, label_names=labels,
                    metrics=summary.metrics, config_path=config_path)
    log_path = ws.log_path(run_id)
    report.log_path = log_path if os.path.isfile(log_path) else None
    report.drift = latest_drift(workspace, run_id)

    if summary.model_run_uri:
        report.history = mlmd.read_history(summary.model_run_uri) or report.history
        logs = os.path.join(summary.model_run_uri, TENSORBOARD_DIR)
        report.tensorboard_dir = logs if os.path.isdir(logs) else None
    if summary.model_uri:
        serving = mlmd.serving_model_dir(summary.model_uri)
        if os.path.isfile(os.path.join(serving, "saved_model.pb")):
            report.saved_model_path = serving
            report.saved_model_bytes = mlmd.directory_bytes(serving)
            report.signatures = load_signatures(serving)
    stats = outputs.get("StatisticsGen", {}).get("ExampleStatistics")
    if stats is not None:
        report.stats = load_feature_stats(stats.uri)
    anomalies = outputs.get("ExampleValidator", {}).get("ExampleAnomalies")
    if anomalies is not None:
        report.anomalies = load_anomalies(anomalies.uri)
    evaluation = outputs.get("Evaluator", {}).get("ModelEvaluation")
    if evaluation is not None:
        num_classes = len(labels) or 2
        report.confusion, report.confusion_threshold, report.curve = load_plots(
            evaluation.uri, num_classes)
        report.blessing = load_blessing(
            evaluation.uri, outputs.get("Evaluator", {}).get("ModelBlessing"))
        report.majority_floor = load_majority_floor(evaluation.uri)
    return report


def load_majority_floor(evaluation_uri: str) -> Optional[Dict[str, Any]]:
    """The Evaluator's majority-share floor record, or None (multi-class
    tasks, no thresholds, or a run before the floor existed)."""
    path = os.path.join(evaluation_uri, MAJORITY_FLOOR_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- charts

def _figure(size: Tuple[int, int]):
    """A matplotlib Figure of ``size`` pixels on the Agg canvas (no pyplot
    global state, safe in any process)."""
    from matplotlib.figure import Figure
    return Figure(figsize=(size[0] / DPI, size[1] / DPI), dpi=DPI, layout="constrained")


def _save(fig, path: str) -> None:
    fig.savefig(path, dpi=DPI, format="png")


def plot_timeline(summary: mlmd.RunSummary, path: str) -> None:
    """Horizontal bars: each component's start offset and duration (s)."""
    fig = _figure(TIMELINE_SIZE)
    ax = fig.subplots()
    colors = {"COMPLETE": "#4c72b0", "CACHED": "#8fbc8f", "FAILED": "#c44e52"}
    comps = list(reversed(summary.components))
    for i, c in enumerate(comps):
        start = (c.start_ms - summary.start_ms) / 1000.0
        ax.barh(i, max(c.seconds, 0.2), left=start, color=colors.get(c.state, "#999999"))
        ax.text(start + max(c.seconds, 0.2), i, f" {mlmd.format_duration(c.seconds)} "
                f"{c.state.lower()}", va="center", fontsize=8)
    ax.set_yticks(range(len(comps)), [c.component for c in comps], fontsize=8)
    ax.set_xlabel("seconds since the run started")
    ax.set_xlim(0, max(summary.wall_seconds, 1.0) * 1.18)
    ax.set_title("Components")
    _save(fig, path)


def history_pairs(history: Dict[str, List[float]]) -> List[Tuple[str, List[float], List[float]]]:
    """``(metric, train values, eval values)`` per Keras metric, loss first;
    eval values are ``val_<metric>`` (empty if Keras had none)."""
    names = [k for k in history if not k.startswith("val_")]
    names.sort(key=lambda k: (k != "loss", k))
    return [(k, history[k], history.get(f"val_{k}", [])) for k in names]


def plot_training(history: Dict[str, List[float]], path: str) -> None:
    """One panel per metric: train and validation value per epoch."""
    pairs = history_pairs(history)[:4]
    fig = _figure(TRAINING_SIZE)
    axes = np.atleast_1d(fig.subplots(1, max(len(pairs), 1)))
    for ax, (name, train, evals) in zip(axes, pairs):
        ax.plot(range(1, len(train) + 1), train, marker="o", label="train")
        if evals:
            ax.plot(range(1, len(evals) + 1), evals, marker="s", label="validation")
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


def _slice_order(name: str):
    feature, _, value = name.partition(":")
    try:
        return (feature, 0, float(value), "")
    except ValueError:
        return (feature, 1, 0.0, value)


def plot_slices(metrics: Dict[str, Dict[str, float]], metric: str, path: str) -> None:
    """Bars: ``metric`` per slice, the Overall value as a dashed line and the
    example count per slice on a second axis. With no slices, the Overall
    metrics as bars."""
    fig = _figure(SLICES_SIZE)
    ax = fig.subplots()
    slices = sorted((s for s in metrics if s != "Overall" and metric in metrics[s]),
                    key=_slice_order)
    if slices:
        values = [metrics[s][metric] for s in slices]
        x = np.arange(len(slices))
        ax.bar(x, values, color="#4c72b0", label=metric)
        overall = metrics.get("Overall", {}).get(metric)
        if overall is not None:
            ax.axhline(overall, color="#c44e52", linestyle="--",
                       label=f"Overall {mlmd.format_metric(overall)}")
        ax.set_xticks(x, [s.partition(":")[2] or s for s in slices], fontsize=8)
        ax.set_xlabel(slices[0].partition(":")[0] if ":" in slices[0] else "slice")
        ax.set_ylabel(metric)
        counts = [metrics[s].get("example_count") for s in slices]
        if all(c is not None for c in counts):
            twin = ax.twinx()
            twin.plot(x, counts, color="#555555", marker=".", linewidth=1,
                      label="example_count")
            twin.set_ylabel("examples")
            twin.set_ylim(bottom=0)
        ax.legend(loc="lower left", fontsize=8)
        ax.set_title(f"{metric} per slice")
    else:
        overall = {k: v for k, v in metrics.get("Overall", {}).items()
                   if k != "example_count" and not k.endswith("_diff")}
        ax.bar(list(overall), list(overall.values()), color="#4c72b0")
        for i, v in enumerate(overall.values()):
            ax.text(i, v, mlmd.format_metric(v), ha="center", va="bottom", fontsize=9)
        ax.set_title("Overall metrics")
    _save(fig, path)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: str, title: str) -> None:
    """Counts, rows = actual class, columns = predicted; colour = row share."""
    fig = _figure(CONFUSION_SIZE)
    ax = fig.subplots()
    rows = matrix.sum(axis=1, keepdims=True).astype(float)
    share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    small = matrix.shape[0] > 4
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7 if small else 11,
                color="white" if share[i, j] > 0.6 else "black")
    names = list(labels) if len(labels) == matrix.shape[0] else [str(i) for i in
                                                                 range(matrix.shape[0])]
    ax.set_xticks(range(len(names)), names, rotation=45 if small else 0, ha="right"
                  if small else "center", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title)
    _save(fig, path)


def plot_roc_pr(curve: List[Dict[str, float]], auc: Optional[float], path: str) -> None:
    """ROC (TPR vs FPR) and precision-recall curves over the plot's thresholds."""
    fig = _figure(ROC_PR_SIZE)
    roc, pr = fig.subplots(1, 2)
    fpr = [r["fpr"] for r in curve]
    tpr = [r["recall"] for r in curve]
    roc.plot(fpr, tpr, label=f"AUC {mlmd.format_metric(auc)}" if auc is not None else None)
    roc.plot([0, 1], [0, 1], color="#999999", linestyle=":")
    roc.set_xlabel("false positive rate")
    roc.set_ylabel("true positive rate")
    roc.set_title("ROC")
    defined = [r for r in curve if not np.isnan(r["precision"])]
    pr.plot([r["recall"] for r in defined], [r["precision"] for r in defined])
    pr.set_xlabel("recall")
    pr.set_ylabel("precision")
    pr.set_title("Precision-recall")
    for ax in (roc, pr):
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    if auc is not None:
        roc.legend(loc="lower right")
    _save(fig, path)


def plot_comparison(rows: List[Dict[str, Any]], path: str) -> None:
    """Per run: blessing metric and accuracy, parameters (log), wall seconds."""
    fig = _figure(COMPARISON_SIZE)
    quality, params, wall = fig.subplots(1, 3)
    names = [r["label"] for r in rows]
    x = np.arange(len(rows))
    width = 0.4
    for offset, key, label, color in ((-width / 2, "value", "blessing metric", "#4c72b0"),
                                      (width / 2, "accuracy", "accuracy", "#dd8452")):
        bars = quality.bar(x + offset, [r[key] or 0.0 for r in rows], width, label=label,
                           color=color)
        quality.bar_label(bars, [mlmd.format_metric(r[key]) if r[key] is not None else "-"
                                 for r in rows], fontsize=7, padding=2)
    quality.set_ylim(0, 1.25)  # headroom for the legend above the bars
    quality.set_title("Quality (Overall)")
    quality.legend(fontsize=8, loc="upper center", ncol=2)
    params.bar(x, [r["params"] or 0 for r in rows], color="#55a868")
    if any(r["params"] for r in rows):
        params.set_yscale("log")
    params.set_title("Parameters")
    wall.bar(x, [r["wall_s"] or 0.0 for r in rows], color="#8172b3")
    wall.set_title("Wall time (s)")
    for ax in (quality, params, wall):
        ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    _save(fig, path)


# ---------------------------------------------------------------- pages

def report_dir(workspace: str, run_id: str) -> str:
    """``<workspace>/reports/<run id>``."""
    return Workspace(workspace).report_dir(run_id)


def _href(from_dir: str, target: Optional[str]) -> Optional[str]:
    """Relative, percent-encoded link from ``from_dir`` to ``target`` (run ids
    hold ':' which would read as a URL scheme)."""
    if not target:
        return None
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(from_dir))
    return "./" + urllib.parse.quote(rel.replace(os.sep, "/"))


def _file_url(path: Optional[str]) -> Optional[str]:
    return "file://" + urllib.parse.quote(os.path.abspath(path)) if path else None


def _render(template: str, **context) -> str:
    import jinja2

    from tfxp.observability import report_html

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True)
    env.filters["metric"] = mlmd.format_metric
    env.filters["duration"] = mlmd.format_duration
    env.filters["when"] = mlmd.format_time
    return env.from_string(report_html.STYLE + getattr(report_html, template)).render(
        **context)


def write_report(workspace: str, run_id: Optional[str] = None,
                 out_dir: Optional[str] = None) -> str:
    """Writes the report of ``run_id`` (None: the latest run).

    Args:
      workspace: the workspace folder (MLMD in ``metadata.sqlite``).
      out_dir: None means ``<workspace>/reports/<run id>``.
    Returns:
      Path of ``index.html``; the PNGs (``timeline.png``, ``training.png``,
      ``slices.png``, ``confusion.png``, ``roc_pr.png``) lie beside it, each
      only when the run has the data.
    Raises:
      FileNotFoundError: no MLMD store; KeyError: no such run;
      LookupError: ``run_id`` None and no run recorded.
    """
    run_id = run_id or mlmd.latest_run(mlmd.open_store(Workspace(workspace).metadata_path), workspace)
    report = collect(workspace, run_id)
    out_dir = out_dir or report_dir(workspace, run_id)
    os.makedirs(out_dir, exist_ok=True)

    def image(name: str, size: Tuple[int, int], draw, *args, **kwargs) -> None:
        draw(*args, path=os.path.join(out_dir, name), **kwargs)
        report.images[name.split(".")[0]] = (name, size)

    if report.summary.components:
        image("timeline.png", TIMELINE_SIZE, plot_timeline, report.summary)
    if report.history.get("history"):
        image("training.png", TRAINING_SIZE, plot_training, report.history["history"])
    metric = _blessing_metric_name(report)
    if report.metrics.get("Overall"):
        image("slices.png", SLICES_SIZE, plot_slices, report.metrics, metric)
    if report.confusion is not None:
        title = (f"Confusion matrix at threshold {report.confusion_threshold:.2f}"
                 if len(report.label_names) == 2 else "Confusion matrix (argmax)")
        image("confusion.png", CONFUSION_SIZE, plot_confusion, report.confusion,
              report.label_names, title=title)
    if report.curve:
        image("roc_pr.png", ROC_PR_SIZE, plot_roc_pr, report.curve,
              report.metrics.get("Overall", {}).get("auc"))
    html = _render("RUN_TEMPLATE", r=report, s=report.summary, metric=metric,
                   hist=report.history.get("history", {}),
                   slices=_slice_rows(report.metrics),
                   metric_names=_metric_names(report.metrics),
                   history_rows=_history_rows(report.history.get("history", {})),
                   links={"config": _href(out_dir, report.config_path),
                          "log": _href(out_dir, report.log_path),
                          "tensorboard": _file_url(report.tensorboard_dir),
                          "saved_model": _file_url(report.saved_model_path),
                          "drift": _href(out_dir, report.drift and report.drift["page"])},
                   confusion_rows=_confusion_rows(report))
    path = os.path.join(out_dir, INDEX)
    tmp = f"{path}.{os.getpid()}.tmp"  # no half-written page if writing fails
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(html)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def _blessing_metric_name(report: Report) -> str:
    overall = report.metrics.get("Overall", {})
    for name in ("auc", "sparse_categorical_accuracy", "binary_accuracy"):
        if name in overall:
            return name
    return next((k for k in sorted(overall) if k != "example_count"), "example_count")


def _metric_names(metrics: Dict[str, Dict[str, float]]) -> List[str]:
    names = sorted({k for v in metrics.values() for k in v})
    return sorted(names, key=lambda k: (k == "example_count", k.endswith("_diff"), k))


def _slice_rows(metrics: Dict[str, Dict[str, float]]) -> List[Tuple[str, Dict[str, float]]]:
    names = sorted((s for s in metrics if s != "Overall"), key=_slice_order)
    return [(s, metrics[s]) for s in (["Overall"] if "Overall" in metrics else []) + names]


def _history_rows(history: Dict[str, List[float]]) -> List[Dict[str, Any]]:
    epochs = max((len(v) for v in history.values()), default=0)
    return [{"epoch": i + 1, **{k: v[i] for k, v in history.items() if i < len(v)}}
            for i in range(epochs)]


def _confusion_rows(report: Report) -> List[Tuple[str, List[int]]]:
    if report.confusion is None:
        return []
    names = (report.label_names if len(report.label_names) == report.confusion.shape[0]
             else [str(i) for i in range(report.confusion.shape[0])])
    return [(names[i], [int(c) for c in row]) for i, row in enumerate(report.confusion)]


def comparison_dir(workspace: str, run_ids: Sequence[str]) -> str:
    """``<workspace>/reports/compare-<sha1 of the run ids, 10 hex>``."""
    digest = hashlib.sha1("\n".join(run_ids).encode()).hexdigest()[:10]
    return Workspace(workspace).comparison_dir(digest)


def write_comparison(workspace: str, run_ids: Sequence[str],
                     out_dir: Optional[str] = None) -> str:
    """Writes a side-by-side page of several runs (e.g. the five families of
    ``run --model all``): a table of ``mlmd.comparison_row`` values per run and
    ``comparison.png``. Each run's own report is linked when it exists.

    Args:
      run_ids: at least one run id; shown in this order.
      out_dir: None means ``comparison_dir(workspace, run_ids)``.
    Returns:
      Path of the page's ``index.html``.
    Raises:
      ValueError: no run id; KeyError: an unknown run id.
    """
    from tfxp.pipeline.config import RunConfig

    if not run_ids:
        raise ValueError("write_comparison needs at least one run id")
    store = mlmd.open_store(Workspace(workspace).metadata_path)
    out_dir = out_dir or comparison_dir(workspace, run_ids)
    os.makedirs(out_dir, exist_ok=True)
    rows = []
    for run_id in run_ids:
        summary = mlmd.run_summary(store, run_id)
        family, dataset, _, _ = _run_identity(store, workspace, summary)
        if family is None:
            raise KeyError(f"run {run_id!r} has no Trainer execution naming its model family")
        config = RunConfig(model=family, dataset=dataset, workspace=workspace)
        row = mlmd.comparison_row(config, summary, summary.wall_seconds)
        own = os.path.join(report_dir(workspace, run_id), INDEX)
        row.update(run_id=run_id, pushed=summary.pushed_version,
                   report=_href(out_dir, own) if os.path.isfile(own) else None)
        rows.append(row)
    # Families name the bars, with the start time when a family repeats.
    repeated = len({r["family"] for r in rows}) < len(rows)
    for r in rows:
        r["label"] = f"{r['family']} {r['run_id'][11:19]}" if repeated else r["family"]
    plot_comparison(rows, os.path.join(out_dir, "comparison.png"))
    html = _render("COMPARISON_TEMPLATE", rows=rows, size=COMPARISON_SIZE)
    path = os.path.join(out_dir, INDEX)
    with open(path, "w", encoding="utf-8") as f:
        f.write(html)
    return path
