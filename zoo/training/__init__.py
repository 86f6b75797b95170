"""The training loop every recipe shares, a thin layer over `model.fit` and Keras callbacks.

    loop.py                 `fit`: resumable `model.fit` over epochs of batches
    options.py              `TrainingOptions` (budget, resume, checkpoint interval, clipping), `apply_clipping`
    callbacks.py            `standard_callbacks`: the callbacks every run uses
    training_checkpoint.py  `TrainingCheckpoint`: the resumable state of a run, written atomically
    best_model.py           `BestModel`: best.keras, by a validation metric
    history_log.py          `HistoryLog`: history.csv, one row an epoch
    time_budget.py          `TimeBudget`: a wall-clock budget
    non_finite_guard.py     `NonFiniteGuard`: a rollback when the loss turns non-finite
    weight_average.py       `WeightAverage`, `averaged_weights`: a moving average of the weights
    strategies.py           `distribution_strategy` (tf.distribute), `is_chief`
    data.py                 `endless_stream`, `dataset_of`, `bucketed_indices`: the batches
    files.py                `save_model_atomically`, `write_atomically`
    members.py              `train_members`, `member_dirs`: an ensemble's members, one after another
    state.py                `state_variables`: what training changes
    precision.py            `--precision`: float32 or mixed_bfloat16, kept with the run
"""

from zoo.training.best_model import BestModel
from zoo.training.callbacks import standard_callbacks
from zoo.training.data import bucketed_indices, dataset_of, endless_stream
from zoo.training.files import save_model_atomically
from zoo.training.history_log import HistoryLog
from zoo.training.loop import fit
from zoo.training.members import member_dirs, train_members
from zoo.training.non_finite_guard import NonFiniteGuard
from zoo.training.options import TrainingOptions, apply_clipping
from zoo.training.precision import record_precision, run_precision, training_precision, use_precision
from zoo.training.strategies import distribution_strategy, is_chief
from zoo.training.time_budget import TimeBudget
from zoo.training.training_checkpoint import TrainingCheckpoint
from zoo.training.weight_average import WeightAverage, averaged_weights, uses_weight_average

__all__ = [
    "BestModel", "standard_callbacks", "bucketed_indices", "dataset_of", "endless_stream", "save_model_atomically",
    "HistoryLog", "fit", "member_dirs", "train_members", "NonFiniteGuard", "TrainingOptions", "apply_clipping", "distribution_strategy", "is_chief",
    "TimeBudget", "TrainingCheckpoint", "WeightAverage", "averaged_weights", "uses_weight_average",
    "record_precision", "run_precision", "training_precision", "use_precision",
]
