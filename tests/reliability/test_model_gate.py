"""A worse model is not pushed; the first model is judged on the absolute bound.

The Evaluator's thresholds (``pipeline.evaluation``): an absolute lower bound
per family (``models.registry``: AUC for binary tasks, accuracy otherwise),
plus a change threshold against the latest blessed model, which TFX applies
only when the Resolver found one. Both gate the Overall slice.
"""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_analysis as tfma
import tf_keras as keras

from tfxp.models.registry import FAMILIES
from tfxp.pipeline import evaluation
from tfxp.observability import mlmd
from tfxp.core.datasets import get_dataset
from tfxp.serving.versions import list_versions, saved_model_digest
from tests.conftest import DATA_DIR, run_tiny_pipeline
from tests.reliability import fault_data as fd
from tests.taxi_rows import read_rows, to_example


def _executions(store, run_id: str) -> dict:
    ctx = store.get_context_by_type_and_name("pipeline_run", run_id)
    return {mlmd._component_of(store, e): e for e in store.get_executions_by_context(ctx.id)}


def _inputs(store, execution_id: int) -> dict:
    """``{input key: [artifact id]}`` of one execution, from its INPUT events."""
    out: dict = {}
    for event in store.get_events_by_execution_ids([execution_id]):
        if event.type == event.INPUT:
            out.setdefault(event.path.steps[0].key, []).append(event.artifact_id)
    return out


def _evaluation_uri(store, execution_id: int) -> str:
    return next(a.uri for a in mlmd._outputs(store, execution_id)
                if store.get_artifact_types_by_id([a.type_id])[0].name == "ModelEvaluation")


def test_first_run_without_baseline_is_blessed_on_the_absolute_bound_alone(dense_run):
    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    first_run = mlmd.list_runs(store, config.pipeline_name)[0][1]
    assert first_run == summary.run_id
    executions = _executions(store, first_run)
    # The Resolver found no blessed model, so the Evaluator got no baseline.
    assert not mlmd._outputs(store, executions["latest_blessed_model_resolver"].id)
    assert "baseline_model" not in _inputs(store, executions["Evaluator"].id)
    result = tfma.load_validation_result(_evaluation_uri(store, executions["Evaluator"].id))
    assert result.validation_ok, result
    assert summary.blessed is True and summary.pushed_path is not None
    assert summary.metrics["Overall"]["auc"] >= FAMILIES["dense"].metric_threshold


def test_bad_model_is_not_blessed_not_pushed_and_the_old_version_keeps_serving(dense_run):
    """One training step: the same data and code, a model far worse than the
    blessed baseline. The Evaluator compares it with that baseline and refuses
    it; the Pusher publishes nothing; the served version answers as before."""
    config, first = dense_run
    served = os.path.join(config.serving_base, str(list_versions(config.serving_base)[-1]))
    before = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
              for v in list_versions(config.serving_base)}
    rows = read_rows()[200:232]
    scores_before = _serve_rows(served, rows)

    _, bad = run_tiny_pipeline(config.workspace, "dense", train_steps=1, epochs=1)
    states = {c.component: c.state for c in bad.components}
    assert states["Trainer"] == "COMPLETE" and states["Transform"] == "CACHED", states
    assert states["Evaluator"] == "COMPLETE" and states["Pusher"] == "COMPLETE", states
    assert bad.blessed is False and bad.pushed_path is None

    store = mlmd.open_store(config.metadata_path)
    executions = _executions(store, bad.run_id)
    # It was judged against the first run's blessed model...
    baseline = _inputs(store, executions["Evaluator"].id)["baseline_model"]
    first_model = [a.id for a in mlmd._outputs(store, _executions(store, first.run_id)["Trainer"].id)
                   if store.get_artifact_types_by_id([a.type_id])[0].name == "Model"]
    assert baseline == first_model
    # ...and failed on the blessing metric.
    result = tfma.load_validation_result(_evaluation_uri(store, executions["Evaluator"].id))
    assert not result.validation_ok
    failed = {f.metric_key.name for s in result.metric_validations_per_slice for f in s.failures}
    # AUC, and the binary-accuracy floor above the majority share
    # (components/evaluator.py) that a one-step model may also miss.
    assert "auc" in failed and failed <= {"auc", "binary_accuracy"}, result
    # On the whole eval split, at least the comparison with the baseline failed
    # (the absolute bound may or may not, depending on the random init).
    overall = [s for s in result.metric_validations_per_slice
               if not s.slice_key.single_slice_keys]
    # Only the Overall slice is gated; the per-hour slices are report-only.
    assert overall == list(result.metric_validations_per_slice), result
    assert any(f.metric_threshold.HasField("change_threshold")
               for s in overall for f in s.failures), result
    assert bad.metrics["Overall"]["auc"] < first.metrics["Overall"]["auc"]

    after = {v: saved_model_digest(os.path.join(config.serving_base, str(v)))
             for v in list_versions(config.serving_base)}
    assert after == before
    np.testing.assert_array_equal(_serve_rows(served, rows), scores_before)


def _serve_rows(version_dir: str, rows) -> np.ndarray:
    """Scores float32 ``[N, 2]`` from the served SavedModel's ``serving_default``
    for real taxi rows, serialized as tf.Examples without the label column."""
    loaded = tf.saved_model.load(version_dir)
    fn = loaded.signatures["serving_default"]
    spec = {k: tf.io.VarLenFeature(v.dtype) for k, v in
            loaded.signatures["serving_raw"].structured_input_signature[1].items()}
    scores = fn(inputs=tf.constant([to_example(r, spec) for r in rows]))["scores"].numpy()
    assert scores.shape == (len(rows), 2) and np.isfinite(scores).all()
    return scores


def _real_labels(dataset: str) -> np.ndarray:
    """Class ids int64 ``[N]`` of the dataset's real examples."""
    if dataset == "chicago_taxi":
        return np.array([int(float(r["tips"] or 0) > 0.2 * float(r["fare"] or 0))
                         for r in read_rows() if r["fare"]], np.int64)
    if dataset == "fashion_mnist":
        return fd.fashion_mnist(DATA_DIR, "t10k")[1].astype(np.int64)
    return np.array([label for _, label in fd.rotten_tomatoes(DATA_DIR)], np.int64)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_threshold_rejects_a_collapsed_model(family):
    """A model that predicts one class for every input (the majority class,
    the best a collapsed model can do) scores below the family's bound, as
    the Evaluator's own config states it."""
    spec = FAMILIES[family]
    dataset = get_dataset(spec.default_dataset)
    config = evaluation.eval_config(dataset, spec.metric_threshold)
    [gated] = [m for m in config.metrics_specs[0].metrics
               if m.HasField("threshold") or m.per_slice_thresholds]
    assert not gated.HasField("threshold"), "an all-slices bound would gate tiny slices"
    [per_slice] = gated.per_slice_thresholds
    assert list(per_slice.slicing_specs) == [tfma.SlicingSpec()]  # Overall only
    bound = per_slice.threshold.value_threshold.lower_bound.value
    assert bound == pytest.approx(spec.metric_threshold)

    labels = _real_labels(dataset.name)
    majority = np.bincount(labels, minlength=dataset.num_classes).argmax()
    scores = np.zeros((len(labels), dataset.num_classes), np.float32)
    scores[:, majority] = 1.0
    if gated.class_name == "AUC":
        metric = keras.metrics.AUC()
        metric.update_state(labels, scores[:, 1])
    else:
        assert gated.class_name == "SparseCategoricalAccuracy", gated.class_name
        metric = keras.metrics.SparseCategoricalAccuracy()
        metric.update_state(labels, scores)
    collapsed = float(metric.result())
    assert collapsed < bound, (family, gated.class_name, collapsed, bound)
