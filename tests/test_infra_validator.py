"""The in-process infra validator: in the real pipeline run, and on small
models that must or must not be blessed."""
from __future__ import annotations

import os

import numpy as np
import pytest

from tfxp.components.infra_validator import (BLESSED_FILE, REPORT_FILE, ValidationResult,
                                        validate_model)
from tests.serving_toy import toy_examples, write_toy_model

EXAMPLES = toy_examples(np.random.default_rng(0).normal(size=(16, 3)))


def test_pipeline_run_infra_blessed_the_model_before_pushing_it(dense_run):
    from tfxp.observability import mlmd

    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    run = store.get_context_by_type_and_name("pipeline_run", summary.run_id)
    blessings = [a for a in store.get_artifacts_by_context(run.id)
                 if store.get_artifact_types_by_id([a.type_id])[0].name == "InfraBlessing"]
    assert len(blessings) == 1
    props = blessings[0].custom_properties
    assert props["blessed"].int_value == 1, props["reason"].string_value
    assert props["reason"].string_value == "ok"
    assert props["max_abs_diff"].double_value <= 1e-6
    assert os.path.isfile(os.path.join(blessings[0].uri, BLESSED_FILE))
    assert os.path.isfile(os.path.join(blessings[0].uri, REPORT_FILE))
    assert summary.blessed and summary.pushed_path  # the Pusher took both blessings


def test_predict_checks_every_example_signature_and_classify_prefers_serving_default(tmp_path):
    from tfxp.components.infra_validator import _classify_signature, _example_signatures
    from tfxp.serving.manager import read_signature_defs

    sigs = read_signature_defs(write_toy_model(str(tmp_path / "a"), example_default=True))
    assert _example_signatures(sigs) == ["classification", "regression", "serving_default"]
    assert _classify_signature(sigs, "") == "serving_default"
    # serving_default takes raw tensors (x, tag): Predict skips it, Classify
    # falls back to the classify-method signature.
    sigs = read_signature_defs(write_toy_model(str(tmp_path / "b")))
    assert _example_signatures(sigs) == ["classification", "regression"]
    assert _classify_signature(sigs, "") == "classification"


def test_a_deterministic_model_is_blessed(tmp_path):
    model = write_toy_model(str(tmp_path / "m"), example_default=True)
    result = validate_model(model, EXAMPLES)
    assert result == ValidationResult(True, "ok", 16, result.max_abs_diff, result.seconds)
    assert result.max_abs_diff <= 1e-6


@pytest.mark.parametrize("case, reason", [
    ("served answers differ from in-process ones", "differ from in-process"),
    ("no Classify-able signature", "no signature that TF Serving's Classify accepts"),
    ("not a SavedModel", "model did not load"),
    ("no examples", "no examples"),
])
def test_models_that_do_not_serve_correctly_are_not_blessed(tmp_path, case, reason):
    model = str(tmp_path / "m")
    examples = EXAMPLES
    if case.startswith("served answers"):
        write_toy_model(model, example_default=True, noisy=True)
    elif case.startswith("no Classify"):
        write_toy_model(model, example_default=True, methods=False)
    elif case.startswith("not a"):
        os.makedirs(model)
        with open(os.path.join(model, "saved_model.pb"), "wb") as f:
            f.write(b"\xff garbage")
    else:
        write_toy_model(model, example_default=True)
        examples = []
    result = validate_model(model, examples)
    assert not result.blessed
    assert reason in result.reason
