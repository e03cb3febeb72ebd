"""The Trainer's step backups: due every ``save_freq`` steps, skipped while
the previous one is under ``min_seconds`` old, and restorable."""
import numpy as np
import tf_keras as keras

from models.training import SpacedBackupAndRestore


class _Counting(SpacedBackupAndRestore):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.steps_at_backup = []

    def _backup(self, epoch, batch=0):
        written_before = self._last_backup
        super()._backup(epoch, batch)
        if self._last_backup != written_before:  # written, not skipped
            self.steps_at_backup.append(int(self.model.optimizer.iterations.numpy()))


def _fit(callback, steps=10):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    x, y = np.ones((steps * 4, 3), np.float32), np.ones((steps * 4, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[callback])


def test_every_due_backup_is_written_when_min_seconds_is_zero(tmp_path):
    callback = _Counting(str(tmp_path), save_freq=2, min_seconds=0)
    _fit(callback)
    assert callback.steps_at_backup == [2, 4, 6, 8, 10]


def test_due_backups_within_min_seconds_of_the_last_are_skipped(tmp_path):
    callback = _Counting(str(tmp_path), save_freq=2, min_seconds=3600)
    _fit(callback)
    assert callback.steps_at_backup == [2]  # the first one is never skipped


def test_a_spaced_backup_restores_the_step_counter(tmp_path):
    class Stop(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if int(self.model.optimizer.iterations.numpy()) == 7:
                raise KeyboardInterrupt  # a crash after the step-6 backup

    backup = str(tmp_path / "backup")
    model = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    model.compile("sgd", "mse")
    x, y = np.ones((40, 3), np.float32), np.ones((40, 1), np.float32)
    try:
        model.fit(x, y, batch_size=4, epochs=1, verbose=0,
                  callbacks=[SpacedBackupAndRestore(backup, save_freq=3, min_seconds=0), Stop()])
    except KeyboardInterrupt:
        pass
    resumed = keras.Sequential([keras.layers.Dense(1, input_shape=(3,))])
    resumed.compile("sgd", "mse")

    class Initial(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.step = int(self.model.optimizer.iterations.numpy())

    initial = Initial()
    resumed.fit(x, y, batch_size=4, epochs=1, verbose=0,
                callbacks=[SpacedBackupAndRestore(backup, save_freq=3, min_seconds=0), initial])
    assert initial.step == 6
