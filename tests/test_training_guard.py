"""zoo.training.NonFiniteGuard: a non-finite gradient injected at step k is rolled back and training
finishes with a finite loss; without the guard the same run ends in NaN."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.training import NonFiniteGuard

STEPS = 30


class PoisonedRegression(keras.Model):
    """A linear regression whose gradient is multiplied by NaN at the steps in `poisoned` (1-based,
    counted by a variable outside the model, so a rollback does not rewind it)."""

    def __init__(self, poisoned, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(1)
        self.poisoned = tf.constant(poisoned, tf.int64)
        self.counter = None

    def call(self, x):
        return self.dense(x)

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            y_pred = self(x, training=True)
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred)
        gradients = tape.gradient(loss, self.trainable_variables)
        self.counter.assign_add(1)
        poison = tf.where(tf.reduce_any(self.poisoned == self.counter), np.nan, 1.0)
        self.optimizer.apply([g * poison for g in gradients], self.trainable_variables)
        for metric in self.metrics:
            metric.update_state(loss) if metric.name == "loss" else metric.update_state(y, y_pred)
        return {m.name: m.result() for m in self.metrics}


def train(poisoned, guard):
    keras.utils.set_random_seed(0)
    model = PoisonedRegression(poisoned)
    model.counter = tf.Variable(0, dtype=tf.int64, trainable=False)  # set after init: not tracked by Keras
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    x = np.random.default_rng(0).normal(size=(STEPS * 8, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], "float32")
    history = model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                        callbacks=[guard] if guard else [])
    return model, history.history["loss"][-1]


def test_a_poisoned_gradient_is_rolled_back_and_training_finishes(capsys):
    guard = NonFiniteGuard(snapshot_every=5)
    model, loss = train([12], guard)
    assert np.isfinite(loss) and loss < 0.5
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)
    assert guard.rollbacks == 1
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025)
    assert "NonFiniteGuard: loss nan at step 13: weights and optimizer state restored from step 10" in capsys.readouterr().out


def test_without_the_guard_the_same_run_ends_in_nan():
    _, loss = train([12], guard=None)
    assert np.isnan(loss)


def test_the_guard_gives_up_after_its_rollbacks():
    with pytest.raises(RuntimeError, match="3 rollbacks did not help"):
        train(list(range(10, STEPS + 1)), NonFiniteGuard(snapshot_every=5, max_rollbacks=3))
