"""`NonFiniteGuard`: rolls training back to an in-memory snapshot when the loss turns non-finite."""

import keras
import numpy as np

from zoo.training.state import state_variables


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
        values = [keras.ops.convert_to_numpy(v) for v in state_variables(self.model)]
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
        for variable, value in zip(state_variables(self.model), self.snapshot):
            variable.assign(value)
        rate = self.model.optimizer.learning_rate
        if isinstance(rate, keras.Variable):
            rate.assign(rate * self.factor)
        self.model.reset_metrics()
        print(f"\nNonFiniteGuard: loss {loss} at step {self.steps}: weights and optimizer state restored from "
              f"step {self.snapshot_step}, learning rate now {float(keras.ops.convert_to_numpy(rate)):.3g} "
              f"(rollback {self.rollbacks} of at most {self.max_rollbacks})", flush=True)
