"""`WeightAverage`: validation on the optimizer's moving average of the weights (`use_ema=True`),
training on the trained weights."""

import contextlib

import keras

from zoo._compat import moving_average_variables


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
    weights, averages = moving_average_variables(model.optimizer)
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
