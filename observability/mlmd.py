"""Reads pipeline runs back out of MLMD (SQLite): states, durations, metrics,
blessing and pushed version. Used by the end-of-run summary and ``status``.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from tfxp.core import csv_types
from tfxp.core.workspace import HISTORY_FILE, SERVING_MODEL_DIR

STATE_NAMES = {v: k for k, v in metadata_store_pb2.Execution.State.items()}
NOT_EVALUATED_NO_THRESHOLDS = "not evaluated: no thresholds"
# The blessing as one token in ``status``'s table.
_STATUS_BLESSING = {"yes": "yes", "no": "no", "not evaluated": "-",
                    NOT_EVALUATED_NO_THRESHOLDS: "no-thresholds"}


@dataclasses.dataclass
class ComponentRun:
    """One component execution: ``seconds`` from MLMD create/update times."""
    component: str
    state: str
    start_ms: int
    seconds: float


@dataclasses.dataclass
class RunSummary:
    """A pipeline run as MLMD records it.

    ``metrics``: ``{slice name: {metric: value}}`` from the Evaluator's output
    (``"Overall"`` for the whole eval split). ``blessed`` is None when the
    Evaluator did not finish, or finished with no threshold configured: TFX's
    Evaluator then writes its blessing without a ``blessed`` property
    (tfx/components/evaluator/executor.py, "No threshold configured") and
    ``no_thresholds`` is True. ``infra_blessed`` is the infra validator's
    verdict. ``pushed_path`` is None unless a version was pushed.
    ``warm_start`` is the Trainer's ``history.json`` record of a warm start
    (``models.warm_start.begin``), None without one; ``coerced`` the CSV
    ExampleGen's ``{column: {conversion: count}}`` (``components.
    csv_example_gen``), None for other ExampleGens.
    """
    pipeline: str
    run_id: str
    components: List[ComponentRun]
    metrics: Dict[str, Dict[str, float]] = dataclasses.field(default_factory=dict)
    blessed: Optional[bool] = None
    no_thresholds: bool = False
    infra_blessed: Optional[bool] = None
    infra_reason: Optional[str] = None
    latency_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    current_latency_ms: Dict[str, float] = dataclasses.field(default_factory=dict)
    pushed_path: Optional[str] = None
    pushed_version: Optional[str] = None
    model_uri: Optional[str] = None
    model_run_uri: Optional[str] = None
    warm_start: Optional[Dict[str, object]] = None
    coerced: Optional[Dict[str, Dict[str, int]]] = None

    @property
    def blessing(self) -> str:
        """``yes``, ``no``, ``not evaluated: no thresholds``, or ``not
        evaluated`` (the Evaluator did not finish)."""
        if self.no_thresholds:
            return NOT_EVALUATED_NO_THRESHOLDS
        return {None: "not evaluated", True: "yes", False: "no"}[self.blessed]

    @property
    def not_pushed_because(self) -> Optional[str]:
        """Why no version was pushed, when the run says; else None."""
        if self.pushed_path:
            return None
        if self.no_thresholds:
            return ("not evaluated: no thresholds, and the Pusher pushes only models "
                    "the Evaluator blessed")
        if self.blessed is False:
            return "the Evaluator did not bless the model"
        if self.infra_blessed is False:
            return "the infra validator did not bless the model" + (
                f": {self.infra_reason}" if self.infra_reason else "")
        return None

    @property
    def ok(self) -> bool:
        return bool(self.components) and all(
            c.state in ("COMPLETE", "CACHED") for c in self.components)

    @property
    def start_ms(self) -> int:
        return min((c.start_ms for c in self.components), default=0)

    @property
    def seconds(self) -> float:
        return sum(c.seconds for c in self.components)

    @property
    def end_ms(self) -> int:
        """Last component update, ms since the epoch (0 with no component)."""
        return max((c.start_ms + int(c.seconds * 1000) for c in self.components), default=0)

    @property
    def wall_seconds(self) -> float:
        """First component start to last component update, seconds."""
        return (self.end_ms - self.start_ms) / 1000.0

    @property
    def state(self) -> str:
        """``ok`` (every component COMPLETE or CACHED), ``failed`` (one FAILED
        or CANCELED), ``running`` (one NEW or RUNNING: in progress, or its
        process died), else ``empty`` (no component recorded)."""
        states = {c.state for c in self.components}
        if not states:
            return "empty"
        if states & {"FAILED", "CANCELED"}:
            return "failed"
        if states <= {"COMPLETE", "CACHED"}:
            return "ok"
        return "running"


def connection_config(metadata_path: str) -> metadata_store_pb2.ConnectionConfig:
    """SQLite MLMD connection, created on first use: what TFX's
    ``tfx.orchestration.metadata.sqlite_metadata_connection_config`` builds,
    without importing TFX (``tfxp status`` reads MLMD with ml_metadata alone)."""
    config = metadata_store_pb2.ConnectionConfig()
    config.sqlite.filename_uri = metadata_path
    config.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE)
    return config


def open_store(metadata_path: str) -> metadata_store.MetadataStore:
    """Opens the SQLite MLMD store at ``metadata_path`` (read/write).

    Raises:
      FileNotFoundError: no store there.
    """
    if not os.path.isfile(metadata_path):
        raise FileNotFoundError(f"no MLMD store at {metadata_path!r}; run the pipeline first")
    return metadata_store.MetadataStore(connection_config(metadata_path))


def latest_run(store: metadata_store.MetadataStore, workspace: str) -> str:
    """Id of the most recent pipeline run in ``store``, the MLMD of ``workspace``.

    Raises:
      LookupError: no run recorded (the message names ``workspace``).
    """
    runs = list_runs(store)
    if not runs:
        raise LookupError(f"no pipeline run recorded in {workspace!r}")
    return runs[-1][1]


def list_runs(store: metadata_store.MetadataStore,
              pipeline: Optional[str] = None) -> List[tuple[str, str]]:
    """``(pipeline name, run id)`` of every recorded run, oldest first."""
    runs = []
    for ctx in store.get_contexts_by_type("pipeline_run"):
        pipelines = [p.name for p in store.get_parent_contexts_by_context(ctx.id)
                     if p.type == "pipeline"] or [
            p.name for p in store.get_contexts_by_type("pipeline")
            if ctx.name.startswith(p.name)]
        name = pipelines[0] if pipelines else "?"
        if pipeline is None or name == pipeline:
            runs.append((ctx.create_time_since_epoch, name, ctx.name))
    return [(name, run) for _, name, run in sorted(runs)]


def latest_blessed_model(store: metadata_store.MetadataStore,
                         pipeline: str) -> Optional[metadata_store_pb2.Artifact]:
    """The Model artifact the pipeline's latest-blessed-model Resolver would
    give the next run of ``pipeline``, or None.

    TFX's ``LatestBlessedModelStrategy`` (tfx/dsl/input_resolution/
    strategies/latest_blessed_model_strategy.py): among the pipeline's
    live Model artifacts, the one with the highest id that a ModelBlessing
    with ``blessed == 1`` names as ``current_model_id``.
    """
    ctx = store.get_context_by_type_and_name("pipeline", pipeline)
    if ctx is None:
        return None
    types = {t.id: t.name for t in store.get_artifact_types()}
    artifacts = store.get_artifacts_by_context(ctx.id)
    blessed = {a.custom_properties["current_model_id"].int_value for a in artifacts
               if types.get(a.type_id) == "ModelBlessing"
               and "blessed" in a.custom_properties
               and a.custom_properties["blessed"].int_value == 1
               and "current_model_id" in a.custom_properties}
    models = [a for a in artifacts if types.get(a.type_id) == "Model" and a.id in blessed
              and a.state == metadata_store_pb2.Artifact.LIVE]
    return max(models, key=lambda a: a.id, default=None)


def _component_of(store, execution) -> str:
    node = execution.custom_properties.get("node_id") or execution.properties.get("node_id")
    if node is not None and node.string_value:
        return node.string_value
    for ctx in store.get_contexts_by_execution(execution.id):
        if ctx.type == "node":
            return ctx.name.split(".", 1)[-1]
    return execution.type


def _outputs(store, execution_id: int):
    events = store.get_events_by_execution_ids([execution_id])
    ids = [e.artifact_id for e in events if e.type in (
        metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)]
    return store.get_artifacts_by_id(ids) if ids else []


def _executions(store, run_id: str):
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if ctx is None:
        raise KeyError(f"no pipeline run {run_id!r} in MLMD")
    return sorted(store.get_executions_by_context(ctx.id),
                  key=lambda e: e.create_time_since_epoch)


def run_outputs(store: metadata_store.MetadataStore,
                run_id: str) -> Dict[str, Dict[str, metadata_store_pb2.Artifact]]:
    """Output artefacts of the run: ``{component: {artifact type: artifact}}``
    (e.g. ``["StatisticsGen"]["ExampleStatistics"].uri``); a cached component
    lists the artefacts it reused. Raises ``KeyError`` for an unknown run."""
    out: Dict[str, Dict[str, metadata_store_pb2.Artifact]] = {}
    for execution in _executions(store, run_id):
        arts = out.setdefault(_component_of(store, execution), {})
        for artifact in _outputs(store, execution.id):
            arts[store.get_artifact_types_by_id([artifact.type_id])[0].name] = artifact
    return out


def run_exec_properties(store: metadata_store.MetadataStore, run_id: str,
                        component: str) -> Dict[str, object]:
    """Execution properties of ``component`` in the run as Python values
    (strings stay strings: TFX stores protos and dicts as JSON text).
    Empty if the component has no execution. Raises ``KeyError`` for an
    unknown run."""
    for execution in _executions(store, run_id):
        if _component_of(store, execution) == component:
            props = {}
            for name, value in list(execution.properties.items()) + list(
                    execution.custom_properties.items()):
                kind = value.WhichOneof("value")
                props[name] = getattr(value, kind) if kind else None
            return props
    return {}


@dataclasses.dataclass
class Push:
    """One version the Pusher pushed (its ``PushedModel`` artifact).

    ``destination`` is the version folder (``<base path>/<version>``);
    ``create_ms`` when MLMD recorded the artifact, ms since the epoch.
    """
    run_id: str
    version: int
    destination: str
    create_ms: int


def pushes(store: metadata_store.MetadataStore, model_name: str) -> List[Push]:
    """Every version of ``model_name`` a recorded run pushed, oldest first.

    A version belongs to ``model_name`` when its destination's parent folder is
    named so (the Pusher's base path is ``<workspace>/serving/<model name>``,
    ``core.workspace``). Re-pushing identical bytes records the same version
    again (``components/pusher.py``): each push is listed, the first one is
    the run that produced the version.
    """
    try:
        artifacts = store.get_artifacts_by_type("PushedModel")
    except Exception:  # noqa: BLE001 - ml_metadata raises NotFoundError: no such type yet
        return []
    found = []
    for artifact in artifacts:
        props = artifact.custom_properties
        if not ("pushed" in props and props["pushed"].int_value):
            continue
        destination = props["pushed_destination"].string_value
        version = props["pushed_version"].string_value
        base = destination.rstrip("/").rpartition("/")[0]
        if base.rstrip("/").rpartition("/")[2] != model_name or not version.isdigit():
            continue
        run_id = _producing_run(store, artifact.id)
        if run_id is not None:
            found.append(Push(run_id, int(version), destination,
                              artifact.create_time_since_epoch))
    return sorted(found, key=lambda p: (p.create_ms, p.run_id))


def _producing_run(store, artifact_id: int) -> Optional[str]:
    """Id of the pipeline run whose execution output ``artifact_id``, or None."""
    for event in store.get_events_by_artifact_ids([artifact_id]):
        if event.type not in (metadata_store_pb2.Event.OUTPUT,
                              metadata_store_pb2.Event.DECLARED_OUTPUT):
            continue
        for ctx in store.get_contexts_by_execution(event.execution_id):
            if ctx.type == "pipeline_run":
                return ctx.name
    return None


def format_time(ms: int) -> str:
    """ms since the epoch -> ``YYYY-MM-DD HH:MM:SS`` local time."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000.0))


def format_duration(seconds: float) -> str:
    """Seconds -> ``45.2s``, ``3m07s`` or ``1h02m``."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def format_metric(value: float, name: str = "") -> str:
    """A metric value as every report and listing shows it: 4 decimals, or
    a whole number for counts (``name`` ``*_count`` or ``*_count_diff``)."""
    if name.endswith(("_count", "_count_diff")):
        return f"{value:.0f}"
    return f"{value:.4f}"


def headline_metrics(metrics: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    """Overall metrics worth a one-line listing: all but ``example_count``
    and the ``*_diff`` values against the baseline."""
    return {k: v for k, v in sorted(metrics.get("Overall", {}).items())
            if k != "example_count" and not k.endswith("_diff")}


def format_status(summaries: List[RunSummary], width: int = 110) -> str:
    """The ``status`` listing: one row per run (start, wall duration, state,
    blessing, pushed version, headline metrics) and, under it, each
    component's state wrapped to ``width`` columns."""
    import textwrap

    header = (f"{'RUN ID':<27} {'PIPELINE':<24} {'STARTED':<19} {'DURATION':>8} "
              f"{'STATE':<7} {'BLESSED':<13} {'PUSHED':<11} METRICS")
    lines = [header]
    for s in summaries:
        blessed = _STATUS_BLESSING[s.blessing]
        shown = " ".join(f"{k}={format_metric(v, k)}"
                         for k, v in headline_metrics(s.metrics).items())
        lines.append(f"{s.run_id:<27} {s.pipeline:<24} {format_time(s.start_ms):<19} "
                     f"{format_duration(s.wall_seconds):>8} {s.state:<7} {blessed:<13} "
                     f"{s.pushed_version or '-':<11} {shown or '-'}")
        states = " ".join(f"{c.component}={c.state}" for c in s.components)
        lines.extend(textwrap.wrap(states, width, initial_indent="    ",
                                   subsequent_indent="    ", break_on_hyphens=False))
    return "\n".join(lines)


def _metrics_for_slice_class():
    """TFMA's ``MetricsForSlice`` message class, without importing TFMA.

    ``tensorflow_model_analysis/__init__.py`` imports TensorFlow and Beam
    (about 10 s here); its ``metrics_for_slice_pb2`` needs only protobuf's
    wrappers. The generated module is loaded from its file under its own name,
    so a later real TFMA import reuses it (one registration of its descriptor).
    """
    import importlib.util
    import sys

    name = "tensorflow_model_analysis.proto.metrics_for_slice_pb2"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.find_spec("tensorflow_model_analysis")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("tensorflow_model_analysis is not installed")
        path = os.path.join(list(spec.submodule_search_locations)[0], "proto",
                            "metrics_for_slice_pb2.py")
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        sys.modules[name] = module
    return module.MetricsForSlice


def _tfrecords(path: str):
    """The records of one uncompressed TFRecord file (length, masked CRC of
    the length, data, masked CRC of the data; tensorflow/core/lib/io/
    record_writer.cc). CRCs are not checked: TFMA wrote the file whole."""
    import struct

    with open(path, "rb") as f:
        while True:
            header = f.read(12)
            if not header:
                return
            if len(header) < 12:
                raise ValueError(f"{path}: truncated TFRecord header")
            (length,) = struct.unpack("<Q", header[:8])
            data = f.read(length)
            if len(data) < length or len(f.read(4)) < 4:
                raise ValueError(f"{path}: truncated TFRecord")
            yield data


def _slice_name(slice_key) -> str:
    """tfma.slicer.stringify_slice_key of a ``SliceKey`` proto: ``Overall``,
    ``col:value`` or ``c1_X_c2:v1_X_v2``."""
    if not slice_key.single_slice_keys:
        return "Overall"
    columns, values = [], []
    for single in slice_key.single_slice_keys:
        kind = single.WhichOneof("kind")
        value = getattr(single, kind) if kind else ""
        columns.append(single.column)
        values.append(value.decode("utf-8", "replace") if isinstance(value, bytes)
                      else str(value))
    return "_X_".join(columns) + ":" + "_X_".join(values)


def load_metrics(evaluation_uri: str) -> Dict[str, Dict[str, float]]:
    """TFMA metrics of one ModelEvaluation artefact, per slice, candidate model.

    Reads ``metrics-*`` (TFRecords of ``MetricsForSlice``) as
    ``tfma.load_metrics`` and ``view.util.convert_metrics_proto_to_dict`` do,
    without TensorFlow, so ``tfxp status`` answers at once: the candidate is
    the model with ``is_diff`` keys (when a baseline was evaluated) or the only
    model; diff metrics are named ``<metric>_diff``; only double values count.
    Cross-slice results are left out.

    Returns:
      ``{slice name: {metric name: value}}``.
    Raises:
      ValueError: a truncated metrics file.
    """
    import glob

    message = _metrics_for_slice_class()
    out: Dict[str, Dict[str, float]] = {}
    for path in sorted(glob.glob(os.path.join(evaluation_uri, "metrics*"))):
        for record in _tfrecords(path):
            metrics = message.FromString(record)
            if metrics.HasField("cross_slice_key"):
                continue
            models: Dict[str, Dict[str, float]] = {}
            candidate = None
            for kv in metrics.metric_keys_and_values:
                key = kv.key
                name = key.name
                if key.is_diff:
                    candidate = key.model_name if candidate in (None, key.model_name) else ""
                    name = f"{name}_diff"
                elif key.HasField("aggregation_type"):  # as TFMA names them
                    name = f"{key.aggregation_type}_{key.name}"
                if kv.value.HasField("double_value"):
                    models.setdefault(key.model_name, {})[name] = kv.value.double_value.value
            if candidate is None and len(models) == 1:
                candidate = next(iter(models))
            out[_slice_name(metrics.slice_key)] = models.get(candidate or "", {})
    return out


def run_summary(store: metadata_store.MetadataStore, run_id: str,
                with_metrics: bool = True) -> RunSummary:
    """Summarises the run whose ``pipeline_run`` context is ``run_id``.

    Raises:
      KeyError: no such run.
    """
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    if ctx is None:
        raise KeyError(f"no pipeline run {run_id!r} in MLMD")
    pipeline = next((name for name, run in list_runs(store) if run == run_id), "?")
    summary = RunSummary(pipeline=pipeline, run_id=run_id, components=[])
    for execution in sorted(store.get_executions_by_context(ctx.id),
                            key=lambda e: e.create_time_since_epoch):
        component = _component_of(store, execution)
        state = STATE_NAMES.get(execution.last_known_state, "UNKNOWN")
        seconds = (execution.last_update_time_since_epoch
                   - execution.create_time_since_epoch) / 1000.0
        summary.components.append(ComponentRun(
            component, state, execution.create_time_since_epoch, seconds))
        for artifact in _outputs(store, execution.id):
            kind = store.get_artifact_types_by_id([artifact.type_id])[0].name
            props = artifact.custom_properties
            if kind == "ModelBlessing" and "blessed" in props:
                summary.blessed = bool(props["blessed"].int_value)
            elif kind == "ModelBlessing" and state in ("COMPLETE", "CACHED"):
                summary.no_thresholds = True  # finished, yet no verdict
            elif kind == "InfraBlessing" and "blessed" in props:
                summary.infra_blessed = bool(props["blessed"].int_value)
                if "reason" in props and props["reason"].string_value != "ok":
                    summary.infra_reason = props["reason"].string_value
                for key, value in props.items():  # the latency gate's figures
                    for prefix, figures in (("current_latency_", summary.current_latency_ms),
                                            ("latency_", summary.latency_ms)):
                        if key.startswith(prefix) and key.endswith("_ms"):
                            figures[key[len(prefix):-3]] = value.double_value
                            break
            elif kind == "ModelEvaluation" and with_metrics:
                try:
                    summary.metrics = load_metrics(artifact.uri)
                except Exception as err:  # noqa: BLE001 - report, don't fail status
                    summary.metrics = {"error": {str(err)[:80]: float("nan")}}
            elif kind == "PushedModel" and props.get("pushed") and props["pushed"].int_value:
                summary.pushed_path = props["pushed_destination"].string_value
                summary.pushed_version = props["pushed_version"].string_value
            elif kind == "Model":
                summary.model_uri = artifact.uri
            elif kind == "ModelRun":
                summary.model_run_uri = artifact.uri
                summary.warm_start = (read_history(artifact.uri) or {}).get("warm_start")
            elif kind == "Examples" and csv_types.COERCED_PROPERTY in props:
                summary.coerced = json.loads(props[csv_types.COERCED_PROPERTY].string_value)
    return summary


def format_summary(summary: RunSummary, every_slice: bool = False) -> str:
    """Human-readable multi-line summary (components, metrics, blessing, push).

    ``every_slice``: one metrics line per slice (``tfxp status --run``); else
    the Overall slice and a pointer to that view when there are more than 4.
    """
    lines = [f"run {summary.run_id} ({summary.pipeline})"]
    if summary.components:
        lines.append(f"  started {format_time(summary.start_ms)}, took "
                     f"{format_duration(summary.wall_seconds)}, state {summary.state}")
    lines.append(f"  {'component':<32} {'state':<9} {'seconds':>8}")
    for c in summary.components:
        lines.append(f"  {c.component:<32} {c.state:<9} {c.seconds:8.1f}")
    for slice_name, values in sorted(summary.metrics.items(),
                                     key=lambda kv: (kv[0] != "Overall", kv[0])):
        if every_slice or slice_name == "Overall" or len(summary.metrics) <= 4:
            shown = ", ".join(f"{k}={format_metric(v, k)}" for k, v in sorted(values.items()))
            lines.append(f"  metrics [{slice_name}]: {shown}")
    sliced = len([s for s in summary.metrics if s != "Overall"])
    if sliced and len(summary.metrics) > 4 and not every_slice:
        lines.append(f"  (+ {sliced} slices, see `status --run {summary.run_id}`)")
    if summary.coerced:
        lines.append("  CSV values converted to the schema's types: "
                     + csv_types.format_counts(summary.coerced))
    if summary.warm_start:
        lines.append(f"  {summary.warm_start.get('message')}")
    lines.append(f"  blessed: {summary.blessing}")
    if summary.latency_ms:
        current = summary.current_latency_ms
        lines.append("  serving latency (gRPC Predict, ms): " + ", ".join(
            f"{k}={v:.2f}" + (f" (current {current[k]:.2f})" if k in current else "")
            for k, v in sorted(summary.latency_ms.items())))
    why = summary.not_pushed_because
    lines.append(f"  pushed: {summary.pushed_path or 'nothing pushed'}"
                 + (f" ({why})" if why else ""))
    return "\n".join(lines)


def directory_bytes(path: Optional[str]) -> Optional[int]:
    """Total size in bytes of the files under ``path``; None if not a folder."""
    if not path or not os.path.isdir(path):
        return None
    return sum(os.path.getsize(os.path.join(root, f))
               for root, _, files in os.walk(path) for f in files)


def read_history(model_run_uri: Optional[str]) -> Optional[Dict[str, object]]:
    """The Trainer's ``history.json`` in its model run folder (per-epoch
    metrics, ``params``, ...), or None where there is none."""
    if not model_run_uri:
        return None
    path = os.path.join(model_run_uri, HISTORY_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def serving_model_dir(model_uri: Optional[str]) -> Optional[str]:
    """The SavedModel folder inside a Trainer's Model artifact, or None."""
    return os.path.join(model_uri, SERVING_MODEL_DIR) if model_uri else None


def comparison_row(config, summary: Optional[RunSummary], seconds: float) -> Dict[str, object]:
    """One family's line of the ``--model all`` table.

    Keys: family, dataset, metric (the blessing metric's name), value (its
    Overall value), accuracy, params (Keras ``count_params``), saved_model_bytes
    (the Trainer's exported SavedModel), blessed, wall_s (seconds).
    """
    from tfxp.pipeline.evaluation import blessing_metric

    dataset = config.dataset_spec
    metric = blessing_metric(dataset)
    overall = (summary.metrics.get("Overall", {}) if summary else {})
    history = read_history(summary.model_run_uri) if summary else None
    params = history.get("params") if history else None
    model_dir = serving_model_dir(summary.model_uri) if summary else None
    return {"family": config.model, "dataset": dataset.name, "metric": metric,
            "value": overall.get(metric),
            "accuracy": overall.get("binary_accuracy", overall.get("sparse_categorical_accuracy")),
            "params": params, "saved_model_bytes": directory_bytes(model_dir),
            "blessed": summary.blessed if summary else None, "wall_s": seconds}


def format_comparison(rows: List[Dict[str, object]]) -> str:
    """Side-by-side table of ``comparison_row`` dicts."""
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    lines = [f"{'family':<12} {'dataset':<16} {'metric':<28} {'value':>7} {'accuracy':>8} "
             f"{'params':>9} {'SavedModel MB':>13} {'blessed':>7} {'wall s':>7}"]
    for r in rows:
        blessed = {None: "-", True: "yes", False: "no"}[r["blessed"]]
        size = None if r["saved_model_bytes"] is None else r["saved_model_bytes"] / 1e6
        lines.append(f"{r['family']:<12} {r['dataset']:<16} {r['metric']:<28} "
                     f"{fmt(r['value'], '.4f'):>7} {fmt(r['accuracy'], '.4f'):>8} "
                     f"{fmt(r['params'], 'd'):>9} {fmt(size, '.2f'):>13} {blessed:>7} "
                     f"{r['wall_s']:7.0f}")
    return "\n".join(lines)
