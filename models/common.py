"""Pieces every model family shares: compilation and the distribution strategy."""
from __future__ import annotations

import json
import os
from typing import Optional

import tensorflow as tf
import tf_keras as keras


def compile_classifier(model: keras.Model, learning_rate: float) -> None:
    """Compiles ``model`` with Adam and sparse categorical cross-entropy.

    Labels are int64 ``[N]`` class ids; the model outputs float32
    ``[N, num_classes]`` probabilities.
    """
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])


def cluster_workers(tf_config: Optional[str] = None) -> int:
    """Number of workers (chief included) that ``TF_CONFIG`` describes; 1 if unset."""
    raw = tf_config if tf_config is not None else os.environ.get("TF_CONFIG", "")
    if not raw:
        return 1
    cluster = json.loads(raw).get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def make_strategy() -> tf.distribute.Strategy:
    """The strategy a Trainer builds its model under.

    - several workers in ``TF_CONFIG``: ``MultiWorkerMirroredStrategy``;
    - otherwise ``MirroredStrategy`` over every visible GPU, or, with no GPU,
      over every logical CPU device (one replica on a plain CPU; tests split
      the CPU into logical devices to get several replicas).
    """
    if cluster_workers() > 1:
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    return tf.distribute.MirroredStrategy(devices=[d.name for d in devices])
