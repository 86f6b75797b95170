"""Pieces every recipe shares: where the data is, a wall-clock budget, a per-epoch history log."""

import argparse
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


def callbacks(run_dir, steps_per_epoch, patience, max_minutes):
    """What every recipe's `model.fit` uses: resume state every epoch (`backup/`), the best model by
    validation loss (`best.keras`), learning rate halved on a plateau, early stopping after
    `patience` epochs without progress, `history.csv`, and the wall-clock budget."""
    return [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor="val_loss", save_best_only=True),
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=1, min_lr=1e-5),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=patience),
        HistoryLog(run_dir / "history.csv", steps_per_epoch),
        TimeBudget(max_minutes),
    ]


def argument_parser(description, configs, default_model, default_minutes):
    """The flags every recipe takes: --model, --data-dir, --run-dir, --max-minutes, --package,
    --checkpoints-dir."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", choices=sorted(configs), default=default_model)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="the datasets (default: $ZOO_DATA_DIR, then ../shared/data)")
    parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/<model>")
    parser.add_argument("--max-minutes", type=float, default=default_minutes,
                        help="stop before this much training time")
    parser.add_argument("--package", action="store_true",
                        help="do not train: evaluate the run's best model and write checkpoints/<model>/")
    parser.add_argument("--checkpoints-dir", type=Path, default=REPO / "checkpoints")
    return parser


def run_dir_of(args, config):
    return args.run_dir or REPO / "runs" / config.name
