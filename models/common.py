"""Pieces every model family shares: compilation and the distribution strategy."""
from __future__ import annotations

import itertools
import json
import os
import threading
from typing import Any, Mapping, Optional, Sequence

import tensorflow as tf
import tf_keras as keras


def compile_classifier(model: keras.Model, hparams: Mapping[str, Any]) -> None:
    """Compiles ``model`` with Adam and sparse categorical cross-entropy.

    Labels are int64 ``[N]`` class ids; the model outputs float32
    ``[N, num_classes]`` probabilities. Metrics: ``accuracy``, and for
    binary tasks ``auc`` (of class 1's probability), so that the Trainer can
    pick its best epoch on the blessing metric (``models.best_epoch``).

    Args:
      hparams: ``learning_rate`` (Adam's peak rate, float),
        ``num_classes``, optionally ``lr_schedule`` (see
        ``learning_rate_schedule``), ``weight_decay`` (float >= 0; when > 0
        the optimizer is AdamW, Loshchilov & Hutter 2019, decoupled decay
        of ``weight_decay`` x learning rate per step on every weight but
        biases and normalization scales/offsets, the exclusions of BERT's
        ``AdamWeightDecay``) and
        ``steps_per_execution`` (int >= 1, default 1): training steps one call
        of Keras' train function runs, which divides Keras' per-step Python
        work (callbacks, strategy dispatch) by that factor. The Trainer's
        ``run_fn`` sets it (``models.resumable.execution_steps``).
    """
    metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    if hparams.get("num_classes") == 2:
        metrics.append(ClassOneAUC(name="auc"))
    decay = float(hparams.get("weight_decay") or 0.0)
    if decay:
        optimizer = keras.optimizers.AdamW(learning_rate_schedule(hparams),
                                           weight_decay=decay)
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    else:
        optimizer = keras.optimizers.Adam(learning_rate_schedule(hparams))
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=metrics,
        steps_per_execution=int(hparams.get("steps_per_execution", 1)))


class ClassOneAUC(keras.metrics.AUC):
    """ROC AUC of class 1's probability, for a softmax ``[N, 2]`` output and
    int ``[N]`` labels (TFMA's ``AUC`` on the ``probability`` output)."""

    def update_state(self, y_true, y_pred, sample_weight=None):
        return super().update_state(tf.reshape(y_true, [-1]), y_pred[:, 1], sample_weight)


def learning_rate_schedule(hparams: Mapping[str, Any]):
    """Adam's learning rate from ``hparams``.

    - no ``lr_schedule`` or ``{"name": "constant"}``: ``learning_rate``;
    - ``{"name": "cosine", "warmup_steps": W}``: linear warm-up from
      ``learning_rate``/20 to ``learning_rate`` over W steps (at most a tenth
      of ``total_steps``), then cosine
      decay to 0 at ``total_steps`` (which ``run_fn`` sets to the Trainer's
      steps; a model built without it decays over 10x ``warmup_steps``).
    The optimizer's step drives it, so a resumed training continues it.
    """
    rate = float(hparams["learning_rate"])
    schedule = hparams.get("lr_schedule") or {"name": "constant"}
    if schedule["name"] == "constant":
        return rate
    warmup = int(schedule.get("warmup_steps", 0))
    total = int(hparams.get("total_steps") or 10 * max(warmup, 1))
    # At most a tenth of the training warms up, so that a short run (a test,
    # a probe) is not all warm-up.
    warmup = min(warmup, total // 10)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=rate / 20 if warmup else rate,
        decay_steps=max(1, total - warmup), alpha=0.0,
        warmup_target=rate if warmup else None, warmup_steps=warmup)


def dense_stack(x: tf.Tensor, units: Sequence[int], dropout: float) -> tf.Tensor:
    """ReLU ``Dense`` layers of widths ``units``, each followed by
    ``Dropout(dropout)`` when ``dropout`` > 0: float32 ``[N, D]`` ->
    ``[N, units[-1]]`` (``x`` itself when ``units`` is empty)."""
    for width in units:
        x = keras.layers.Dense(width, activation="relu")(x)
        if dropout:
            x = keras.layers.Dropout(dropout)(x)
    return x


def classifier(inputs: keras.Input, features: tf.Tensor, hparams: Mapping[str, Any],
               name: str) -> keras.Model:
    """The softmax head every family ends with, compiled into one model.

    Args:
      inputs: the family's ``keras.Input``.
      features: float32 ``[N, D]``, the family's last hidden activations.
      hparams: ``num_classes`` (the head's width) and what
        ``compile_classifier`` reads.
      name: the model's name (the family's).
    Returns:
      A compiled ``tf_keras.Model``: ``inputs`` -> float32 ``[N, num_classes]``
      class probabilities, from a Dense layer named ``probabilities``.
    """
    outputs = keras.layers.Dense(hparams["num_classes"], activation="softmax",
                                 name="probabilities")(features)
    model = keras.Model(inputs, outputs, name=name)
    compile_classifier(model, hparams)
    return model


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
    return _mirrored_strategy([d.name for d in devices])


# Every MirroredStrategy numbers its collective ops from the same keys (group
# 1, instance 100, ...) and the TF runtime caches them per process, so the
# second strategy of a process (a test session, several pipelines in one run)
# all-reduces against the first one's cached shapes and fails with "Shape
# mismatch in the collective instance 100" (tensorflow/tensorflow#62790).
# Each strategy gets its own key range through the class attribute TF reads
# at construction (``_collective_key_base``, the one TF's own tests set).
_KEY_BASES = itertools.count(0, 1000)
_KEY_LOCK = threading.Lock()


def _mirrored_strategy(devices) -> tf.distribute.MirroredStrategy:
    cls = tf.distribute.MirroredStrategy
    with _KEY_LOCK:
        default = cls._collective_key_base
        cls._collective_key_base = next(_KEY_BASES)
        try:
            return cls(devices=devices)
        finally:
            cls._collective_key_base = default
