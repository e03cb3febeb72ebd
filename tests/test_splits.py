"""The three example splits: the Trainer fits on ``train`` and picks its
exported epoch on ``validation``; only the Evaluator reads ``eval``, the
held-out split whose figure is reported."""
from __future__ import annotations

import glob
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft
from tfx.components.util import tfxio_utils
from tfx.types import standard_artifacts

from tfxp.core.datasets import DATASETS, SPLITS
from tfxp.models.training import validation_input_fn
from tfxp.observability import mlmd
from tfxp.pipeline.config import RunConfig
from tfxp.pipeline.pipeline import CSV_HASH_BUCKETS, create_components
from tests.test_pipeline_e2e import _uri_of


def _by_id(components):
    return {c.id: c for c in components}


@pytest.mark.parametrize("model", ["dense", "cnn", "lstm"])
def test_trainer_validates_on_validation_and_the_evaluator_on_eval(model, tmp_path):
    config = RunConfig(model=model, workspace=str(tmp_path))
    nodes = _by_id(create_components(config, str(tmp_path / "serving")))
    from tfx.proto import example_gen_pb2, trainer_pb2
    trainer = nodes["Trainer"].exec_properties
    train_args = _proto(trainer["train_args"], trainer_pb2.TrainArgs)
    eval_args = _proto(trainer["eval_args"], trainer_pb2.EvalArgs)
    assert list(train_args.splits) == ["train"]
    assert list(eval_args.splits) == ["validation"]
    assert eval_args.num_steps == config.resolved_eval_steps
    assert json.loads(nodes["Evaluator"].exec_properties["example_splits"]) == ["eval"]
    dataset = config.dataset_spec
    if dataset.source == "csv":
        output = _proto(nodes["CsvExampleGen"].exec_properties["output_config"],
                        example_gen_pb2.Output)
        assert [(s.name, s.hash_buckets) for s in output.split_config.splits] == \
            [(name, buckets) for name, buckets in CSV_HASH_BUCKETS]
    else:
        splits = _proto(nodes["TfdsExampleGen"].exec_properties["input_config"],
                        example_gen_pb2.Input).splits
        assert [(s.name, s.pattern) for s in splits] == \
            list(zip(SPLITS, DATASETS[dataset.name].tfds_splits))


def _proto(value, cls):
    """An exec property as a proto: TFX stores protos as their JSON."""
    from tfx.utils import proto_utils
    return proto_utils.json_to_proto(value, cls()) if isinstance(value, str) else value


def _records(uri: str, split: str):
    files = glob.glob(os.path.join(uri, f"Split-{split}", "*"))
    return list(tf.data.TFRecordDataset(files, compression_type="GZIP").as_numpy_iterator())


def test_csv_splits_are_disjoint_and_sized_by_hash_buckets(dense_run):
    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    uri = _uri_of(store, summary.run_id, "CsvExampleGen", "Examples")
    records = {split: _records(uri, split) for split in SPLITS}
    total = sum(len(r) for r in records.values())
    assert total == 15002   # the taxi CSV's rows
    buckets = sum(b for _, b in CSV_HASH_BUCKETS)
    for name, share in CSV_HASH_BUCKETS:
        # Hash partition: each share within 2 points of buckets/total.
        assert abs(len(records[name]) / total - share / buckets) < 0.02, name
    # A record's split is a function of its bytes: a row written twice lands
    # in one split, so no serialized example appears in two.
    seen = {split: set(r) for split, r in records.items()}
    assert not seen["train"] & seen["validation"]
    assert not seen["eval"] & (seen["train"] | seen["validation"])
    # The Evaluator's example_count is the held-out split's size.
    assert summary.metrics["Overall"]["example_count"] == len(records["eval"])


def test_validation_input_reads_the_same_examples_every_epoch(dense_run):
    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    transformed = _uri_of(store, summary.run_id, "Transform", "Examples")
    graph = _uri_of(store, summary.run_id, "Transform", "TransformGraph")
    accessor = _data_accessor(transformed)
    files = [os.path.join(transformed, "Split-validation", "*")]
    count = len(_records(transformed, "validation"))
    batch = 128
    dataset, batches, counts = validation_input_fn(files, accessor,
                                                   tft.TFTransformOutput(graph), batch)
    assert batches == math.ceil(count / batch)
    labels = np.concatenate([y.numpy() for _, y in dataset.take(2 * batches)])
    # Two passes of one pass each: every example once per pass, same order.
    assert len(labels) == 2 * count
    np.testing.assert_array_equal(labels[:count], labels[count:])
    # The counts of the same read: the labels of one pass.
    classes, tally = np.unique(labels[:count], return_counts=True)
    assert counts == dict(zip(classes.tolist(), tally.tolist()))
    capped, capped_batches, capped_counts = validation_input_fn(
        files, accessor, tft.TFTransformOutput(graph), batch, max_batches=3)
    assert capped_batches == 3
    assert sum(capped_counts.values()) == 3 * batch
    first = np.concatenate([y.numpy() for _, y in capped.take(6)])
    np.testing.assert_array_equal(first[:3 * batch], labels[:3 * batch])
    np.testing.assert_array_equal(first[3 * batch:], labels[:3 * batch])


def test_an_empty_validation_split_is_named(tmp_path, dense_run):
    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    graph = _uri_of(store, summary.run_id, "Transform", "TransformGraph")
    empty = tmp_path / "Split-validation"
    empty.mkdir()
    with tf.io.TFRecordWriter(str(empty / "part.gz"), options="GZIP"):
        pass
    with pytest.raises(ValueError, match="validation split .* holds no example"):
        validation_input_fn([str(empty / "*")], _data_accessor(str(tmp_path)),
                            tft.TFTransformOutput(graph), 128)


def _data_accessor(transformed_uri: str):
    """The ``DataAccessor`` TFX's Trainer hands ``run_fn``
    (``fn_args_utils.get_common_fn_args``), over the transformed examples."""
    from tfx.components.trainer.fn_args_utils import DataAccessor

    examples = standard_artifacts.Examples()
    examples.uri = transformed_uri
    examples.split_names = json.dumps(list(SPLITS))
    return DataAccessor(
        tf_dataset_factory=tfxio_utils.get_tf_dataset_factory_from_artifact([examples], []),
        record_batch_factory=None, data_view_decode_fn=None)


def test_the_trainers_floor_is_the_validation_splits_majority_share(dense_run):
    """``validation_floor`` (from the transformed labels) against the
    Evaluator's counter (``label_counts``, raw examples by ``raw_label``) on
    the raw validation split."""
    from tfxp.components.evaluator import label_counts
    from tfxp.core.datasets import get_dataset
    from tfxp.core.floor import majority_floor
    from tfxp.models.training import validation_floor

    config, summary = dense_run
    store = mlmd.open_store(config.metadata_path)
    raw = _uri_of(store, summary.run_id, "CsvExampleGen", "Examples")
    transformed = _uri_of(store, summary.run_id, "Transform", "Examples")
    graph = _uri_of(store, summary.run_id, "Transform", "TransformGraph")
    expected = majority_floor(label_counts([os.path.join(raw, "Split-validation")]))
    counts = validation_input_fn(
        [os.path.join(transformed, "Split-validation", "*")], _data_accessor(transformed),
        tft.TFTransformOutput(graph), 100).label_counts
    key, floor = validation_floor(counts, get_dataset("chicago_taxi"))
    assert key == "val_accuracy"
    assert floor == pytest.approx(expected["floor"], abs=1e-12)
    assert 0.5 < expected["majority_share"] < floor < 1.0
    assert validation_floor(counts, get_dataset("fashion_mnist")) is None
