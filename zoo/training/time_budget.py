"""`TimeBudget`: stops training before an epoch would end past a wall-clock budget."""

import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the next epoch would end past `max_minutes` of the run's training, counted over
    the `model.fit` calls of one `fit` and over its resumes: `spent_seconds` is among the counters a
    `TrainingCheckpoint` keeps, so a run stopped and resumed stops where an uninterrupted one would (less
    the time after its last checkpoint, which the resumed run does again)."""

    def __init__(self, max_minutes):
        super().__init__()
        self.max_seconds = max_minutes * 60
        self.earlier_seconds, self.start = 0.0, None

    @property
    def spent_seconds(self):
        """Seconds of training so far: the earlier starts' and this one's."""
        return self.earlier_seconds + (0.0 if self.start is None else time.monotonic() - self.start)

    @spent_seconds.setter
    def spent_seconds(self, seconds):  # a resume: the earlier starts' time, this one's from now
        self.earlier_seconds, self.start = seconds, time.monotonic()

    def on_train_begin(self, logs=None):
        if self.start is None:
            self.start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        spent = self.spent_seconds
        if spent + spent / (epoch + 1) > self.max_seconds:  # an epoch: the run's mean so far
            print(f"\nTime budget of {self.max_seconds / 60:.0f} min reached: stopping after epoch {epoch + 1}.")
            self.model.stop_training = True
