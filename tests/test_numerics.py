"""Numerical claims: zoo layers match keras.layers; the fused backward pass matches autodiff
and finite differences; pinned outputs per cell."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import layers as zl
from zoo.layers import recurrence

BATCH, STEPS, FEATURES, UNITS = 3, 6, 5, 4

CELLS = {
    "SimpleRNN": (zl.SimpleRNN, keras.layers.SimpleRNN, {}),
    "LSTM": (zl.LSTM, keras.layers.LSTM, {}),
    "GRU": (zl.GRU, keras.layers.GRU, {}),
    "GRU-cho": (zl.GRU, keras.layers.GRU, {"reset_after": False}),
}

MASKS = {
    "none": None,
    "right-padded": np.array([[1] * 6, [1] * 4 + [0] * 2, [1] + [0] * 5], bool),
    "arbitrary": np.array([[1, 0, 1, 1, 0, 1], [0, 1, 1, 0, 1, 0], [0] * 6], bool),
}


def random_inputs(seed=0, shape=(BATCH, STEPS, FEATURES)):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def keras_and_zoo(name, *, jit_compile=True, **options):
    zoo_class, keras_class, cell_options = CELLS[name]
    reference = keras_class(UNITS, **cell_options, **options)
    ours = zoo_class(UNITS, jit_compile=jit_compile, **cell_options, **options)
    reference.build((None, STEPS, FEATURES))
    ours.build((None, STEPS, FEATURES))
    # random, not the initializers' values, so every gate and bias matters
    rng = np.random.default_rng(1)
    weights = [rng.normal(scale=0.5, size=w.shape).astype("float32") for w in reference.get_weights()]
    reference.set_weights(weights)
    ours.set_weights(weights)
    return reference, ours


def outputs_and_gradients(layer, inputs, mask, training):
    inputs = tf.constant(inputs)
    mask = None if mask is None else tf.constant(mask)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        results = layer(inputs, mask=mask, training=training)
        results = list(results) if isinstance(results, (list, tuple)) else [results]
        # every output and state feeds the loss, with different weights
        loss = sum(tf.reduce_sum(tf.sin(tf.cast(r, "float32") * (i + 1.0))) for i, r in enumerate(results))
    grads = tape.gradient(loss, [inputs, *layer.trainable_weights])
    return [r.numpy() for r in results], [g.numpy() for g in grads]


def assert_all_close(actual, expected, rtol=1e-5, atol=1e-6):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("mask_name", list(MASKS))
@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_matches_keras_outputs_states_and_gradients(name, mask_name, return_sequences, go_backwards):
    reference, ours = keras_and_zoo(
        name, return_sequences=return_sequences, return_state=True, go_backwards=go_backwards
    )
    inputs, mask = random_inputs(), MASKS[mask_name]
    expected = outputs_and_gradients(reference, inputs, mask, training=True)
    actual = outputs_and_gradients(ours, inputs, mask, training=True)
    assert_all_close(actual[0], expected[0])
    assert_all_close(actual[1], expected[1])


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("jit_compile", [True, False])
@pytest.mark.parametrize("training", [True, False])
def test_every_loop_variant_matches_keras(name, jit_compile, training):
    """XLA or not; history recorded in the forward pass (training) or recomputed for the gradient."""
    reference, ours = keras_and_zoo(name, jit_compile=jit_compile, return_sequences=True, return_state=True)
    inputs, mask = random_inputs(2), MASKS["right-padded"]
    expected = outputs_and_gradients(reference, inputs, mask, training=True)
    actual = outputs_and_gradients(ours, inputs, mask, training=training)
    assert_all_close(actual[0], expected[0])
    assert_all_close(actual[1], expected[1])


def forward_loops_run(monkeypatch, layer, inputs, gradient):
    """The `record` flag of every forward loop run while `gradient(layer, inputs)` runs (graph loops)."""
    runs, scan = [], recurrence._scan
    monkeypatch.setattr(
        recurrence, "_scan", lambda cell, zx, states, mask, weights, sequences, record, *rest: (
            runs.append(record) or scan(cell, zx, states, mask, weights, sequences, record, *rest)
        ),
    )
    gradient(layer, tf.constant(inputs))
    return runs


def tape_gradient(layer, inputs):
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(inputs))  # no `training`: a custom loop as users write it
    return tape.gradient(loss, layer.trainable_weights)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_a_gradient_tape_records_in_the_one_forward_pass(monkeypatch, name):
    """Called under a tape without `training=True`, the forward loop records the history and the
    gradient does not rerun it; with no tape (inference) it records nothing; `tf.gradients`, which no
    tape announces, reruns the loop to record and gets the same gradient."""
    reference, ours = keras_and_zoo(name, jit_compile=False)
    inputs = random_inputs(3)
    assert forward_loops_run(monkeypatch, ours, inputs, tape_gradient) == [True]
    assert forward_loops_run(monkeypatch, ours, inputs, lambda layer, x: layer(x)) == [False]

    @tf.function
    def graph_gradient(layer, x):
        return tf.gradients(tf.reduce_sum(layer(x)), layer.trainable_weights)

    assert forward_loops_run(monkeypatch, ours, inputs, graph_gradient) == [False, True]
    assert_all_close(
        [g.numpy() for g in graph_gradient(ours, tf.constant(inputs))],
        [g.numpy() for g in tape_gradient(reference, tf.constant(inputs))],
    )


# bfloat16 keeps 8 bits of mantissa: a product rounds to within 2**-8 relative. Over 6 steps of
# these random weights, outputs, states and gradients stay within this fraction of each tensor's
# largest float32 magnitude (measured worst case 0.021, a gradient).
BFLOAT16_TOLERANCE = 0.03


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("jit_compile", [True, False])
def test_mixed_bfloat16_matches_keras_float32_within_its_tolerance(name, jit_compile):
    """Under mixed_bfloat16 both matmuls (hoisted projection, recurrent, and their gradients in the
    fused backward pass) run in bfloat16, the states and gate math in float32."""
    reference, _ = keras_and_zoo(name, return_sequences=True, return_state=True)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    zoo_class, _, cell_options = CELLS[name]
    ours = zoo_class(UNITS, jit_compile=jit_compile, return_sequences=True, return_state=True, **cell_options)
    ours.build((None, STEPS, FEATURES))
    ours.set_weights(reference.get_weights())
    inputs, mask = random_inputs(4), MASKS["right-padded"]
    expected = outputs_and_gradients(reference, inputs, mask, training=True)
    actual = outputs_and_gradients(ours, inputs, mask, training=True)
    assert actual[0][0].dtype == "bfloat16" and all(g.dtype == np.float32 for g in actual[1])
    for a, e in zip(actual[0] + actual[1], expected[0] + expected[1]):
        error = np.max(np.abs(np.asarray(a, np.float32) - e)) / np.max(np.abs(e))
        assert 0 < error < BFLOAT16_TOLERANCE  # not 0: the bfloat16 path did run


@pytest.mark.parametrize("name", list(CELLS))
def test_initial_state_matches_keras(name):
    reference, ours = keras_and_zoo(name, return_sequences=True, return_state=True)
    rng = np.random.default_rng(3)
    states = [rng.normal(size=(BATCH, size)).astype("float32") for size in ours.state_size]
    inputs = random_inputs(4)
    expected = reference(inputs, initial_state=states)
    actual = ours(inputs, initial_state=states)
    assert_all_close([a.numpy() for a in actual], [e.numpy() for e in expected])


# --- recurrent dropout ----------------------------------------------------------------


@pytest.mark.parametrize("name", list(CELLS))
@pytest.mark.parametrize("mask_name", ["none", "arbitrary"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_recurrent_dropout_matches_keras_under_the_same_masks(name, mask_name, go_backwards):
    """Keras' recurrent dropout: gate g reads h_{t-1} * m_g, one (B, H) mask per gate for the
    whole call. Both layers get the same masks; outputs, states and gradients agree."""
    reference, ours = keras_and_zoo(
        name, recurrent_dropout=0.5, return_sequences=True, return_state=True, go_backwards=go_backwards
    )
    masks = recurrent_dropout_mask(ours.cell, tf.float32)  # (B, gates, H)
    per_gate = [masks[:, g] for g in range(ours.cell.gate_count)]
    reference.cell._recurrent_dropout_mask = per_gate if len(per_gate) > 1 else per_gate[0]  # Keras' cached masks
    ours.recurrent_dropout_mask = lambda batch_size: masks
    inputs, mask = random_inputs(6), MASKS[mask_name]
    expected = outputs_and_gradients(reference, inputs, mask, training=True)
    actual = outputs_and_gradients(ours, inputs, mask, training=True)
    assert_all_close(actual[0], expected[0])
    assert_all_close(actual[1], expected[1], atol=1e-5)  # float32 sums in another order, of masks of 2s


@pytest.mark.parametrize("name", ["LSTM", "GRU-cho"])
def test_recurrent_dropout_draws_one_mask_per_gate_and_call(name):
    """Each call draws new (B, gates, H) masks of zeros and 1 / (1 - rate); inference uses none."""
    reference, ours = keras_and_zoo(name, recurrent_dropout=0.5, return_sequences=True)
    plain = keras_and_zoo(name, return_sequences=True)[1]
    inputs = random_inputs(7)
    first, second = ours.recurrent_dropout_mask(BATCH), ours.recurrent_dropout_mask(BATCH)
    assert first.shape == (BATCH, ours.cell.gate_count, UNITS)
    assert set(np.unique(first.numpy())) == {0.0, 2.0}
    assert not np.array_equal(first.numpy(), second.numpy())
    np.testing.assert_array_equal(ours(inputs, training=False).numpy(), plain(inputs).numpy())
    trained = ours(inputs, training=True).numpy()
    assert not np.allclose(trained, plain(inputs).numpy(), atol=1e-3)
    assert not np.allclose(ours(inputs, training=True).numpy(), trained, atol=1e-3)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_weight_dropout_is_the_layer_with_a_dropped_recurrent_kernel(name):
    """Training with weight_dropout equals, in outputs and gradients, the plain layer whose U is the
    DropConnect-ed U * M / (1 - rate) of the same seed; M is one (H, G*H) mask per call; inference drops nothing."""
    rate, seed = 0.5, 5
    plain = keras_and_zoo(name, return_sequences=True)[1]
    zoo_class, _, cell_options = CELLS[name]
    ours = zoo_class(UNITS, weight_dropout=rate, seed=seed, return_sequences=True, **cell_options)
    ours.build((None, STEPS, FEATURES))
    ours.set_weights(plain.get_weights())
    inputs = tf.constant(random_inputs(8))
    np.testing.assert_array_equal(ours(inputs, training=False).numpy(), plain(inputs).numpy())
    kernel = plain.cell.recurrent_kernel
    dropped = keras.random.dropout(tf.convert_to_tensor(kernel), rate, seed=keras.random.SeedGenerator(seed))
    assert set(np.unique(dropped.numpy() == 0)) == {False, True}

    def output_and_gradients(layer, run):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.sin(run(layer)))
        return loss, tape.gradient(loss, layer.trainable_variables)

    loss, gradients = output_and_gradients(ours, lambda layer: layer(inputs, training=True))
    original = kernel.numpy()
    kernel.assign(dropped)
    reference_loss, reference_gradients = output_and_gradients(plain, lambda layer: layer(inputs))
    kernel.assign(original)
    np.testing.assert_allclose(loss.numpy(), reference_loss.numpy(), rtol=1e-5)
    keep = (dropped.numpy() != 0) / (1 - rate)  # d(U * M / (1 - rate)) / dU
    expected = [g.numpy() * keep if v is kernel else g.numpy() for g, v in zip(reference_gradients,
                                                                               plain.trainable_variables)]
    for got, want in zip(gradients, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours(inputs, training=True).numpy(), ours(inputs, training=True).numpy())  # new masks


# --- the fused backward pass ---------------------------------------------------------


def cell_and_loop_inputs(name, dtype, seed=0):
    zoo_class, _, cell_options = CELLS[name]
    cell = zoo_class.cell_class(UNITS, **cell_options)
    cell.build((None, FEATURES))
    rng = np.random.default_rng(seed)
    zx = tf.constant(rng.normal(size=(STEPS, BATCH, cell.gate_width)), dtype)
    states = [tf.constant(rng.normal(scale=0.5, size=(BATCH, s)), dtype) for s in cell.state_size]
    weights = [tf.constant(rng.normal(scale=0.5, size=w.shape), dtype) for w in cell.recurrent_weights()]
    return cell, zx, states, weights


def loop_loss(cell, zx, states, weights, mask, fused, recurrent_mask=None):
    """A scalar of all outputs and final states, through the fused pass or through autodiff of the loop."""
    if fused:
        outputs, final = recurrence.run_recurrence(
            cell, zx, states, mask, weights, True, jit_compile=False, recurrent_mask=recurrent_mask
        )
    else:
        outputs, final = recurrence._scan(cell, zx, states, mask, weights, True, False, recurrent_mask)
    return tf.reduce_sum(tf.sin(outputs)) + sum(tf.reduce_sum(s * s) for s in final)


FUSED_CELLS = ["SimpleRNN", "LSTM", "GRU"]
TIME_MAJOR_MASK = tf.constant(MASKS["arbitrary"].T[:, :, None])  # (T, B, 1)


def recurrent_dropout_mask(cell, dtype, rate=0.5, seed=7):
    """A fixed recurrent dropout mask (B, gates, H): 0 or 1 / (1 - rate)."""
    kept = np.random.default_rng(seed).random((BATCH, cell.gate_count, cell.units)) >= rate
    return tf.constant(kept / (1.0 - rate), dtype)


@pytest.mark.parametrize("name", FUSED_CELLS)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("recurrent_dropout", [False, True])
def test_fused_backward_matches_autodiff(name, masked, recurrent_dropout):
    cell, zx, states, weights = cell_and_loop_inputs(name, tf.float32)
    mask = TIME_MAJOR_MASK if masked else None
    dropped = recurrent_dropout_mask(cell, tf.float32) if recurrent_dropout else None
    sources = [zx, *states, *weights]
    gradients = {}
    for fused in (True, False):
        with tf.GradientTape() as tape:
            tape.watch(sources)
            loss = loop_loss(cell, zx, states, weights, mask, fused, dropped)
        gradients[fused] = tape.gradient(loss, sources)
    assert_all_close(gradients[True], gradients[False])


@pytest.mark.parametrize("name", FUSED_CELLS)
@pytest.mark.parametrize("recurrent_dropout", [False, True])
def test_fused_backward_matches_finite_differences(name, recurrent_dropout):
    cell, zx, states, weights = cell_and_loop_inputs(name, tf.float64, seed=5)
    zx, weights = zx[:3], weights  # 3 steps keep the numeric Jacobian small
    dropped = recurrent_dropout_mask(cell, tf.float64) if recurrent_dropout else None

    @tf.function  # traced once: the differences call it many times
    def loss(zx, h0, *weights):
        return loop_loss(cell, zx, [h0, *states[1:]], list(weights), None, True, dropped)

    theoretical, numerical = tf.test.compute_gradient(loss, [zx, states[0], *weights], delta=1e-6)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-8)


def test_the_fused_backward_is_used_where_it_applies():
    assert zl.LSTMCell(2).fused_backward and zl.SimpleRNNCell(2).fused_backward
    assert zl.GRUCell(2).fused_backward and not zl.GRUCell(2, reset_after=False).fused_backward


# --- pinned outputs ------------------------------------------------------------------

# Weights w_k = 0.1 * sin(k) over each weight's flat index, inputs 0.5 * cos(k):
# outputs of the last step, computed once and pinned (they also equal keras.layers').
PINNED = {
    "SimpleRNN": [[0.0424627, 0.1341822], [-0.0225481, 0.0635138]],
    "LSTM": [[-0.0444825, -0.0543274], [-0.0239896, -0.0427834]],
    "GRU": [[-0.1090388, -0.1408265], [-0.0660895, -0.0805892]],
    "GRU-cho": [[-0.0837845, -0.1024052], [-0.0420588, -0.0396149]],
}


def pinned_layer_output(name):
    zoo_class, _, cell_options = CELLS[name]
    layer = zoo_class(2, **cell_options)
    layer.build((None, 3, 3))
    layer.set_weights([0.1 * np.sin(np.arange(w.size)).reshape(w.shape) for w in layer.get_weights()])
    inputs = 0.5 * np.cos(np.arange(2 * 3 * 3)).reshape(2, 3, 3).astype("float32")
    return layer(inputs).numpy()


@pytest.mark.parametrize("name", list(PINNED))
def test_pinned_outputs(name):
    np.testing.assert_allclose(pinned_layer_output(name), PINNED[name], atol=1e-6)
