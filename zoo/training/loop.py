"""`fit`: `model.fit` over epoch after epoch of batches, resumable at any step."""

import keras
import tensorflow as tf

from zoo._compat import build_before_distributing
from zoo.checkpoints import CheckpointError
from zoo.training.callbacks import standard_callbacks
from zoo.training.data import endless_stream
from zoo.training.history_log import HistoryLog
from zoo.training.options import apply_clipping
from zoo.training.strategies import checkpoint_folder_name
from zoo.training.training_checkpoint import RESUMED_ATTRIBUTES, TrainingCheckpoint
from zoo.training.weight_average import WeightAverage, uses_weight_average


def fit(model, batches_of_epoch, steps_per_epoch, max_epochs, run_dir, options, *, patience, monitor="val_loss",
        learning_rate_schedule=None, plateau_min_delta=0.0, validation_data=None, extra_callbacks=(), signature=None,
        verbose=2):
    """`model.fit` over epoch after epoch of `batches_of_epoch(epoch)` (see `endless_stream`), resumable.

    With `options.resume` (a `TrainingOptions`), the run continues from the newest checkpoint in
    `run_dir/checkpoint/` (`TrainingCheckpoint`): weights, optimizer state, random-seed states, the
    callbacks' counters and the position in the data, so that a run stopped at any step and resumed ends
    with the weights of an uninterrupted run. An epoch stopped in its middle is finished by a first
    `model.fit` over its remaining steps (its logged training loss then averages those steps only).
    Without `resume`, a run folder that holds a checkpoint is refused rather than overwritten.
    `extra_callbacks` run before the shared ones (`standard_callbacks`; e.g. ones that add validation
    metrics to the logs).

    With an optimizer that keeps a moving average of the weights (`use_ema=True`), validation and
    `best.keras` use the average, and training goes on from the trained weights."""
    apply_clipping(model.optimizer, options)
    checkpoint = TrainingCheckpoint(run_dir / checkpoint_folder_name(), steps_per_epoch, options.checkpoint_every)
    epoch, step = _starting_position(checkpoint, model, options, steps_per_epoch)
    HistoryLog.keep_epochs(run_dir / "history.csv", epoch)
    shared = standard_callbacks(run_dir, steps_per_epoch, patience, options.max_minutes, monitor,
                                learning_rate_schedule, plateau_min_delta)
    checkpoint.others = [c for c in shared if type(c) in RESUMED_ATTRIBUTES]
    if tf.distribute.has_strategy():
        first_batch = next(iter(endless_stream(batches_of_epoch, steps_per_epoch, signature=signature).take(1)))
        build_before_distributing(model, first_batch)
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


def _starting_position(checkpoint, model, options, steps_per_epoch):
    """(epoch, step) to start from: the checkpoint's, restored into `model`, with `options.resume`;
    else (0, 0), refusing a folder that holds an earlier run's checkpoints."""
    if not options.resume:
        if any(checkpoint.folder.glob("step-*.json")):
            raise CheckpointError(f"{checkpoint.folder} holds the checkpoints of an earlier run: pass --resume to "
                                  f"continue it, or remove that folder (or choose another --run-dir) to start over")
        return 0, 0
    position = checkpoint.restore(model)
    if position is None:
        print(f"--resume: no checkpoint in {checkpoint.folder}: starting from scratch", flush=True)
        return 0, 0
    print(f"Resuming from {checkpoint.folder}: epoch {position[0] + 1}, step {position[1]} of {steps_per_epoch}",
          flush=True)
    return position


def _merged(histories):
    """One keras History of several `model.fit` calls."""
    history = keras.callbacks.History()
    history.epoch = [e for h in histories for e in h.epoch]
    history.history = {k: [v for h in histories for v in h.history.get(k, [])]
                       for k in dict.fromkeys(k for h in histories for k in h.history)}
    return history
