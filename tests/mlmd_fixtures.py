"""A small MLMD store laid out the way TFX 1.16's LocalDagRunner writes it,
for status/report tests that need runs of several families and states
without running each pipeline.

Layout (as in a real store, see ``tests/test_status.py`` against
``dense_run``): a ``pipeline`` context per pipeline, a ``pipeline_run``
context per run (child of the pipeline context), a ``node`` context
``<pipeline>.<component>`` per component; each execution is attributed to
all three, with its ``last_known_state``; outputs are linked by OUTPUT events.
"""
from __future__ import annotations

import dataclasses
import json
import time
from typing import Dict, List, Optional, Tuple

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2 as pb
from tfxp.observability.mlmd import connection_config

COMPONENTS = ("CsvExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
              "Transform", "Trainer", "Evaluator", "Pusher")


@dataclasses.dataclass
class FakeRun:
    """One run to record. ``states``: component -> MLMD state name, in
    pipeline order; components left out never started."""
    pipeline: str
    run_id: str
    family: str
    dataset: str
    states: List[Tuple[str, str]]
    blessed: Optional[bool] = None
    pushed_version: Optional[str] = None
    # Where the Pusher pushed: <serving_dir>/<family>/<version>.
    serving_dir: str = "/serving"
    # More outputs with real files: component -> {artifact type: uri}.
    outputs: Dict[str, Dict[str, str]] = dataclasses.field(default_factory=dict)


def _type_id(store, cache: Dict[str, int], kind: str, name: str) -> int:
    key = f"{kind}:{name}"
    if key not in cache:
        if kind == "context":
            cache[key] = store.put_context_type(pb.ContextType(name=name))
        elif kind == "execution":
            cache[key] = store.put_execution_type(pb.ExecutionType(name=name))
        else:
            cache[key] = store.put_artifact_type(pb.ArtifactType(name=name))
    return cache[key]


def build_store(path: str, runs: List[FakeRun]) -> metadata_store.MetadataStore:
    """Writes ``runs`` into a new SQLite MLMD store at ``path`` (oldest first)."""
    store = metadata_store.MetadataStore(connection_config(path))
    types: Dict[str, int] = {}
    pipelines: Dict[str, pb.Context] = {}
    nodes: Dict[str, pb.Context] = {}

    def context(kind: str, name: str) -> pb.Context:
        ctx = pb.Context(type_id=_type_id(store, types, "context", kind), name=name)
        [ctx.id] = store.put_contexts([ctx])
        return ctx

    for run in runs:
        if run.pipeline not in pipelines:
            pipelines[run.pipeline] = context("pipeline", run.pipeline)
        run_ctx = context("pipeline_run", run.run_id)
        store.put_parent_contexts([pb.ParentContext(
            child_id=run_ctx.id, parent_id=pipelines[run.pipeline].id)])
        for component, state in run.states:
            node_name = f"{run.pipeline}.{component}"
            if node_name not in nodes:
                nodes[node_name] = context("node", node_name)
            execution = pb.Execution(
                type_id=_type_id(store, types, "execution", f"tfx.components.{component}"),
                last_known_state=pb.Execution.State.Value(state))
            if component == "Trainer":
                execution.custom_properties["custom_config"].string_value = json.dumps(
                    {"family": run.family, "dataset": run.dataset, "hparams": {}})
            outputs = []
            if component == "Evaluator" and run.blessed is not None and state == "COMPLETE":
                blessing = pb.Artifact(type_id=_type_id(store, types, "artifact",
                                                        "ModelBlessing"),
                                       uri=f"/nonexistent/{run.run_id}/blessing")
                blessing.custom_properties["blessed"].int_value = int(run.blessed)
                outputs.append(blessing)
            if component == "Pusher" and state == "COMPLETE":
                pushed = pb.Artifact(type_id=_type_id(store, types, "artifact",
                                                      "PushedModel"),
                                     uri=f"/nonexistent/{run.run_id}/pushed")
                pushed.custom_properties["pushed"].int_value = int(bool(run.pushed_version))
                if run.pushed_version:
                    pushed.custom_properties["pushed_version"].string_value = run.pushed_version
                    pushed.custom_properties["pushed_destination"].string_value = (
                        f"{run.serving_dir}/{run.family}/{run.pushed_version}")
                outputs.append(pushed)
            if state in ("COMPLETE", "CACHED"):
                for kind, uri in run.outputs.get(component, {}).items():
                    outputs.append(pb.Artifact(
                        type_id=_type_id(store, types, "artifact", kind), uri=uri))
            store.put_execution(
                execution,
                [(a, pb.Event(type=pb.Event.OUTPUT)) for a in outputs],
                [pipelines[run.pipeline], run_ctx, nodes[node_name]])
            time.sleep(0.002)  # distinct MLMD create times, in pipeline order
    return store


def several_families() -> List[FakeRun]:
    """Four runs of three families: ok+pushed, ok+not blessed, failed, running."""
    done = [(c, "COMPLETE") for c in COMPONENTS]
    return [
        FakeRun("dense-pipeline", "2026-11-30T10:00:00.000001", "dense", "chicago_taxi",
                done, blessed=True, pushed_version="1796000001"),
        FakeRun("cnn-pipeline", "2026-11-30T10:10:00.000002", "cnn", "fashion_mnist",
                [(c, "CACHED") for c in COMPONENTS[:6]] + done[6:], blessed=False),
        FakeRun("lstm-pipeline", "2026-11-30T10:20:00.000003", "lstm", "rotten_tomatoes",
                done[:5] + [("Trainer", "FAILED")]),
        FakeRun("dense-pipeline", "2026-11-30T10:30:00.000004", "dense", "chicago_taxi",
                done[:6] + [("Evaluator", "RUNNING")]),
    ]
