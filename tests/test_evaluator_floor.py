"""The Evaluator's binary-accuracy floor (``components.evaluator``): computed
from the labels of the eval split it evaluates, by the dataset's own label
definition, and added to the Overall slice of binary configs that gate."""
import os

import numpy as np
import pytest
import tensorflow as tf

from tfxp.components.evaluator import label_counts, with_accuracy_floor
from tfxp.core.floor import majority_floor
from tfxp.core.datasets import get_dataset
from tfxp.pipeline.evaluation import eval_config
from tests.taxi_rows import read_rows, to_example

ROWS = 600


def _write_split(folder, records):
    os.makedirs(folder)
    with tf.io.TFRecordWriter(os.path.join(folder, "data_tfrecord-00000-of-00001.gz"),
                              options="GZIP") as writer:
        for record in records:
            writer.write(record)
    return str(folder)


def test_the_taxi_majority_share_equals_an_independent_count_of_the_csv(tmp_path):
    rows = read_rows(ROWS)
    spec = {k: tf.io.FixedLenFeature([], tf.float32) for k in ("fare", "tips", "trip_miles")}
    split = _write_split(tmp_path / "Split-eval", [to_example(r, spec) for r in rows])

    # Independently: numpy over the CSV text, the TFX taxi example's rule
    # (tips > 0.2 * fare, float32; no fare -> not a big tipper).
    fare = np.array([float(r["fare"]) if r["fare"] else np.nan for r in rows], np.float32)
    tips = np.array([float(r["tips"]) if r["tips"] else 0.0 for r in rows], np.float32)
    big = int(np.sum(~np.isnan(fare) & (tips > np.float32(0.2) * fare)))

    counts = label_counts([split])
    assert counts == {0: ROWS - big, 1: big}
    floor = majority_floor(counts)
    assert floor["majority_share"] == max(big, ROWS - big) / ROWS
    assert floor["floor"] == pytest.approx(floor["majority_share"] + 1 / ROWS)
    assert 0.5 < floor["majority_share"] < 1  # a real, unbalanced split


def test_image_and_text_labels_come_from_their_label_feature(tmp_path):
    labels = [3, 3, 1, 3, 0]
    records = [tf.train.Example(features=tf.train.Features(feature={
        "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[y]))}))
        .SerializeToString() for y in labels]
    assert label_counts([_write_split(tmp_path / "Split-eval", records)]) == {0: 1, 1: 1, 3: 3}


def test_an_empty_split_is_an_error_not_a_floor_of_zero():
    with pytest.raises(ValueError, match="no examples"):
        majority_floor({})


def _floors(config):
    return [(m.class_name, t.threshold.value_threshold.lower_bound.value,
             [s.SerializeToString() for s in t.slicing_specs])
            for spec in config.metrics_specs for m in spec.metrics
            for t in m.per_slice_thresholds if m.class_name == "BinaryAccuracy"]


def test_the_floor_gates_binary_accuracy_on_the_overall_slice_only():
    config = with_accuracy_floor(eval_config(get_dataset("chicago_taxi"), 0.6), 0.71)
    assert _floors(config) == [("BinaryAccuracy", 0.71, [b""])]  # SlicingSpec() = Overall
    # The AUC bound is kept.
    auc = [m for s in config.metrics_specs for m in s.metrics if m.class_name == "AUC"]
    assert auc[0].per_slice_thresholds[0].threshold.value_threshold.lower_bound.value == 0.6


def test_no_floor_without_thresholds_or_for_multi_class_tasks():
    assert with_accuracy_floor(eval_config(get_dataset("chicago_taxi"), None), 0.7) is None
    assert with_accuracy_floor(eval_config(get_dataset("fashion_mnist"), 0.5), 0.2) is None
