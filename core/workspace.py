"""The workspace: every path under one workspace folder, named once.

A workspace is what ``tfxp run`` writes and ``tfxp status``, ``report`` and
``serve`` read::

    <root>/metadata.sqlite                   ML Metadata (SQLite)
    <root>/pipeline_root/<pipeline>/         component outputs
    <root>/serving/<model>/<version>/        pushed SavedModels, TF Serving's layout
    <root>/runs/<run id>/config.json         the run's RunConfig
    <root>/logs/<run id>.log                 the run's log
    <root>/reports/<run id>/index.html       the run's HTML report
    <root>/reports/compare-<digest>/         a comparison page of several runs
    <root>/reports/drift-<model>/<time>/     a ``tfxp drift`` page (index.html, drift.json)
    <root>/request_logs/<model>/             request logs (``tfxp serve --log-requests``)
    <root>/locks/<pipeline>.lock             one run per pipeline at a time
    <root>/deploy/                           files for real TF Serving

Inside a Trainer's model run folder (``FnArgs.model_run_dir``) the Trainer
writes ``history.json`` (``HISTORY_FILE``) and TensorBoard ``logs/``.
"""
from __future__ import annotations

import dataclasses
import os

DEFAULT_WORKSPACE = "workspace"
METADATA_FILE = "metadata.sqlite"
RUN_CONFIG_FILE = "config.json"
REPORT_INDEX = "index.html"
# The SavedModel's folder inside a Trainer's Model artifact
# (tfx/utils/path_utils.py, serving_model_path).
SERVING_MODEL_DIR = "Format-Serving"
# Files of the Trainer's model run folder.
HISTORY_FILE = "history.json"
MAJORITY_FLOOR_FILE = "majority_floor.json"  # in the Evaluator's output, components/evaluator.py
TENSORBOARD_DIR = "logs"
# Beside a drift page: what it found, for the run report's link (observability/drift.py).
DRIFT_SUMMARY_FILE = "drift.json"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """Paths under the workspace folder ``root`` (a local path)."""
    root: str = DEFAULT_WORKSPACE

    @property
    def metadata_path(self) -> str:
        return os.path.join(self.root, METADATA_FILE)

    @property
    def pipelines_dir(self) -> str:
        """Folder of every pipeline's root (component outputs)."""
        return os.path.join(self.root, "pipeline_root")

    def pipeline_root(self, pipeline_name: str) -> str:
        return os.path.join(self.pipelines_dir, pipeline_name)

    @property
    def serving_dir(self) -> str:
        """Folder of every served model's base path."""
        return os.path.join(self.root, "serving")

    def serving_base(self, model_name: str) -> str:
        """TF Serving's ``model_base_path`` of ``model_name``."""
        return os.path.join(self.serving_dir, model_name)

    def run_dir(self, run_id: str) -> str:
        return os.path.join(self.root, "runs", run_id)

    def run_config_path(self, run_id: str) -> str:
        return os.path.join(self.run_dir(run_id), RUN_CONFIG_FILE)

    @property
    def logs_dir(self) -> str:
        return os.path.join(self.root, "logs")

    def log_path(self, run_id: str) -> str:
        return os.path.join(self.logs_dir, f"{run_id}.log")

    @property
    def reports_dir(self) -> str:
        return os.path.join(self.root, "reports")

    def report_dir(self, run_id: str) -> str:
        return os.path.join(self.reports_dir, run_id)

    def comparison_dir(self, digest: str) -> str:
        return os.path.join(self.reports_dir, f"compare-{digest}")

    def drift_reports_dir(self, model_name: str) -> str:
        """Folder of ``model_name``'s drift pages, one subfolder per ``tfxp drift``."""
        return os.path.join(self.reports_dir, f"drift-{model_name}")

    def request_logs_dir(self, model_name: str) -> str:
        """Where ``tfxp serve --log-requests`` writes ``model_name``'s request
        log files and ``tfxp drift`` reads them."""
        return os.path.join(self.root, "request_logs", model_name)

    def request_log_prefix(self, model_name: str) -> str:
        """The ``log_collector_config.filename_prefix`` of ``model_name``: files
        are ``<prefix>-<start unix ms>-<nnnnn>.tfrecord`` (serving/request_log.py)."""
        return os.path.join(self.request_logs_dir(model_name), model_name)

    def lock_path(self, pipeline_name: str) -> str:
        return os.path.join(self.root, "locks", f"{pipeline_name}.lock")

    @property
    def deploy_dir(self) -> str:
        return os.path.join(self.root, "deploy")
