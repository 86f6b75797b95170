"""`TimeBudget`: stops training before an epoch would end past a wall-clock budget."""

import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the next epoch would end past `max_minutes` of this process's training (over
    the `model.fit` calls of one `fit`)."""

    def __init__(self, max_minutes):
        super().__init__()
        self.max_seconds = max_minutes * 60
        self.first_epoch, self.start = None, None

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = time.monotonic()

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        elapsed = time.monotonic() - self.start
        per_epoch = elapsed / (epoch + 1 - self.first_epoch)
        if elapsed + per_epoch > self.max_seconds:
            print(f"\nTime budget of {self.max_seconds / 60:.0f} min reached: stopping after epoch {epoch + 1}.")
            self.model.stop_training = True
