"""Serving in operation: version polling that odd folders cannot break, load
retries, warm-up through the request checks (regressions), and the flags
that turn these on (serving.manager, serving.versions, serving.flags).
"""
from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

from tfxp.serving.manager import AVAILABLE, END, ModelManager, single_model_config
from tfxp.serving.versions import list_versions, push_atomically, scan_versions, version_number
from tfxp.serving.warmup import WARMUP_FILE, warm_up
from tests.serving_toy import write_toy_model


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """{scale: SavedModel dir} for scales 1 and 2."""
    root = tmp_path_factory.mktemp("ops_toy")
    return {s: write_toy_model(str(root / f"scale{s}"), scale=float(s)) for s in (1, 2)}


def _config(*bases):
    config = single_model_config("m0", bases[0])
    for i, base in enumerate(bases[1:], 1):
        model = config.model_config_list.config.add()
        model.CopyFrom(config.model_config_list.config[0])
        model.name, model.base_path = f"m{i}", base
    return config


def _available(manager, name):
    try:
        return manager.servable(model_pb2.ModelSpec(name=name)).version
    except Exception:  # noqa: BLE001
        return None


# ----- 1. odd folder names never stop polling -----

@pytest.mark.parametrize("name, expected", [
    ("7", 7), ("0", 0), ("\u00b2", None), ("\u0663", None), ("007", None), ("-1", None),
    ("+3", None), (" 3", None), ("3 ", None), ("1e3", None), ("", None),
    (str(1 << 63), None), (str((1 << 63) - 1), (1 << 63) - 1)])
def test_version_number_accepts_only_canonical_base10_int64(name, expected):
    assert version_number(name) == expected


def test_scan_versions_reports_odd_names_and_skips_hidden_ones(tmp_path):
    for name in ("1", "\u00b2", "x", ".push-h-1-abc", "12"):
        (tmp_path / name).mkdir()
    (tmp_path / "3").write_text("a file, not a folder")
    assert scan_versions(str(tmp_path)) == ([1, 12], ["3", "x", "\u00b2"])
    assert list_versions(str(tmp_path)) == [1, 12]


def test_superscript_folder_neither_stops_start_nor_other_models(tmp_path, toy, caplog):
    bases = []
    for i in range(2):
        base = tmp_path / f"b{i}"
        base.mkdir()
        shutil.copytree(toy[1], base / "1")
        bases.append(str(base))
    (tmp_path / "b0" / "\u00b2").mkdir()  # isdigit() is True, int() raises
    manager = ModelManager(_config(*bases))
    caplog.set_level(logging.WARNING, logger="tfxp.serving.manager")
    manager.start(poll_seconds=0)
    try:
        assert _available(manager, "m0") == 1 and _available(manager, "m1") == 1
        # New versions keep arriving for the model after the odd one ...
        shutil.copytree(toy[2], os.path.join(bases[1], "2"))
        shutil.copytree(toy[2], os.path.join(bases[0], "2"))
        for _ in range(3):
            manager.poll()
        assert _available(manager, "m0") == 2 and _available(manager, "m1") == 2
        # ... and the odd name is logged once, not at every poll.
        mentions = [r for r in caplog.records if "\u00b2" in r.getMessage()]
        assert len(mentions) == 1 and "not base-10" in mentions[0].getMessage()
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        manager.stop()


def test_a_failing_base_path_is_logged_once_and_others_keep_polling(tmp_path, toy, caplog,
                                                                    monkeypatch):
    bases = [str(tmp_path / "b0"), str(tmp_path / "b1")]
    for base in bases:
        os.makedirs(base)
        shutil.copytree(toy[1], os.path.join(base, "1"))
    manager = ModelManager(_config(*bases))
    manager.start(poll_seconds=0)
    from tfxp.serving import manager as manager_lib
    real = manager_lib.scan_versions

    def broken(base):
        if base == bases[0]:
            raise PermissionError(13, "Permission denied", base)
        return real(base)
    monkeypatch.setattr(manager_lib, "scan_versions", broken)
    caplog.set_level(logging.ERROR, logger="tfxp.serving.manager")
    try:
        shutil.copytree(toy[2], os.path.join(bases[1], "2"))
        for _ in range(3):
            manager.poll()
        assert _available(manager, "m0") == 1  # keeps serving what it had
        assert _available(manager, "m1") == 2
        errors = [r for r in caplog.records if "polling base path" in r.getMessage()]
        assert len(errors) == 1 and bases[0] in errors[0].getMessage()
    finally:
        manager.stop()


def test_pusher_listing_ignores_superscript_folder(tmp_path, toy):
    base = tmp_path / "serving"
    base.mkdir()
    (base / "\u00b2").mkdir()
    (base / ".push-otherhost-\u00b2-x").mkdir()  # a pid part that isdigit() accepts
    version, pushed = push_atomically(toy[1], str(base), now=100)
    assert (version, pushed) == (100, True)
    assert list_versions(str(base)) == [100]


# ----- 2. failed loads are retried -----

def _partial_copy(src, dst):
    """What ``cp -r`` has written midway: saved_model.pb, no variables."""
    os.makedirs(dst)
    shutil.copy(os.path.join(src, "saved_model.pb"), dst)


def test_failed_load_is_retried_until_the_copy_completes(tmp_path, toy):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(toy[1], base / "1")
    manager = ModelManager(single_model_config("m0", str(base)),
                           max_num_load_retries=5, load_retry_interval_s=0.0)
    manager.start(poll_seconds=0)
    try:
        _partial_copy(toy[2], str(base / "2"))
        manager.poll()
        state = manager.version_state("m0", 2)
        # END with its error between attempts (GetModelStatus says why), retry due.
        assert state.state == END and state.error is not None and state.attempts == 1
        assert state.retry_at is not None
        assert _available(manager, "m0") == 1  # the old version keeps serving
        shutil.rmtree(base / "2")
        shutil.copytree(toy[2], base / "2")  # the copy finishes
        manager.poll()
        assert manager.version_state("m0", 2).state == AVAILABLE
        assert _available(manager, "m0") == 2
    finally:
        manager.stop()


def test_retries_wait_for_the_interval_and_then_end(tmp_path, toy):
    base = tmp_path / "m"
    base.mkdir()
    _partial_copy(toy[1], str(base / "1"))
    manager = ModelManager(single_model_config("m0", str(base)),
                           max_num_load_retries=1, load_retry_interval_s=3600)
    manager.start(poll_seconds=0)
    try:
        manager.poll()
        assert manager.version_state("m0", 1).attempts == 1  # not due yet
        manager._models["m0"].versions[1].retry_at = 0  # the hour has passed
        manager.poll()
        state = manager.version_state("m0", 1)
        assert state.state == END and state.attempts == 2 and state.error is not None
        assert state.retry_at is None and state.contents is not None  # retries used up
    finally:
        manager.stop()


def test_after_retries_a_changed_folder_is_loaded_again(tmp_path, toy):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(toy[1], base / "1")
    manager = ModelManager(single_model_config("m0", str(base)), max_num_load_retries=0,
                           warm_up=warm_up)
    manager.start(poll_seconds=0)
    try:
        _partial_copy(toy[2], str(base / "2"))
        manager.poll()
        assert manager.version_state("m0", 2).state == END
        manager.poll()  # unchanged: stays END, no new attempt
        assert manager.version_state("m0", 2).attempts == 1
        shutil.copytree(os.path.join(toy[2], "variables"), base / "2" / "variables")
        manager.poll()
        assert manager.version_state("m0", 2).state == AVAILABLE
        assert _available(manager, "m0") == 2
    finally:
        manager.stop()


# ----- 3. warm-up goes through the request checks -----

def _write_warmup(model_dir, records):
    path = os.path.join(model_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for request in records:
            writer.write(prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
                .SerializeToString())


def _predict_request(x_proto):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "anything"
    request.inputs["x"].CopyFrom(x_proto)
    request.inputs["tag"].CopyFrom(tf.make_tensor_proto(np.array([b"t"], dtype=object)))
    return request


GOOD_X = tf.make_tensor_proto(np.ones((1, 3), np.float32))


@pytest.mark.parametrize("bad_x, expected", [
    (tf.make_tensor_proto(np.ones((1, 3), np.float16)), "but half is provided"),  # TF's DataTypeString
    (tf.make_tensor_proto(np.array([["12.5", "1", "2"]], dtype=object)), "string"),
    (tf.make_tensor_proto(np.ones((1, 4), np.float32)), "shape"),
], ids=["DT_HALF", "string", "shape"])
def test_warmup_record_failing_request_checks_fails_the_load(tmp_path, toy, bad_x, expected):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(toy[1], base / "1")
    manager = ModelManager(single_model_config("m0", str(base)), max_num_load_retries=0,
                           warm_up=warm_up)
    manager.start(poll_seconds=0)
    try:
        shutil.copytree(toy[2], base / "2")
        _write_warmup(str(base / "2"), [_predict_request(GOOD_X), _predict_request(bad_x)])
        manager.poll()
        state = manager.version_state("m0", 2)
        assert state.state == END
        message = state.error[1]
        assert "warmup record 1 of" in message and ("(x)" in message or "input x" in message)
        assert expected in message
        assert _available(manager, "m0") == 1  # the previous version keeps serving
    finally:
        manager.stop()


def test_good_warmup_records_run_and_are_logged(tmp_path, toy, caplog):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(toy[1], base / "1")
    _write_warmup(str(base / "1"), [_predict_request(GOOD_X)] * 3)
    caplog.set_level(logging.INFO, logger="tfxp.serving.warmup")
    manager = ModelManager(single_model_config("m0", str(base)),
                           warm_up=warm_up)
    manager.start(poll_seconds=0)
    try:
        servable = manager.servable(model_pb2.ModelSpec(name="m0"))
        assert servable.warmup_records == 3
        assert any("Number of warmup records read: 3" in r.getMessage()
                   for r in caplog.records)
    finally:
        manager.stop()


def test_corrupt_warmup_file_names_the_record(tmp_path, toy):
    base = tmp_path / "m"
    base.mkdir()
    shutil.copytree(toy[1], base / "1")
    _write_warmup(str(base / "1"), [_predict_request(GOOD_X)] * 2)
    path = os.path.join(str(base / "1"), WARMUP_FILE)
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[len(data) // 2 + 20] ^= 0xFF  # inside the second record's data: bad CRC
    with open(path, "wb") as f:
        f.write(bytes(data))
    manager = ModelManager(single_model_config("m0", str(base)), max_num_load_retries=0,
                           warm_up=warm_up)
    manager.start(poll_seconds=0)
    try:
        state = manager.version_state("m0", 1)
        assert state.state == END and "warmup record 1 of" in state.error[1]
    finally:
        manager.stop()
