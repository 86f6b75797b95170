"""`standard_callbacks`: the callbacks every run of `fit` uses."""

import keras

from zoo.training.best_model import BestModel
from zoo.training.history_log import HistoryLog
from zoo.training.non_finite_guard import NonFiniteGuard
from zoo.training.time_budget import TimeBudget


def standard_callbacks(run_dir, steps_per_epoch, patience, max_minutes, monitor="val_loss",
                       learning_rate_schedule=None, plateau_min_delta=0.0):
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
