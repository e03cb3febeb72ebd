"""TFMA ``EvalConfig`` per task: metrics, slices and blessing thresholds.

Binary tasks are blessed on AUC, multi-class tasks on accuracy. Each has an
absolute lower bound (set above what a one-class model scores: AUC 0.5,
accuracy = majority-class share) and a change threshold against the latest
blessed model, which TFX's Evaluator applies only when a baseline exists.
Binary tasks also get, at run time, a ``BinaryAccuracy`` floor one example
above the eval split's majority-class share, which only the data can say
(``components/evaluator.py`` adds it to this config before TFMA runs).

The bounds gate the Overall slice only. A ``MetricConfig.threshold`` would
apply to every slice (TFMA ``metric_specs.metric_thresholds_from_metrics_specs``
adds it with slice spec None = all slices). On the taxi eval split a
``trip_start_hour`` slice holds 53-323 examples, and two Dense trainings
(bench/results/quality.md, old and new defaults) moved per-hour AUC by up to
0.05 while the Overall AUC moved 0.009: a per-hour bound blocks pushes on
noise. The per-hour metrics are still computed and shown in the run report
(``observability/report.py``) for a person to read.
"""
from __future__ import annotations

from typing import Optional

import tensorflow_model_analysis as tfma

from tfxp.core import features as F
from tfxp.core.datasets import TABULAR, DatasetSpec
from tfxp.core.floor import BINARY_THRESHOLD

# Strictly-negative floor so that an identical model (change 0) passes.
_EPSILON = 1e-10


def blessing_metric(dataset: DatasetSpec) -> str:
    """TFMA metric name the blessing is decided on."""
    return "auc" if dataset.num_classes == 2 else "sparse_categorical_accuracy"


def eval_config(dataset: DatasetSpec, lower_bound: Optional[float],
                max_metric_drop: float = 0.0) -> tfma.EvalConfig:
    """TFMA config for a model exported by ``models.export``.

    TFMA calls the ``predict`` signature, the one with every output
    (``serving_default`` has only TF Serving's Classify outputs): the model
    spec names no signature, and TFMA then takes ``predict`` when a model has
    it, else ``serving_default`` (tensorflow_model_analysis/utils/
    model_util.py ``get_default_signature_name_from_model``, the Estimator
    convention). So a baseline exported before ``predict`` existed, whose
    ``serving_default`` had every output, is still evaluated the same way.
    Binary tasks are scored on ``probability`` (float32 ``[N]``, class 1),
    multi-class on ``scores`` (float32 ``[N, C]``).

    Args:
      dataset: decides binary vs multi-class metrics and slices.
      lower_bound: absolute floor on the blessing metric; None sets no
        threshold at all, so TFX's Evaluator writes no blessing verdict
        (tfx/components/evaluator/executor.py: "No threshold configured, will
        not validate model") and TFMA records ``missing_thresholds``.
      max_metric_drop: allowed fall of the blessing metric below the baseline.
    """
    binary = dataset.num_classes == 2
    threshold = [] if lower_bound is None else [tfma.PerSliceMetricThreshold(
        slicing_specs=[tfma.SlicingSpec()],  # Overall only, see the module docstring
        threshold=tfma.MetricThreshold(
            value_threshold=tfma.GenericValueThreshold(lower_bound={"value": lower_bound}),
            change_threshold=tfma.GenericChangeThreshold(
                direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                absolute={"value": -max(max_metric_drop, _EPSILON)})))]
    # The plots feed the run report (observability/report.py). Binary: the
    # confusion-matrix plot gives ROC and PR at TFMA's default 1000
    # thresholds, i / 1000 (metrics/confusion_matrix_plot.py); it is built
    # from TFMA's calibration histogram (10,000 buckets of [start, end),
    # use_histogram=True there), so a prediction in (0.5, 0.5001) falls at or
    # below the 0.5 threshold in the plot while BinaryAccuracy counts it
    # above. The matrix the report shows is therefore
    # ConfusionMatrixAtThresholds at [0.5]: explicit thresholds take TFMA's
    # exact path (prediction > threshold, the computation BinaryAccuracy
    # itself uses), so matrix and accuracy agree example for example. A CI
    # run caught the plot's matrix 13 of 1,676 examples off (repeated taxi
    # rows scoring just above 0.5). Multi-class: the class-by-class matrix at
    # argmax.
    if binary:
        metrics = [tfma.MetricConfig(class_name="AUC", per_slice_thresholds=threshold),
                   tfma.MetricConfig(class_name="BinaryAccuracy"),
                   tfma.MetricConfig(class_name="ExampleCount"),
                   tfma.MetricConfig(class_name="ConfusionMatrixAtThresholds",
                                     config=f'{{"thresholds": [{BINARY_THRESHOLD}]}}'),
                   tfma.MetricConfig(class_name="ConfusionMatrixPlot")]
    else:
        metrics = [tfma.MetricConfig(class_name="SparseCategoricalAccuracy",
                                     per_slice_thresholds=threshold),
                   tfma.MetricConfig(class_name="ExampleCount"),
                   tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot")]
    slices = [tfma.SlicingSpec()]
    if dataset.modality == TABULAR:
        slices.append(tfma.SlicingSpec(feature_keys=[F.SLICE_FEATURE]))
    return tfma.EvalConfig(
        model_specs=[tfma.ModelSpec(
            signature_name="",  # TFMA's default: predict, see above
            label_key=F.TRANSFORMED_LABEL,
            prediction_key="probability" if binary else "scores",
            preprocessing_function_names=["transform_features"])],
        slicing_specs=slices,
        metrics_specs=[tfma.MetricsSpec(metrics=metrics)])
