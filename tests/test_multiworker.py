"""Multi-worker training: two real worker processes, MultiWorkerMirroredStrategy.

Each worker gets its own ``TF_CONFIG`` (two workers on 127.0.0.1 ports) and
runs the Trainer's ``run_fn`` on the transformed data of a real Dense/taxi
pipeline run, with the same shared ``model_run_dir`` and
``serving_model_dir``, as a Kubernetes TFJob would run them.
"""
import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfxp.core.workspace import HISTORY_FILE
from tfxp.models.training import CHECKPOINT_DIR, shard_policy
from tests.conftest import PROJECT_ROOT

WORKERS = 2
TRAIN_STEPS, EVAL_STEPS = 12, 2


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def only_dir(pattern):
    found = glob.glob(pattern)
    assert len(found) == 1, (pattern, found)
    return found[0]


def train_two_workers(config, shared, scratch, **custom_config):
    """Starts both workers on the artifacts of ``config``'s pipeline run and
    waits for them; ``shared`` is the shared output folder, ``scratch`` holds
    each worker's TMPDIR and final weights; ``custom_config`` overrides the
    run's Trainer config (e.g. another family)."""
    root = os.path.abspath(config.pipeline_root)
    job = {
        "examples": only_dir(f"{root}/Transform/transformed_examples/*"),
        "transform_graph": only_dir(f"{root}/Transform/transform_graph/*"),
        "schema": only_dir(f"{root}/*/schema/*"),  # the schema the run used
        "model": str(shared / "model"), "model_run": str(shared / "model_run"),
        "train_steps": TRAIN_STEPS, "eval_steps": EVAL_STEPS,
        "custom_config": {**config.trainer_config(), "epochs": 2, **custom_config},
    }
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(WORKERS)]}
    procs, weights, local_tmp = [], [], []
    for index in range(WORKERS):
        weights.append(str(scratch / f"weights-{index}.npz"))
        local_tmp.append(str(scratch / f"tmp-{index}"))
        os.makedirs(local_tmp[-1])
        env = dict(os.environ, PYTHONPATH=PROJECT_ROOT, TMPDIR=local_tmp[-1],
                   TF_CONFIG=json.dumps({"cluster": cluster,
                                         "task": {"type": "worker", "index": index}}))
        procs.append(subprocess.Popen(
            [sys.executable, os.path.join(PROJECT_ROOT, "tests", "multiworker_worker.py"),
             json.dumps({**job, "weights_out": weights[-1]})],
            env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True))
    outputs = []
    try:
        for proc in procs:
            outputs.append(proc.communicate(timeout=900)[0])
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    return dict(job=job, shared=shared, weights=weights, local_tmp=local_tmp,
                codes=[p.returncode for p in procs], outputs=outputs)


@pytest.fixture(scope="module")
def two_worker_training(dense_run, tmp_path_factory):
    return train_two_workers(dense_run[0], tmp_path_factory.mktemp("shared"),
                             tmp_path_factory.mktemp("workers"))


def test_both_workers_finish(two_worker_training):
    for index, (code, out) in enumerate(zip(two_worker_training["codes"],
                                            two_worker_training["outputs"])):
        assert code == 0, f"worker {index} exited {code}:\n{out[-4000:]}"
        # Global batch = per-replica batch x 2 replicas (one per worker).
        assert "replicas=2" in out, out[-2000:]


def test_workers_end_with_identical_weights(two_worker_training):
    chief, other = (np.load(p) for p in two_worker_training["weights"])
    assert len(chief.files) == len(other.files) > 0
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    assert any(np.std(chief[k]) > 0 for k in chief.files)  # real weights, not zeros


def test_exactly_one_saved_model_written_by_the_chief(two_worker_training):
    shared = str(two_worker_training["shared"])
    models = glob.glob(f"{shared}/**/saved_model.pb", recursive=True)
    assert models == [os.path.join(two_worker_training["job"]["model"], "Format-Serving",
                                   "saved_model.pb")]
    for tmp in two_worker_training["local_tmp"]:  # the non-chief's export is gone
        assert glob.glob(f"{tmp}/**/saved_model.pb", recursive=True) == []
    run_dir = two_worker_training["job"]["model_run"]
    history = json.load(open(os.path.join(run_dir, HISTORY_FILE)))
    assert (history["workers"], history["replicas"]) == (2, 2)
    checkpoints = sorted(os.listdir(os.path.join(run_dir, CHECKPOINT_DIR)))
    assert checkpoints == ["epoch-001.h5", "epoch-002.h5"], checkpoints
    assert not glob.glob(f"{run_dir}/**/workertemp_*", recursive=True)


def test_the_exported_model_serves_real_examples(two_worker_training, dense_run):
    config, _ = dense_run
    root = os.path.abspath(config.pipeline_root)
    eval_files = glob.glob(f"{root}/CsvExampleGen/examples/*/Split-eval/*")
    serialized = [r.numpy() for r in tf.data.TFRecordDataset(
        eval_files, compression_type="GZIP").take(16)]
    model_dir = os.path.join(two_worker_training["job"]["model"], "Format-Serving")
    serve = tf.saved_model.load(model_dir).signatures["predict"]
    out = serve(inputs=tf.constant(serialized))
    assert out["scores"].shape == (16, 2)
    np.testing.assert_allclose(out["scores"].numpy().sum(axis=1), 1.0, rtol=1e-5)
    assert set(out["top_class"].numpy()) <= {b"not_big_tipper", b"big_tipper"}


def test_a_family_with_batch_normalization_trains_and_exports_on_two_workers(
        image_run, tmp_path):
    """ResNet's BatchNormalization keeps its moving statistics in SyncOnRead
    variables, and under MultiWorkerMirroredStrategy reading one is an
    all-reduce every worker must join: a chief that wrote its outputs alone
    failed with "Collective ops is aborted" once the other worker had
    exited, and a SavedModel traced over distributed variables cannot be
    saved. Every worker now copies the trained model into an undistributed
    one (``models.training.undistributed_copy``); the chief exports it, and
    its SavedModel holds the trained weights and serves."""
    config, _ = image_run
    done = train_two_workers(config, tmp_path / "shared", tmp_path, family="resnet",
                             hparams={}, per_replica_batch=16)
    for index, (code, out) in enumerate(zip(done["codes"], done["outputs"])):
        assert code == 0, f"worker {index} exited {code}:\n{out[-4000:]}"
    chief, other = (np.load(p) for p in done["weights"])
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    run_dir = done["job"]["model_run"]
    history = json.load(open(os.path.join(run_dir, HISTORY_FILE)))
    assert (history["workers"], history["replicas"]) == (2, 2)
    model_dir = os.path.join(done["job"]["model"], "Format-Serving")
    served = tf.saved_model.load(model_dir)
    # The SavedModel holds the weights the workers ended with, the moving
    # statistics included (models/export.py tracks model.variables).
    exported = [v.numpy() for v in served.model_variables]
    assert len(exported) == len(chief.files)
    for index, value in enumerate(exported):
        np.testing.assert_array_equal(value, chief[f"arr_{index}"], err_msg=str(index))
    root = os.path.abspath(config.pipeline_root)
    files = glob.glob(f"{root}/TfdsExampleGen/examples/*/Split-eval/*")
    examples = [r.numpy() for r in tf.data.TFRecordDataset(
        files, compression_type="GZIP").take(8)]
    scores = served.signatures["predict"](
        inputs=tf.constant(examples))["scores"].numpy()
    assert scores.shape == (8, 10)
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, rtol=1e-5)
    for tmp in done["local_tmp"]:  # the other worker's outputs are gone
        assert glob.glob(f"{tmp}/**/saved_model.pb", recursive=True) == []
        assert glob.glob(f"{tmp}/**/*.h5", recursive=True) == []


def test_shard_policy_is_explicit():
    policy = tf.data.experimental.AutoShardPolicy
    pattern = [os.path.join(PROJECT_ROOT, "models", "*.py")]  # several files
    assert shard_policy(pattern, 1) == policy.OFF
    assert shard_policy(pattern, 2) == policy.FILE
    assert shard_policy([os.path.join(PROJECT_ROOT, "setup.py")], 2) == policy.DATA
