"""The Trainer keeps the weights of its best epoch (``models.best_epoch``):
a real Keras fit whose validation gets worse after the first epochs exports
the best epoch's weights, stops early with a patience, and a fit resumed
after a crash still knows the best weights and metric of before the crash."""
import json
import os

import numpy as np
import pytest
import tf_keras as keras

from tfxp.models.best_epoch import STATE_FILE, KeepBestEpoch, selection_metric
from tfxp.models.common import classifier
from tfxp.models.resumable import SpacedBackupAndRestore

STEPS = 4  # steps per epoch, batch 16


def _data():
    """Train labels = x0 > 0; validation: the same points with the labels
    flipped, so fitting the train split makes the validation worse: the best
    validation epoch is an early one, never the last."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS * 16, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    return x, y, (x, 1 - y)


def _model():
    keras.utils.set_random_seed(1)
    inputs = keras.Input((4,), name="x")
    return classifier(inputs, inputs, {"num_classes": 2, "learning_rate": 0.05}, "tiny")


class _EpochWeights(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.weights = {}

    def on_epoch_end(self, epoch, logs=None):
        self.weights[epoch + 1] = self.model.get_weights()


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_selection_metric_is_the_blessing_metric():
    assert selection_metric(2) == "auc" and selection_metric(10) == "accuracy"


def test_the_exported_weights_are_the_best_epochs_not_the_last():
    x, y, val = _data()
    model, best, seen = _model(), KeepBestEpoch("val_auc"), _EpochWeights()
    history = model.fit(x, y, batch_size=16, epochs=6, validation_data=val, verbose=0,
                        callbacks=[best, seen])
    curve = history.history["val_auc"]
    assert best.curve == pytest.approx(curve)
    assert best.best_epoch == int(np.argmax(curve)) + 1 < 6
    assert curve[-1] < max(curve)  # the last epoch is worse: it is not shipped
    _assert_same(model.get_weights(), seen.weights[best.best_epoch])
    assert model.evaluate(*val, verbose=0, return_dict=True)["auc"] == pytest.approx(
        max(curve), abs=1e-6)


def test_early_stopping_stops_patience_epochs_after_the_best():
    x, y, val = _data()
    best = KeepBestEpoch("val_accuracy", patience=2)
    history = _model().fit(x, y, batch_size=16, epochs=20, validation_data=val, verbose=0,
                           callbacks=[best])
    assert best.stopped_epoch == best.best_epoch + 2 == len(history.history["loss"])
    assert "stopped early after epoch" in best.summary()["reason"]


@pytest.mark.parametrize("patience", [0, -1, 1.5, True, "2"])
def test_a_bad_patience_is_refused_naming_it(patience):
    with pytest.raises(ValueError, match="early_stopping_patience"):
        KeepBestEpoch("val_auc", patience=patience)


class _CrashAtEpochEnd(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.epoch:
            raise KeyboardInterrupt


def test_a_resumed_fit_keeps_the_best_weights_and_metric_of_before_the_crash(tmp_path):
    x, y, val = _data()
    backup = str(tmp_path / "backup")
    state = os.path.join(backup, "best")

    def callbacks(*extra):
        # As run_fn orders them: the restore first, then the best-epoch keeper.
        return [SpacedBackupAndRestore(backup, save_freq=STEPS, min_seconds=0),
                KeepBestEpoch("val_auc", state_dir=state), *extra]

    first_seen = _EpochWeights()
    first = callbacks(first_seen, _CrashAtEpochEnd(3))
    with pytest.raises(KeyboardInterrupt):
        _model().fit(x, y, batch_size=16, epochs=6, validation_data=val, verbose=0,
                     callbacks=first)
    before = first[1]
    with open(os.path.join(state, STATE_FILE)) as f:
        saved = json.load(f)
    assert (saved["best_epoch"], saved["best_value"]) == (before.best_epoch,
                                                          before.best_value)
    assert before.best_epoch < 3

    model = _model()  # a new process: fresh weights
    second = callbacks()
    model.fit(x, y, batch_size=16, epochs=6, validation_data=val, verbose=0,
              callbacks=second)
    after = second[1]
    assert after.best_epoch == before.best_epoch  # later epochs were worse
    assert after.best_value == pytest.approx(before.best_value)
    assert len(after.curve) == 6 and after.curve[:3] == pytest.approx(before.curve)
    _assert_same(model.get_weights(), first_seen.weights[before.best_epoch])


def _feed(best: KeepBestEpoch, epochs):
    """Calls ``on_epoch_end`` with the given ``(val_auc, val_accuracy)`` per epoch."""
    best.set_model(_model())
    for epoch, (auc, accuracy) in enumerate(epochs):
        best.on_epoch_end(epoch, {"val_auc": auc, "val_accuracy": accuracy})


def test_an_epoch_under_the_majority_floor_is_not_exported_for_its_auc():
    # Epoch 1 ranks best (AUC 0.90) but its accuracy is the majority share:
    # every score on one side of 0.5. The Evaluator would refuse it.
    best = KeepBestEpoch("val_auc", floor=("val_accuracy", 0.70))
    _feed(best, [(0.90, 0.65), (0.80, 0.75), (0.85, 0.72), (0.95, 0.69)])
    assert (best.best_epoch, best.best_value, best.best_eligible) == (3, 0.85, True)
    assert best.summary()["reason"] == (
        "highest val_auc (0.8500) of 4 epoch(s) with val_accuracy >= 0.7000")


def test_with_no_epoch_over_the_floor_the_best_of_all_is_kept_and_said():
    best = KeepBestEpoch("val_auc", floor=("val_accuracy", 0.70))
    _feed(best, [(0.80, 0.60), (0.90, 0.65), (0.85, 0.69)])
    assert (best.best_epoch, best.best_eligible) == (2, False)
    assert "no epoch reached val_accuracy >= 0.7000" in best.summary()["reason"]
    # The first eligible epoch then wins whatever its AUC.
    best.on_epoch_end(3, {"val_auc": 0.70, "val_accuracy": 0.71})
    assert (best.best_epoch, best.best_eligible) == (4, True)
