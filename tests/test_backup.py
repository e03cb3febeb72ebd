"""The Trainer's step backups: due every ``save_freq`` steps (steps, not
train-function calls, when ``steps_per_execution`` > 1), skipped while the
previous one is under ``min_seconds`` old, and restorable to the step after
the last one backed up."""
import numpy as np
import pytest
import tf_keras as keras

from tfxp.models.resumable import SpacedBackupAndRestore, backup_every, execution_steps
from tfxp.models.training import epoch_plan


class _Counting(SpacedBackupAndRestore):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps_at_backup = []

    def _backup(self, epoch, batch=0):
        written_before = self._last_backup
        super()._backup(epoch, batch)
        if self._last_backup != written_before:  # written, not skipped
            self.steps_at_backup.append(int(self.model.optimizer.iterations.numpy()))


def _model(steps_per_execution=1):
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse", steps_per_execution=steps_per_execution)
    return model


def _fit(model, callbacks, steps=10, epochs=1):
    keras.utils.set_random_seed(0)
    x, y = np.ones((steps * 4, 3), np.float32), np.ones((steps * 4, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)


def test_every_due_backup_is_written_when_min_seconds_is_zero(tmp_path):
    callback = _Counting(str(tmp_path), save_freq=2, min_seconds=0)
    _fit(_model(), [callback])
    assert callback.steps_at_backup == [2, 4, 6, 8, 10]


def test_due_backups_within_min_seconds_of_the_last_are_skipped(tmp_path):
    callback = _Counting(str(tmp_path), save_freq=2, min_seconds=3600)
    _fit(_model(), [callback])
    assert callback.steps_at_backup == [2]  # the first one is never skipped


def test_backups_count_steps_not_calls_with_several_steps_per_execution(tmp_path):
    # Keras' own callback counts calls: with 2 steps a call it would back up
    # every 8 steps here, not every 4.
    callback = _Counting(str(tmp_path), save_freq=4, min_seconds=0)
    _fit(_model(steps_per_execution=2), [callback], steps=12, epochs=2)
    assert callback.steps_at_backup == [4, 8, 12, 16, 20, 24]


class _CrashAfter(keras.callbacks.Callback):
    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations.numpy()) >= self.step:
            raise KeyboardInterrupt


class _Steps(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.initial = int(self.model.optimizer.iterations.numpy())

    def on_train_end(self, logs=None):
        self.final = int(self.model.optimizer.iterations.numpy())


@pytest.mark.parametrize("steps_per_execution", [1, 3])
def test_a_resumed_fit_starts_after_the_last_backed_up_step(tmp_path, steps_per_execution):
    # A crash at the end of step 7 (or of the call that ends at step 9),
    # after the step-6 backup: the crash callback comes first, so the
    # backup due at step 9 is never written. With 3 steps a call, Keras' own
    # callback records the call's first step (3) for the step-6 backup, and
    # the resumed fit would run 6 more steps to 12.
    backup = str(tmp_path / "backup")
    try:
        _fit(_model(steps_per_execution),
             [_CrashAfter(7), SpacedBackupAndRestore(backup, save_freq=3, min_seconds=0)])
    except KeyboardInterrupt:
        pass
    steps = _Steps()
    _fit(_model(steps_per_execution),
         [SpacedBackupAndRestore(backup, save_freq=3, min_seconds=0), steps])
    assert (steps.initial, steps.final) == (6, 10)  # 4 steps left of the 10-step epoch


@pytest.mark.parametrize("save_freq", [0, -1, 2.5, "epoch", True])
def test_a_bad_save_freq_is_refused(tmp_path, save_freq):
    with pytest.raises(ValueError, match="save_freq"):
        SpacedBackupAndRestore(str(tmp_path), save_freq=save_freq, min_seconds=0)


@pytest.mark.parametrize("per_epoch, interval, config, expected", [
    (300, 75, {}, 25),  # the Dense default: 1,500 steps in 5 epochs
    (200, 50, {}, 25),
    (64, 16, {}, 16),
    (97, 24, {}, 1),  # coprime: one step a call keeps backups on their steps
    (300, 75, {"steps_per_execution": 10}, 5),
    (300, 75, {"steps_per_execution": 1}, 1),
])
def test_execution_steps_divide_epochs_and_backup_intervals(per_epoch, interval, config,
                                                           expected):
    n = execution_steps(per_epoch, interval, config)
    assert n == expected
    assert per_epoch % n == 0 and interval % n == 0


@pytest.mark.parametrize("cap", [0, -3, 2.0, "8", True, None])
def test_a_bad_steps_per_execution_is_refused(cap):
    with pytest.raises(ValueError, match=r"steps_per_execution.*int >= 1"):
        execution_steps(300, 75, {"steps_per_execution": cap})


@pytest.mark.parametrize("steps", [0, -5, 2.5, "10", None, True])
def test_a_bad_checkpoint_steps_is_refused(steps):
    with pytest.raises(ValueError, match=r"checkpoint_steps.*int >= 1"):
        backup_every(300, {"checkpoint_steps": steps})


def test_checkpoint_steps_sets_the_backup_interval():
    assert backup_every(300, {"checkpoint_steps": 40}) == 40
    assert backup_every(300, {}) == 75


@pytest.mark.parametrize("train_steps, epochs, expected", [
    (1500, 5, (5, 300)), (50, 5, (5, 10)), (10, 3, (3, 4)), (3, 8, (3, 1)), (7, 0, (1, 7)),
])
def test_epoch_plan_splits_steps_as_run_fn_does(train_steps, epochs, expected):
    assert epoch_plan(train_steps, epochs) == expected
