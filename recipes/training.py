"""The training loop every recipe shares, a thin layer over `model.fit` and Keras callbacks: where the data
is, resumable checkpoints written atomically (`fit`, `TrainingCheckpoint`), a wall-clock budget, a
per-epoch history log, a rollback when the loss turns non-finite, gradient clipping, and the
tf.distribute strategy (`distribution_strategy`)."""

import argparse
import contextlib
import csv
import dataclasses
import hashlib
import itertools
import json
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

    def on_train_begin(self, logs=None):
        self.rollbacks, self.steps, self.snapshot = 0, 0, None
        self._take_snapshot()

    def _take_snapshot(self):
        values = [keras.ops.convert_to_numpy(v) for v in _state_variables(self.model)]
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
        for variable, value in zip(_state_variables(self.model), self.snapshot):
            variable.assign(value)
        rate = self.model.optimizer.learning_rate
        if isinstance(rate, keras.Variable):
            rate.assign(rate * self.factor)
        self.model.reset_metrics()
        print(f"\nNonFiniteGuard: loss {loss} at step {self.steps}: weights and optimizer state restored from "
              f"step {self.snapshot_step}, learning rate now {float(keras.ops.convert_to_numpy(rate)):.3g} "
              f"(rollback {self.rollbacks} of at most {self.max_rollbacks})", flush=True)


class BestModel(keras.callbacks.Callback):
    """Saves the model to `path` (a .keras file) at each epoch end where `monitor` is the best so far
    (the largest with mode "max", the smallest with "min"), written to a temporary file first and then
    renamed over the old one: a kill mid-write leaves the previous best model whole."""

    def __init__(self, path, monitor, mode):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        self.better = np.greater if mode == "max" else np.less
        self.best = -np.inf if mode == "max" else np.inf

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not self.better(value, self.best):
            return
        self.best = float(value)
        # Every worker of a multi-worker run saves (saving may take part in collective ops); only the chief keeps it.
        with averaged_weights(self.model):
            save_model_atomically(self.model, self.path, keep=is_chief())


def uses_weight_average(model):
    """Whether `model`'s optimizer keeps a moving average of the weights (`use_ema=True`)."""
    return bool(getattr(model.optimizer, "use_ema", False))


@contextlib.contextmanager
def averaged_weights(model):
    """Within the block, `model`'s trainable weights hold its optimizer's moving average of them (when the
    optimizer keeps one, `use_ema=True`), and the trained weights after it."""
    if not uses_weight_average(model):
        yield
        return
    # The weights the optimizer updates and their averages, in one order (as keras.callbacks.SwapEMAWeights reads them).
    weights, averages = model.optimizer._trainable_variables, model.optimizer._model_variables_moving_average
    trained = [keras.ops.convert_to_numpy(w) for w in weights]
    for weight, average in zip(weights, averages):
        weight.assign(average)
    try:
        yield
    finally:
        for weight, value in zip(weights, trained):
            weight.assign(value)


class WeightAverage(keras.callbacks.Callback):
    """For a model whose optimizer keeps a moving average of the weights (`use_ema=True`): validation
    inside `fit` runs on the average (copied in and out exactly: `keras.callbacks.SwapEMAWeights` swaps
    by arithmetic, which moves the trained weights by rounding), and the trained weights are put back
    after Keras ends `model.fit` by copying the average into them, so that training goes on from them
    (the rest of a resumed run) and a model is the same after one `fit` or two. `BestModel` saves the
    average."""

    def on_test_begin(self, logs=None):
        self.validating = contextlib.ExitStack()
        self.validating.enter_context(averaged_weights(self.model))

    def on_test_end(self, logs=None):
        self.validating.close()

    def on_epoch_end(self, epoch, logs=None):
        self.trained = [keras.ops.convert_to_numpy(w) for w in self.model.trainable_weights]

    def on_train_end(self, logs=None):
        for weight, value in zip(self.model.trainable_weights, getattr(self, "trained", ())):
            weight.assign(value)


def save_model_atomically(model, path, keep=True):
    """`model.save` into a temporary file beside `path` (a .keras file), then renamed over it: a kill
    mid-write leaves the previous file whole. With `keep=False` the temporary file is removed instead."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{'' if keep else '-worker'}.keras")
    model.save(temporary)
    if keep:
        os.replace(temporary, path)
    else:
        temporary.unlink()


def is_chief():
    """Whether this process writes the run's files (the other workers of a multi-worker run do not)."""
    return tf.distribute.get_strategy().extended.should_checkpoint


def checkpoint_folder_name():
    """`checkpoint`, or `checkpoint-worker-<i>` for worker i > 0 of a multi-worker run (each worker keeps,
    and resumes from, its own copy of the state)."""
    resolver = getattr(tf.distribute.get_strategy(), "cluster_resolver", None)
    return "checkpoint" if is_chief() or resolver is None else f"checkpoint-worker-{resolver.task_id}"


def _write_atomically(path, write):
    """`write(file)` into a temporary file beside `path`, flushed to disk, then renamed to `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


class CheckpointError(ValueError):
    """A training checkpoint that cannot be resumed from (damaged, or written by another model)."""


# The counters of the callbacks `fit` uses that must survive a resume (Keras resets them in on_train_begin).
RESUMED_ATTRIBUTES = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    BestModel: ("best",),
}


class TrainingCheckpoint(keras.callbacks.Callback):
    """The state training resumes from, written into `folder` every `every_steps` steps and at each epoch end:

        step-<global step>.npz   every variable of the model (random-seed states and carried states included)
                                 and of the optimizer (step count, learning rate, moments), in order
        step-<global step>.json  epoch, steps done in it, global step, the .npz's sha256, the counters of the
                                 other callbacks (best validation value, epochs without progress, ...)

    Each file is written to a temporary name, flushed and renamed into place, the .json last: a checkpoint
    is complete when its .json exists, and a kill at any moment leaves the newest complete one intact. The
    newest `keep` are kept. `fit` lists it after the callbacks whose counters it saves (it restores them in
    on_train_begin, after they reset themselves)."""

    def __init__(self, folder, steps_per_epoch, every_steps, keep=2):
        super().__init__()
        self.folder, self.steps_per_epoch, self.every_steps, self.keep = Path(folder), steps_per_epoch, every_steps, keep
        self.epoch, self.step = 0, 0  # the position: `step` steps of epoch `epoch` done
        self.others, self.callback_states = [], None

    # --- writing ---

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step < self.steps_per_epoch and self.global_step % self.every_steps == 0:
            self.save()  # the last step of an epoch is saved by on_epoch_end, after validation

    def on_epoch_end(self, epoch, logs=None):
        self.epoch, self.step = epoch + 1, 0
        self.save()

    @property
    def global_step(self):
        return self.epoch * self.steps_per_epoch + self.step

    def save(self):
        self.callback_states = [{name: _plain(getattr(c, name)) for name in RESUMED_ATTRIBUTES[type(c)]}
                                for c in self.others]
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"step-{self.global_step:09d}"
        values = {f"v{i:05d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(_state_variables(self.model))}
        _write_atomically(self.folder / f"{name}.npz", lambda f: np.savez(f, **values))
        state = {"epoch": self.epoch, "step": self.step, "global_step": self.global_step,
                 "steps_per_epoch": self.steps_per_epoch, "sha256": _sha256(self.folder / f"{name}.npz"),
                 "callbacks": self.callback_states}
        _write_atomically(self.folder / f"{name}.json", lambda f: f.write(json.dumps(state).encode()))
        for old in sorted(self.folder.glob("step-*.json"))[: -self.keep]:
            old.with_suffix(".npz").unlink(missing_ok=True)
            old.unlink()

    # --- resuming ---

    def latest(self):
        """The newest complete checkpoint whose .npz matches its hash, as (state dict, .npz path), or None if
        `folder` holds none. A damaged newer one is reported and skipped; if all are damaged, CheckpointError."""
        damaged = []
        for path in sorted(self.folder.glob("step-*.json"), reverse=True):
            weights = path.with_suffix(".npz")
            try:
                state = json.loads(path.read_text())
                if not weights.is_file():
                    raise CheckpointError(f"{weights} is missing")
                if _sha256(weights) != state["sha256"]:
                    raise CheckpointError(f"{weights} does not match the sha256 in {path.name} (truncated or altered)")
            except CheckpointError as error:
                damaged.append(str(error))
                continue
            except (ValueError, KeyError) as error:  # not JSON, or without a hash
                damaged.append(f"{path} is not a training checkpoint ({error})")
                continue
            for problem in damaged:
                print(f"TrainingCheckpoint: skipping a damaged checkpoint: {problem}", flush=True)
            return state, weights
        if damaged:
            raise CheckpointError("no checkpoint to resume from is intact: " + "; ".join(damaged))
        return None

    def restore(self, model):
        """Loads the newest checkpoint into `model` (built and compiled) and returns its position
        (epoch, step), or None if there is none."""
        found = self.latest()
        if found is None:
            return None
        state, path = found
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise CheckpointError(f"{path} was written with {state['steps_per_epoch']} steps an epoch, this run has "
                                  f"{self.steps_per_epoch}: it belongs to another configuration")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        variables = _state_variables(model)
        with np.load(path) as stored:
            values = [stored[k] for k in sorted(stored.files)]
        if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
            raise CheckpointError(f"{path} holds {len(values)} variables that do not match this model's "
                                  f"{len(variables)} (written by another configuration?)")
        for variable, value in zip(variables, values):
            variable.assign(value)
        self.epoch, self.step, self.callback_states = state["epoch"], state["step"], state["callbacks"]
        return self.epoch, self.step

    def on_train_begin(self, logs=None):
        if self.callback_states is not None:
            for callback, values in zip(self.others, self.callback_states):
                for name, value in values.items():
                    setattr(callback, name, value)


def _state_variables(model):
    """Everything training changes: the model's variables (weights, random-seed states, carried states)
    and the optimizer's."""
    return list(model.variables) + list(model.optimizer.variables)


def _plain(value):
    """A callback counter as JSON can hold it."""
    return value.item() if isinstance(value, np.generic) else value


def callbacks(run_dir, steps_per_epoch, patience, max_minutes, monitor="val_loss", learning_rate_schedule=None,
              plateau_min_delta=0.0):
    """What every recipe's training uses (through `fit`): the best model by the validation metric
    `monitor` (`best.keras`), learning rate halved on a plateau, i.e. after an epoch that does not
    improve `monitor` by more than `plateau_min_delta` (or set by `learning_rate_schedule(epoch) ->
    rate`, epoch counted from 0, where given), early stopping after `patience` epochs without
    progress, `history.csv`, the wall-clock budget, and a rollback of the weights and optimizer state if
    the loss turns non-finite (`NonFiniteGuard`)."""
    mode = "max" if "acc" in monitor else "min"  # accuracies grow, losses fall
    if learning_rate_schedule is None:
        learning_rate = keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode=mode, factor=0.5, patience=1,
                                                          min_delta=plateau_min_delta, min_lr=1e-5)
    else:
        learning_rate = keras.callbacks.LearningRateScheduler(lambda epoch, rate: learning_rate_schedule(epoch))
    return [
        BestModel(run_dir / "best.keras", monitor, mode),
        learning_rate,
        keras.callbacks.EarlyStopping(monitor=monitor, mode=mode, patience=patience),
        HistoryLog(run_dir / "history.csv", steps_per_epoch),
        TimeBudget(max_minutes),
        NonFiniteGuard(),
    ]


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """How a recipe trains, apart from its model config: the flags of `argument_parser`."""

    max_minutes: float = 60.0  # stop before the epoch that would end past this much time in this process
    resume: bool = False  # continue from the newest checkpoint of the run folder
    checkpoint_every: int = 500  # steps between checkpoints (and one at every epoch end)
    global_clipnorm: float | None = None  # clip the gradients to this global norm (None: as the recipe's config)
    clipvalue: float | None = None  # clip each gradient element to [-clipvalue, clipvalue] (None: as the config)


def fit(model, batches_of_epoch, steps_per_epoch, max_epochs, run_dir, options, *, patience, monitor="val_loss",
        learning_rate_schedule=None, plateau_min_delta=0.0, validation_data=None, extra_callbacks=(), signature=None,
        verbose=2):
    """`model.fit` over epoch after epoch of `batches_of_epoch(epoch)` (see `endless_stream`), resumable.

    With `options.resume`, the run continues from the newest checkpoint in `run_dir/checkpoint/`
    (`TrainingCheckpoint`): weights, optimizer state, random-seed states, the callbacks' counters and
    the position in the data, so that a run stopped at any step and resumed ends with the weights
    of an uninterrupted run. An epoch stopped in its middle is finished by a first `model.fit` over
    its remaining steps (its logged training loss then averages those steps only). Without `resume`,
    a run folder that holds a checkpoint is refused rather than overwritten. `extra_callbacks` run
    before the shared ones (e.g. ones that add validation metrics to the logs).

    With an optimizer that keeps a moving average of the weights (`use_ema=True`), validation and
    `best.keras` use the average, and training goes on from the trained weights."""
    apply_clipping(model.optimizer, options)
    checkpoint = TrainingCheckpoint(run_dir / checkpoint_folder_name(), steps_per_epoch, options.checkpoint_every)
    epoch, step = 0, 0
    if options.resume:
        position = checkpoint.restore(model)
        if position is None:
            print(f"--resume: no checkpoint in {checkpoint.folder}: starting from scratch", flush=True)
        else:
            epoch, step = position
            print(f"Resuming from {checkpoint.folder}: epoch {epoch + 1}, step {step} of {steps_per_epoch}", flush=True)
    elif any(checkpoint.folder.glob("step-*.json")):
        raise CheckpointError(f"{checkpoint.folder} holds the checkpoints of an earlier run: pass --resume to "
                              f"continue it, or remove that folder (or choose another --run-dir) to start over")
    HistoryLog.keep_epochs(run_dir / "history.csv", epoch)
    shared = callbacks(run_dir, steps_per_epoch, patience, options.max_minutes, monitor, learning_rate_schedule,
                       plateau_min_delta)
    checkpoint.others = [c for c in shared if type(c) in RESUMED_ATTRIBUTES]
    if tf.distribute.has_strategy():
        _build_before_distributing(model, endless_stream(batches_of_epoch, steps_per_epoch, signature=signature))
    if uses_weight_average(model):
        extra_callbacks = [WeightAverage(), *extra_callbacks]
    histories = []

    def fit_epochs(first_step, epochs):
        histories.append(model.fit(
            endless_stream(batches_of_epoch, steps_per_epoch, (epoch, first_step), signature),
            steps_per_epoch=steps_per_epoch - first_step, initial_epoch=epoch, epochs=epochs,
            validation_data=validation_data, callbacks=[*extra_callbacks, *shared, checkpoint], shuffle=False,
            verbose=verbose))
        return not model.stop_training

    if step and epoch < max_epochs:  # finish the epoch stopped in its middle
        if not fit_epochs(step, epoch + 1):
            return _merged(histories)
        epoch += 1
    if epoch < max_epochs:
        fit_epochs(0, max_epochs)
    return _merged(histories)


def _build_before_distributing(model, dataset):
    """Builds the model's loss and metrics from one batch of `dataset` in the strategy's scope, and turns
    off Keras' own build at the start of `fit` under a strategy: that one first averages a batch over the
    replicas (keras/src/backend/tensorflow/trainer.py, `_maybe_symbolic_build`), which fails on integer
    and string inputs under MultiWorkerMirroredStrategy and on strings under MirroredStrategy."""
    model._symbolic_build(data_batch=next(iter(dataset.take(1))))
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def _merged(histories):
    """One keras History of several `model.fit` calls."""
    history = keras.callbacks.History()
    history.epoch = [e for h in histories for e in h.epoch]
    history.history = {k: [v for h in histories for v in h.history.get(k, [])]
                       for k in dict.fromkeys(k for h in histories for k in h.history)}
    return history


def apply_clipping(optimizer, options):
    """Sets the optimizer's gradient clipping from `options` where given: by global norm (all gradients
    together) and/or element-wise. A config's per-variable `clipnorm` and a global norm exclude each other."""
    if options.global_clipnorm is not None:
        if optimizer.clipnorm is not None:
            raise ValueError(f"--global-clipnorm {options.global_clipnorm}: this recipe's optimizer clips each "
                             f"gradient to norm {optimizer.clipnorm} already; the two cannot be combined")
        optimizer.global_clipnorm = options.global_clipnorm
    if options.clipvalue is not None:
        optimizer.clipvalue = options.clipvalue


def distribution_strategy(name, logical_cpus=None):
    """The tf.distribute strategy `name`: "default" (one device), "mirrored" (every GPU of this
    machine, else every logical CPU device: `logical_cpus` splits the CPU into that many first), or
    "multiworker" (MultiWorkerMirroredStrategy over the machines of the TF_CONFIG environment variable)."""
    if logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices])
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker reads the cluster from the TF_CONFIG environment variable, "
                             "which is not set (see the README, \"Training on several GPUs or machines\")")
        _average_scalar_logs_across_workers()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {name!r}: choose default, mirrored or multiworker")


def _average_scalar_logs_across_workers():
    """Keras 3's `fit` under MultiWorkerMirroredStrategy averages every replica's logs (scalars: loss,
    metrics) with `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388). Average them over the
    replicas of all workers with `axis=None` instead; every other reduction stays Keras'."""
    from keras.src.backend.tensorflow import trainer

    keras_reduce = getattr(trainer.reduce_per_replica, "keras_reduce", trainer.reduce_per_replica)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.keras_reduce = keras_reduce
    trainer.reduce_per_replica = reduce_per_replica


def dataset_of(batches, signature):
    """A tf.data view of a list of batches of the structure `signature` (e.g. a validation split), of known
    length, so that Keras does not warn that it "ran out of data" where it ends."""
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


def endless_stream(batches_of_epoch, steps_per_epoch, start=(0, 0), signature=None):
    """The training data of `model.fit(..., steps_per_epoch=steps_per_epoch)` as one endless dataset:
    epoch after epoch of the batches `batches_of_epoch(epoch)` (epoch 0, 1, ...: e.g. a new seed each;
    a tf.data.Dataset, or an iterable of batches of the structure `signature`), each cut to its first
    `steps_per_epoch` batches, from batch `start[1]` of epoch `start[0]` on."""
    first_epoch, first_step = start

    def numpy_batches(epoch):
        batches = batches_of_epoch(epoch)
        batches = batches.as_numpy_iterator() if isinstance(batches, tf.data.Dataset) else iter(batches)
        return itertools.islice(batches, first_step if epoch == first_epoch else 0, steps_per_epoch)

    if signature is None:
        signature = batches_of_epoch(first_epoch).element_spec
    generator = tf.data.Dataset.from_generator(
        lambda: (batch for epoch in itertools.count(first_epoch) for batch in numpy_batches(epoch)),
        output_signature=signature,
    )
    return generator.prefetch(2)


def argument_parser(description, configs, default_model, default_minutes):
    """The flags every recipe takes: --model, --data-dir, --run-dir, --max-minutes, --package,
    --checkpoints-dir, and how to train (`TrainingOptions`, --strategy, --logical-cpus)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--model", choices=sorted(configs), default=default_model)
    parser.add_argument("--data-dir", type=Path, default=default_data_dir(),
                        help="the datasets (default: $ZOO_DATA_DIR, then ../shared/data)")
    parser.add_argument("--run-dir", type=Path, default=None, help="default: runs/<model>")
    parser.add_argument("--max-minutes", type=float, default=default_minutes,
                        help="stop before this much training time")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the newest checkpoint in <run-dir>/checkpoint/ (same data order and "
                             "random state: the run ends as if never stopped)")
    parser.add_argument("--checkpoint-every", type=int, default=TrainingOptions.checkpoint_every, metavar="STEPS",
                        help="steps between checkpoints (one is also written at every epoch end)")
    parser.add_argument("--global-clipnorm", type=float, default=None, metavar="NORM",
                        help="clip the gradients to this norm, all together (default: the config's clipping)")
    parser.add_argument("--clipvalue", type=float, default=None, metavar="VALUE",
                        help="clip every gradient element to [-VALUE, VALUE] (default: none)")
    parser.add_argument("--strategy", choices=("default", "mirrored", "multiworker"), default="default",
                        help="tf.distribute: one device; every GPU (or logical CPU) of this machine; the machines of "
                             "TF_CONFIG")
    parser.add_argument("--logical-cpus", type=int, default=None, metavar="N",
                        help="split the CPU into N logical devices (to try --strategy mirrored without GPUs)")
    parser.add_argument("--package", action="store_true",
                        help="do not train: evaluate the run's best model and write checkpoints/<model>/")
    parser.add_argument("--checkpoints-dir", type=Path, default=REPO / "checkpoints")
    return parser


def training_options(args):
    return TrainingOptions(max_minutes=args.max_minutes, resume=args.resume, checkpoint_every=args.checkpoint_every,
                           global_clipnorm=args.global_clipnorm, clipvalue=args.clipvalue)


def run_dir_of(args, config):
    return args.run_dir or REPO / "runs" / config.name


def run_recipe(args, configs, train, package):
    """What a recipe's main does with `argument_parser`'s flags: `package(config, data_dir, run_dir,
    checkpoints_dir)` with --package, else `train(config, data_dir, run_dir, options)` inside the scope of
    the distribution strategy (the model and optimizer are created there)."""
    config = configs[args.model]
    if args.package:
        return package(config, args.data_dir, run_dir_of(args, config), args.checkpoints_dir)
    with distribution_strategy(args.strategy, args.logical_cpus).scope():
        return train(config, args.data_dir, run_dir_of(args, config), training_options(args))


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
