"""`BestModel`: best.keras, the model at its best validation value so far."""

from pathlib import Path

import keras
import numpy as np

from zoo.training.files import save_model_atomically
from zoo.training.strategies import is_chief
from zoo.training.weight_average import averaged_weights


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
