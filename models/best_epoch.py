"""The Trainer exports the weights of its best epoch, not of its last.

``KeepBestEpoch`` watches the blessing metric on the per-epoch validation
(``run_fn`` validates on the validation split, carved from the training
data, after every epoch, never on the held-out eval split the Evaluator
blesses on; ``training.validation_input_fn`` reads it in the same order each
time, so every epoch is scored on the same examples), keeps the weights of the best
epoch, optionally stops after ``patience`` epochs without improvement, and
puts the best weights back into the model when ``fit`` ends.

The best-so-far weights and metric survive a crash: they are written beside
the step backup (``<backup_dir>/best/``, through ``tf.io.gfile`` so URIs
work) whenever an epoch improves, and read back when a restarted ``fit``
begins. The ResNet quality run that motivated this ended on a bad epoch
(held-out accuracy 0.897 after epoch 5, 0.836 after epoch 6) and shipped the
0.836.
"""
from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tf_keras as keras

from tfxp.core.uris import replace_file

BEST_DIR = "best"            # under the backup folder
STATE_FILE = "best.json"     # metric, epoch, per-epoch curve
WEIGHTS_PREFIX = "weights"   # TF-format checkpoint prefix (gfile, so URIs work)


def selection_metric(num_classes: int) -> str:
    """The Keras metric (compiled by ``models.common.compile_classifier``)
    that mirrors the TFMA blessing metric (``pipeline.evaluation``): AUC for
    binary tasks, accuracy otherwise."""
    return "auc" if num_classes == 2 else "accuracy"


class KeepBestEpoch(keras.callbacks.Callback):
    """Keeps the weights of the epoch with the highest ``monitor``.

    With a ``floor``, only epochs whose ``floor[0]`` log reaches ``floor[1]``
    are eligible: for binary tasks run_fn passes ``('val_accuracy', the
    validation split's majority share + 1 example)`` (``core.floor``), the
    rule the Evaluator applies on the eval split, so an epoch with the best
    AUC but every score on one side of 0.5 is not the one exported. When no
    epoch is eligible, the best of all is kept and ``summary()['reason']``
    says so.

    Args:
      monitor: a key of the epoch logs, e.g. ``val_auc`` (higher is better).
      floor: ``(log key, minimum)`` an epoch must reach to be eligible, or None.
      state_dir: folder (local path or URI) where the best weights and
        ``STATE_FILE`` are kept across restarts; None keeps them in memory only.
      patience: stop after this many epochs in a row without improvement
        (int >= 1); None never stops early.
      write: this worker writes ``state_dir`` (the chief only).

    Attributes (after ``fit``):
      best_epoch: 1-based epoch whose weights the model holds, or None.
      best_value: its ``monitor`` value.
      curve: ``monitor`` of every epoch, in order (across restarts).
      stopped_epoch: 1-based epoch after which early stopping ended ``fit``,
        or None.
    """

    def __init__(self, monitor: str, state_dir: Optional[str] = None,
                 patience: Optional[int] = None, write: bool = True,
                 floor: Optional[Tuple[str, float]] = None):
        super().__init__()
        if patience is not None and (isinstance(patience, bool)
                                     or not isinstance(patience, int) or patience < 1):
            raise ValueError(f"early_stopping_patience must be an int >= 1 (epochs) or "
                             f"None, got {patience!r}")
        self.monitor, self.state_dir, self.patience, self.write = (
            monitor, state_dir, patience, write)
        self.floor = None if floor is None else (floor[0], float(floor[1]))
        self.best_epoch: Optional[int] = None
        self.best_value: Optional[float] = None
        self.best_eligible = False
        self.curve: List[float] = []
        self.stopped_epoch: Optional[int] = None
        self._best_weights: Optional[List[np.ndarray]] = None

    # -- persistence -------------------------------------------------------
    def _path(self, name: str) -> str:
        return os.path.join(self.state_dir, name)

    def _load(self) -> None:
        if not self.state_dir or not tf.io.gfile.exists(self._path(STATE_FILE)):
            return
        with tf.io.gfile.GFile(self._path(STATE_FILE)) as f:
            state = json.load(f)
        current = self.model.get_weights()
        self.model.load_weights(self._path(WEIGHTS_PREFIX)).expect_partial()
        self._best_weights = self.model.get_weights()
        self.model.set_weights(current)
        self.best_epoch, self.best_value = state["best_epoch"], state["best_value"]
        self.best_eligible = bool(state.get("best_eligible", True))
        self.curve = list(state["curve"])

    def _save_state(self, weights: bool) -> None:
        """Writes the state JSON (every epoch, for the curve) and, when
        ``weights``, the model's current weights as the best ones."""
        if not self.state_dir:
            return
        if not self.write:
            # Under MultiWorkerMirroredStrategy every worker must join a save
            # (it may run collective ops); the others' copies are discarded,
            # as Keras' ModelCheckpoint does (TF's multi-worker Keras guide).
            if weights:
                scratch = tempfile.mkdtemp(prefix="tfxp-worker-best-")
                try:
                    self.model.save_weights(os.path.join(scratch, WEIGHTS_PREFIX),
                                            save_format="tf")
                finally:
                    tf.io.gfile.rmtree(scratch)
            return
        tf.io.gfile.makedirs(self.state_dir)
        if weights:
            self.model.save_weights(self._path(WEIGHTS_PREFIX), save_format="tf")
        # The JSON last, written whole then renamed: a reader never sees a
        # state that names weights not yet written.
        replace_file(self._path(STATE_FILE), json.dumps(self.summary()))

    # -- Keras hooks ---------------------------------------------------------
    def on_train_begin(self, logs=None):
        # Only a resumed fit (BackupAndRestore, earlier in the callback list,
        # restored a step > 0) continues the saved state; a fresh fit with
        # the same fingerprint (e.g. a rerun after a crash in the export)
        # starts its own.
        if int(self.model.optimizer.iterations.numpy()) > 0:
            self._load()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise KeyError(f"KeepBestEpoch monitors {self.monitor!r}, which the epoch logs "
                           f"do not have; they have: {', '.join(sorted(logs))}")
        value = float(logs[self.monitor])
        # A restarted fit may repeat an epoch cut short by the crash.
        del self.curve[epoch:]
        self.curve.extend([float("nan")] * (epoch - len(self.curve)))
        self.curve.append(value)
        eligible = self.floor is None or float(logs.get(self.floor[0], -1.0)) >= self.floor[1]
        improved = (self.best_value is None or (eligible and not self.best_eligible)
                    or (eligible == self.best_eligible and value > self.best_value))
        if improved:
            self.best_epoch, self.best_value, self.best_eligible = epoch + 1, value, eligible
            self._best_weights = self.model.get_weights()
        elif self.patience is not None and epoch + 1 - self.best_epoch >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
        self._save_state(weights=improved)

    def on_train_end(self, logs=None):
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)

    def discard_state(self) -> None:
        """Deletes ``state_dir`` once the run's results are written (as Keras
        deletes its backup when ``fit`` completes)."""
        if self.state_dir and self.write and tf.io.gfile.exists(self.state_dir):
            tf.io.gfile.rmtree(self.state_dir)

    def _floor_text(self) -> str:
        if self.floor is None:
            return ""
        key, minimum = self.floor
        if self.best_eligible:
            return f" with {key} >= {minimum:.4f}"
        return (f"; no epoch reached {key} >= {minimum:.4f} (the validation "
                f"majority-class floor), so the best of all is exported")

    def summary(self) -> Dict[str, Any]:
        """What ``history.json`` records under ``exported_epoch``."""
        return {"monitor": self.monitor, "best_epoch": self.best_epoch,
                "best_value": self.best_value, "best_eligible": self.best_eligible,
                "floor": None if self.floor is None else list(self.floor),
                "curve": self.curve,
                "patience": self.patience, "stopped_epoch": self.stopped_epoch,
                "reason": (None if self.best_epoch is None else
                           f"highest {self.monitor} ({self.best_value:.4f}) of "
                           f"{len(self.curve)} epoch(s)" + self._floor_text()
                           + (f"; stopped early after epoch {self.stopped_epoch}, "
                              f"{self.patience} epoch(s) without improvement"
                              if self.stopped_epoch else ""))}
