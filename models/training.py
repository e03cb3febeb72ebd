"""The TFX Trainer's ``run_fn`` and the SavedModel export with its signatures.

``run_fn`` builds the family's model under the strategy from
``models.common.make_strategy`` (``MirroredStrategy`` on one machine), feeds it
the transformed examples with global batch = per-replica batch x
``num_replicas_in_sync``, and exports a SavedModel whose signatures carry the
TFT graph (``model.tft_layer``), so serving applies the training preprocessing.

Signatures (the Estimator / TF Serving convention for classifiers, see
tensorflow_serving/apis/*.proto and servables/tensorflow/classifier.cc):
- ``serving_default``: method ``tensorflow/serving/classify``; ``inputs``
  string ``[N]`` serialized ``tf.Example`` -> exactly ``classes`` string
  ``[N, C]`` (label names) and ``scores`` float32 ``[N, C]`` (class
  probabilities). TF Serving's Classify RPC without ``signature_name`` uses
  it (classifier.cc PreProcessClassification allows one or two outputs,
  ``classes``/``scores``), and Predict works on it too.
  (``tf.saved_model.save`` can only write the predict method;
  ``mark_classify_signature`` rewrites it.)
- ``predict``: method ``tensorflow/serving/predict``; the same ``inputs`` ->
  ``scores`` and ``classes`` as above, ``class_ids`` int64 ``[N]`` argmax,
  ``top_class`` string ``[N]``, and for binary tasks ``probability`` float32
  ``[N]`` of class 1. TFMA evaluates this one (``pipeline/evaluation.py``).
- ``serving_raw``: the ``predict`` outputs from raw values (see ``raw_signature``).
- ``transform_features``: serialized examples -> transformed features, for TFMA.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import time
from typing import Any, Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from tfxp.core import features as F
from tfxp.models.common import cluster_workers, make_strategy
from tfxp.models.registry import ModelFamily, get_family
from tfxp.core.datasets import IMAGE, TABULAR, TEXT, DatasetSpec, get_dataset

CLASSIFY_METHOD = tf.saved_model.CLASSIFY_METHOD_NAME  # "tensorflow/serving/classify"
DEFAULT_SIGNATURE = tf.saved_model.DEFAULT_SERVING_SIGNATURE_DEF_KEY  # "serving_default"
PREDICT_SIGNATURE = "predict"  # every output; for Predict and TFMA
CLASSIFY_OUTPUTS = ("classes", "scores")  # all that TF Serving's Classify accepts
# Raw features that only exist in training data (the label's sources).
LABEL_SOURCE_KEYS = (F.TIPS_KEY, F.LABEL_KEY)
HISTORY_FILE = "history.json"
WEIGHTS_FILE = "weights.h5"
CHECKPOINT_DIR = "checkpoints"  # per-epoch weights, under model_run_dir
BACKUP_DIR = "backup"  # BackupAndRestore state, see ``backup_dir``
MAX_STEPS_BETWEEN_BACKUPS = 100
MAX_STEPS_PER_EXECUTION = 32  # default cap, see execution_steps
BACKUP_MIN_SECONDS = 30.0  # see SpacedBackupAndRestore


def input_fn(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
             tft_output: tft.TFTransformOutput, batch_size: int) -> tf.data.Dataset:
    """Transformed examples as ``(features, label)`` batches, repeated forever.

    Args:
      file_pattern: TFRecord files of transformed ``tf.Example``s.
      batch_size: examples per batch (the *global* batch under a strategy).
    Returns:
      ``tf.data.Dataset`` of ``({name: [B, ...]}, label int64 [B])``.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=F.TRANSFORMED_LABEL),
        tft_output.transformed_metadata.schema)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(
        file_pattern, cluster_workers())
    return dataset.with_options(options).repeat().prefetch(tf.data.AUTOTUNE)


def shard_policy(file_pattern: List[str], workers: int
                 ) -> tf.data.experimental.AutoShardPolicy:
    """How ``MultiWorkerMirroredStrategy`` splits the input among ``workers``.

    FILE (each worker reads its own files) when there are at least as many
    files as workers; otherwise DATA (every worker reads all files and keeps
    its share of the batches), since Transform may write a single shard and
    FILE would then leave workers without data. OFF for one worker, where
    ``MirroredStrategy`` splits each batch across local replicas instead.
    """
    policy = tf.data.experimental.AutoShardPolicy
    if workers <= 1:
        return policy.OFF
    files = [f for pattern in file_pattern for f in tf.io.gfile.glob(pattern)]
    return policy.FILE if len(files) >= workers else policy.DATA


def resolve_hparams(family: ModelFamily, dataset: DatasetSpec,
                    tft_output: tft.TFTransformOutput,
                    overrides: Dict[str, Any] | None = None) -> Dict[str, Any]:
    """The family's hparams plus what the data decides (input sizes, classes).

    Vocabulary sizes come from the Transform output, so they always match the
    TFT graph the model is served with.
    """
    hparams = dict(family.hparams)
    hparams.update(overrides or {})
    hparams["num_classes"] = dataset.num_classes
    if dataset.modality == TABULAR:
        hparams["numeric_features"] = [F.transformed_name(k) for k in F.NUMERIC_FEATURES]
        cats = {F.transformed_name(k): count + 1
                for k, (_, count) in F.CALENDAR_FEATURES.items()}
        cats.update({F.transformed_name(k): F.QUANTILE_BUCKETS + 1
                     for k in F.QUANTILE_FEATURES})
        cats.update({F.transformed_name(k): tft_output.vocabulary_size_by_name(k)
                     + F.VOCAB_OOV_BUCKETS for k in F.VOCAB_FEATURES})
        hparams["categorical_features"] = cats
    elif dataset.modality == IMAGE:
        hparams["input_shape"] = F.IMAGE_SHAPE
        hparams["input_name"] = F.transformed_name(F.IMAGE_KEY)
    elif dataset.modality == TEXT:
        # 0 = padding, 1..V = vocabulary, V+1.. = OOV buckets.
        hparams["vocab_size"] = (tft_output.vocabulary_size_by_name(F.TOKENS_KEY)
                                 + 1 + F.TEXT_OOV_BUCKETS)
        hparams["max_tokens"] = tft_output.transformed_feature_spec()[
            F.transformed_name(F.TOKENS_KEY)].shape[0]
        hparams["input_name"] = F.transformed_name(F.TOKENS_KEY)
    return hparams


def _dense_to_raw(x: tf.Tensor, spec) -> Any:
    """Raw-signature value ``[N]`` -> what ``parse_example`` would give for ``spec``.

    For a ``VarLenFeature``, NaN (floats) or ``''`` (strings) means missing.
    """
    x = tf.cast(x, spec.dtype) if x.dtype != spec.dtype else x
    if isinstance(spec, tf.io.VarLenFeature):
        present = (tf.not_equal(x, "") if x.dtype == tf.string
                   else tf.logical_not(tf.math.is_nan(tf.cast(x, tf.float64)))
                   if x.dtype.is_floating else tf.ones_like(x, tf.bool))
        rows = tf.where(present)[:, 0]
        return tf.SparseTensor(
            tf.stack([rows, tf.zeros_like(rows)], axis=1), tf.boolean_mask(x, present),
            tf.stack([tf.shape(x, out_type=tf.int64)[0], tf.constant(1, tf.int64)]))
    return tf.reshape(x, [-1] + list(spec.shape))


class ServingModule(tf.Module):
    """Holds the model, its TFT layer and the signature functions."""

    def __init__(self, model: keras.Model, tft_output: tft.TFTransformOutput,
                 dataset: DatasetSpec):
        super().__init__()
        self.model = model
        self.tft_layer = tft_output.transform_features_layer()
        self._raw_spec = tft_output.raw_feature_spec()
        self._serving_spec = {k: v for k, v in self._raw_spec.items()
                              if k not in LABEL_SOURCE_KEYS}
        self._labels = tf.constant(dataset.label_names)
        self._binary = dataset.num_classes == 2
        self._modality = dataset.modality
        self._input_names = list(model.input_names)

    def outputs(self, raw_features: Dict[str, Any]) -> Dict[str, tf.Tensor]:
        """Raw features (as ``parse_example`` gives them) -> the ``predict``
        outputs: ``scores`` float32 ``[N, C]``, ``classes`` string ``[N, C]``,
        ``class_ids`` int64 ``[N]``, ``top_class`` string ``[N]`` and, for
        binary tasks, ``probability`` float32 ``[N]``."""
        transformed = self.tft_layer(raw_features)
        scores = self.model({k: transformed[k] for k in self._input_names},
                            training=False)
        scores = tf.cast(scores, tf.float32)
        batch = tf.shape(scores)[0]
        class_ids = tf.argmax(scores, axis=1)
        out = {"scores": scores,
               "classes": tf.tile(self._labels[tf.newaxis], [batch, 1]),
               "class_ids": class_ids,
               "top_class": tf.gather(self._labels, class_ids)}
        if self._binary:
            out["probability"] = scores[:, 1]
        return out

    def signatures(self) -> Dict[str, Any]:
        """``{signature key: concrete function}`` as listed in the module docstring."""
        examples = tf.TensorSpec([None], tf.string, name="inputs")
        predict = tf.function(
            lambda inputs: self.outputs(tf.io.parse_example(inputs, self._serving_spec)),
            input_signature=[examples])
        classify = tf.function(
            lambda inputs: {k: v for k, v in self.outputs(tf.io.parse_example(
                inputs, self._serving_spec)).items() if k in CLASSIFY_OUTPUTS},
            input_signature=[examples])
        transform = tf.function(
            lambda examples: self.tft_layer(tf.io.parse_example(examples, self._raw_spec)),
            input_signature=[tf.TensorSpec([None], tf.string, name="examples")])
        return {DEFAULT_SIGNATURE: classify.get_concrete_function(),
                PREDICT_SIGNATURE: predict.get_concrete_function(),
                "serving_raw": self.raw_signature(),
                "transform_features": transform.get_concrete_function()}

    def raw_signature(self):
        """Signature a client calls with raw values, no ``tf.Example``.

        - tabular: one ``[N]`` tensor per raw feature (dtype of the schema);
          NaN or ``''`` marks a missing value of a feature that may be empty.
        - image: ``images`` float32, ``[N, 28, 28]`` or ``[N, 28, 28, 1]``,
          pixel values 0..255; any other size fails with INVALID_ARGUMENT.
        - text: ``text`` string ``[N]``.
        """
        if self._modality == IMAGE:
            def raw(images):
                flat = tf.reshape(images, [tf.shape(images)[0], -1])
                size = math.prod(F.IMAGE_SHAPE)
                with tf.control_dependencies([tf.debugging.assert_equal(
                        tf.shape(flat)[1], size,
                        message="images must be [N,28,28] or [N,28,28,1]")]):
                    pixels = tf.cast(tf.round(flat), tf.int64)
                return self.outputs({F.IMAGE_KEY: pixels})
            return tf.function(raw).get_concrete_function(
                tf.TensorSpec(None, tf.float32, name="images"))
        if self._modality == TEXT:
            # [N] -> the schema's shape ([N, 1]), as parse_example would give.
            spec = self._serving_spec[F.TEXT_KEY]
            return tf.function(lambda text: self.outputs({F.TEXT_KEY: _dense_to_raw(text, spec)})
                               ).get_concrete_function(
                tf.TensorSpec([None], tf.string, name="text"))
        specs = self._serving_spec

        def raw(**features):
            return self.outputs({k: _dense_to_raw(features[k], specs[k]) for k in specs})
        return tf.function(raw).get_concrete_function(
            **{k: tf.TensorSpec([None], v.dtype, name=k) for k, v in specs.items()})


def mark_classify_signature(export_dir: str, name: str = DEFAULT_SIGNATURE) -> None:
    """Sets signature ``name``'s method to ``tensorflow/serving/classify``.

    TF Serving's Classify RPC (classifier.cc) requires that method name, input
    ``inputs`` (string) and outputs ``classes``/``scores``. The SavedModel
    fingerprint is recomputed afterwards, since it covers saved_model.pb.
    """
    pb_path = os.path.join(export_dir, "saved_model.pb")
    saved_model = saved_model_pb2.SavedModel()
    with tf.io.gfile.GFile(pb_path, "rb") as f:
        saved_model.ParseFromString(f.read())
    for meta_graph in saved_model.meta_graphs:
        meta_graph.signature_def[name].method_name = CLASSIFY_METHOD
    with tf.io.gfile.GFile(pb_path, "wb") as f:
        f.write(saved_model.SerializeToString())
    with tf.io.gfile.GFile(os.path.join(export_dir, "fingerprint.pb"), "wb") as f:
        f.write(fingerprinting.CreateFingerprintDef(export_dir))


def export_serving_model(model: keras.Model, tft_output: tft.TFTransformOutput,
                         dataset: DatasetSpec, export_dir: str) -> None:
    """Writes the SavedModel with the four signatures of the module docstring
    to ``export_dir``; ``serving_default`` gets the classify method."""
    module = ServingModule(model, tft_output, dataset)
    tf.saved_model.save(module, export_dir, signatures=module.signatures())
    mark_classify_signature(export_dir)


def backup_dir(fn_args: tfx.components.FnArgs, global_batch: int) -> str:
    """Where ``BackupAndRestore`` keeps the training state of this training.

    TFX gives every Trainer execution a fresh ``model_run_dir``
    (``<pipeline_root>/Trainer/model_run/<execution id>``), so a Trainer
    restarted after a crash would never find its predecessor's checkpoint
    there. The backup lives instead at
    ``<pipeline_root>/Trainer/backup/<fingerprint>``: a sibling of
    ``model_run`` that is stable across executions, keyed by a SHA-256 (16
    hex chars) of everything that decides the training: train/eval files
    (their URIs name the Transform execution that wrote them), transform
    graph, steps, global batch and ``custom_config`` (family, hparams, code
    version). A rerun with the same inputs resumes; any other training starts
    from step 0 in its own folder. Keras deletes the folder once ``fit``
    completes. (On Kubeflow, artefact URIs are per run, so resuming works
    across retries of the task within one run.)
    """
    key = json.dumps({
        "train_files": sorted(fn_args.train_files), "eval_files": sorted(fn_args.eval_files),
        "transform_output": fn_args.transform_output, "train_steps": fn_args.train_steps,
        "eval_steps": fn_args.eval_steps, "global_batch": global_batch,
        "custom_config": fn_args.custom_config or {}}, sort_keys=True, default=str)
    node_root = os.path.dirname(os.path.dirname(fn_args.model_run_dir.rstrip("/")))
    return os.path.join(node_root, BACKUP_DIR,
                        hashlib.sha256(key.encode()).hexdigest()[:16])


def backup_every(steps_per_epoch: int, config: Dict[str, Any]) -> int:
    """Steps between backups: ``custom_config['checkpoint_steps']``, else at
    least 4 per epoch and at most ``MAX_STEPS_BETWEEN_BACKUPS`` steps lost.

    Raises:
      ValueError: ``checkpoint_steps`` is given but not an int >= 1.
    """
    if "checkpoint_steps" in config:
        steps = config["checkpoint_steps"]
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"custom_config['checkpoint_steps'] must be an int >= 1, "
                             f"got {steps!r}")
        return steps
    return max(1, min(MAX_STEPS_BETWEEN_BACKUPS, steps_per_epoch // 4))


def epoch_plan(train_steps: int, epochs: int) -> Tuple[int, int]:
    """``train_steps`` split into Keras epochs as ``run_fn`` splits them.

    Args:
      train_steps: training steps (global batches), >= 1.
      epochs: epochs asked for; clipped to 1..``train_steps``.
    Returns:
      (epochs, steps per epoch = ceil(train_steps / epochs)).
    """
    epochs = max(1, min(epochs, train_steps))
    return epochs, math.ceil(train_steps / epochs)


def execution_steps(steps_per_epoch: int, backup_interval: int,
                    config: Dict[str, Any]) -> int:
    """Training steps per call of Keras' train function (``compile``'s
    ``steps_per_execution``) for ``run_fn``.

    Keras runs its per-step Python (callbacks, the strategy's dispatch of
    the step to each replica) once per call, so running several steps per
    call divides that cost: bench/trainer_bench.py measured the Dense
    Trainer at ~0.5x the steps/s of plain ``fit`` with one step per call,
    where a step is a few milliseconds. Callbacks see only the last step of
    each call, so the value is the largest divisor of
    gcd(``steps_per_epoch``, ``backup_interval``) not above the cap
    ``custom_config['steps_per_execution']`` (default
    ``MAX_STEPS_PER_EXECUTION``): epochs and step backups then end on a call
    boundary, and a resumed training starts on one.

    Args:
      steps_per_epoch: training steps (global batches) per epoch, >= 1.
      backup_interval: steps between due backups (``backup_every``), >= 1.
      config: the Trainer's ``custom_config``.
    Returns:
      Steps per call, 1 <= n <= cap.
    Raises:
      ValueError: ``steps_per_execution`` in ``config`` is not an int >= 1.
    """
    cap = config.get("steps_per_execution", MAX_STEPS_PER_EXECUTION)
    if isinstance(cap, bool) or not isinstance(cap, int) or cap < 1:
        raise ValueError(f"custom_config['steps_per_execution'] must be an int >= 1, "
                         f"got {cap!r}")
    common = math.gcd(steps_per_epoch, backup_interval)
    return max(d for d in range(1, min(cap, common) + 1) if common % d == 0)


class SpacedBackupAndRestore(keras.callbacks.BackupAndRestore):
    """Keras ``BackupAndRestore`` that skips a due step backup when the last
    one is under ``min_seconds`` old.

    A backup writes the model and optimizer state (a ``tf.train.Checkpoint``),
    which costs 0.1-1 s against milliseconds for a Dense training step:
    bench/trainer_bench.py measured ``run_fn`` at 0.13x the steps/s of plain
    ``fit`` with a backup every 15 steps. Spacing backups in time bounds that
    cost while a crash still loses at most ``save_freq`` steps plus
    ``min_seconds`` of training (the time-interval policy of preemption
    checkpointing, e.g. Orbax's ``save_interval``). Backups still fall on
    multiples of ``save_freq`` steps, and the first one is never skipped.

    With several workers (``MultiWorkerMirroredStrategy``) every worker must
    join each save, and their clocks disagree, so ``min_seconds`` must be 0
    there (``run_fn`` passes 0).

    It also counts steps, not train-function calls, so it works with
    ``steps_per_execution`` > 1, where Keras' own callback is wrong twice
    (tf_keras 2.16): it counts ``save_freq`` in calls, and it records the
    call's *first* step as the backed-up batch (``on_train_batch_begin``),
    so a restored training repeats all but one step of that call. Here the
    backed-up batch is the call's last step, set only when a backup is
    written; that also drops Keras' variable assign before every step.

    Args:
      backup_dir: as ``BackupAndRestore``.
      save_freq: steps between due backups (int > 0).
      min_seconds: seconds; a due backup less than this after the previous
        one is skipped.
    """

    def __init__(self, backup_dir: str, save_freq: int, min_seconds: float):
        if isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1:
            raise ValueError(f"save_freq must be an int >= 1 (steps), got {save_freq!r}")
        super().__init__(backup_dir, save_freq=save_freq)
        self.min_seconds = float(min_seconds)
        self._last_backup = None
        self._call_first_step = 0
        self._steps_since_due = 0

    def on_train_batch_begin(self, batch, logs=None):
        self._call_first_step = batch  # a Python int: no per-step TF op

    def on_train_batch_end(self, batch, logs=None):
        # ``batch`` is the last step the call ran (Keras passes
        # step + steps_per_execution - 1).
        self._training_state.backup_if_preempted()
        self._steps_since_due += batch - self._call_first_step + 1
        if self._steps_since_due >= self.save_freq:
            self._steps_since_due = 0
            self._backup(epoch=self._current_epoch, batch=batch)

    def _backup(self, epoch, batch=0):
        # The one place BackupAndRestore (tf_keras 2.16) writes a step or
        # epoch backup.
        now = time.monotonic()
        if self._last_backup is not None and now - self._last_backup < self.min_seconds:
            return
        self._training_state._ckpt_saved_batch.assign(batch)
        super()._backup(epoch, batch)
        self._last_backup = time.monotonic()


class StepCounter(keras.callbacks.Callback):
    """Records the optimizer's step when ``fit`` starts (after
    ``BackupAndRestore`` restored it, so it must come later in the callback
    list) and how many steps this ``fit`` ran (the optimizer's step at the
    end minus the one at the start).

    It has no per-batch hook and accepts tensor logs: one callback without
    ``_supports_tf_logs`` makes Keras copy every step's logs to numpy, a
    host sync per step (tf_keras ``CallbackList._process_logs``).
    """

    def __init__(self):
        super().__init__()
        self._supports_tf_logs = True
        self.initial_step, self.steps_run = 0, 0

    def on_train_begin(self, logs=None):
        self.initial_step = int(self.model.optimizer.iterations.numpy())

    def on_train_end(self, logs=None):
        self.steps_run = int(self.model.optimizer.iterations.numpy()) - self.initial_step


def is_chief(tf_config: str | None = None) -> bool:
    """True unless ``TF_CONFIG`` names this task a non-chief worker.

    With several workers and no ``chief`` task, worker 0 is the chief
    (MultiWorkerMirroredStrategy's convention).
    """
    raw = tf_config if tf_config is not None else os.environ.get("TF_CONFIG", "")
    if not raw:
        return True
    conf = json.loads(raw)
    task = conf.get("task", {})
    if "chief" in conf.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point.

    ``fn_args.custom_config`` keys: ``family``, ``dataset`` (registry names),
    optional ``hparams`` overrides, ``epochs``, ``per_replica_batch``,
    ``checkpoint_steps`` and ``backup_min_seconds`` (see ``backup_every``),
    ``steps_per_execution`` (a cap, see ``execution_steps``).
    Train/eval steps come from ``fn_args`` (global batches).

    Writes the SavedModel to ``fn_args.serving_model_dir``, TensorBoard logs,
    per-epoch weight checkpoints (``checkpoints/``) and ``history.json``
    (per-epoch Keras metrics, ``initial_step``/``steps_run``) to
    ``fn_args.model_run_dir``. Training state is backed up every
    ``backup_every`` steps, at most every ``backup_min_seconds`` (30 s) on a
    single worker (``SpacedBackupAndRestore``), to ``backup_dir``; a Trainer
    restarted after a crash resumes from the last backup instead of step 0.

    Under ``MultiWorkerMirroredStrategy`` (several workers in ``TF_CONFIG``)
    every worker runs this with the same, shared ``model_run_dir`` and
    ``serving_model_dir``; only the chief writes there. Keras' callbacks send
    the other workers' logs and checkpoints to temporary folders and delete
    them; their SavedModel goes to a local temporary folder that is deleted,
    because saving may run collective ops that every worker must join (TF's
    multi-worker Keras guide).
    """
    config = fn_args.custom_config or {}
    family = get_family(config["family"])
    dataset = get_dataset(config["dataset"])
    family.check_dataset(dataset)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    strategy = make_strategy()
    per_replica = int(config.get("per_replica_batch", family.per_replica_batch))
    global_batch = per_replica * strategy.num_replicas_in_sync
    train_ds = input_fn(fn_args.train_files, fn_args.data_accessor, tft_output, global_batch)
    eval_ds = input_fn(fn_args.eval_files, fn_args.data_accessor, tft_output, global_batch)
    epochs, steps_per_epoch = epoch_plan(fn_args.train_steps,
                                         int(config.get("epochs", family.epochs)))
    eval_steps = max(1, fn_args.eval_steps or 1)
    backup_interval = backup_every(steps_per_epoch, config)
    hparams = resolve_hparams(family, dataset, tft_output, config.get("hparams"))
    hparams["steps_per_execution"] = execution_steps(steps_per_epoch, backup_interval, config)
    with strategy.scope():
        model = family.build_model(hparams)
    print(f"[trainer] family={family.name} dataset={dataset.name} "
          f"replicas={strategy.num_replicas_in_sync} global_batch={global_batch} "
          f"steps={steps_per_epoch}x{epochs} "
          f"steps_per_execution={hparams['steps_per_execution']}", flush=True)
    backup = backup_dir(fn_args, global_batch)
    steps = StepCounter()
    callbacks = [
        # First, so that the callbacks after it see the restored state.
        SpacedBackupAndRestore(
            backup, save_freq=backup_interval,
            min_seconds=(0 if cluster_workers() > 1 else
                         float(config.get("backup_min_seconds", BACKUP_MIN_SECONDS)))),
        steps,
        keras.callbacks.TensorBoard(log_dir=os.path.join(fn_args.model_run_dir, "logs"),
                                    update_freq="epoch"),
        keras.callbacks.ModelCheckpoint(
            os.path.join(fn_args.model_run_dir, CHECKPOINT_DIR, "epoch-{epoch:03d}"),
            save_weights_only=True)]
    history = model.fit(
        train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
        validation_data=eval_ds, validation_steps=eval_steps, verbose=2,
        callbacks=callbacks)
    if steps.initial_step:
        print(f"[trainer] resumed from step {steps.initial_step} ({backup}), "
              f"ran {steps.steps_run} more", flush=True)
    if not is_chief():
        export_dir = tempfile.mkdtemp(prefix="tfxp-worker-export-")
        try:
            export_serving_model(model, tft_output, dataset, export_dir)
        finally:
            tf.io.gfile.rmtree(export_dir)
        return
    tf.io.gfile.makedirs(fn_args.model_run_dir)
    with tf.io.gfile.GFile(os.path.join(fn_args.model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"history": {k: [float(v) for v in vals]
                               for k, vals in history.history.items()},
                   "params": model.count_params(),
                   "replicas": strategy.num_replicas_in_sync,
                   "global_batch": global_batch,
                   "workers": cluster_workers(),
                   "hparams": hparams,
                   # Crash recovery: the step fit resumed from, and steps run.
                   "initial_step": steps.initial_step,
                   "steps_run": steps.steps_run}, f)
    # Weights beside the hparams let tests and tools rebuild the exact Keras
    # model without going through the serving signatures.
    model.save_weights(os.path.join(fn_args.model_run_dir, WEIGHTS_FILE))
    export_serving_model(model, tft_output, dataset, fn_args.serving_model_dir)
