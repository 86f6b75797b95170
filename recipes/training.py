"""Pieces every recipe shares: where the data is, a wall-clock budget, a per-epoch history log."""

import csv
import os
import time
from pathlib import Path

import keras

REPO = Path(__file__).resolve().parents[1]


def default_data_dir():
    return Path(os.environ.get("ZOO_DATA_DIR", REPO.parent / "shared" / "data"))


class TimeBudget(keras.callbacks.Callback):
    """Stops training when the next epoch would end past `max_minutes` of this run."""

    def __init__(self, max_minutes):
        super().__init__()
        self.max_seconds = max_minutes * 60
        self.first_epoch = None

    def on_train_begin(self, logs=None):
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


class HistoryLog(keras.callbacks.Callback):
    """Appends one row per epoch to history.csv: epoch, step, seconds of training (over resumes), losses."""

    def __init__(self, path, steps_per_epoch):
        super().__init__()
        self.path = path
        self.steps_per_epoch = steps_per_epoch

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        self.previous_seconds = 0.0
        if self.path.exists():
            with self.path.open() as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.previous_seconds = float(rows[-1]["train_seconds"])

    def on_epoch_end(self, epoch, logs=None):
        new = not self.path.exists()
        seconds = self.previous_seconds + time.monotonic() - self.start
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "step", "train_seconds", "loss", "val_loss"])
            writer.writerow([epoch + 1, (epoch + 1) * self.steps_per_epoch, f"{seconds:.1f}",
                             f"{logs['loss']:.5f}", f"{logs['val_loss']:.5f}"])
