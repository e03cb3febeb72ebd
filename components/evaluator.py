"""TFX's Evaluator, with a binary-accuracy floor computed from the eval split.

AUC alone blesses a model that ranks well but puts every score on one side
of 0.5: it predicts one class, and its binary accuracy is the share of that
class. ``FloorEvaluatorExecutor`` counts the label classes of the examples
the Evaluator is about to evaluate (the raw ``eval`` split, or its
``example_splits``; labels by ``core.features.raw_label``, the dataset's own
definition), and adds to the Overall slice a ``BinaryAccuracy`` lower bound
one example above the majority-class share, before TFX's executor runs
(tfx/components/evaluator/executor.py reads the config from
``exec_properties['eval_config']``). It writes the count to
``FLOOR_FILE`` in the evaluation artefact, which the run report shows.

The floor is added only to binary configs that already gate on thresholds
(``pipeline.evaluation``): ``--threshold none`` stays "not evaluated".
"""
from __future__ import annotations

import collections
import json
import os
from typing import Any, Dict, Iterable, List, Optional

import tensorflow as tf
import tensorflow_model_analysis as tfma
from absl import logging
from tfx import types
from tfx.components.evaluator import component as tfx_evaluator_component
from tfx.components.evaluator import executor as tfx_evaluator_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, json_utils, proto_utils

from tfxp.core import features as F
from tfxp.core.floor import majority_floor
from tfxp.core.workspace import MAJORITY_FLOOR_FILE as FLOOR_FILE

FLOOR_METRIC = "BinaryAccuracy"


def _values(feature: tf.train.Feature) -> list:
    kind = feature.WhichOneof("kind")
    return list(getattr(feature, kind).value) if kind else []


def label_counts(split_uris: Iterable[str]) -> Dict[int, int]:
    """``{class id: examples}`` of the GZIP TFRecord ``tf.Example`` files in
    ``split_uris`` (ExampleGen's split folders), by ``F.raw_label``."""
    counts: Dict[int, int] = collections.Counter()
    for uri in split_uris:
        pattern = io_utils.all_files_pattern(uri)
        for record in tf.data.TFRecordDataset(tf.io.gfile.glob(pattern),
                                              compression_type="GZIP"):
            example = tf.train.Example.FromString(record.numpy())
            counts[F.raw_label({k: _values(v) for k, v in
                                example.features.feature.items()})] += 1
    return dict(counts)


def _has_thresholds(config: tfma.EvalConfig) -> bool:
    return any(m.HasField("threshold") or m.per_slice_thresholds
               for spec in config.metrics_specs for m in spec.metrics)


def with_accuracy_floor(config: tfma.EvalConfig, floor: float) -> Optional[tfma.EvalConfig]:
    """A copy of ``config`` whose ``BinaryAccuracy`` has an Overall-slice
    lower bound ``floor``; None when ``config`` has no ``BinaryAccuracy``
    (multi-class) or no thresholds at all."""
    if not _has_thresholds(config):
        return None
    config = tfma.EvalConfig.FromString(config.SerializeToString())
    for spec in config.metrics_specs:
        for metric in spec.metrics:
            if metric.class_name == FLOOR_METRIC:
                del metric.per_slice_thresholds[:]
                metric.per_slice_thresholds.append(tfma.PerSliceMetricThreshold(
                    slicing_specs=[tfma.SlicingSpec()],
                    threshold=tfma.MetricThreshold(value_threshold=tfma.GenericValueThreshold(
                        lower_bound={"value": floor}))))
                return config
    return None


class FloorEvaluatorExecutor(tfx_evaluator_executor.Executor):
    """TFX's Evaluator executor plus the majority-share floor (module docstring)."""

    def Do(self, input_dict: Dict[str, List[types.Artifact]],
           output_dict: Dict[str, List[types.Artifact]],
           exec_properties: Dict[str, Any]) -> None:
        key = standard_component_specs.EVAL_CONFIG_KEY
        floor = None
        if exec_properties.get(key):
            config = tfma.EvalConfig()
            proto_utils.json_to_proto(exec_properties[key], config)
            if any(m.class_name == FLOOR_METRIC for s in config.metrics_specs
                   for m in s.metrics) and _has_thresholds(config):
                splits = json_utils.loads(exec_properties.get(
                    standard_component_specs.EXAMPLE_SPLITS_KEY, "null") or "null") or ["eval"]
                uris = [uri for split in splits for uri in artifact_utils.get_split_uris(
                    input_dict[standard_component_specs.EXAMPLES_KEY], split)]
                floor = majority_floor(label_counts(uris))
                floor["splits"] = splits
                exec_properties = {**exec_properties, key: proto_utils.proto_to_json(
                    with_accuracy_floor(config, floor["floor"]))}
                logging.info("binary_accuracy floor %.4f: majority-class share %.4f of %d "
                             "examples", floor["floor"], floor["majority_share"],
                             floor["examples"])
        super().Do(input_dict, output_dict, exec_properties)
        if floor is not None:
            evaluation = artifact_utils.get_single_uri(
                output_dict[standard_component_specs.EVALUATION_KEY])
            with tf.io.gfile.GFile(os.path.join(evaluation, FLOOR_FILE), "w") as f:
                json.dump(floor, f)


class Evaluator(tfx_evaluator_component.Evaluator):
    """TFX's Evaluator component (same inputs, outputs and node id) run by
    ``FloorEvaluatorExecutor``."""
    EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(FloorEvaluatorExecutor)
