"""End to end: the real pipeline (LocalDagRunner, MLMD on SQLite) on the taxi
CSV with few steps; outputs checked in MLMD, on disk and numerically."""
from __future__ import annotations

import contextlib
import io
import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tensorflow_model_analysis.utils import model_util

from tfxp.core import features as F
from tfxp.core.workspace import HISTORY_FILE
from tfxp.models.registry import get_family
from tfxp.models.training import WEIGHTS_FILE
from tfxp.observability import mlmd
from tfxp.serving.versions import list_versions, saved_model_digest
from tests.conftest import run_tiny_pipeline
from tests.taxi_rows import read_rows, to_example

ALL_COMPONENTS = {"CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                  "DataGate",
                  "Transform", "Trainer", "latest_blessed_model_resolver",
                  "Evaluator", "InProcessInfraValidator", "Pusher"}


def _uri_of(store, run_id, component, artifact_type):
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    for execution in store.get_executions_by_context(ctx.id):
        if mlmd._component_of(store, execution) == component:
            for artifact in mlmd._outputs(store, execution.id):
                if store.get_artifact_types_by_id([artifact.type_id])[0].name == artifact_type:
                    return artifact.uri
    raise AssertionError(f"no {artifact_type} from {component} in {run_id}")


def test_first_run_completes_every_component_and_pushes_a_blessed_model(dense_run):
    config, summary = dense_run
    assert {c.component for c in summary.components} == ALL_COMPONENTS
    assert {c.state for c in summary.components} == {"COMPLETE"}
    assert summary.blessed is True
    assert summary.metrics["Overall"]["auc"] > 0.6
    assert 0.0 <= summary.metrics["Overall"]["binary_accuracy"] <= 1.0
    # Sliced by trip_start_hour: one slice per hour seen in the eval split.
    hours = [s for s in summary.metrics if s.startswith("trip_start_hour")]
    assert len(hours) > 12
    versions = list_versions(config.serving_base)
    assert len(versions) == 1
    assert summary.pushed_path == os.path.join(os.path.abspath(config.serving_base),
                                               str(versions[0]))
    assert os.path.isfile(os.path.join(summary.pushed_path, "saved_model.pb"))


def test_pushed_signature_equals_keras_model_plus_transform_graph(dense_run):
    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    transform_uri = _uri_of(store, summary.run_id, "Transform", "TransformGraph")
    tft_output = tft.TFTransformOutput(transform_uri)
    with open(os.path.join(summary.model_run_uri, HISTORY_FILE)) as f:
        hparams = json.load(f)["hparams"]
    model = get_family("dense").build_model(hparams)
    model.load_weights(os.path.join(summary.model_run_uri, WEIGHTS_FILE))

    rows = read_rows()[100:120]
    raw_spec = tft_output.raw_feature_spec()
    examples = tf.constant([to_example(r, raw_spec) for r in rows])
    transformed = tft_output.transform_raw_features(tf.io.parse_example(examples, raw_spec))
    expected = model({k: transformed[k] for k in model.input_names}).numpy()
    # The label TFT computed must be the CSV's "big tipper".
    np.testing.assert_array_equal(
        transformed[F.TRANSFORMED_LABEL].numpy(),
        [int(float(r["tips"]) > 0.2 * float(r["fare"])) for r in rows])

    served = tf.saved_model.load(summary.pushed_path)
    serving_spec = {k: v for k, v in raw_spec.items() if k not in ("tips",)}
    no_label = tf.constant([to_example(r, serving_spec) for r in rows])
    out = served.signatures["predict"](inputs=no_label)
    scores = out["scores"].numpy()
    assert scores.shape == (20, 2)
    assert ((scores >= 0) & (scores <= 1)).all()
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out["probability"].numpy(), expected[:, 1], rtol=1e-5, atol=1e-6)
    assert out["classes"].numpy()[0].tolist() == [b"not_big_tipper", b"big_tipper"]
    # serving_default: the same classes and scores, and nothing else (Classify).
    default = served.signatures["serving_default"](inputs=no_label)
    assert set(default) == {"classes", "scores"}
    np.testing.assert_array_equal(default["classes"].numpy(), out["classes"].numpy())
    np.testing.assert_allclose(default["scores"].numpy(), scores, rtol=1e-6, atol=1e-7)
    # The Evaluator's model spec names no signature: TFMA takes "predict".
    assert model_util.get_default_signature_name_from_model_path(
        summary.pushed_path) == "predict"


def test_second_run_with_unchanged_inputs_is_served_from_cache(dense_run):
    config, first = dense_run
    before = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
              for v in list_versions(config.serving_base)}
    _, second = run_tiny_pipeline(config.workspace, "dense")
    states = {c.component: c.state for c in second.components}
    for component in ("CsvExampleGen", "StatisticsGen", "ImportSchemaGen", "ExampleValidator",
                      "DataGate", "Transform", "Trainer"):
        assert states[component] == "CACHED", (component, states)
    # The Evaluator re-runs (its baseline is now the first run's model) and
    # blesses the identical model; the Pusher sees the bytes already served.
    assert second.blessed is True
    after = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
             for v in list_versions(config.serving_base)}
    assert after == before


def test_unreachable_threshold_blocks_the_push_and_leaves_serving_unchanged(dense_run):
    config, _ = dense_run
    before = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
              for v in list_versions(config.serving_base)}
    _, gated = run_tiny_pipeline(config.workspace, "dense", metric_threshold=1.0)
    assert gated.blessed is False
    assert gated.pushed_path is None
    # tfxp run (print_failed_checks) and tfxp status --run print why, from
    # TFMA's validation result: the AUC under 1.0.
    from tfxp.cli.main import main, print_failed_checks
    auc = gated.metrics["Overall"]["auc"]
    for show in (lambda: print_failed_checks(config.workspace, gated.run_id),
                 lambda: main(["status", "--workspace", config.workspace,
                               "--run", gated.run_id])):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            show()
        assert re.search(rf"^  failed check: Overall: auc = {auc:.4f} fails auc >= 1\b",
                         out.getvalue(), re.M), out.getvalue()
    states = {c.component: c.state for c in gated.components}
    assert states["Pusher"] == "COMPLETE" and states["Trainer"] == "CACHED"
    after = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
             for v in list_versions(config.serving_base)}
    assert after == before
