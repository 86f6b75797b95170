"""zoo.training.fit with an optimizer that keeps a moving average of the weights (`use_ema=True`):
validation and best.keras use the average (computed here by hand from the weights after each step),
training goes on from the trained weights, and a run stopped mid-epoch and resumed ends as one that
never stopped."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import AtStep
from zoo.training import TrainingOptions, averaged_weights, fit

MOMENTUM = 0.8
STEPS = 6  # batches an epoch
EPOCHS = 3
SIGNATURE = (tf.TensorSpec((None, 3), tf.float32), tf.TensorSpec((None, 1), tf.float32))


def regression_batches(epoch):
    rng = np.random.default_rng(epoch)
    x = rng.normal(size=(STEPS, 4, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32") + rng.normal(scale=0.3, size=(STEPS, 4, 1)).astype("float32")
    return list(zip(x, y))


VALIDATION = tf.data.Dataset.from_tensor_slices(regression_batches(99)[0]).batch(4)


def regression(momentum=MOMENTUM):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.05, use_ema=momentum is not None, ema_momentum=momentum or 0.99), "mse")
    return model


class WeightsAfterEachStep(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.steps = getattr(self, "steps", [])

    def on_train_batch_end(self, batch, logs=None):
        self.steps.append([keras.ops.convert_to_numpy(w) for w in self.model.trainable_weights])


def train(model, run_dir, extra=(), resume=False):
    return fit(model, regression_batches, STEPS, EPOCHS, run_dir, TrainingOptions(resume=resume, checkpoint_every=2),
               patience=EPOCHS, monitor="val_loss", validation_data=VALIDATION, extra_callbacks=extra,
               signature=SIGNATURE, verbose=0)


def moving_average(steps):
    """Keras' rule: the first step's weights, then a <- m a + (1 - m) w after each step."""
    average = steps[0]
    for weights in steps[1:]:
        average = [MOMENTUM * a + (1 - MOMENTUM) * w for a, w in zip(average, weights)]
    return average


def validation_loss(model, weights):
    model.set_weights(weights)
    return model.evaluate(VALIDATION, verbose=0)


def test_validation_and_the_kept_model_use_the_average_and_training_the_trained_weights(tmp_path):
    model, recorder = regression(), WeightsAfterEachStep()
    history = train(model, tmp_path, [recorder]).history
    averages = [moving_average(recorder.steps[:STEPS * (epoch + 1)]) for epoch in range(EPOCHS)]
    probe = regression(None)
    np.testing.assert_allclose(history["val_loss"], [validation_loss(probe, a) for a in averages], rtol=1e-5)
    trained = recorder.steps[-1]
    assert not np.allclose(trained[0], averages[-1][0])  # the test can tell them apart
    for weight, value in zip(model.trainable_weights, trained):  # not the average Keras copies in at the end
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), value)
    best = int(np.argmin(history["val_loss"]))
    kept = keras.saving.load_model(tmp_path / "best.keras")
    for weight, value in zip(kept.trainable_weights, averages[best]):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(weight), value, rtol=1e-6)


def test_averaged_weights_swaps_in_the_average_for_the_block_only(tmp_path):
    model = regression()
    train(model, tmp_path)
    trained = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    with averaged_weights(model):
        inside = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    for value, average in zip(inside, model.optimizer._model_variables_moving_average):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(average))
    for weight, value in zip(model.trainable_weights, trained):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(weight), value)
    plain = regression(None)
    with averaged_weights(plain):  # an optimizer without an average: nothing changes
        assert plain.optimizer.use_ema is False


def interrupt():
    raise KeyboardInterrupt


@pytest.mark.parametrize("stop_step", [3, 8])  # mid-epoch 1 and mid-epoch 2 (checkpoints every 2 steps)
def test_a_run_stopped_mid_epoch_and_resumed_ends_as_one_that_never_stopped(tmp_path, stop_step):
    uninterrupted = regression()
    train(uninterrupted, tmp_path / "whole")
    with pytest.raises(KeyboardInterrupt):
        train(regression(), tmp_path / "stopped", [AtStep(stop_step + 1, interrupt)])
    resumed = regression()
    train(resumed, tmp_path / "stopped", resume=True)
    for a, b in zip(uninterrupted.variables + uninterrupted.optimizer.variables,
                    resumed.variables + resumed.optimizer.variables):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6,
                                   err_msg=a.path)
    kept = [keras.saving.load_model(tmp_path / run / "best.keras") for run in ("whole", "stopped")]
    for a, b in zip(*(k.trainable_weights for k in kept)):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), rtol=1e-6)
