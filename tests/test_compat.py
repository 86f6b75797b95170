"""zoo/_compat.py: each private Keras hook does what the zoo relies on, with the pinned versions;
a missing hook fails loudly, naming itself."""

import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import _compat


def test_the_installed_versions_are_the_tested_ones():
    assert _compat.version_mismatches() == []


def test_a_missing_private_attribute_names_the_hook_and_the_versions():
    with pytest.raises(_compat.CompatibilityError, match=r"flatten_layers: .*_flatten_layers is missing in keras 3\."):
        _compat.flatten_layers(types.SimpleNamespace())


def test_flatten_layers_reaches_nested_layers():
    inner = keras.Sequential([keras.layers.Dense(2, name="deep")], name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="top")])
    names = [layer.name for layer in _compat.flatten_layers(outer) if not isinstance(layer, keras.layers.InputLayer)]
    assert names[1:] == ["inner", "deep", "top"]  # after the model itself


class MaskedOutput(keras.Model):
    def call(self, x):
        return _compat.set_keras_mask(x * 1.0, x[..., 0] > 0)


def test_set_keras_mask_keeps_masked_positions_out_of_the_loss():
    x = np.array([[[1.0, 3.0], [-1.0, 100.0]]], np.float32)  # (1, 2, 2): the second position is masked
    model = MaskedOutput(name="masked_output")
    model.compile(loss="mse")
    loss = model.evaluate(x, np.zeros_like(x), verbose=0)
    assert loss == pytest.approx((1.0 + 9.0) / 2)  # the first position alone


def test_moving_average_variables_pairs_each_weight_with_its_average():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.1, use_ema=True, ema_momentum=0.5), loss="mse")
    for _ in range(3):  # train_on_batch: fit would end by copying the averages into the weights
        model.train_on_batch(np.ones((4, 2)), np.ones((4, 1)))
    weights, averages = _compat.moving_average_variables(model.optimizer)
    assert [w.shape for w in weights] == [a.shape for a in averages] == [(2, 1), (1,)]
    assert {id(w) for w in weights} == {id(w) for w in model.trainable_weights}
    assert not np.allclose(weights[0].numpy(), averages[0].numpy())  # an average lags the weights


def test_build_before_distributing_builds_once_and_fit_does_not_rebuild():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    batch = (np.ones((4, 2), np.float32), np.ones((4, 1), np.float32))
    _compat.build_before_distributing(model, batch)
    assert model._compile_loss.built and model._compile_metrics.built
    assert model._maybe_symbolic_build() is None
    model.fit(*batch, verbose=0)


def test_average_scalar_logs_across_workers_patches_once_and_keeps_other_reductions():
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    try:
        _compat.average_scalar_logs_across_workers()
        _compat.average_scalar_logs_across_workers()  # idempotent: wraps Keras' own function once
        patched = trainer.reduce_per_replica
        assert patched.keras_reduce is getattr(original, "keras_reduce", original)
        strategy = tf.distribute.get_strategy()
        assert float(patched(tf.constant(3.0), strategy, "mean")) == 3.0
    finally:
        trainer.reduce_per_replica = original


def test_gradient_tape_watches_only_what_an_active_tape_watches():
    x, y = tf.constant(1.0), tf.constant(2.0)
    assert not _compat.gradient_tape_watches([x])
    with tf.GradientTape() as tape:
        tape.watch(x)
        assert _compat.gradient_tape_watches([y, x]) and not _compat.gradient_tape_watches([y])

    @tf.function
    def traced(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            watched = _compat.gradient_tape_watches([x])
        return tf.constant(watched) if watched else tf.constant(False)

    assert bool(traced(x))
