"""Every custom component and the model manager on artifact URIs.

On Kubeflow the pipeline root is ``gs://...``, so every artifact and the
default serving base are URIs. TensorFlow's in-memory filesystem
(``ram://``) stands in for the object store: ``tf.io.gfile`` and
``tf.saved_model.save/load`` accept it like ``gs://``, while ``os`` and
``shutil`` cannot reach it, as they cannot reach a bucket. The components
are run through their executors' ``Do`` with artifacts whose URIs are
``ram://`` paths (no pipeline run).
"""
from __future__ import annotations

import json
import os
import uuid

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_metadata.proto.v0 import anomalies_pb2
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_artifacts, standard_component_specs
from tfx.utils import proto_utils

from tfxp.components.data_gate import DataGate
from tfxp.components.infra_validator import BLESSED_FILE, InProcessInfraValidator
from tfxp.components.pusher import AtomicPushExecutor
from tfxp.serving import versions
from tfxp.serving.manager import AVAILABLE, END, ModelManager, single_model_config
from tfxp.serving.versions import list_versions, push_atomically, saved_model_digest
from tests.serving_toy import toy_examples, write_toy_model

gfile = tf.io.gfile


@pytest.fixture
def ram():
    """A fresh ``ram://`` root for one test."""
    return f"ram://{uuid.uuid4().hex}"


def upload(local_dir: str, uri: str) -> str:
    """Copies the tree ``local_dir`` to ``uri`` with tf.io.gfile; returns ``uri``."""
    for root, _, files in os.walk(local_dir):
        rel = os.path.relpath(root, local_dir)
        target = uri if rel == "." else f"{uri}/{rel}"
        gfile.makedirs(target)
        for name in files:
            gfile.copy(os.path.join(root, name), f"{target}/{name}", overwrite=True)
    return uri


def tree(uri: str) -> set:
    """Relative paths of the files under ``uri``."""
    return {f"{root[len(uri):].strip('/')}/{name}".lstrip("/")
            for root, _, files in gfile.walk(uri) for name in files}


class _Linear(tf.Module):
    def __init__(self, scale: float):
        super().__init__()
        self.w = tf.Variable(tf.fill([4, 2], scale))

    @tf.function(input_signature=[tf.TensorSpec([None, 4], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w)}


def save_linear(uri: str, scale: float) -> str:
    """A real SavedModel (variables, fingerprint, saved_model.pb) written to ``uri``."""
    module = _Linear(scale)
    tf.saved_model.save(module, uri, signatures={"serving_default": module.serve})
    return uri


def serves(version_dir: str, scale: float) -> bool:
    loaded = tf.saved_model.load(version_dir)
    y = loaded.signatures["serving_default"](x=tf.ones([1, 4]))["y"].numpy()
    return np.allclose(y, 4 * scale)


# ------------------------------------------------------------------ push

def test_push_to_a_uri_publishes_a_loadable_integer_version(ram):
    model = save_linear(f"{ram}/sm/1", 1.0)
    base = f"{ram}/serving/dense"
    version, written = push_atomically(model, base, now=1_800_000_000)
    assert (version, written) == (1_800_000_000, True)
    assert list_versions(base) == [version]
    assert gfile.listdir(base) == [str(version)]  # no temporary folder left behind
    assert saved_model_digest(f"{base}/{version}") == saved_model_digest(model)
    assert serves(f"{base}/{version}", 1.0)


def test_a_repush_of_identical_bytes_writes_nothing_and_new_bytes_get_the_next_version(ram):
    base = f"{ram}/serving/dense"
    first = save_linear(f"{ram}/a", 1.0)
    version, _ = push_atomically(first, base, now=100)
    copied = []
    real_copy = gfile.copy
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gfile, "copy", lambda *a, **k: copied.append(a) or real_copy(*a, **k))
        assert push_atomically(first, base, now=200) == (version, False)
    assert copied == []
    second = save_linear(f"{ram}/b", 2.0)
    assert push_atomically(second, base, now=100) == (version + 1, True)  # same second
    assert serves(f"{base}/{version + 1}", 2.0)


def test_object_store_push_writes_saved_model_pb_last_into_the_final_folder(ram, monkeypatch):
    model = save_linear(f"{ram}/sm", 1.0)
    base = f"{ram}/serving/dense"
    writes, renames = [], []
    real_copy = gfile.copy
    monkeypatch.setattr(gfile, "copy", lambda src, dst, overwrite=False: (
        writes.append(dst), real_copy(src, dst, overwrite))[1])
    monkeypatch.setattr(gfile, "rename", lambda *a, **k: renames.append(a))
    version, _ = push_atomically(model, base, now=5)
    final = f"{base}/{version}/"
    assert all(w.startswith(final) for w in writes), writes
    assert {w[len(final):] for w in writes} == tree(model)
    assert writes[-1] == final + "saved_model.pb"
    assert renames == []  # object stores have no atomic rename


def test_a_push_failing_midway_leaves_no_version_a_server_would_load(ram, monkeypatch):
    model = save_linear(f"{ram}/sm", 3.0)
    base = f"{ram}/serving/dense"
    real_copy, calls = gfile.copy, []

    def flaky_copy(src, dst, overwrite=False):
        calls.append(dst)
        if len(calls) == 2:
            raise tf.errors.UnavailableError(None, None, "connection reset by peer")
        return real_copy(src, dst, overwrite)

    monkeypatch.setattr(gfile, "copy", flaky_copy)
    with pytest.raises(tf.errors.UnavailableError):
        push_atomically(model, base, now=10)
    for name in gfile.listdir(base):
        assert not gfile.exists(f"{base}/{name.rstrip('/')}/saved_model.pb"), name
    monkeypatch.setattr(gfile, "copy", real_copy)
    version, written = push_atomically(model, base, now=10)
    assert written and serves(f"{base}/{version}", 3.0)
    assert tree(f"{base}/{version}") == tree(model)


def test_local_pushes_keep_the_atomic_rename(tmp_path, monkeypatch):
    model = str(tmp_path / "sm")
    save_linear(model, 1.0)
    renamed = []
    real_rename = os.rename
    monkeypatch.setattr(os, "rename", lambda a, b: (renamed.append(b), real_rename(a, b))[1])
    version, _ = push_atomically(model, str(tmp_path / "serving"), now=7)
    assert renamed == [str(tmp_path / "serving" / str(version))]


def _artifact(kind, uri: str, **int_props):
    artifact = kind()
    artifact.uri = uri
    for name, value in int_props.items():
        artifact.set_int_custom_property(name, value)
    return artifact


def test_pusher_executor_pushes_a_model_artifact_on_a_uri(ram):
    model = _artifact(standard_artifacts.Model, f"{ram}/Trainer/model/7")
    save_linear(f"{model.uri}/Format-Serving", 1.0)
    pushed = _artifact(standard_artifacts.PushedModel, f"{ram}/Pusher/pushed_model/9")
    base = f"{ram}/serving/dense"
    destination = pusher_pb2.PushDestination(
        filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
    AtomicPushExecutor().Do(
        {standard_component_specs.MODEL_KEY: [model],
         standard_component_specs.MODEL_BLESSING_KEY: [
             _artifact(standard_artifacts.ModelBlessing, f"{ram}/Evaluator/blessing/8",
                       blessed=1)],
         standard_component_specs.INFRA_BLESSING_KEY: [
             _artifact(standard_artifacts.InfraBlessing, f"{ram}/Infra/blessing/8",
                       blessed=1)]},
        {standard_component_specs.PUSHED_MODEL_KEY: [pushed]},
        {standard_component_specs.PUSH_DESTINATION_KEY:
            proto_utils.proto_to_json(destination)})
    [version] = list_versions(base)
    assert pushed.get_int_custom_property("pushed") == 1
    assert pushed.get_string_custom_property("pushed_destination") == f"{base}/{version}"
    assert serves(f"{base}/{version}", 1.0)


# ------------------------------------------------------------------ infra validator

def test_infra_validator_blesses_a_model_and_examples_on_uris(ram, tmp_path):
    model = _artifact(standard_artifacts.Model, f"{ram}/Trainer/model/3")
    upload(write_toy_model(str(tmp_path / "toy"), example_default=True),
           f"{model.uri}/Format-Serving")
    examples = _artifact(standard_artifacts.Examples, f"{ram}/ExampleGen/examples/1")
    examples.split_names = artifact_utils.encode_split_names(["train", "eval"])
    gfile.makedirs(f"{examples.uri}/Split-eval")
    with tf.io.TFRecordWriter(f"{examples.uri}/Split-eval/data_tfrecord-00000-of-00001.gz",
                              options="GZIP") as writer:
        for record in toy_examples(np.random.default_rng(1).normal(size=(8, 3))):
            writer.write(record)
    blessing = _artifact(standard_artifacts.InfraBlessing, f"{ram}/Infra/blessing/4")
    InProcessInfraValidator.EXECUTOR_SPEC.executor_class().Do(
        {"model": [model], "examples": [examples]}, {"blessing": [blessing]},
        {"num_examples": 8, "split": "eval", "classify_signature": "",
         "timeout_seconds": 60.0})
    assert blessing.get_string_custom_property("reason") == "ok"
    assert blessing.get_int_custom_property("blessed") == 1
    assert gfile.exists(f"{blessing.uri}/{BLESSED_FILE}")


# ------------------------------------------------------------------ data gate

def test_data_gate_republishes_examples_under_the_output_uri(ram, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a mangled 'ram:/...' path would land here
    splits = ["train", "eval"]
    examples = _artifact(standard_artifacts.Examples, f"{ram}/b/ExampleGen/examples/1")
    examples.split_names = artifact_utils.encode_split_names(splits)
    statistics = _artifact(standard_artifacts.ExampleStatistics, f"{ram}/b/Stats/statistics/2")
    statistics.split_names = examples.split_names
    anomalies = _artifact(standard_artifacts.ExampleAnomalies, f"{ram}/b/Validator/anomalies/3")
    anomalies.split_names = examples.split_names
    for split in splits:
        gfile.makedirs(f"{examples.uri}/Split-{split}")
        with gfile.GFile(f"{examples.uri}/Split-{split}/data_tfrecord-00000-of-00001.gz",
                         "wb") as f:
            f.write(f"records of {split}".encode())
        gfile.makedirs(f"{anomalies.uri}/Split-{split}")
        with gfile.GFile(f"{anomalies.uri}/Split-{split}/SchemaDiff.pb", "wb") as f:
            f.write(anomalies_pb2.Anomalies().SerializeToString())
    out = _artifact(standard_artifacts.Examples, f"{ram}/b/DataGate/validated_examples/4")
    DataGate.EXECUTOR_SPEC.executor_class().Do(
        {"statistics": [statistics], "anomalies": [anomalies], "examples": [examples]},
        {"validated_examples": [out]}, {})
    assert tree(out.uri) == tree(examples.uri) == {
        f"Split-{s}/data_tfrecord-00000-of-00001.gz" for s in splits}
    with gfile.GFile(f"{out.uri}/Split-eval/data_tfrecord-00000-of-00001.gz", "rb") as f:
        assert f.read() == b"records of eval"
    assert artifact_utils.decode_split_names(out.split_names) == splits
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ model manager

def test_model_manager_serves_and_polls_a_uri_base_path(ram, tmp_path):
    base = f"{ram}/serving/toy"
    upload(write_toy_model(str(tmp_path / "s1"), scale=1.0), f"{base}/1")
    manager = ModelManager(single_model_config("toy", base))
    manager.start(poll_seconds=0)
    try:
        assert manager.version_state("toy", 1).state == AVAILABLE
        # A version being written to an object store (variables, no
        # saved_model.pb yet) is not loaded, nor failed for good ...
        partial = f"{ram}/partial"
        upload(write_toy_model(str(tmp_path / "s2"), scale=2.0), partial)
        gfile.makedirs(f"{base}/2/variables")
        for name in gfile.listdir(f"{partial}/variables"):
            gfile.copy(f"{partial}/variables/{name}", f"{base}/2/variables/{name}")
        manager.poll()
        assert manager.version_state("toy", 2) is None
        assert manager.version_state("toy", 1).state == AVAILABLE
        # ... and a complete push is picked up by the next poll.
        version, _ = push_atomically(partial, base, now=0)
        assert version == 3
        manager.poll()
        assert manager.version_state("toy", 3).state == AVAILABLE
        assert manager.version_state("toy", 1).state == END
    finally:
        manager.stop()


def test_model_base_path_flag_keeps_a_uri(ram):
    import argparse

    from tfxp.serving.flags import add_server_flags
    from tfxp.serving.main import server_from_args

    parser = argparse.ArgumentParser()
    add_server_flags(parser)
    args = parser.parse_args(["--model_name", "toy", "--model_base_path", f"{ram}/toy",
                              "--port", "0", "--rest_api_port", "0"])
    server = server_from_args(args)
    assert [m.base_path for m in server.manager.config.model_config_list.config] == [
        f"{ram}/toy"]
