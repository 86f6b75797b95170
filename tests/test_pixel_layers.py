"""PixelRNN layers: a per-pixel reference (outputs and gradients), causality pixel by pixel, finite
differences through the fused backward pass over lines, masked convolutions, saving, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import Conv1DLSTMCell, DiagonalBiLSTM, MaskedConv2D, RowLSTM, recurrence
from zoo.layers.pixel_lines import neighbours, neighbours_transpose, skew, unskew
from zoo.models.pixel_rnn import CORES, PixelRNN

ROWS, COLUMNS, FEATURES, UNITS = 4, 5, 2, 3
LAYERS = {
    "row_lstm_B": lambda: RowLSTM(UNITS),
    "row_lstm_A": lambda: RowLSTM(UNITS, mask_type="A", input_width=5),
    "diagonal_bilstm_B": lambda: DiagonalBiLSTM(UNITS),
    "diagonal_bilstm_A": lambda: DiagonalBiLSTM(UNITS, mask_type="A", input_width=3),
}


def images(batch=2, seed=0, features=FEATURES):
    return tf.constant(np.random.default_rng(seed).normal(size=(batch, ROWS, COLUMNS, features)), tf.float32)


def built(name):
    layer = LAYERS[name]()
    layer(images())
    rng = np.random.default_rng(1)  # biases away from zero, so that every weight matters
    for weight in layer.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    return layer


# --- the per-pixel reference ----------------------------------------------------------------------------


def lstm_pixel(z, c_previous):
    i, f, g, o = tf.split(z, 4, axis=-1)
    c = tf.sigmoid(f) * c_previous + tf.sigmoid(i) * tf.tanh(g)
    return tf.sigmoid(o) * tf.tanh(c), c


def input_term(cell, x, r, j):
    """z_x at pixel (r, j): the masked row convolution, tap by tap."""
    z = cell.bias
    for k, offset in enumerate(cell.input_offsets):
        if 0 <= j + offset < x.shape[2]:
            z = z + x[:, r, j + offset] @ cell.kernel[k * FEATURES : (k + 1) * FEATURES]
    return z


def row_lstm_reference(layer, x):
    """h(r, j) from h(r-1, j-1..j+1), c(r-1, j) and the input row r, one pixel at a time."""
    cell, zeros = layer.cells[0], tf.zeros((x.shape[0], UNITS))
    h_above, c_above = [zeros] * COLUMNS, [zeros] * COLUMNS
    rows = []
    for r in range(ROWS):
        h_row, c_row = [], []
        for j in range(COLUMNS):
            z = input_term(cell, x, r, j)
            for k, offset in enumerate(cell.recurrent_offsets):
                if 0 <= j + offset < COLUMNS:
                    z = z + h_above[j + offset] @ cell.recurrent_kernel[k * UNITS : (k + 1) * UNITS]
            h, c = lstm_pixel(z, c_above[j])
            h_row.append(h)
            c_row.append(c)
        h_above, c_above = h_row, c_row
        rows.append(tf.stack(h_row, axis=1))
    return tf.stack(rows, axis=1)  # (B, R, C, H)


def diagonal_reference(cell, x):
    """One direction: h(r, j) from h(r-1, j) and h(r, j-1), c(r, j-1), in raster order."""
    zeros = tf.zeros((x.shape[0], UNITS))
    h, c = {}, {}
    for r in range(ROWS):
        for j in range(COLUMNS):
            above, left = h.get((r - 1, j), zeros), h.get((r, j - 1), zeros)
            z = input_term(cell, x, r, j) + above @ cell.recurrent_kernel[:UNITS] + left @ cell.recurrent_kernel[UNITS:]
            h[r, j], c[r, j] = lstm_pixel(z, c.get((r, j - 1), zeros))
    return tf.stack([tf.stack([h[r, j] for j in range(COLUMNS)], axis=1) for r in range(ROWS)], axis=1)


def diagonal_bilstm_reference(layer, x):
    left = diagonal_reference(layer.cells[0], x)
    right = tf.reverse(diagonal_reference(layer.cells[1], tf.reverse(x, [2])), [2])
    return left + tf.pad(right[:, :-1], [[0, 0], [1, 0], [0, 0], [0, 0]])  # the right sweep one row down


def reference(name, layer, x):
    return (row_lstm_reference if name.startswith("row") else diagonal_bilstm_reference)(layer, x)


@pytest.mark.parametrize("name", LAYERS)
def test_layer_equals_per_pixel_reference_in_outputs_and_gradients(name):
    layer, x = built(name), images()
    results = {}
    for which in ("layer", "reference"):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True) if which == "layer" else reference(name, layer, x)
            loss = tf.reduce_sum(tf.sin(3.0 * y))
        results[which] = (y, tape.gradient(loss, [x, *layer.trainable_weights]))
    np.testing.assert_allclose(results["layer"][0], results["reference"][0], rtol=1e-5, atol=1e-6)
    for got, want in zip(results["layer"][1], results["reference"][1]):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


# --- causality ------------------------------------------------------------------------------------------


def dependence(function, x):
    """(R*C, R*C) bool: entry (p, q) says whether the output at pixel p (raster index) moves with input pixel q."""
    seen = np.zeros((ROWS * COLUMNS, ROWS * COLUMNS), bool)
    for p in range(ROWS * COLUMNS):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = function(x)
            out = tf.reduce_sum(y[:, p // COLUMNS, p % COLUMNS])
        gradient = tape.gradient(out, x).numpy()  # (B, R, C, D)
        seen[p] = np.abs(gradient).sum(axis=(0, 3)).reshape(-1) > 0
    return seen


def raster_order(mask_type):
    """(R*C, R*C): which input pixels each output pixel may see: those before it (and itself under mask B)."""
    p, q = np.indices((ROWS * COLUMNS, ROWS * COLUMNS))
    return q < p if mask_type == "A" else q <= p


@pytest.mark.parametrize("name", LAYERS)
def test_no_pixel_sees_its_future(name):
    layer = built(name)
    seen = dependence(lambda x: layer(x, training=True), images(batch=1))
    allowed = raster_order(name[-1])
    assert not np.any(seen & ~allowed), f"pixels seeing the future: {np.argwhere(seen & ~allowed)}"
    # and the layer does see what it should: the pixels on its left and above, and under mask B (r - 1, j + 1)
    # above right (a Row LSTM through its (1 x 3) state convolution, a Diagonal BiLSTM through its right-to-left
    # sweep; under mask A a Row LSTM's state at (r - 1, j + 1) has not seen its own input)
    for r, j in [(1, 1), (2, 3), (3, 1)]:
        p = r * COLUMNS + j
        assert seen[p, p - 1] and seen[p, p - COLUMNS]
        assert seen[p, p - COLUMNS + 1] or name == "row_lstm_A"


@pytest.mark.parametrize("core", CORES)
def test_the_model_never_sees_the_pixel_it_predicts(core):
    model = PixelRNN(core, units=2, num_layers=2, features=4, output_features=4, image_shape=(ROWS, COLUMNS))
    x = images(batch=1, features=1)
    model(x)
    rng = np.random.default_rng(2)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    seen = dependence(lambda x: model(x, training=True), x)
    assert not np.any(seen & ~raster_order("A"))
    assert seen[ROWS * COLUMNS - 1, 0] or core == "masked_conv"  # the last pixel sees the first (LSTM cores)


# --- the fused backward pass over lines -----------------------------------------------------------------


@pytest.mark.parametrize("offsets", [(-1, 0, 1), (-1, 0)])
def test_fused_backward_over_lines_matches_finite_differences_and_autodiff(offsets):
    cell = Conv1DLSTMCell(UNITS, recurrent_offsets=offsets)
    cell.build((None, None, FEATURES))
    rng = np.random.default_rng(4)
    zx = tf.constant(rng.normal(size=(3, 2, COLUMNS, 4 * UNITS)), tf.float64)  # (T, B, L, 4H)
    h0, c0 = (tf.constant(rng.normal(scale=0.5, size=(2, COLUMNS, UNITS)), tf.float64) for _ in range(2))
    kernel = tf.constant(rng.normal(scale=0.5, size=cell.recurrent_kernel.shape), tf.float64)

    @tf.function  # traced once: the differences call it many times
    def loss(zx, h0, kernel, fused=True):
        if fused:
            outputs, final = recurrence.run_recurrence(cell, zx, [h0, c0], None, [kernel], True, jit_compile=False)
        else:
            outputs, final = recurrence._scan(cell, zx, [h0, c0], None, [kernel], True, False)
        return tf.reduce_sum(tf.sin(outputs)) + sum(tf.reduce_sum(s * s) for s in final)

    theoretical, numerical = tf.test.compute_gradient(loss, [zx, h0, kernel], delta=1e-6)
    for t, n in zip(theoretical, numerical):
        np.testing.assert_allclose(t, n, rtol=1e-6, atol=1e-8)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([zx, h0, kernel])
        fused, autodiff = loss(zx, h0, kernel), loss(zx, h0, kernel, fused=False)
    for a, b in zip(tape.gradient(fused, [zx, h0, kernel]), tape.gradient(autodiff, [zx, h0, kernel])):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_neighbours_transpose_is_the_adjoint():
    rng = np.random.default_rng(5)
    x, d = rng.normal(size=(2, 6, 3)), rng.normal(size=(2, 6, 9))
    offsets = (-1, 0, 1)
    np.testing.assert_allclose(np.sum(neighbours(tf.constant(x), offsets) * d),
                               np.sum(x * neighbours_transpose(tf.constant(d), offsets)), rtol=1e-12)


def test_skew_moves_diagonals_into_columns_and_back():
    x = tf.reshape(tf.range(1.0, 1 + 2 * ROWS * COLUMNS), (2, ROWS, COLUMNS, 1))
    skewed = skew(x)
    assert skewed.shape == (2, ROWS, COLUMNS + ROWS - 1, 1)
    for r in range(ROWS):
        for j in range(COLUMNS):
            assert skewed[1, r, r + j, 0] == x[1, r, j, 0]
    assert np.count_nonzero(skewed) == 2 * ROWS * COLUMNS
    np.testing.assert_array_equal(unskew(skewed, COLUMNS), x)


# --- masked convolutions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_masked_convolution_sees_the_rows_above_and_the_left(mask_type):
    layer = MaskedConv2D(1, 3, mask_type=mask_type, use_bias=False, kernel_initializer="ones")
    x = tf.zeros((1, 3, 3, 1))
    seen = np.array([[float(layer(tf.tensor_scatter_nd_update(x, [[0, r, c, 0]], [1.0]))[0, 1, 1, 0])
                      for c in range(3)] for r in range(3)])
    expected = [[1, 1, 1], [1, float(mask_type == "B"), 0], [0, 0, 0]]
    np.testing.assert_array_equal(seen, expected)


# --- saving, shapes, bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["row_lstm_A", "diagonal_bilstm_B"])
def test_config_and_keras_file_round_trip(name, tmp_path):
    layer = built(name)
    copy = type(layer).from_config(layer.get_config())
    copy(images())
    copy.set_weights(layer.get_weights())
    assert copy.get_config() == layer.get_config()
    np.testing.assert_array_equal(copy(images()), layer(images()))
    model = keras.Sequential([keras.Input((ROWS, COLUMNS, FEATURES)), layer])
    model.save(tmp_path / "pixel.keras")
    loaded = keras.models.load_model(tmp_path / "pixel.keras")
    np.testing.assert_array_equal(loaded(images()), model(images()))


def test_a_cell_steps_over_one_line():
    cell = Conv1DLSTMCell(UNITS)
    line, states = tf.ones((2, COLUMNS, FEATURES)), [tf.zeros((2, COLUMNS, UNITS))] * 2
    h, (h_again, c) = cell(line, states)
    assert h.shape == c.shape == (2, COLUMNS, UNITS) and h is h_again
    with pytest.raises(ValueError, match=r"steps on lines of shape \(batch, length, features\)"):
        cell(tf.ones((2, FEATURES)), states)


@pytest.mark.parametrize("bad, message", [
    (tf.ones((2, ROWS, COLUMNS)), r"expects images of shape \(batch, rows, columns, 2\); got shape \(2, 4, 5\)"),
    (tf.ones((2, ROWS, COLUMNS, 3)), r"expects images of shape \(batch, rows, columns, 2\)"),
    (tf.ones((2, ROWS, COLUMNS, 2), tf.int32), "floating-point images"),
])
def test_bad_images_are_value_errors(bad, message):
    layer = built("diagonal_bilstm_B")
    with pytest.raises(ValueError, match=message):
        layer(bad)


def test_mask_a_needs_a_tap():
    with pytest.raises(ValueError, match="mask 'A' leaves a width-1 input convolution no tap"):
        DiagonalBiLSTM(UNITS, mask_type="A")
    with pytest.raises(ValueError, match="`mask_type` must be 'A' or 'B'"):
        RowLSTM(UNITS, mask_type="C")
