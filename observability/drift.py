"""Served traffic against training data: what ``tfxp drift`` measures.

Reads a model's request logs (``PredictionLog`` TFRecords,
``serving/request_log.py``), turns every logged request back into the
``tf.Example``s the model parsed, computes TFDV statistics over them and
compares them with the run that produced the served version, found through
MLMD (``mlmd.pushes``: the Pusher's ``PushedModel`` names the version and the
run):

- **skew**, all selected traffic against the run's training split
  (StatisticsGen's ``Split-train/FeatureStats.pb``):
  ``tfdv.validate_statistics(training, schema, serving_statistics=served)``;
- **drift**, each window of traffic against the window before it:
  ``tfdv.validate_statistics(window, schema, previous_statistics=previous,
  environment="SERVING")``;
- **schema anomalies** in the traffic (unseen categories, missing features,
  out-of-range values, wrong types): ``tfdv.validate_statistics(served,
  schema, environment="SERVING")``.

The schema is the run's own (its ``Schema`` artifact, the curated
``schemas/<dataset>/schema.pbtxt`` it imported) with the thresholds of
``schemas/<dataset>/drift_skew.pbtxt`` merged over it
(``pipeline.schemas.with_comparators``) and a ``SERVING`` environment added
(``serving_schema``).

The distances are TFDV's own, read from the ``drift_skew_info`` that TFDV 1.16
adds to its ``Anomalies`` (one ``Measurement`` per comparator: type, value,
threshold; tensorflow_data_validation/anomalies/feature_util.cc
``UpdateFeatureComparatorDirect``), for every compared feature, crossed or not:

- L-infinity (categorical features, ``infinity_norm``; metrics.cc
  ``LInftyDistance``): ``max_v |p(v) - q(v)|`` over the values ``v`` of the
  two rank histograms (string statistics), each normalised to sum 1;
- Jensen-Shannon divergence (numeric features, ``jensen_shannon_divergence``;
  metrics.cc ``JensenShannonDivergence``): the two histograms the
  comparator's ``source`` names (STANDARD, TFDV's default: 10 equal-width
  buckets between each dataset's min and max; QUANTILES: 10 equal-count
  buckets) are re-bucketed onto the union of their boundaries, counts spread
  uniformly within a bucket (point buckets, infinite and NaN counts kept as
  buckets of their own), normalised, then ``JSD = (KL(P||M) + KL(Q||M)) / 2``
  with ``M = (P + Q) / 2`` and ``log2``, so ``0 <= JSD <= 1``.
  ``align_histograms`` repeats that re-bucketing for the charts.

Distances are unitless floats in [0, 1]; statistics are TFDV
``DatasetFeatureStatisticsList`` protos with one dataset.

A distance above its threshold is "crossed" (TFDV's rule: value > threshold).

The logs are read by ``observability.request_logs`` (files placed in time,
windows, requests decoded back into examples).

Exit codes (``core.errors``): ``EXIT_OK`` 0, ``EXIT_THRESHOLD`` 3 (a skew or
drift distance crossed its threshold), ``EXIT_ANOMALIES`` 4 (schema anomalies,
no threshold crossed); bad input raises ``UsageError`` (exit 2) before anything
is written.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import tempfile
import time
from typing import Dict, List, Optional, Sequence, Tuple

from tfxp.core.errors import EXIT_ANOMALIES, EXIT_OK, EXIT_THRESHOLD, UsageError
from tfxp.core.features import SERVING_FEATURES
from tfxp.core.workspace import DRIFT_SUMMARY_FILE, REPORT_INDEX, Workspace
from tfxp.observability.request_logs import (LogFile, RequestDecoder, Window, clock,
                                             find_log_files, parse_duration, parse_since,
                                             read_records, select_files, windows)

SERVING_ENV, TRAINING_ENV = "SERVING", "TRAINING"
TRAIN_SPLIT = "train"
STATS_FILE = "FeatureStats.pb"          # StatisticsGen's, in Split-<name>/
SCHEMA_FILE = "schema.pbtxt"            # ImportSchemaGen's, in the Schema artifact
# Examples per RecordBatch handed to TFDV: a few MB of Arrow at most.
CHUNK_EXAMPLES = 8192
# Values per categorical chart (the rest is one "(other)" bar).
CHART_VALUES = 12
SKEW, DRIFT = "skew", "drift"
CROSSED, OK, NO_DATA = "crossed", "ok", "no data"
_MEASURES = {"L_INFTY": "L-infinity", "JENSEN_SHANNON_DIVERGENCE": "Jensen-Shannon",
             "NORMALIZED_ABSOLUTE_DIFFERENCE": "normalized abs. difference"}
# AnomalyInfo types that come from comparators, not from the schema.
_COMPARATOR_ANOMALIES = ("COMPARATOR_L_INFTY_HIGH", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH",
                         "COMPARATOR_NORMALIZED_ABSOLUTE_DIFFERENCE_HIGH",
                         "COMPARATOR_CONTROL_DATA_MISSING", "COMPARATOR_TREATMENT_DATA_MISSING")


# ---------------------------------------------------------------- inputs

@dataclasses.dataclass
class Inputs:
    """What ``check_inputs`` found, before any TensorFlow import."""
    workspace: str
    model: str
    log_location: str
    files: List[LogFile]
    since: Optional[float]
    window_s: Optional[float]


def check_inputs(workspace: str, model: str, logs: Optional[str] = None,
                 since: Optional[str] = None, window: Optional[str] = None,
                 now: Optional[float] = None) -> Inputs:
    """The cheap checks of ``tfxp drift``, standard library only.

    Args:
      logs: a folder, file or glob of request logs; None means
        ``<workspace>/request_logs/<model>/``.
      since, window: ``--since`` and ``--window`` as typed (``window`` None or
        ``'none'``: one window, no drift comparison).
    Raises:
      UsageError: no MLMD store, an unknown model (the message lists the
        workspace's), a bad or future ``--since``, a bad ``--window``, no log
        files, only empty ones, none written since ``--since``.
    """
    ws = Workspace(workspace)
    now = time.time() if now is None else now
    since_s = parse_since(since, now) if since else None
    window_s = (None if window is None or window.strip().lower() == "none"
                else parse_duration(window, "--window"))
    if not os.path.isfile(ws.metadata_path):
        raise UsageError(f"no MLMD store at {ws.metadata_path!r}; run the pipeline first")
    if not os.path.isdir(ws.serving_base(model)):
        known = sorted(name for name in (os.listdir(ws.serving_dir)
                                         if os.path.isdir(ws.serving_dir) else [])
                       if os.path.isdir(os.path.join(ws.serving_dir, name)))
        raise UsageError(f"unknown model {model!r}; the workspace {workspace!r} serves: "
                         f"{', '.join(known) or 'nothing yet (run the pipeline first)'}")
    location = logs or ws.request_logs_dir(model)
    files = find_log_files(location)
    if not files:
        hint = ("" if logs else f"; serve with `tfxp serve --workspace {workspace} "
                f"--log-requests 1.0` (or pass --logs)")
        raise UsageError(f"no request logs of model {model!r} at {location!r}{hint}")
    if not any(f.size for f in files):
        raise UsageError(f"the request logs at {location!r} are empty ({len(files)} "
                         f"file(s) of 0 bytes); no request has been logged yet")
    selected = select_files(files, since_s)
    if not selected:
        raise UsageError(f"no request logged since {clock(since_s)}: the newest log "
                         f"file at {location!r} was last written at "
                         f"{clock(max(f.end_s for f in files))}")
    return Inputs(workspace, model, location, selected, since_s, window_s)


# ---------------------------------------------------------------- baseline

@dataclasses.dataclass
class Baseline:
    """The run that produced the served version, and what it trained on.

    ``statistics_path``: the training split's ``FeatureStats.pb``;
    ``schema_path``: the run's curated schema; ``thresholds_path``: the
    dataset's ``drift_skew.pbtxt`` (None: no thresholds).
    """
    run_id: str
    version: int
    dataset: str
    modality: str
    statistics_path: str
    schema_path: str
    thresholds_path: Optional[str]


def _run_dataset(store, workspace: str, run_id: str) -> Optional[str]:
    """The dataset the run trained on: its Trainer's ``custom_config``, else
    its ``config.json``."""
    from tfxp.observability import mlmd

    custom = mlmd.run_exec_properties(store, run_id, "Trainer").get("custom_config")
    if isinstance(custom, str):
        try:
            return json.loads(custom).get("dataset")
        except ValueError:
            pass
    path = Workspace(workspace).run_config_path(run_id)
    if os.path.isfile(path):
        from tfxp.pipeline.config import RunConfig
        with open(path) as f:
            return RunConfig.from_json(f.read()).dataset_spec.name
    return None


def find_baseline(workspace: str, model: str, version: Optional[int]) -> Baseline:
    """The run that first pushed ``version`` of ``model`` (None: the newest
    version pushed), with its training statistics, schema and thresholds.

    Raises:
      UsageError: no run pushed that version; the run's statistics or schema
        are gone; its dataset is unknown.
    """
    from tfxp.core.datasets import get_dataset
    from tfxp.observability import mlmd
    from tfxp.pipeline import schemas

    store = mlmd.open_store(Workspace(workspace).metadata_path)
    pushed = mlmd.pushes(store, model)
    if not pushed:
        raise UsageError(f"no run in {workspace!r} pushed a version of model {model!r}")
    if version is None:
        version = max(p.version for p in pushed)
    runs = [p for p in pushed if p.version == version]
    if not runs:
        raise UsageError(f"version {version} of model {model!r} was not pushed by any run "
                         f"recorded in {workspace!r}; pushed versions: "
                         f"{', '.join(str(v) for v in sorted({p.version for p in pushed}))}")
    run_id = runs[0].run_id
    outputs = mlmd.run_outputs(store, run_id)
    stats = outputs.get("StatisticsGen", {}).get("ExampleStatistics") or next(
        (a["ExampleStatistics"] for a in outputs.values() if "ExampleStatistics" in a), None)
    schema = next((a["Schema"] for a in outputs.values() if "Schema" in a), None)
    dataset = _run_dataset(store, workspace, run_id)
    if dataset is None:
        raise UsageError(f"run {run_id} (version {version} of {model!r}) records no dataset")
    spec = get_dataset(dataset)
    stats_path = os.path.join(stats.uri, f"Split-{TRAIN_SPLIT}", STATS_FILE) if stats else ""
    if not os.path.isfile(stats_path):
        raise UsageError(f"run {run_id} (version {version} of {model!r}) has no training "
                         f"statistics{' at ' + repr(stats_path) if stats_path else ''}")
    schema_path = os.path.join(schema.uri, SCHEMA_FILE) if schema else ""
    if not os.path.isfile(schema_path):
        schema_path = schemas.schema_file(dataset)  # the curated file it imported
    return Baseline(run_id, version, dataset, spec.modality, stats_path, schema_path,
                    schemas.drift_skew_file(dataset))


def serving_schema(schema, model_features: Sequence[str]):
    """A copy of ``schema`` with the environments ``TRAINING`` and ``SERVING``.

    In ``SERVING``: features the model does not read (the label and its
    sources, columns such as ``trip_start_timestamp``) are not expected
    (``not_in_environment``), since a request may leave them out and the
    signatures ignore them; a feature that may be empty (no ``shape``) may
    also be absent, since ``parse_example`` reads an absent and an empty
    feature alike (``presence.min_fraction`` dropped; ``min_count`` stays, so
    a feature absent from all traffic is still "Column dropped").
    """
    out = type(schema)()
    out.CopyFrom(schema)
    for env in (TRAINING_ENV, SERVING_ENV):
        if env not in out.default_environment:
            out.default_environment.append(env)
    wanted = set(model_features)
    for feature in out.feature:
        if feature.name not in wanted:
            if SERVING_ENV not in feature.not_in_environment:
                feature.not_in_environment.append(SERVING_ENV)
        elif not feature.HasField("shape") and feature.presence.HasField("min_fraction"):
            feature.presence.ClearField("min_fraction")
    return out


def load_schema(baseline: Baseline, model_features: Sequence[str]):
    """The run's schema with the dataset's thresholds (``serving_schema``).

    Raises:
      UsageError: an unreadable schema or thresholds file, naming it.
    """
    from google.protobuf import text_format
    from tensorflow_metadata.proto.v0 import schema_pb2

    from tfxp.pipeline import schemas

    try:
        with open(baseline.schema_path, encoding="utf-8") as f:
            schema = text_format.Parse(f.read(), schema_pb2.Schema())
        if baseline.thresholds_path:
            schema = schemas.with_comparators(
                schema, schemas.load_drift_skew(baseline.thresholds_path))
    except (OSError, ValueError, text_format.ParseError) as err:
        raise UsageError(f"schema or thresholds not readable: {err}") from None
    return serving_schema(schema, model_features)


# ---------------------------------------------------------------- statistics

class StatsBuilder:
    """TFDV statistics of examples added in batches, without Beam.

    TFDV's in-memory path, as ``tfdv.generate_statistics_from_dataframe`` runs
    it (utils/stats_gen_lib.py): the combiner generators of
    ``stats_impl.get_generators(options, in_memory=True)``, one partial
    accumulator per Arrow RecordBatch (``generate_partial_statistics_in_memory``),
    merged with ``merge_accumulators``, extracted once
    (``extract_statistics_output``). Examples are decoded with tfx_bsl's
    ``ExamplesToRecordBatchDecoder`` (no schema: types come from the data,
    so a wrongly typed feature shows up as TFDV's type anomaly).
    """

    def __init__(self, options):
        from tensorflow_data_validation.statistics import stats_impl

        self._impl, self._options = stats_impl, options
        self._generators = stats_impl.get_generators(options, in_memory=True)
        self._accumulators = None
        self.examples = 0

    def add(self, record_batch) -> None:
        partial = self._impl.generate_partial_statistics_in_memory(
            record_batch, self._options, self._generators)
        self._accumulators = partial if self._accumulators is None else [
            gen.merge_accumulators([acc, new])
            for gen, acc, new in zip(self._generators, self._accumulators, partial)]
        self.examples += record_batch.num_rows

    def result(self):
        """A ``DatasetFeatureStatisticsList`` (one dataset)."""
        from tensorflow_metadata.proto.v0 import statistics_pb2

        if self._accumulators is None:
            return statistics_pb2.DatasetFeatureStatisticsList(
                datasets=[statistics_pb2.DatasetFeatureStatistics(num_examples=0)])
        return self._impl.extract_statistics_output(self._accumulators, self._generators)


@dataclasses.dataclass
class Traffic:
    """Statistics of the served examples: ``overall`` over every selected
    file, ``per_window`` one per ``Window`` (``DatasetFeatureStatisticsList``)."""
    overall: object
    per_window: List[object]
    windows: List[Window]
    requests: int
    examples: int
    versions: Dict[int, int]
    records_per_file: Dict[str, int]
    ignored: Dict[str, int]   # features the model does not read: examples carrying them


def unify_types(batch: List[bytes], features, ignored: Dict[str, int],
                seen: set) -> List[bytes]:
    """``batch`` (serialized ``tf.Example``s) re-serialized for one decode:
    features the model does not read are dropped (counted in ``ignored``,
    named in ``seen``), and a model feature that holds int64 values in some
    examples and floats in others becomes float in all (integers below 2**24
    convert exactly; TFDV would type the column FLOAT either way)."""
    import tensorflow as tf

    examples = [tf.train.Example.FromString(b) for b in batch]
    kinds: Dict[str, set] = {}
    for example in examples:
        for name, feature in example.features.feature.items():
            kinds.setdefault(name, set()).add(feature.WhichOneof("kind"))
    out = []
    for example in examples:
        for name in list(example.features.feature):
            feature = example.features.feature[name]
            kind = feature.WhichOneof("kind")
            seen.add(name)
            if name not in features:
                if kind and len(getattr(feature, kind).value):
                    ignored[name] = ignored.get(name, 0) + 1
                del example.features.feature[name]
            elif kind == "int64_list" and "float_list" in kinds[name]:
                values = list(feature.int64_list.value)
                feature.ClearField("int64_list")
                feature.float_list.value.extend(values)
        out.append(example.SerializeToString())
    return out


def read_traffic(inputs: Inputs, decoder: RequestDecoder) -> Traffic:
    """Reads the selected log files once and builds the statistics.

    Streams: at most ``CHUNK_EXAMPLES`` serialized examples (and their Arrow
    RecordBatch) are held at a time, beside TFDV's accumulators, whose
    quantile and top-k sketches do not grow with the traffic. Measured
    (bench/drift_bench.py): peak RSS of the whole command 811 MiB at 10k
    requests, 813 MiB at 100k, nearly all of it TensorFlow's own.

    Raises:
      UsageError: a truncated or corrupt file, a record of another model
        (``RequestDecoder``), a file whose examples carry none of the model's
        features, or no example at all.
    """
    import tensorflow_data_validation as tfdv
    from tfx_bsl.coders import example_coder

    features = SERVING_FEATURES[decoder.modality]
    options = tfdv.StatsOptions(feature_allowlist=list(features))
    cut = windows(inputs.files, inputs.window_s)
    overall = StatsBuilder(options)
    per_window = [StatsBuilder(options) for _ in cut] if len(cut) > 1 else [overall]
    batch_decoder = example_coder.ExamplesToRecordBatchDecoder()
    ignored: Dict[str, int] = {}
    records: Dict[str, int] = {}

    def flush(batch: List[bytes], window: StatsBuilder, seen: set) -> None:
        if not batch:
            return
        try:
            record_batch = batch_decoder.DecodeBatch(batch)
        except RuntimeError:
            # A feature holds int64 values in some requests and floats in
            # others (clients type CSV cells one by one: '0' and '0.0'),
            # which a schema-less decode refuses.
            record_batch = batch_decoder.DecodeBatch(
                unify_types(batch, features, ignored, seen))
        for name, column in zip(record_batch.schema.names, record_batch.columns):
            seen.add(name)
            if name not in features:
                ignored[name] = ignored.get(name, 0) + record_batch.num_rows - column.null_count
        overall.add(record_batch)
        if window is not overall:
            window.add(record_batch)
        batch.clear()

    for window, stats in zip(cut, per_window):
        for log in window.files:
            batch: List[bytes] = []
            seen: set = set()
            count = 0
            for count, record in enumerate(read_records(log.path), start=1):
                batch.extend(decoder.decode(record, f"{log.path}, record {count}"))
                if len(batch) >= CHUNK_EXAMPLES:
                    flush(batch, stats, seen)
            flush(batch, stats, seen)
            records[log.path] = count
            if seen and not seen & set(features):
                raise UsageError(
                    f"{log.path}: its examples carry none of model {decoder.model!r}'s "
                    f"features ({', '.join(features)}), only {', '.join(sorted(seen))}: "
                    f"requests to another model")
    if overall.examples == 0:
        raise UsageError(f"the request logs at {inputs.log_location!r} hold no example "
                         f"({decoder.requests} request(s) in {len(inputs.files)} file(s))")
    served = overall.result()  # a builder's result is extracted once (sketches finalise)
    return Traffic(served, [served if b is overall else b.result() for b in per_window], cut,
                   decoder.requests, overall.examples, dict(decoder.versions), records,
                   ignored)


# ---------------------------------------------------------------- comparison

@dataclasses.dataclass
class Row:
    """One measured distance: ``comparison`` is ``skew`` (served vs training)
    or ``drift`` (``window`` vs the one before); ``distance`` None when TFDV
    could not measure it (no values on one side)."""
    feature: str
    kind: str
    comparison: str
    measure: str
    distance: Optional[float]
    threshold: Optional[float]
    window: Optional[int] = None   # drift: index of the later window
    histogram: Optional[str] = None  # Jensen-Shannon: "standard" or "quantiles"

    @property
    def measure_text(self) -> str:
        return f"{self.measure} ({self.histogram})" if self.histogram else self.measure

    @property
    def verdict(self) -> str:
        if self.distance is None:
            return NO_DATA
        return CROSSED if self.threshold is not None and self.distance > self.threshold else OK


@dataclasses.dataclass
class Finding:
    """One schema anomaly of the served traffic (TFDV ``AnomalyInfo`` reason)."""
    feature: str
    severity: str
    short: str
    description: str


@dataclasses.dataclass
class Chart:
    """Distributions of one crossed row, for the page: ``labels`` (buckets or
    values) and two series of shares summing to 1 (``reference``, ``served``)."""
    feature: str
    title: str
    labels: List[str]
    reference_name: str
    reference: List[float]
    served_name: str
    served: List[float]


@dataclasses.dataclass
class DriftResult:
    """Everything ``tfxp drift`` found; ``exit_code`` per ``core.errors``."""
    model: str
    workspace: str
    baseline: Baseline
    inputs: Inputs
    traffic: Traffic
    rows: List[Row]
    findings: List[Finding]
    charts: List[Chart]
    created_s: float

    @property
    def crossed(self) -> List[Row]:
        return [r for r in self.rows if r.verdict == CROSSED]

    @property
    def exit_code(self) -> int:
        if self.crossed:
            return EXIT_THRESHOLD
        return EXIT_ANOMALIES if self.findings else EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_THRESHOLD: "threshold crossed", EXIT_ANOMALIES: "schema anomalies",
                EXIT_OK: "ok"}[self.exit_code]


def _kind(feature) -> str:
    from tensorflow_metadata.proto.v0 import schema_pb2

    if feature.type == schema_pb2.BYTES or feature.int_domain.is_categorical:
        return "categorical"
    return "numeric"


def _rows(anomalies, schema, comparison: str, window: Optional[int] = None) -> List[Row]:
    """The measured distances of one ``validate_statistics`` answer, plus a
    ``no data`` row for each feature whose comparator TFDV could not apply."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    field = "skew_comparator" if comparison == SKEW else "drift_comparator"
    features = {f.name: f for f in schema.feature}
    rows, measured = [], set()
    for info in anomalies.drift_skew_info:
        name = ".".join(info.path.step)
        measured.add(name)
        values = info.skew_measurements if comparison == SKEW else info.drift_measurements
        for m in values:
            kind_name = anomalies_pb2.DriftSkewInfo.Measurement.Type.Name(m.type)
            feature = features.get(name)
            rows.append(Row(name, _kind(feature) if feature else "?", comparison,
                            _MEASURES.get(kind_name, kind_name), m.value, m.threshold, window,
                            _histogram(getattr(feature, field)) if feature and
                            kind_name == "JENSEN_SHANNON_DIVERGENCE" else None))
    for name, feature in features.items():
        comparator = getattr(feature, field)
        if name in measured or not feature.HasField(field) or (
                SERVING_ENV in feature.not_in_environment):
            continue
        for measure, label in (("infinity_norm", "L-infinity"),
                               ("jensen_shannon_divergence", "Jensen-Shannon")):
            if comparator.HasField(measure):
                rows.append(Row(name, _kind(feature), comparison, label, None,
                                getattr(comparator, measure).threshold, window,
                                _histogram(comparator) if measure != "infinity_norm" else None))
    return rows


def _histogram(comparator) -> str:
    """The histogram a Jensen-Shannon comparator reads: its ``source``;
    DEFAULT is the STANDARD histogram (metrics.cc, ``GetHistogramType``)."""
    from tensorflow_metadata.proto.v0 import schema_pb2

    source = comparator.jensen_shannon_divergence.source.type
    return "quantiles" if source == schema_pb2.HistogramSelection.QUANTILES else "standard"


def _findings(anomalies) -> List[Finding]:
    """Schema anomalies (comparator reasons left out: they are rows)."""
    from tensorflow_metadata.proto.v0 import anomalies_pb2

    out = []
    for name, info in sorted(anomalies.anomaly_info.items()):
        severity = anomalies_pb2.AnomalyInfo.Severity.Name(info.severity)
        for reason in info.reason:
            if anomalies_pb2.AnomalyInfo.Type.Name(reason.type) in _COMPARATOR_ANOMALIES:
                continue
            out.append(Finding(name, severity, reason.short_description, reason.description))
    if anomalies.HasField("dataset_anomaly_info"):
        info = anomalies.dataset_anomaly_info
        for reason in info.reason:
            out.append(Finding("(dataset)", anomalies_pb2.AnomalyInfo.Severity.Name(
                info.severity), reason.short_description, reason.description))
    return out


def feature_stats(statistics, name: str):
    """The ``FeatureNameStatistics`` of ``name`` in the first dataset, or None."""
    for feature in statistics.datasets[0].features:
        path = ".".join(feature.path.step) if feature.HasField("path") else feature.name
        if path == name:
            return feature
    return None


def align_histograms(first, second) -> Tuple[List[str], List[float], List[float]]:
    """Two TFDV ``Histogram``s on common buckets, as TFDV's Jensen-Shannon
    divergence sees them (metrics.cc ``AlignHistograms``): finite buckets
    re-bucketed onto the union of both boundary sets, each count spread
    uniformly over its bucket's width; point buckets (``low == high``),
    infinite and NaN counts as buckets of their own. Each series is
    normalised to sum 1 (a series with no count stays all 0).

    Returns:
      ``(labels, shares of first, shares of second)``.
    """
    def parts(h):
        finite, points, infinite = [], {}, 0.0
        for b in h.buckets:
            if not (math.isfinite(b.low_value) and math.isfinite(b.high_value)):
                infinite += b.sample_count
            elif b.low_value == b.high_value:
                points[b.low_value] = points.get(b.low_value, 0.0) + b.sample_count
            else:
                finite.append((b.low_value, b.high_value, b.sample_count))
        return finite, points, infinite

    (f1, p1, i1), (f2, p2, i2) = parts(first), parts(second)
    bounds = sorted({x for low, high, _ in f1 + f2 for x in (low, high)})

    def rebucket(finite):
        counts = [0.0] * max(len(bounds) - 1, 0)
        for low, high, count in finite:
            for j in range(len(bounds) - 1):
                if bounds[j] >= low and bounds[j + 1] <= high:
                    counts[j] += count * (bounds[j + 1] - bounds[j]) / (high - low)
        return counts

    points = sorted(set(p1) | set(p2))
    text = _number_format(bounds + points)
    labels = [f"{text(bounds[j])}..{text(bounds[j + 1])}" for j in range(len(bounds) - 1)]
    a, b = rebucket(f1), rebucket(f2)
    for point in points:
        labels.append(f"={text(point)}")
        a.append(p1.get(point, 0.0))
        b.append(p2.get(point, 0.0))
    if i1 or i2:
        labels.append("inf")
        a.append(i1)
        b.append(i2)
    if first.num_nan or second.num_nan:
        labels.append("NaN")
        a.append(first.num_nan)
        b.append(second.num_nan)
    return labels, _normalised(a), _normalised(b)


def _number_format(values: Sequence[float]):
    """The shortest ``%g`` format (4 to 8 significant digits) that keeps the
    distinct ``values`` distinct, as a function."""
    distinct = sorted(set(values))
    digits = next((d for d in range(4, 9)
                   if len({f"{v:.{d}g}" for v in distinct}) == len(distinct)), 8)
    return lambda value: f"{value:.{digits}g}"


def _normalised(values: List[float]) -> List[float]:
    total = sum(values)
    return [v / total for v in values] if total else [0.0] * len(values)


def value_counts(stats) -> Dict[str, float]:
    """``{value: count}`` of a categorical feature: its rank histogram, else
    its top values (statistics_view.cc ``GetStringValuesWithCounts``)."""
    string_stats = stats.string_stats
    buckets = string_stats.rank_histogram.buckets
    if buckets:
        return {b.label: b.sample_count for b in buckets}
    return {v.value: v.frequency for v in string_stats.top_values}


def _chart(row: Row, reference, served, reference_name: str, served_name: str
           ) -> Optional[Chart]:
    first, second = feature_stats(reference, row.feature), feature_stats(served, row.feature)
    if first is None or second is None:
        return None
    title = f"{row.feature}: {row.measure} {row.distance:.4f} > {row.threshold:g}"
    if first.HasField("string_stats") or second.HasField("string_stats"):
        p, q = value_counts(first), value_counts(second)
        tp, tq = sum(p.values()) or 1.0, sum(q.values()) or 1.0
        shares = {v: (p.get(v, 0.0) / tp, q.get(v, 0.0) / tq) for v in set(p) | set(q)}
        top = sorted(shares, key=lambda v: (-max(shares[v]), v))[:CHART_VALUES]
        labels = list(top)
        a = [shares[v][0] for v in top]
        b = [shares[v][1] for v in top]
        if len(shares) > len(top):
            labels.append("(other)")
            a.append(max(0.0, 1.0 - sum(a)))
            b.append(max(0.0, 1.0 - sum(b)))
        return Chart(row.feature, title, labels, reference_name, a, served_name, b)
    from tensorflow_metadata.proto.v0 import statistics_pb2

    kind = (statistics_pb2.Histogram.QUANTILES if row.histogram == "quantiles"
            else statistics_pb2.Histogram.STANDARD)
    histogram = {h.type: h for h in first.num_stats.histograms}
    other = {h.type: h for h in second.num_stats.histograms}
    if kind not in histogram or kind not in other:
        return None
    labels, a, b = align_histograms(histogram[kind], other[kind])
    title += f" ({row.histogram} histograms, aligned as TFDV aligns them)"
    return Chart(row.feature, title, labels, reference_name, a, served_name, b)


def compare(schema, traffic: Traffic, training
            ) -> Tuple[List[Row], List[Finding], List[Chart]]:
    """Skew, drift and schema anomalies, with TFDV's ``validate_statistics``
    (module docstring); a chart per crossed row.

    Args:
      schema: ``serving_schema`` with the comparators.
      traffic: ``read_traffic``'s statistics.
      training: the training split's ``DatasetFeatureStatisticsList``.
    """
    import tensorflow_data_validation as tfdv

    served = traffic.overall
    rows = _rows(tfdv.validate_statistics(training, schema, serving_statistics=served),
                 schema, SKEW)
    charts = [_chart(r, training, served, "training", "served")
              for r in rows if r.verdict == CROSSED]
    for k in range(1, len(traffic.per_window)):
        previous, current = traffic.per_window[k - 1], traffic.per_window[k]
        answer = tfdv.validate_statistics(current, schema, previous_statistics=previous,
                                          environment=SERVING_ENV)
        window_rows = _rows(answer, schema, DRIFT, k)
        rows += window_rows
        charts += [_chart(r, previous, current, f"window {k}", f"window {k + 1}")
                   for r in window_rows if r.verdict == CROSSED]
    findings = _findings(tfdv.validate_statistics(served, schema, environment=SERVING_ENV))
    return rows, findings, [c for c in charts if c is not None]


def run(inputs: Inputs, version: Optional[int] = None) -> DriftResult:
    """Reads the logs, finds the baseline, compares (the whole ``tfxp drift``
    but printing and the page).

    Args:
      version: the served version to compare with; None means the newest
        version that answered the selected requests.
    Raises:
      UsageError: bad logs or no baseline (see ``read_traffic``, ``find_baseline``).
    """
    import tensorflow_data_validation as tfdv

    # The newest pushed version names the dataset (every version of a model
    # name has the same family and dataset) before the logs say which versions
    # answered.
    provisional = find_baseline(inputs.workspace, inputs.model, version)
    features = SERVING_FEATURES[provisional.modality]
    schema = load_schema(provisional, features)
    types = {f.name: f.type for f in schema.feature}
    traffic = read_traffic(inputs, RequestDecoder(inputs.model, provisional.modality, types))
    answered = max(v for v in traffic.versions) if traffic.versions else 0
    baseline = provisional
    if version is None and answered and answered != provisional.version:
        baseline = find_baseline(inputs.workspace, inputs.model, answered)
        schema = load_schema(baseline, features)
    training = tfdv.load_stats_binary(baseline.statistics_path)
    rows, findings, charts = compare(schema, traffic, training)
    return DriftResult(inputs.model, inputs.workspace, baseline, inputs, traffic, rows,
                       findings, charts, time.time())


# ---------------------------------------------------------------- output

def format_result(result: DriftResult) -> str:
    """The console table: one line per measured distance, then the anomalies."""
    t, b = result.traffic, result.baseline
    files = result.inputs.files
    span = f"{clock(files[0].start_s)} .. {clock(max(f.end_s for f in files))}"
    versions = ", ".join(f"{v or '?'}: {n}" for v, n in sorted(t.versions.items()))
    lines = [f"drift of model {result.model} version {b.version} (run {b.run_id}, "
             f"dataset {b.dataset})",
             f"  traffic: {t.requests} requests, {t.examples} examples in "
             f"{len(files)} file(s), {span}; answered by version(s) {versions}",
             f"  windows: {len(t.windows)}" + (
                 "" if len(t.windows) > 1 else " (one: no drift between windows)"),
             f"  {'feature':<24} {'kind':<11} {'comparison':<18} {'measure':<26} "
             f"{'distance':>9} {'threshold':>9}  verdict"]
    for r in result.rows:
        comparison = ("skew vs training" if r.comparison == SKEW
                      else f"drift w{r.window + 1} vs w{r.window}")
        distance = "-" if r.distance is None else f"{r.distance:.4f}"
        threshold = "-" if r.threshold is None else f"{r.threshold:.4f}"
        verdict = r.verdict.upper() if r.verdict == CROSSED else r.verdict
        lines.append(f"  {r.feature:<24} {r.kind:<11} {comparison:<18} {r.measure_text:<26} "
                     f"{distance:>9} {threshold:>9}  {verdict}")
    if not result.rows:
        lines.append(f"  no distances: {b.thresholds_path} sets no threshold"
                     if b.thresholds_path else
                     f"  no distances: {b.dataset} has no drift_skew.pbtxt")
    if result.findings:
        lines.append(f"  schema anomalies in the served traffic ({len(result.findings)}):")
        for f in result.findings:
            lines.append(f"    {f.feature}: {f.short}: {f.description}")
    else:
        lines.append("  schema anomalies in the served traffic: none")
    if t.ignored:
        lines.append("  features the model does not read (ignored): " + ", ".join(
            f"{k} ({n})" for k, n in sorted(t.ignored.items())))
    lines.append(f"  verdict: {result.verdict} (exit {result.exit_code})")
    return "\n".join(lines)


def page_dir(workspace: str, model: str, created_s: float) -> str:
    """``<workspace>/reports/drift-<model>/<local time, ms>``."""
    stamp = time.strftime("%Y-%m-%dT%H-%M-%S", time.localtime(created_s))
    return os.path.join(Workspace(workspace).drift_reports_dir(model),
                        f"{stamp}.{int(created_s * 1000) % 1000:03d}")


def summary(result: DriftResult) -> Dict[str, object]:
    """``drift.json``: what the run report's link shows."""
    return {"model": result.model, "version": result.baseline.version,
            "run_id": result.baseline.run_id, "created_ms": int(result.created_s * 1000),
            "verdict": result.verdict, "exit_code": result.exit_code,
            "requests": result.traffic.requests, "examples": result.traffic.examples,
            "crossed": [f"{r.feature} ({r.comparison})" for r in result.crossed],
            "anomalies": len(result.findings), "page": REPORT_INDEX}


def write_page(result: DriftResult) -> str:
    """Writes the HTML page and ``drift.json`` into a new folder under
    ``<workspace>/reports/drift-<model>/``, whole or not at all (a temporary
    folder renamed). Returns the page's path."""
    from tfxp.observability import drift_html

    out = page_dir(result.workspace, result.model, result.created_s)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".drift-", dir=parent)
    try:
        run_report = os.path.join(Workspace(result.workspace).report_dir(
            result.baseline.run_id), REPORT_INDEX)
        html = drift_html.render(result, run_report=os.path.relpath(run_report, out)
                                 if os.path.isfile(run_report) else None)
        with open(os.path.join(tmp, REPORT_INDEX), "w", encoding="utf-8") as f:
            f.write(html)
        with open(os.path.join(tmp, DRIFT_SUMMARY_FILE), "w") as f:
            json.dump(summary(result), f, indent=2)
        os.replace(tmp, out)
    finally:
        if os.path.isdir(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
    return os.path.join(out, REPORT_INDEX)
