"""`HistoryLog`: history.csv, one row per epoch, carried over resumes."""

import csv
import time

import keras

from zoo.training.strategies import is_chief


class HistoryLog(keras.callbacks.Callback):
    """Appends one row per epoch to history.csv: epoch, step, seconds of training (over resumes), losses,
    then any other metric of the epoch's logs (e.g. accuracy, val_accuracy)."""

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

    @staticmethod
    def keep_epochs(path, epochs):
        """Drops the rows of `path` after its first `epochs` epochs (those a resumed run does again)."""
        if not path.exists() or not is_chief():
            return
        with path.open() as f:
            header, *rows = list(csv.reader(f)) or [[]]
        kept = [row for row in rows if int(row[0]) <= epochs]
        with path.open("w", newline="") as f:
            csv.writer(f).writerows([header, *kept] if kept else [])

    def on_epoch_end(self, epoch, logs=None):
        if not is_chief():
            return
        new = not self.path.exists() or self.path.stat().st_size == 0
        seconds = self.previous_seconds + time.monotonic() - self.start
        metrics = ["loss", "val_loss"] + sorted(k for k in logs if k not in ("loss", "val_loss", "learning_rate"))
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "step", "train_seconds", *metrics])
            writer.writerow([epoch + 1, (epoch + 1) * self.steps_per_epoch, f"{seconds:.1f}",
                             *(f"{logs[k]:.5f}" for k in metrics)])
