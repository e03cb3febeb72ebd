"""The TFX Trainer's ``run_fn``: its input, hyperparameters and the fit.

``run_fn`` builds the family's model under the strategy from
``models.common.make_strategy`` (``MirroredStrategy`` on one machine), feeds it
the transformed examples with global batch = per-replica batch x
``num_replicas_in_sync``, fits it resumably (``models/resumable.py``) and
exports it with the serving signatures of ``models/export.py``.
"""
from __future__ import annotations

import collections
import json
import math
import os
import tempfile
from typing import Any, Dict, List, NamedTuple, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tf_keras as keras
from tfx import v1 as tfx
from tfx_bsl.public import tfxio

from tfxp.core import features as F
from tfxp.core.datasets import IMAGE, TABULAR, TEXT, DatasetSpec, get_dataset
from tfxp.core.floor import majority_floor
from tfxp.core.uris import dirname, replace_file
from tfxp.core.workspace import HISTORY_FILE, TENSORBOARD_DIR
from tfxp.models import warm_start
from tfxp.models.best_epoch import KeepBestEpoch, selection_metric, BEST_DIR
from tfxp.models.common import cluster_workers, make_strategy
from tfxp.models.export import export_serving_model
from tfxp.models.registry import ModelFamily, architecture, get_family
from tfxp.models.resumable import (BACKUP_MIN_SECONDS, SpacedBackupAndRestore, StepCounter,
                                   backup_dir, backup_every, execution_steps, has_backup,
                                   is_chief)

WEIGHTS_FILE = "weights.h5"
CHECKPOINT_DIR = "checkpoints"  # per-epoch weights, under model_run_dir
EPOCH_WEIGHTS = "epoch-{epoch:03d}.h5"  # one file per epoch in CHECKPOINT_DIR


def save_weights_h5(model: keras.Model, path: Optional[str]) -> None:
    """Writes the model's weights (no optimizer state) as a Keras HDF5 file
    to ``path``, a local path or a URI (``gs://``, ``ram://``), readable
    with ``model.load_weights(path)`` after a download (HDF5 reads local
    files only).

    h5py writes only local files, so the file is made in a local temporary
    folder and copied with ``tf.io.gfile``. With ``path`` None the weights
    are read and written to the temporary file only: a non-chief worker
    under ``MultiWorkerMirroredStrategy`` must still read every variable,
    because reading a ``SyncOnRead`` one (a BatchNormalization's moving
    statistics) is an all-reduce that every worker must join, else the
    chief's read fails ("Collective ops is aborted").
    """
    scratch = tempfile.mkdtemp(prefix="tfxp-weights-")
    try:
        local = os.path.join(scratch, "weights.h5")
        model.save_weights(local)
        if path is not None:
            tf.io.gfile.makedirs(dirname(path))
            with open(local, "rb") as f:
                replace_file(path, f.read())
    finally:
        tf.io.gfile.rmtree(scratch)


class EpochWeights(keras.callbacks.Callback):
    """Writes each epoch's weights to ``folder/EPOCH_WEIGHTS`` (HDF5,
    ``save_weights_h5``): the model's weights only, where Keras'
    ``ModelCheckpoint(save_weights_only=True)`` also wrote the optimizer's
    slots (Adam's two per weight: a fine-tuned 22.7M-weight encoder took
    268 MB an epoch instead of 90). Resuming after a crash uses the step
    backups (``SpacedBackupAndRestore``), which keep the optimizer.

    Args:
      folder: a local path or URI.
      write: this worker writes (the chief); the others read and discard.
    """

    def __init__(self, folder: str, write: bool):
        super().__init__()
        self.folder, self.write = folder, write

    def on_epoch_end(self, epoch, logs=None):
        save_weights_h5(self.model, os.path.join(self.folder, EPOCH_WEIGHTS.format(
            epoch=epoch + 1)) if self.write else None)


def input_fn(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
             tft_output: tft.TFTransformOutput, batch_size: int,
             augmentation: Optional[Dict[str, Any]] = None) -> tf.data.Dataset:
    """Transformed examples as ``(features, label)`` batches, repeated forever.

    Args:
      file_pattern: TFRecord files of transformed ``tf.Example``s.
      batch_size: examples per batch (the *global* batch under a strategy).
      augmentation: image augmentations (``augment``) for the *training*
        input; None for the eval input. They never enter the serving graph.
    Returns:
      ``tf.data.Dataset`` of ``({name: [B, ...]}, label int64 [B])``.
    """
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size,
                                       label_key=F.TRANSFORMED_LABEL),
        tft_output.transformed_metadata.schema)
    if augmentation:
        dataset = dataset.map(augment(augmentation), num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(
        file_pattern, cluster_workers())
    return dataset.with_options(options).repeat().prefetch(tf.data.AUTOTUNE)


class ValidationInput(NamedTuple):
    """What ``validation_input_fn`` gives ``fit`` and ``KeepBestEpoch``.

    Attributes:
      dataset: ``tf.data.Dataset`` of ``({name: [B, ...]}, label int64 [B])``,
        one unshuffled pass repeated (the last batch of a pass possibly smaller).
      batches: batches of one pass (``fit(validation_steps=...)``).
      label_counts: ``{class id: examples}`` over that pass.
    """
    dataset: tf.data.Dataset
    batches: int
    label_counts: Dict[int, int]


def validation_input_fn(file_pattern: List[str], data_accessor: tfx.components.DataAccessor,
                        tft_output: tft.TFTransformOutput, batch_size: int,
                        max_batches: Optional[int] = None) -> ValidationInput:
    """The validation split in file order, the batches of one pass over it,
    and its labels counted: ``fit(validation_steps=batches)`` then scores
    every epoch on the same examples, so that epochs compare
    (``models.best_epoch``), and the counts give ``validation_floor``.

    The dataset is one unshuffled pass (``take(batches)``), repeated: tf_keras
    keeps the validation iterator across epochs when a step count is given
    (``DataHandler.should_recreate_iterator``), and a step count is needed
    with ``steps_per_execution`` > 1, so each epoch must read exactly one
    pass. Under ``MultiWorkerMirroredStrategy`` the workers' shards differ in
    size and an epoch's window may straddle two passes.

    Args:
      file_pattern: TFRecord file patterns (gzipped) of the transformed
        validation split, as ``FnArgs.eval_files`` gives them.
      batch_size: the global batch.
      max_batches: read at most this many batches (``EvalArgs.num_steps``);
        None or 0 reads the whole split.
    Returns:
      ``ValidationInput``; the record count and the label counts come from
      one read of the files' labels before training.
    Raises:
      ValueError: the validation split holds no example.
    """
    files = [f for p in file_pattern for f in tf.io.gfile.glob(p)]
    label_spec = {F.TRANSFORMED_LABEL: tft_output.transformed_feature_spec()[F.TRANSFORMED_LABEL]}
    records = tf.data.TFRecordDataset(files, compression_type="GZIP").batch(batch_size)
    if max_batches:
        records = records.take(int(max_batches))
    batches, counts = 0, collections.Counter()
    for serialized in records:
        batches += 1
        counts.update(np.reshape(tf.io.parse_example(serialized, label_spec)[
            F.TRANSFORMED_LABEL].numpy(), [-1]).tolist())
    if not batches:
        raise ValueError(f"the validation split {file_pattern} holds no example; the "
                         f"Trainer picks its exported epoch on it (a larger input "
                         f"gives it rows)")
    dataset = data_accessor.tf_dataset_factory(
        file_pattern,
        tfxio.TensorFlowDatasetOptions(batch_size=batch_size, label_key=F.TRANSFORMED_LABEL,
                                       shuffle=False, num_epochs=1, drop_final_batch=False),
        tft_output.transformed_metadata.schema)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = shard_policy(
        file_pattern, cluster_workers())
    return ValidationInput(
        dataset.take(batches).repeat().with_options(options).prefetch(tf.data.AUTOTUNE),
        batches, dict(counts))


def validation_floor(label_counts: Dict[int, int], dataset: DatasetSpec
                     ) -> Optional[Tuple[str, float]]:
    """For binary tasks, ``('val_accuracy', floor)``: the validation split's
    majority-class share plus one example (``core.floor``), from
    ``label_counts`` (``ValidationInput.label_counts``); None for
    multi-class tasks, whose selection metric is accuracy itself."""
    if dataset.num_classes != 2:
        return None
    return "val_accuracy", majority_floor(label_counts, "validation")["floor"]


def augment(augmentation: Dict[str, Any]):
    """A ``map`` function for batches ``({image_xf: float32 [B, 28, 28, 1]},
    label)`` that applies ``augmentation`` (names of
    ``models.registry.AUGMENTATIONS``, validated there) to each image
    independently:

    - ``horizontal_flip``: True mirrors half of the images left-right;
    - ``shift_pixels``: k moves each image by up to k pixels along each axis,
      filling with 0 (the background of Fashion-MNIST).
    """
    layers = []
    if augmentation.get("horizontal_flip"):
        layers.append(keras.layers.RandomFlip("horizontal"))
    shift = int(augmentation.get("shift_pixels", 0))
    if shift:
        height, width = F.IMAGE_SHAPE[:2]
        layers.append(keras.layers.RandomTranslation(
            shift / height, shift / width, fill_mode="constant", fill_value=0.0))
    key = F.transformed_name(F.IMAGE_KEY)

    def apply(features, label):
        image = features[key]
        for layer in layers:
            image = layer(image, training=True)
        return {**features, key: image}, label
    return apply


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


def apply_pretrained(model, hparams: Dict[str, Any], tft_output: tft.TFTransformOutput,
                     folder: Optional[str]) -> Optional[float]:
    """Starts the encoder from ``hparams['pretrained_encoder']``
    (``models.pretrained_encoder``, from ``hparams['encoder_dir']``), or the
    token embedding from ``hparams['pretrained_embeddings']``
    (``models.embeddings``), read from ``folder`` (``custom_config
    ['embeddings_dir']``, which ``RunConfig.trainer_config`` sets); does
    nothing when both are null or absent.

    Returns:
      The share of the vocabulary found in the set, or None when no set is
      applied.
    Raises:
      ValueError: the hparam names a set but no ``folder`` is given; and as
        ``models.embeddings.initialize_embedding``.
    """
    from tfxp.models import embeddings

    encoder = hparams.get("pretrained_encoder")
    if encoder:
        from tfxp.models.pretrained_encoder import initialize_encoder

        copied = initialize_encoder(model, encoder, hparams["encoder_dir"])
        print(f"[trainer] encoder starts from {encoder} ({hparams['encoder_dir']}): "
              f"{copied} tensors", flush=True)
        return None
    name = hparams.get("pretrained_embeddings")
    if not name:
        return None
    if not folder:
        raise ValueError(f"hparams['pretrained_embeddings'] = {name!r} but the Trainer's "
                         f"custom_config has no 'embeddings_dir' to read it from")
    vocabulary = [t.decode("utf-8") if isinstance(t, bytes) else t
                  for t in tft_output.vocabulary_by_name(F.TOKENS_KEY)]
    found = embeddings.initialize_embedding(model, vocabulary, folder)
    print(f"[trainer] token embedding starts from {name} ({folder}): "
          f"{found:.1%} of {len(vocabulary)} vocabulary tokens found", flush=True)
    return found


def resolve_hparams(family: ModelFamily, dataset: DatasetSpec,
                    tft_output: tft.TFTransformOutput,
                    overrides: Dict[str, Any] | None = None,
                    encoder_dir: Optional[str] = None) -> Dict[str, Any]:
    """The family's hparams plus what the data decides (input sizes, classes).

    Vocabulary sizes come from the Transform output, so they always match the
    TFT graph the model is served with. Text: ``word_vocabulary`` is
    Transform's token vocabulary file, and with a ``pretrained_encoder``
    ``encoder_dir`` its converted folder (``custom_config['encoder_dir']``,
    which ``RunConfig.trainer_config`` sets).

    Raises:
      ValueError: a ``pretrained_encoder`` without ``encoder_dir``.
    """
    hparams = family.with_overrides(overrides)
    hparams["num_classes"] = dataset.num_classes
    if dataset.modality == TABULAR:
        hparams["numeric_features"] = [F.transformed_name(k) for k in F.NUMERIC_FEATURES]
        cats = {F.transformed_name(k): count + 1
                for k, (_, count) in F.CALENDAR_FEATURES.items()}
        cats.update({F.numeric_bucket_name(k): F.NUMERIC_BUCKETS + 1
                     for k in F.NUMERIC_FEATURES})
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
        hparams["word_vocabulary"] = tft_output.vocabulary_file_by_name(F.TOKENS_KEY)
        if hparams.get("pretrained_encoder"):
            if not encoder_dir:
                raise ValueError(f"hparams['pretrained_encoder'] = "
                                 f"{hparams['pretrained_encoder']!r} but the Trainer's "
                                 f"custom_config has no 'encoder_dir' to read it from")
            hparams["encoder_dir"] = encoder_dir
    return hparams


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


def _strategy_and_batch(family: ModelFamily, config: Dict[str, Any]
                        ) -> Tuple[tf.distribute.Strategy, int]:
    """The strategy (``make_strategy``) and the global batch: per-replica
    batch (``custom_config['per_replica_batch']``, else the family's) x
    ``num_replicas_in_sync``."""
    strategy = make_strategy()
    per_replica = int(config.get("per_replica_batch", family.per_replica_batch))
    return strategy, per_replica * strategy.num_replicas_in_sync


def _callbacks(model_run_dir: str, backup: str, backup_interval: int, steps: StepCounter,
               best: KeepBestEpoch, config: Dict[str, Any]) -> List[keras.callbacks.Callback]:
    """``fit``'s callbacks: the step backups to ``backup`` (spaced by
    ``backup_min_seconds`` on a single worker, see ``SpacedBackupAndRestore``),
    ``steps``, ``best`` (after the restore, so that it sees the restored
    step), TensorBoard logs and per-epoch weights (``EpochWeights``) under
    ``model_run_dir``.

    Under ``MultiWorkerMirroredStrategy``, the other workers' logs, best
    weights and per-epoch weights go to temporary folders that are deleted.
    """
    return [
        # First, so that the callbacks after it see the restored state.
        SpacedBackupAndRestore(
            backup, save_freq=backup_interval,
            min_seconds=(0 if cluster_workers() > 1 else
                         float(config.get("backup_min_seconds", BACKUP_MIN_SECONDS)))),
        steps,
        best,
        keras.callbacks.TensorBoard(log_dir=os.path.join(model_run_dir, TENSORBOARD_DIR),
                                    update_freq="epoch"),
        EpochWeights(os.path.join(model_run_dir, CHECKPOINT_DIR), write=is_chief())]


def _write_run_files(model_run_dir: str, model: keras.Model, history: keras.callbacks.History,
                     hparams: Dict[str, Any], steps: StepCounter, best: KeepBestEpoch,
                     replicas: int, global_batch: int,
                     warm: Optional[Dict[str, Any]] = None) -> None:
    """Writes ``HISTORY_FILE`` (per-epoch Keras metrics, the run's sizes and
    hparams, ``initial_step``/``steps_run``, under ``exported_epoch``
    which epoch's weights were exported and why, with the monitored metric
    of every epoch, and under ``warm_start`` what ``models.warm_start.begin``
    did, or null for a run without warm start) and the exported weights to
    ``model_run_dir``."""
    tf.io.gfile.makedirs(model_run_dir)
    with tf.io.gfile.GFile(os.path.join(model_run_dir, HISTORY_FILE), "w") as f:
        json.dump({"history": {k: [float(v) for v in vals]
                               for k, vals in history.history.items()},
                   "params": model.count_params(),
                   "replicas": replicas,
                   "global_batch": global_batch,
                   "workers": cluster_workers(),
                   "hparams": hparams,
                   # Crash recovery: the step fit resumed from, and steps run.
                   "initial_step": steps.initial_step,
                   "steps_run": steps.steps_run,
                   "exported_epoch": best.summary(),
                   "warm_start": warm}, f)
    # Weights beside the hparams let tests and tools rebuild the exact Keras
    # model without going through the serving signatures.
    save_weights_h5(model, os.path.join(model_run_dir, WEIGHTS_FILE))


def undistributed_copy(family: ModelFamily, hparams: Dict[str, Any], model: keras.Model
                       ) -> keras.Model:
    """A copy of ``model`` built outside any distribution strategy (same
    family and hparams), holding ``model``'s weights, for the outputs.

    Every worker must call this: under MultiWorkerMirroredStrategy reading a
    ``SyncOnRead`` variable (a BatchNormalization's moving statistics) is an
    all-reduce that every worker joins; a chief reading alone failed with
    "Collective ops is aborted". And a SavedModel traced over such
    variables cannot be written at all ("ConcreteFunction that uses
    distributed variables in certain way cannot be saved"). The copy's
    variables are plain, so the chief saves, exports and writes it alone,
    and the SavedModel holds no distribution at all, whatever the strategy.
    """
    weights = model.get_weights()
    copy = family.build_model(hparams)
    copy.set_weights(weights)
    return copy


def run_fn(fn_args: tfx.components.FnArgs) -> None:
    """TFX Trainer entry point.

    ``fn_args.custom_config`` keys: ``family``, ``dataset`` (registry names),
    optional ``hparams`` overrides, ``epochs``, ``early_stopping_patience``
    (epochs without improvement, see ``KeepBestEpoch``), ``seed`` (int:
    ``keras.utils.set_random_seed`` before anything random; absent: unseeded),
    ``per_replica_batch``,
    ``checkpoint_steps`` and ``backup_min_seconds`` (see ``backup_every``),
    ``steps_per_execution`` (a cap, see ``execution_steps``), ``warm_start``
    (true: start from ``fn_args.base_model``, see ``models.warm_start``; a
    step backup of this training takes precedence).
    Train/eval steps come from ``fn_args`` (global batches).

    Writes the SavedModel to ``fn_args.serving_model_dir``, TensorBoard logs,
    per-epoch weights (``checkpoints/epoch-NNN.h5``, no optimizer state) and ``HISTORY_FILE`` of
    ``core.workspace`` (per-epoch Keras metrics, ``initial_step``/``steps_run``) to
    ``fn_args.model_run_dir``, and the weights with their spec beside the
    SavedModel (``<Model artifact>/warm_start/``) for a later warm start.
    The exported weights are those of the epoch
    with the best blessing metric on the per-epoch validation
    (``models.best_epoch``). Training state is backed up every
    ``backup_every`` steps, at most every ``backup_min_seconds`` (30 s) on a
    single worker (``SpacedBackupAndRestore``), to ``backup_dir``; a Trainer
    restarted after a crash resumes from the last backup instead of step 0.

    Under ``MultiWorkerMirroredStrategy`` (several workers in ``TF_CONFIG``)
    every worker runs this with the same, shared ``model_run_dir`` and
    ``serving_model_dir``; only the chief writes there (see ``_callbacks``
    and ``undistributed_copy``).
    """
    config = fn_args.custom_config or {}
    if config.get("seed") is not None:
        keras.utils.set_random_seed(int(config["seed"]))
    family = get_family(config["family"])
    dataset = get_dataset(config["dataset"])
    family.check_dataset(dataset)
    tft_output = tft.TFTransformOutput(fn_args.transform_output)

    strategy, global_batch = _strategy_and_batch(family, config)
    epochs, steps_per_epoch = epoch_plan(fn_args.train_steps,
                                         int(config.get("epochs", family.epochs)))
    backup_interval = backup_every(steps_per_epoch, config)
    hparams = resolve_hparams(family, dataset, tft_output, config.get("hparams"),
                              config.get("encoder_dir"))
    hparams["steps_per_execution"] = execution_steps(steps_per_epoch, backup_interval, config)
    hparams["total_steps"] = epochs * steps_per_epoch  # the learning-rate schedule's
    train_ds = input_fn(fn_args.train_files, fn_args.data_accessor, tft_output, global_batch,
                        augmentation=hparams.get("augmentation"))
    # fn_args.eval_files is the validation split (pipeline.trainer_args).
    validation = validation_input_fn(
        fn_args.eval_files, fn_args.data_accessor, tft_output, global_batch, fn_args.eval_steps)
    with strategy.scope():
        model = family.build_model(hparams)
    print(f"[trainer] family={family.name} dataset={dataset.name} "
          f"replicas={strategy.num_replicas_in_sync} global_batch={global_batch} "
          f"steps={steps_per_epoch}x{epochs} "
          f"steps_per_execution={hparams['steps_per_execution']}", flush=True)

    backup = backup_dir(fn_args, global_batch)
    if not has_backup(backup):  # a resumed run restores every weight from its backup
        apply_pretrained(model, hparams, tft_output, config.get("embeddings_dir"))
    rows = warm_start.input_rows(dataset.modality, hparams,
                                 warm_start.vocabularies(tft_output, dataset.modality))
    arch = architecture(family, config.get("hparams"))
    warm = None
    if config.get("warm_start"):
        warm = warm_start.begin(model, fn_args.base_model, family=family.name,
                                dataset=dataset.name, architecture=arch, rows=rows,
                                resumed=has_backup(backup))
    steps = StepCounter()
    best = KeepBestEpoch("val_" + selection_metric(dataset.num_classes),
                         state_dir=os.path.join(backup, BEST_DIR),
                         patience=config.get("early_stopping_patience"), write=is_chief(),
                         floor=validation_floor(validation.label_counts, dataset))
    history = model.fit(
        train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch,
        validation_data=validation.dataset, validation_steps=validation.batches, verbose=2,
        callbacks=_callbacks(fn_args.model_run_dir, backup, backup_interval, steps, best,
                             config))
    print(f"[trainer] exporting epoch {best.best_epoch}: {best.summary()['reason']}",
          flush=True)
    if steps.initial_step:
        print(f"[trainer] resumed from step {steps.initial_step} ({backup}), "
              f"ran {steps.steps_run} more", flush=True)
    trained = undistributed_copy(family, hparams, model)  # on every worker
    if not is_chief():
        return
    _write_run_files(fn_args.model_run_dir, trained, history, hparams, steps, best,
                     strategy.num_replicas_in_sync, global_batch, warm)
    export_serving_model(trained, tft_output, dataset, fn_args.serving_model_dir)
    warm_start.save(trained, dirname(fn_args.serving_model_dir.rstrip("/")),
                    warm_start.make_spec(family.name, dataset.name, arch, rows, trained))
    best.discard_state()
