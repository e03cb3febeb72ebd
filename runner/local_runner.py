"""Runs the pipeline in this process with ``LocalDagRunner`` (Beam
DirectRunner) and MLMD on SQLite inside the workspace."""
from __future__ import annotations

import os
import time
import warnings
from typing import Optional

from tfx import v1 as tfx
from tfx.orchestration import metadata

from tfxp.observability import mlmd

from tfxp.runner import recovery, runlog
from tfxp.core.workspace import Workspace
from tfxp.pipeline.config import RunConfig
from tfxp.pipeline.pipeline import create_pipeline


# TFMA derives precision, F1, accuracy ... of every confusion matrix with
# numpy divisions (tensorflow_model_analysis/metrics/binary_confusion_matrices.py,
# Matrices.to_proto), and a threshold where nothing is predicted positive, or
# a baseline comparison, divides by zero: NaN/inf fields and a RuntimeWarning
# on stderr per run, though no metric the pipeline reads changes. Silenced
# for that module only.
warnings.filterwarnings("ignore", category=RuntimeWarning,
                        module=r"tensorflow_model_analysis\.metrics\.binary_confusion_matrices")


class PipelineFailed(RuntimeError):
    """A component failed; ``summary`` holds what MLMD recorded of the run."""

    def __init__(self, message: str, summary: Optional[mlmd.RunSummary]):
        super().__init__(message)
        self.summary = summary


def run_local(config: RunConfig, **component_options) -> mlmd.RunSummary:
    """Runs the whole pipeline for ``config`` and returns its MLMD summary.

    ``component_options`` go to ``create_components`` (e.g. ``example_gen``).

    Also writes ``<workspace>/runs/<run id>/config.json`` (paths made
    absolute) so the run can be repeated with ``run --config`` from any
    folder, prints a start and a finish line per component, and logs the run to ``<workspace>/logs/<run id>.log``
    (``runner.runlog``).

    Raises:
      PipelineFailed: a component raised; the summary shows which.
      ValueError: ``config`` is invalid.
    """
    config.validate()
    ws = Workspace(os.path.abspath(config.workspace))
    os.makedirs(ws.root, exist_ok=True)
    metadata_path = ws.metadata_path
    known = set()
    if os.path.exists(metadata_path):
        known = {run for _, run in mlmd.list_runs(mlmd.open_store(metadata_path))}
    error = None
    started = time.time()
    # run_lock: a crashed earlier run's RUNNING executions are marked FAILED.
    with recovery.run_lock(ws, config.pipeline_name) as stale, \
            runlog.run_logging(ws.logs_dir, config.pipeline_name) as log:
        for execution in stale:
            print(f"[tfxp] {execution.component} of run {execution.run_id} was left "
                  f"RUNNING by a process that died; marked FAILED", flush=True)
        pipeline = create_pipeline(
            config,
            pipeline_root=ws.pipeline_root(config.pipeline_name),
            serving_base=ws.serving_base(config.model_name),
            metadata_connection_config=metadata.sqlite_metadata_connection_config(
                metadata_path),
            **component_options)
        log.progress.total = len(pipeline.components)
        try:
            tfx.orchestration.LocalDagRunner().run(pipeline)
        except Exception as err:  # noqa: BLE001 - re-raised below with the summary
            error = err
            log.progress.failed(err)
    store = mlmd.open_store(metadata_path)
    new_runs = [run for name, run in mlmd.list_runs(store, config.pipeline_name)
                if run not in known]
    summary = mlmd.run_summary(store, new_runs[-1]) if new_runs else None
    log.finish(summary.run_id if summary is not None else None)
    if summary is not None:
        os.makedirs(ws.run_dir(summary.run_id), exist_ok=True)
        with open(ws.run_config_path(summary.run_id), "w") as f:
            f.write(config.with_absolute_paths().to_json())
    if error is not None:
        raise PipelineFailed(f"pipeline {config.pipeline_name} failed after "
                             f"{time.time() - started:.0f}s: {error}", summary) from error
    return summary
