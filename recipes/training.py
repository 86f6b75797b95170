"""Pieces every recipe shares: where the data is, a wall-clock budget, a per-epoch history log, a rollback
when the loss turns non-finite."""

import argparse
import csv
import itertools
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

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

    def on_epoch_end(self, epoch, logs=None):
        new = not self.path.exists()
        seconds = self.previous_seconds + time.monotonic() - self.start
        metrics = ["loss", "val_loss"] + sorted(k for k in logs if k not in ("loss", "val_loss", "learning_rate"))
        with self.path.open("a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(["epoch", "step", "train_seconds", *metrics])
            writer.writerow([epoch + 1, (epoch + 1) * self.steps_per_epoch, f"{seconds:.1f}",
                             *(f"{logs[k]:.5f}" for k in metrics)])


class NonFiniteGuard(keras.callbacks.Callback):
    """Rolls training back when it blows up (the lecture notes' "restart from an earlier checkpoint",
    done automatically).

    Every `snapshot_every` steps, if the batch loss and every variable are finite, keeps an in-memory
    copy of the model's and the optimizer's variables. When a batch loss is not finite (a non-finite
    gradient shows up as a non-finite loss at the next batch, once it has reached the weights), it
    assigns the copy back, multiplies the learning rate by `factor`, resets the running metrics, logs
    one line and lets training go on. After `max_rollbacks` rollbacks in one `fit` it raises.
    """

    def __init__(self, snapshot_every=200, factor=0.5, max_rollbacks=5):
        super().__init__()
        self.snapshot_every = snapshot_every
        self.factor = factor
        self.max_rollbacks = max_rollbacks

    def _variables(self):
        return list(self.model.variables) + list(self.model.optimizer.variables)

    def on_train_begin(self, logs=None):
        self.rollbacks, self.steps, self.snapshot = 0, 0, None
        self._take_snapshot()

    def _take_snapshot(self):
        values = [keras.ops.convert_to_numpy(v) for v in self._variables()]
        if all(np.all(np.isfinite(v)) for v in values if np.issubdtype(v.dtype, np.floating)):
            self.snapshot, self.snapshot_step = values, self.steps

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        loss = float((logs or {}).get("loss", 0.0))
        if np.isfinite(loss):
            if self.steps % self.snapshot_every == 0:
                self._take_snapshot()
            return
        self.rollbacks += 1
        if self.snapshot is None or self.rollbacks > self.max_rollbacks:
            raise RuntimeError(f"NonFiniteGuard: the loss is {loss} at step {self.steps}, and "
                               f"{self.rollbacks - 1} rollbacks did not help: training stopped")
        for variable, value in zip(self._variables(), self.snapshot):
            variable.assign(value)
        rate = self.model.optimizer.learning_rate
        if isinstance(rate, keras.Variable):
            rate.assign(rate * self.factor)
        self.model.reset_metrics()
        print(f"\nNonFiniteGuard: loss {loss} at step {self.steps}: weights and optimizer state restored from "
              f"step {self.snapshot_step}, learning rate now {float(keras.ops.convert_to_numpy(rate)):.3g} "
              f"(rollback {self.rollbacks} of at most {self.max_rollbacks})", flush=True)


def callbacks(run_dir, steps_per_epoch, patience, max_minutes, monitor="val_loss", learning_rate_schedule=None):
    """What every recipe's `model.fit` uses: resume state every epoch (`backup/`), the best model by
    the validation metric `monitor` (`best.keras`), learning rate halved on a plateau (or set by
    `learning_rate_schedule(epoch) -> rate`, epoch counted from 0, where given), early stopping
    after `patience` epochs without progress, `history.csv`, the wall-clock budget, and a rollback
    of the weights and optimizer state if the loss turns non-finite (`NonFiniteGuard`)."""
    if learning_rate_schedule is None:
        learning_rate = keras.callbacks.ReduceLROnPlateau(monitor=monitor, factor=0.5, patience=1, min_lr=1e-5)
    else:
        learning_rate = keras.callbacks.LearningRateScheduler(lambda epoch, rate: learning_rate_schedule(epoch))
    return [
        keras.callbacks.BackupAndRestore(str(run_dir / "backup")),
        keras.callbacks.ModelCheckpoint(str(run_dir / "best.keras"), monitor=monitor, save_best_only=True),
        learning_rate,
        keras.callbacks.EarlyStopping(monitor=monitor, patience=patience),
        HistoryLog(run_dir / "history.csv", steps_per_epoch),
        TimeBudget(max_minutes),
        NonFiniteGuard(),
    ]


def endless_stream(batches_of_epoch, steps_per_epoch):
    """The training data of `model.fit(..., steps_per_epoch=steps_per_epoch)` as one endless dataset:
    epoch after epoch of the dataset `batches_of_epoch(epoch)` (epoch 0, 1, ...: e.g. a new seed each),
    each cut to its first `steps_per_epoch` batches."""
    spec = batches_of_epoch(0).element_spec
    generator = tf.data.Dataset.from_generator(
        lambda: (batch for epoch in itertools.count()
                 for batch in batches_of_epoch(epoch).take(steps_per_epoch).as_numpy_iterator()),
        output_signature=spec,
    )
    return generator.prefetch(2)


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


def run_recipe(args, configs, train, package):
    """What a recipe's main does with `argument_parser`'s flags: `package(config, data_dir, run_dir,
    checkpoints_dir)` with --package, else `train(config, data_dir, run_dir, max_minutes)`."""
    config = configs[args.model]
    if args.package:
        return package(config, args.data_dir, run_dir_of(args, config), args.checkpoints_dir)
    return train(config, args.data_dir, run_dir_of(args, config), args.max_minutes)


def bucketed_indices(lengths, batch_size, rng=None, chunk_batches=50):
    """Index batches of examples of similar length (little padding). With `rng`: the examples
    shuffled, sorted by length within chunks of `chunk_batches` batches, the batches in random
    order; without: all sorted by length."""
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    length = np.asarray(lengths)[order]
    chunk = batch_size * chunk_batches if rng is not None else len(order)
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk][np.argsort(length[start : start + chunk], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
