"""Resumable fit: a Trainer restarted after a crash resumes from its last backup.

``run_fn`` (``models/training.py``) backs the training state up while it
trains: ``backup_dir`` says where (a folder stable across Trainer
executions), ``backup_every`` and ``SpacedBackupAndRestore`` how often,
``execution_steps`` how many steps one train-function call runs so that
backups fall on call boundaries, ``StepCounter`` which step a ``fit`` resumed
from and how many it ran, and ``is_chief`` which worker writes the results.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from typing import TYPE_CHECKING, Any, Dict

import tf_keras as keras

if TYPE_CHECKING:
    from tfx import v1 as tfx

BACKUP_DIR = "backup"  # BackupAndRestore state, see ``backup_dir``
MAX_STEPS_BETWEEN_BACKUPS = 100
MAX_STEPS_PER_EXECUTION = 32  # default cap, see execution_steps
BACKUP_MIN_SECONDS = 30.0  # see SpacedBackupAndRestore


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
    version), and for a warm-started training its base model
    (``fn_args.base_model``). A rerun with the same inputs resumes (a resumed
    warm start continues from its backup: the backup takes precedence, see
    ``models.warm_start.begin``); any other training starts from step 0 in
    its own folder. Keras deletes the folder once ``fit`` completes. (On Kubeflow, artefact URIs are per run, so resuming works
    across retries of the task within one run.)
    """
    key = json.dumps({
        "train_files": sorted(fn_args.train_files), "eval_files": sorted(fn_args.eval_files),
        "transform_output": fn_args.transform_output, "train_steps": fn_args.train_steps,
        "eval_steps": fn_args.eval_steps, "global_batch": global_batch,
        "custom_config": fn_args.custom_config or {},
        # Only when set, so that the keys of other trainings stay as they were.
        **({"base_model": fn_args.base_model} if fn_args.base_model else {})},
        sort_keys=True, default=str)
    node_root = os.path.dirname(os.path.dirname(fn_args.model_run_dir.rstrip("/")))
    return os.path.join(node_root, BACKUP_DIR,
                        hashlib.sha256(key.encode()).hexdigest()[:16])


def has_backup(backup: str) -> bool:
    """Whether ``backup`` (``backup_dir``) holds a step backup that
    ``BackupAndRestore`` will restore: a checkpoint under its ``chief/``
    folder (tf_keras ``distribute/worker_training_state.py``)."""
    import tensorflow as tf

    return tf.train.latest_checkpoint(os.path.join(backup, "chief")) is not None


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
