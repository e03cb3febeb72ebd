"""Recovery after a crashed local run: stale RUNNING executions in MLMD.

When the process running a pipeline dies mid-component (``kill -9``, OOM,
power loss), TFX never gets to publish the component's outcome: MLMD keeps
its execution RUNNING forever and its output artefacts PENDING. A rerun is
not blocked by them (each run has its own ``pipeline_run`` context, and
downstream components only read LIVE artefacts), but they misreport the old
run as still running, to ``tfxp status`` and to anyone reading MLMD.

``run_lock`` tells a dead run from a live one without trusting PIDs: every
local run of a pipeline holds an exclusive ``flock`` on
``<workspace>/locks/<pipeline>.lock`` for its whole duration, and the kernel
drops it when the process dies, however it dies. Before running, the runner
asks for that lock without waiting: if it gets it, no live process is
running this pipeline in this workspace, so every RUNNING (or NEW)
execution of the pipeline is stale. Those are marked FAILED with a
``tfxp_abandoned`` custom property saying why, and their PENDING output
artefacts ABANDONED. If another run is live, this one is refused
(``RunInProgress``) and nothing is touched: two runs of one pipeline in one
workspace each took the newest new run in MLMD as their own, so one printed
the other's summary and wrote its ``config.json`` and log over the other's.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import os
import time
from typing import Iterator, List

from ml_metadata import metadata_store
from ml_metadata.proto import metadata_store_pb2

from tfxp.core.errors import UsageError
from tfxp.core.workspace import Workspace

ABANDONED_KEY = "tfxp_abandoned"
_ACTIVE = (metadata_store_pb2.Execution.NEW, metadata_store_pb2.Execution.RUNNING)


@dataclasses.dataclass
class AbandonedExecution:
    """One stale execution that ``abandon_stale_executions`` marked FAILED."""
    execution_id: int
    component: str
    run_id: str


def _node_and_run(store, execution) -> tuple[str, str]:
    node, run = execution.type, "?"
    for ctx in store.get_contexts_by_execution(execution.id):
        if ctx.type == "node":
            node = ctx.name.split(".", 1)[-1]
        elif ctx.type == "pipeline_run":
            run = ctx.name
    return node, run


def abandon_stale_executions(store: metadata_store.MetadataStore,
                             pipeline_name: str) -> List[AbandonedExecution]:
    """Marks every NEW/RUNNING execution of ``pipeline_name`` FAILED.

    Only call this when no process is running the pipeline (``run_lock``
    checks). Output artefacts still PENDING become ABANDONED.

    Returns:
      The executions marked, oldest first; [] when the pipeline is unknown.
    """
    ctx = store.get_context_by_type_and_name("pipeline", pipeline_name)
    if ctx is None:
        return []
    stale = sorted((e for e in store.get_executions_by_context(ctx.id)
                    if e.last_known_state in _ACTIVE), key=lambda e: e.id)
    marked = []
    now = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    for execution in stale:
        execution.last_known_state = metadata_store_pb2.Execution.FAILED
        execution.custom_properties[ABANDONED_KEY].string_value = (
            f"the process running it died; marked FAILED by the next local run at {now}")
        store.put_executions([execution])
        outputs = [e.artifact_id for e in store.get_events_by_execution_ids([execution.id])
                   if e.type in (metadata_store_pb2.Event.OUTPUT,
                                 metadata_store_pb2.Event.PENDING_OUTPUT)]
        pending = [a for a in store.get_artifacts_by_id(outputs)
                   if a.state in (metadata_store_pb2.Artifact.PENDING,
                                  metadata_store_pb2.Artifact.UNKNOWN)]
        for artifact in pending:
            artifact.state = metadata_store_pb2.Artifact.ABANDONED
        if pending:
            store.put_artifacts(pending)
        marked.append(AbandonedExecution(execution.id, *_node_and_run(store, execution)))
    return marked


class RunInProgress(UsageError):
    """Another live process is running the same pipeline in the same workspace."""


@contextlib.contextmanager
def run_lock(workspace: Workspace, pipeline_name: str) -> Iterator[List[AbandonedExecution]]:
    """Holds this run's exclusive lock; yields the stale executions it cleaned.

    Args:
      workspace: the run's workspace; the lock file is
        ``workspace.lock_path(pipeline_name)``, MLMD its ``metadata_path``
        (which may not exist yet).
      pipeline_name: lock and MLMD scope.
    Yields:
      ``abandon_stale_executions``'s result.
    Raises:
      RunInProgress: another live process holds the lock (its executions
        are left alone).
    """
    lock_path = workspace.lock_path(pipeline_name)
    metadata_path = workspace.metadata_path
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "a+") as lock:
        marked: List[AbandonedExecution] = []
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunInProgress(
                f"pipeline {pipeline_name} is already running in workspace "
                f"{workspace.root} (another process holds {lock_path}); wait for it to "
                f"finish, or give this run another --workspace") from None
        if os.path.isfile(metadata_path):
            from tfxp.observability import mlmd
            marked = abandon_stale_executions(mlmd.open_store(metadata_path),
                                              pipeline_name)
        yield marked
