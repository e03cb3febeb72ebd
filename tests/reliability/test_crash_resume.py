"""A crash mid-run loses nothing.

``tfxp run`` runs in a subprocess (its own process group) and gets SIGKILL,
first while Transform runs, then, on the rerun, while the Trainer runs (right
after its first backup). MLMD is polled read-only to see which component is
RUNNING. The third run must complete, take everything that finished before
from the cache, leave no execution RUNNING, and resume training from the
backup, not from step 0 (``history.json``'s ``initial_step``/``steps_run``).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from ml_metadata.proto import metadata_store_pb2

from tfxp.core.workspace import HISTORY_FILE, Workspace
from tfxp.models.resumable import BACKUP_DIR, backup_every
from tfxp.observability import mlmd
from tfxp.runner import recovery
from tfxp.pipeline.config import RunConfig
from tests.conftest import PROJECT_ROOT, TINY_BEAM_ARGS
from tests.reliability import fault_data as fd
from tests.taxi_rows import read_rows

TRAIN_STEPS = 200  # one epoch; backups every 50 steps (models.resumable.backup_every)
ROWS = 2000
UPSTREAM = ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
            "DataGate")
RUNNING = metadata_store_pb2.Execution.RUNNING


def _start_run(config: RunConfig, csv_path: str) -> subprocess.Popen:
    """``tfxp run`` in its own session; output goes to ``proc.log_path``."""
    log_path = os.path.join(os.path.dirname(config.workspace), f"run-{time.time_ns()}.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tfxp.cli.main", "run", "--workspace", config.workspace,
             "--csv", csv_path, "--train-steps", str(TRAIN_STEPS), "--eval-steps", "2",
             "--epochs", "1", *[f"--beam-arg={arg}" for arg in TINY_BEAM_ARGS]],
            cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    return proc


def _tail(proc: subprocess.Popen, chars: int = 4000) -> str:
    with open(proc.log_path, errors="replace") as f:
        return f.read()[-chars:]


def _running(config: RunConfig, component: str, runs_before: int) -> bool:
    """Whether the newest run (beyond ``runs_before``) has ``component`` RUNNING."""
    try:
        store = mlmd.open_store(config.metadata_path)
        runs = mlmd.list_runs(store, config.pipeline_name)
        if len(runs) <= runs_before:
            return False
        ctx = store.get_context_by_type_and_name("pipeline_run", runs[-1][1])
        return any(mlmd._component_of(store, e) == component and e.last_known_state == RUNNING
                   for e in store.get_executions_by_context(ctx.id))
    except Exception:  # noqa: BLE001 - the writer may hold the SQLite lock; poll again
        return False


def _backup_written(config: RunConfig) -> bool:
    root = os.path.join(config.pipeline_root, "Trainer", BACKUP_DIR)
    return any("checkpoint" in files for _, _, files in os.walk(root))


def _kill_when(proc: subprocess.Popen, ready, what: str, timeout_s: float = 900) -> None:
    """SIGKILLs ``proc``'s process group as soon as ``ready()`` holds."""
    deadline = time.monotonic() + timeout_s
    while not ready():
        assert proc.poll() is None, (
            f"run ended (rc {proc.returncode}) before {what}:\n{_tail(proc)}")
        assert time.monotonic() < deadline, f"no {what} within {timeout_s}s"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL


def _states(store, run_id: str) -> dict:
    return {c.component: c.state for c in mlmd.run_summary(store, run_id,
                                                             with_metrics=False).components}


def _execution(store, run_id: str, component: str):
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    return next(e for e in store.get_executions_by_context(ctx.id)
                if mlmd._component_of(store, e) == component)


def test_killed_during_transform_then_trainer_resumes_from_cache_and_checkpoint(tmp_path):
    csv_path = fd.write_csv(str(tmp_path / "data" / "data.csv"),
                            fd.sample_rows(read_rows(), ROWS, seed=7))
    config = RunConfig(model="dense", workspace=str(tmp_path / "ws"))
    os.makedirs(config.workspace)

    # 1. kill -9 while Transform runs.
    first = _start_run(config, csv_path)
    _kill_when(first, lambda: _running(config, "Transform", 0), "a RUNNING Transform")
    store = mlmd.open_store(config.metadata_path)
    run1 = mlmd.list_runs(store, config.pipeline_name)[0][1]
    states1 = _states(store, run1)
    assert states1["Transform"] == "RUNNING"  # what TFX leaves behind
    assert all(states1[c] == "COMPLETE" for c in UPSTREAM), states1
    assert "Trainer" not in states1

    # 2. rerun; kill -9 while the Trainer runs, right after its first backup.
    second = _start_run(config, csv_path)
    _kill_when(second, lambda: _running(config, "Trainer", 1) and _backup_written(config),
               "a Trainer backup")
    store = mlmd.open_store(config.metadata_path)
    run2 = mlmd.list_runs(store, config.pipeline_name)[1][1]
    states2 = _states(store, run2)
    assert all(states2[c] == "CACHED" for c in UPSTREAM), states2
    assert states2["Transform"] == "COMPLETE" and states2["Trainer"] == "RUNNING", states2
    # Run 2's runner found run 1's Transform orphaned and marked it FAILED.
    orphan = _execution(store, run1, "Transform")
    assert orphan.last_known_state == metadata_store_pb2.Execution.FAILED
    assert recovery.ABANDONED_KEY in orphan.custom_properties

    # 3. rerun to completion.
    third = _start_run(config, csv_path)
    assert third.wait(timeout=1500) == 0, _tail(third)
    store = mlmd.open_store(config.metadata_path)
    run3 = mlmd.list_runs(store, config.pipeline_name)[2][1]
    states3 = _states(store, run3)
    assert all(states3[c] == "CACHED" for c in (*UPSTREAM, "Transform")), states3
    assert {states3[c] for c in ("Trainer", "Evaluator", "Pusher")} == {"COMPLETE"}, states3
    left = [(mlmd._component_of(store, e), e.id) for e in store.get_executions()
            if e.last_known_state in (RUNNING, metadata_store_pb2.Execution.NEW)]
    assert not left, left
    assert recovery.ABANDONED_KEY in _execution(store, run2, "Trainer").custom_properties

    # The Trainer resumed from its last backup, not from step 0.
    summary = mlmd.run_summary(store, run3, with_metrics=False)
    with open(os.path.join(summary.model_run_uri, HISTORY_FILE)) as f:
        history = json.load(f)
    every = backup_every(TRAIN_STEPS, {})
    assert history["initial_step"] >= every and history["initial_step"] % every == 0, history
    assert history["steps_run"] == TRAIN_STEPS - history["initial_step"], history
    # Keras deletes the backup once fit completes.
    assert not _backup_written(config)


def _fake_store_with_running_execution(path: str, pipeline: str):
    from ml_metadata import metadata_store
    from tfx.orchestration import metadata

    store = metadata_store.MetadataStore(metadata.sqlite_metadata_connection_config(path))
    ctx_type = store.put_context_type(metadata_store_pb2.ContextType(name="pipeline"))
    exec_type = store.put_execution_type(metadata_store_pb2.ExecutionType(name="Transform"))
    [ctx_id] = store.put_contexts([metadata_store_pb2.Context(type_id=ctx_type, name=pipeline)])
    execution = metadata_store_pb2.Execution(type_id=exec_type, last_known_state=RUNNING)
    [exec_id] = store.put_executions([execution])
    store.put_attributions_and_associations(
        [], [metadata_store_pb2.Association(context_id=ctx_id, execution_id=exec_id)])
    return store, exec_id


def _hold_lock(lock_dir: str, name: str = "p") -> subprocess.Popen:
    """A live process holding the run lock of pipeline ``name`` (as a run
    does); returns once it holds it."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import fcntl, os, sys, time\n"
         "os.makedirs(sys.argv[1], exist_ok=True)\n"
         "f = open(os.path.join(sys.argv[1], sys.argv[2] + '.lock'), 'a+')\n"
         "fcntl.flock(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True)\n"
         "time.sleep(600)\n", lock_dir, name],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_run_lock_refuses_a_second_run_and_leaves_the_live_runs_executions_alone(tmp_path):
    """While another process holds the pipeline's run lock, a second run is
    refused (one line naming the pipeline and workspace) and the live run's
    RUNNING execution stays RUNNING; once the holder is dead, it is stale."""
    workspace = Workspace(str(tmp_path))
    store, exec_id = _fake_store_with_running_execution(workspace.metadata_path, "p")
    holder = _hold_lock(os.path.dirname(workspace.lock_path("p")))
    try:
        with pytest.raises(recovery.RunInProgress) as err:
            with recovery.run_lock(workspace, "p"):
                pytest.fail("entered the run while another run holds the lock")
        assert str(err.value) == (
            f"pipeline p is already running in workspace {workspace.root} (another process "
            f"holds {workspace.lock_path('p')}); wait for it to finish, or give this run "
            f"another --workspace")
        [execution] = store.get_executions_by_id([exec_id])
        assert execution.last_known_state == RUNNING
    finally:
        holder.kill()
        holder.wait()
    # The holder died (SIGKILL): its execution is now stale.
    with recovery.run_lock(workspace, "p") as marked:
        assert [m.execution_id for m in marked] == [exec_id]
    [execution] = store.get_executions_by_id([exec_id])
    assert execution.last_known_state == metadata_store_pb2.Execution.FAILED
    assert "died" in execution.custom_properties[recovery.ABANDONED_KEY].string_value


def test_tfxp_run_while_the_pipeline_runs_exits_2_and_writes_nothing(tmp_path, capsys):
    """Two ``tfxp run`` of one pipeline in one workspace used to overlap: the
    first printed the second's summary and wrote its config.json and log
    over the second's. The second is now refused before any component."""
    from tfxp.cli.main import main
    from tests.conftest import DATA_DIR

    workspace = Workspace(str(tmp_path / "ws"))
    holder = _hold_lock(os.path.dirname(workspace.lock_path("dense-pipeline")),
                        "dense-pipeline")
    try:
        code = main(["run", "--workspace", workspace.root, "--data-dir", DATA_DIR])
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith(f"tfxp: error: pipeline dense-pipeline is already running in "
                             f"workspace {workspace.root}")
    assert sorted(os.listdir(workspace.root)) == ["locks"]
