"""Behaviour of the zoo layers: Stacked, Bidirectional, SequencePooling, masking, stateful
layers, initialisation, dropout, training with model.fit, and mixed precision."""

import keras
import numpy as np
import pytest

from zoo.layers import GRU, LSTM, Bidirectional, SequencePooling, SimpleRNN, Stacked

B, T, D = 2, 6, 3


def floats(shape=(B, T, D), seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


def np_list(outputs):
    return [np.asarray(o) for o in outputs]


def built(layer, shape=(B, T, D)):
    layer.build(shape)
    return layer


def copy_weights(source, target, input_shape=(B, T, D)):
    """Builds `target` (if needed) and gives it `source`'s weights."""
    if not target.built:
        target.build(input_shape)
    target.set_weights(source.get_weights())
    return target


def close(got, expected, atol=1e-5):
    np.testing.assert_allclose(np.asarray(got), np.asarray(expected), rtol=1e-5, atol=atol)


# Masks: right-padded, and arbitrary (non-contiguous, a leading gap).
RIGHT_PADDED = np.array([[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)
GAPPY = np.array([[1, 0, 1, 1, 0, 1], [0, 1, 1, 0, 1, 1]], dtype=bool)

RNN_FACTORIES = {
    "simple_rnn": lambda **kw: SimpleRNN(4, **kw),
    "lstm": lambda **kw: LSTM(4, **kw),
    "gru": lambda **kw: GRU(4, **kw),
    "gru_cho": lambda **kw: GRU(4, reset_after=False, **kw),
}


# --- Stacked ----------------------------------------------------------------------


def _by_hand(layers, x, mask=None, residual=False, initial_states=None):
    """Runs `layers` (return_sequences=True, return_state=True) one after the other."""
    states, initial_states = [], initial_states or [None] * len(layers)
    for layer, initial in zip(layers, initial_states):
        output, *layer_states = layer(x, mask=mask, initial_state=initial)
        if residual and output.shape[-1] == x.shape[-1]:
            output = output + x * (1.0 if mask is None else mask[:, :, None].astype("float32"))
        x, states = output, states + layer_states
    return x, states


def _stack_and_copies(dropout=0.0, residual=False, widths=(4, 5), **kwargs):
    factories = [LSTM, GRU, SimpleRNN]
    stack = Stacked(
        [factories[i % 3](w, name=f"layer_{i}") for i, w in enumerate(widths)],
        dropout=dropout, residual=residual, return_sequences=True, return_state=True, seed=7, **kwargs,
    )
    stack.build((B, T, D))
    copies, width = [], D
    for i, (layer, w) in enumerate(zip(stack.stacked_layers, widths)):
        copy = factories[i % 3](w, return_sequences=True, return_state=True, zero_output_for_mask=True)
        copies.append(copy_weights(layer, copy, (B, T, width)))
        width = w
    return stack, copies


def test_stacked_equals_its_layers_run_by_hand():
    stack, copies = _stack_and_copies(widths=(4, 5, 3))
    x = floats()
    output, *states = np_list(stack(x))
    expected_output, expected_states = _by_hand(copies, x)
    close(output, expected_output)
    assert len(states) == len(expected_states) == 2 + 1 + 1  # LSTM [h, c], GRU [h], SimpleRNN [h]
    for got, want in zip(states, expected_states):
        close(got, want)

    # return_sequences=False: the top layer's last output, which is its first state
    last = built(Stacked([LSTM(4), GRU(5)], return_sequences=False))
    last.set_weights(stack.get_weights()[: len(last.get_weights())])
    close(last(x), _by_hand(copies[:2], x)[0][:, -1, :])


def test_stacked_state_order_and_shapes():
    stack, _ = _stack_and_copies(widths=(4, 5, 3))
    output, *states = stack(floats())
    assert output.shape == (B, T, 3)
    assert [tuple(s.shape) for s in states] == [(B, 4), (B, 4), (B, 5), (B, 3)]
    assert stack.state_size == [4, 4, 5, 3]
    assert stack.compute_output_shape((B, T, D)) == [(B, T, 3), (B, 4), (B, 4), (B, 5), (B, 3)]


def test_stacked_residual_adds_the_input_where_widths_agree():
    # widths 3 -> 3 (skip), 3 -> 3 (skip), 3 -> 5 (no skip): the input has 3 features
    stack, copies = _stack_and_copies(residual=True, widths=(3, 3, 5))
    x = floats()
    output, *states = np_list(stack(x, mask=GAPPY))
    expected_output, expected_states = _by_hand(copies, x, mask=GAPPY, residual=True)
    close(output, expected_output)
    for got, want in zip(states, expected_states):
        close(got, want)
    # masked steps stay zero, even though the input there is not
    np.testing.assert_array_equal(output[~GAPPY], 0.0)
    # and the skips made a difference: without them the result is another one
    plain, _ = _by_hand(copies, x, mask=GAPPY, residual=False)
    assert not np.allclose(output, plain, atol=1e-3)


def test_stacked_residual_on_a_two_layer_stack_without_mask():
    stack, copies = _stack_and_copies(residual=True, widths=(3, 3))
    x = floats(seed=3)
    h1 = copies[0](x)[0] + x
    h2 = copies[1](h1)[0] + h1
    close(stack(x)[0], h2)


def test_stacked_splits_initial_state_per_layer():
    stack, copies = _stack_and_copies(widths=(4, 5))
    x = floats()
    rng = np.random.RandomState(5)
    initial = [rng.randn(B, n).astype("float32") for n in (4, 4, 5)]  # LSTM h, c; GRU h
    output, *states = np_list(stack(x, initial_state=initial))
    expected_output, expected_states = _by_hand(copies, x, initial_states=[initial[:2], initial[2:]])
    close(output, expected_output)
    for got, want in zip(states, expected_states):
        close(got, want)
    # the initial states matter (a split that dropped them would match the zero-state run)
    assert not np.allclose(output, np.asarray(stack(x)[0]), atol=1e-3)


def test_stacked_dropout_only_between_layers_and_only_in_training():
    stack, _ = _stack_and_copies(dropout=0.5, widths=(4, 4))
    plain, _ = _stack_and_copies(dropout=0.0, widths=(4, 4))
    plain.set_weights(stack.get_weights())
    x = floats()
    reference = np_list(plain(x))

    for call in (lambda: stack(x), lambda: stack(x, training=False)):
        for got, want in zip(np_list(call()), reference):
            np.testing.assert_array_equal(got, want)

    output, h1, c1, h2 = np_list(stack(x, training=True))
    # nothing is dropped before the first layer: its final states are untouched
    close(h1, reference[1])
    close(c1, reference[2])
    # between the layers, dropout changes what the second layer sees
    assert not np.allclose(h2, reference[3], atol=1e-3)
    assert not np.allclose(output, reference[0], atol=1e-3)


def test_stacked_of_bidirectional_layers():
    width = 2 * 3  # concat of two directions of 3 units: the residual applies to the first layer
    stack = built(
        Stacked([Bidirectional(LSTM(3)), Bidirectional(GRU(6), merge_mode="sum")], residual=True,
                return_sequences=True, return_state=True),
        (B, T, width),
    )
    copies = [
        Bidirectional(LSTM(3, return_sequences=True, return_state=True)),
        Bidirectional(GRU(6, return_sequences=True, return_state=True), merge_mode="sum"),
    ]
    for layer, copy in zip(stack.stacked_layers, copies):
        copy_weights(layer, copy, (B, T, width))
    x = floats((B, T, width))
    output, *states = np_list(stack(x, mask=RIGHT_PADDED))
    expected_output, expected_states = _by_hand(copies, x, mask=RIGHT_PADDED, residual=True)
    assert len(states) == 4 + 2  # LSTM h, c both ways; GRU h both ways
    close(output, expected_output)
    for got, want in zip(states, expected_states):
        close(got, want)
    np.testing.assert_array_equal(output[~RIGHT_PADDED], 0.0)


def test_stacked_of_one_layer_has_no_dropout():
    stack = Stacked([LSTM(4)], dropout=0.9, return_sequences=True, seed=1)
    x = floats()
    np.testing.assert_array_equal(np.asarray(stack(x, training=True)), np.asarray(stack(x)))


# --- Bidirectional -----------------------------------------------------------------

MERGES = {
    "concat": lambda f, b: np.concatenate([f, b], axis=-1),
    "sum": lambda f, b: f + b,
    "mean": lambda f, b: (f + b) / 2,
    "mul": lambda f, b: f * b,
}


@pytest.mark.parametrize("merge_mode", list(MERGES) + ["none"])
def test_bidirectional_merges_forward_and_time_reversed_backward(merge_mode):
    bi = built(Bidirectional(GRU(4, return_sequences=True), merge_mode=merge_mode))
    x = floats()
    forward = copy_weights(bi.forward_layer, GRU(4, return_sequences=True))
    backward = copy_weights(bi.backward_layer, GRU(4, return_sequences=True))  # reads forwards
    f = np.asarray(forward(x))
    b = np.asarray(backward(x[:, ::-1]))[:, ::-1]  # on the reversed input, put back in time order
    got = bi(x)
    if merge_mode == "none":
        close(got[0], f)
        close(got[1], b)
    else:
        close(got, MERGES[merge_mode](f, b))
    # the two directions have weights of their own
    assert not np.allclose(bi.forward_layer.get_weights()[0], bi.backward_layer.get_weights()[0])


def test_bidirectional_none_with_return_state_is_flat_as_in_keras_eager():
    """Keras returns [forward, backward, *states] for merge_mode None; so does the zoo in a functional model."""
    bi = built(Bidirectional(LSTM(3, return_sequences=True, return_state=True), merge_mode="none"))
    outputs = bi(floats())
    shapes = [(B, T, 3), (B, T, 3)] + [(B, 3)] * 4
    assert list(bi.compute_output_shape((B, T, D))) == shapes
    assert [tuple(o.shape) for o in outputs] == shapes


def test_bidirectional_none_with_return_state_is_flat_as_in_keras_functional():
    bi = Bidirectional(LSTM(3, return_sequences=True, return_state=True), merge_mode="none")
    model = keras.Model(inputs := keras.Input((T, D)), bi(inputs))
    outputs = model.predict_on_batch(floats())
    assert [tuple(o.shape) for o in outputs] == [(B, T, 3), (B, T, 3)] + [(B, 3)] * 4


def _keras_bidirectional_pair(return_sequences, return_state):
    zoo_bi = built(Bidirectional(LSTM(4, return_sequences=return_sequences, return_state=return_state)))
    keras_bi = keras.layers.Bidirectional(
        keras.layers.LSTM(4, return_sequences=return_sequences, return_state=return_state)
    )
    keras_bi.build((B, T, D))
    keras_bi.forward_layer.set_weights(zoo_bi.forward_layer.get_weights())
    keras_bi.backward_layer.set_weights(zoo_bi.backward_layer.get_weights())
    return zoo_bi, keras_bi


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("mask", [None, RIGHT_PADDED], ids=["no_mask", "right_padded"])
def test_bidirectional_matches_keras(return_sequences, mask):
    zoo_bi, keras_bi = _keras_bidirectional_pair(return_sequences, return_state=True)
    x = floats(seed=2)
    got = np_list(zoo_bi(x, mask=mask))
    expected = np_list(keras_bi(x, mask=mask))
    assert len(got) == len(expected) == 5  # output, forward h, c, backward h, c
    output, want = got[0], expected[0]
    if return_sequences and mask is not None:
        # Keras repeats the last output on masked steps, the zoo outputs zeros there
        np.testing.assert_array_equal(output[~mask], 0.0)
        output, want = output[mask], want[mask]
    close(output, want)
    for g, e in zip(got[1:], expected[1:]):
        close(g, e)


def test_bidirectional_final_states_are_each_directions_own():
    bi = built(Bidirectional(LSTM(4, return_state=True)))
    x = floats()
    forward = copy_weights(bi.forward_layer, LSTM(4, return_state=True))
    backward = copy_weights(bi.backward_layer, LSTM(4, return_state=True))
    output, fh, fc, bh, bc = np_list(bi(x, mask=RIGHT_PADDED))
    _, efh, efc = np_list(forward(x, mask=RIGHT_PADDED))
    # backward reads each row's valid part from its last word to its first
    for row in range(B):
        n = RIGHT_PADDED[row].sum()
        _, ebh, ebc = np_list(backward(x[row : row + 1, :n][:, ::-1]))
        close(bh[row], ebh[0])
        close(bc[row], ebc[0])
    close(fh, efh)
    close(fc, efc)
    close(output, np.concatenate([fh, bh], axis=-1))  # without sequences: the final outputs


# --- SequencePooling ---------------------------------------------------------------

POOL_X = np.array(
    [
        [[1, -1], [2, -5], [3, -4], [9, 9]],  # valid 0..2; all of feature 1 negative
        [[5, 5], [-1, 2], [6, 6], [0.5, -4]],  # valid 1 and 3 only
        [[1, 2], [3, 4], [5, 6], [7, 8]],  # nothing valid
    ],
    dtype="float32",
)
POOL_MASK = np.array([[1, 1, 1, 0], [0, 1, 0, 1], [0, 0, 0, 0]], dtype=bool)
POOL_EXPECTED = {
    "last": [[3, -4], [0.5, -4], [0, 0]],
    "mean": [[2, -10 / 3], [-0.25, -1], [0, 0]],
    "max": [[3, -1], [0.5, 2], [0, 0]],
    # forward half (feature 0) at the last valid step, backward half (feature 1) at the first
    "bi_last": [[3, -1], [0.5, 2], [0, 0]],
}
POOL_EXPECTED_UNMASKED = {
    "last": POOL_X[:, -1],
    "mean": POOL_X.mean(axis=1),
    "max": POOL_X.max(axis=1),
    "bi_last": np.stack([POOL_X[:, -1, 0], POOL_X[:, 0, 1]], axis=-1),
}


@pytest.mark.parametrize("mode", list(POOL_EXPECTED))
def test_sequence_pooling_with_a_ragged_mask(mode):
    pooled = np.asarray(SequencePooling(mode)(POOL_X, mask=POOL_MASK))
    np.testing.assert_allclose(pooled, POOL_EXPECTED[mode], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(pooled[2], 0.0)  # the all-masked row pools to zeros


@pytest.mark.parametrize("mode", list(POOL_EXPECTED))
def test_sequence_pooling_without_mask(mode):
    pooled = SequencePooling(mode)(POOL_X)
    np.testing.assert_allclose(np.asarray(pooled), POOL_EXPECTED_UNMASKED[mode], rtol=1e-6, atol=1e-6)


def test_sequence_pooling_bi_last_on_wider_halves():
    x = np.arange(2 * 3 * 4, dtype="float32").reshape(2, 3, 4)
    mask = np.array([[0, 1, 1], [1, 1, 0]], dtype=bool)
    pooled = np.asarray(SequencePooling("bi_last")(x, mask=mask))
    np.testing.assert_array_equal(pooled[0], np.concatenate([x[0, 2, :2], x[0, 1, 2:]]))
    np.testing.assert_array_equal(pooled[1], np.concatenate([x[1, 1, :2], x[1, 0, 2:]]))


# --- Masking -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RNN_FACTORIES))
def test_masked_steps_keep_the_state_and_output_zeros(kind):
    """Under any mask a layer computes what it computes on the valid steps alone; with
    `zero_output_for_mask` its outputs at the masked steps are zeros."""
    make = RNN_FACTORIES[kind]
    layer = built(make(return_sequences=True, return_state=True, zero_output_for_mask=True))
    last_only = copy_weights(layer, make())
    x = floats(seed=4)
    outputs, *states = np_list(layer(x, mask=GAPPY))
    np.testing.assert_array_equal(outputs[~GAPPY], 0.0)
    last = np.asarray(last_only(x, mask=GAPPY))
    for row in range(B):
        valid = x[row : row + 1, GAPPY[row]]  # the valid steps, squeezed together
        want_outputs, *want_states = np_list(layer(valid))
        close(outputs[row, GAPPY[row]], want_outputs[0])
        for got, want in zip(states, want_states):
            close(got[row], want[0])
        close(last[row], want_outputs[0, -1])


@pytest.mark.parametrize("kind", ["lstm", "gru_cho"])
def test_masked_steps_repeat_the_last_output_by_default(kind):
    """Keras' default (`zero_output_for_mask=False`): a masked step outputs the last unmasked
    step's output, zeros before the first (GAPPY's second row starts masked)."""
    make = RNN_FACTORIES[kind]
    layer = built(make(return_sequences=True))
    zeroed = copy_weights(layer, make(return_sequences=True, zero_output_for_mask=True))
    x = floats(seed=4)
    carried, plain = np.asarray(layer(x, mask=GAPPY)), np.asarray(zeroed(x, mask=GAPPY))
    for row in range(B):
        last = np.zeros(4, "float32")
        for t in range(T):
            last = plain[row, t] if GAPPY[row, t] else last
            np.testing.assert_array_equal(carried[row, t], last)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_fully_masked_row_keeps_the_initial_state(kind):
    layer = built(RNN_FACTORIES[kind](return_sequences=True, return_state=True))
    mask = np.array([[0] * T, [1] * T], dtype=bool)
    initial = [floats((B, 4), seed=i) for i in range(len(layer.state_size))]
    outputs, *states = np_list(layer(floats(), mask=mask, initial_state=initial))
    np.testing.assert_array_equal(outputs[0], 0.0)
    for got, start in zip(states, initial):
        np.testing.assert_array_equal(got[0], start[0])
        assert not np.allclose(got[1], start[1])


def _masked_ids_model():
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(9, D, mask_zero=True)(ids)
    chained = GRU(4)(LSTM(4, return_sequences=True)(embedded))
    pooled = SequencePooling("bi_last")(Bidirectional(GRU(3, return_sequences=True))(embedded))
    stacked = Stacked([LSTM(4), SimpleRNN(4)], residual=True)(embedded)
    return keras.Model(ids, [chained, pooled, stacked])


def test_embedding_mask_propagates_through_zoo_layers():
    model = _masked_ids_model()
    ids = np.array([[3, 1, 4, 0, 0, 0], [2, 0, 5, 0, 6, 7]], dtype="int32")  # padding, and gaps
    padded = np_list(model.predict_on_batch(ids))
    for row in range(2):
        unpadded = np_list(model.predict_on_batch(ids[row : row + 1][:, ids[row] != 0]))
        for got, want in zip(padded, unpadded):
            close(got[row], want[0])
    # without the mask the padding would count: the same ids with a non-zero pad differ
    unmasked = np_list(model.predict_on_batch(np.where(ids == 0, 8, ids)))
    for got, other in zip(padded, unmasked):
        assert not np.allclose(got, other, atol=1e-3)


# --- Stateful layers -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_stateful_truncated_bptt_matches_one_full_pass(kind):
    make = RNN_FACTORIES[kind]
    half = T // 2
    inputs = keras.Input(batch_shape=(B, half, D))
    stateful = make(stateful=True, return_sequences=True, return_state=True)
    model = keras.Model(inputs, stateful(inputs))
    full = built(make(return_sequences=True, return_state=True))
    full.cell.set_weights(stateful.cell.get_weights())  # the stateful layer's weights also hold its states
    x = floats(seed=6)
    want_outputs, *want_states = np_list(full(x))

    first = np_list(model.predict_on_batch(x[:, :half]))
    second_outputs, *second_states = np_list(model.predict_on_batch(x[:, half:]))
    close(first[0], want_outputs[:, :half])
    close(second_outputs, want_outputs[:, half:])
    for got, want, variable in zip(second_states, want_states, stateful.states):
        close(got, want)
        close(variable, want)  # carried for the next batch

    stateful.reset_state()
    for variable in stateful.states:
        np.testing.assert_array_equal(np.asarray(variable), 0.0)
    again = np_list(model.predict_on_batch(x[:, :half]))
    for got, want in zip(again, first):
        close(got, want)


# --- Initialisation --------------------------------------------------------------------


def test_lstm_initialisation():
    lstm = built(LSTM(5))
    cell = lstm.cell
    h = 5
    bias = np.asarray(cell.bias)
    np.testing.assert_array_equal(bias, np.concatenate([np.zeros(h), np.ones(h), np.zeros(2 * h)]))
    # Keras' Orthogonal on (H, 4H) gives orthonormal rows: U U^T = I
    u = np.asarray(cell.recurrent_kernel)
    assert u.shape == (h, 4 * h)
    np.testing.assert_allclose(u @ u.T, np.eye(h), atol=1e-5)
    assert not np.allclose(u.T @ u, np.eye(4 * h), atol=1e-2)  # (only rows can be orthonormal)
    w = np.asarray(cell.kernel)
    assert w.shape == (D, 4 * h)
    limit = np.sqrt(6.0 / (D + 4 * h))  # glorot_uniform
    assert np.abs(w).max() <= limit and np.abs(w).max() > limit / 2

    no_forget = built(LSTM(5, unit_forget_bias=False))
    np.testing.assert_array_equal(np.asarray(no_forget.cell.bias), np.zeros(4 * h))
    assert built(LSTM(5, use_bias=False)).cell.bias is None


@pytest.mark.parametrize("reset_after, bias_shape", [(True, (2, 12)), (False, (12,))])
def test_gru_initialisation(reset_after, bias_shape):
    gru = built(GRU(4, reset_after=reset_after))
    assert tuple(gru.cell.bias.shape) == bias_shape
    np.testing.assert_array_equal(np.asarray(gru.cell.bias), np.zeros(bias_shape))
    u = np.asarray(gru.cell.recurrent_kernel)
    assert u.shape == (4, 12)
    np.testing.assert_allclose(u @ u.T, np.eye(4), atol=1e-5)
    assert len(gru.trainable_weights) == 3


def test_simple_rnn_square_recurrent_kernel_is_orthogonal():
    u = np.asarray(built(SimpleRNN(6)).cell.recurrent_kernel)
    np.testing.assert_allclose(u @ u.T, np.eye(6), atol=1e-5)
    np.testing.assert_allclose(u.T @ u, np.eye(6), atol=1e-5)


# --- training flag and dropout ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_cho"])
def test_dropout_only_with_training_true(kind):
    make = RNN_FACTORIES[kind]
    layer = built(make(dropout=0.5, seed=3, return_sequences=True))
    plain = copy_weights(layer, make(return_sequences=True))
    x = floats()
    reference = np.asarray(plain(x))
    np.testing.assert_array_equal(np.asarray(layer(x)), reference)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), reference)
    trained = np.asarray(layer(x, training=True))
    assert not np.allclose(trained, reference, atol=1e-3)
    assert not np.allclose(np.asarray(layer(x, training=True)), trained, atol=1e-3)  # a new mask each call


def test_input_dropout_mask_is_shared_across_steps():
    """With W = I, U = 0, b = 0 and a linear activation, a SimpleRNN outputs its (dropped-out) inputs."""
    features, rate = 8, 0.5
    layer = built(
        SimpleRNN(features, activation="linear", dropout=rate, seed=11, return_sequences=True),
        (B, T, features),
    )
    layer.set_weights([np.eye(features), np.zeros((features, features)), np.zeros(features)])
    x = np.ones((B, T, features), dtype="float32")
    np.testing.assert_array_equal(np.asarray(layer(x)), x)
    dropped = np.asarray(layer(x, training=True))
    assert set(np.unique(np.round(dropped, 5))) <= {0.0, 1.0 / (1.0 - rate)}
    kept = dropped != 0
    assert kept.any() and not kept.all()
    np.testing.assert_array_equal(kept, np.broadcast_to(kept[:, :1], kept.shape))  # same at every step


# --- model.fit -----------------------------------------------------------------------


def _token_presence_data(n=96, steps=6, vocab=6, token=1, seed=0):
    """Does `token` occur in the sequence? Half the sequences contain it."""
    rng = np.random.RandomState(seed)
    ids = rng.randint(2, vocab, size=(n, steps))
    labels = rng.rand(n) < 0.5
    positions = rng.randint(0, steps, size=n)
    ids[labels, positions[labels]] = token
    return ids.astype("int32"), labels.astype("float32")[:, None]


@pytest.mark.slow
@pytest.mark.parametrize("jit_compile", ["auto", True, False])
def test_fit_learns_a_toy_task(jit_compile):
    ids, labels = _token_presence_data()
    model = keras.Sequential(
        [keras.Input((ids.shape[1],), dtype="int32"), keras.layers.Embedding(6, 4), LSTM(8),
         keras.layers.Dense(1, activation="sigmoid")]
    )
    # "auto" (the default) resolves to no XLA on a machine without an accelerator, so True is its own case
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy", jit_compile=jit_compile)
    if jit_compile is True:
        assert model.jit_compile  # the whole train step, zoo loop included, under XLA
    before = model.evaluate(ids, labels, verbose=0)
    history = model.fit(ids, labels, epochs=6, batch_size=16, verbose=0, shuffle=False)
    after = model.evaluate(ids, labels, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    print(f"jit_compile={jit_compile}: loss {before:.3f} -> {after:.3f}")
    assert after < 0.5 * before, (before, after)


# --- Mixed precision ---------------------------------------------------------------------


def _ids_rnn_model(make):
    ids = keras.Input((T,), dtype="int32")
    hidden = make()(keras.layers.Embedding(7, D)(ids))
    return keras.Model(ids, [hidden, keras.layers.Dense(2)(hidden)])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_mixed_bfloat16(kind):
    make = RNN_FACTORIES[kind]
    ids = np.random.RandomState(0).randint(0, 7, size=(B, T)).astype("int32")
    reference = _ids_rnn_model(make)
    want_hidden, want_out = np_list(reference.predict_on_batch(ids))

    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = _ids_rnn_model(make)
    model.set_weights(reference.get_weights())
    rnn = model.layers[2]
    assert rnn.cell.recurrent_kernel.dtype == "float32"
    assert rnn.cell.kernel.dtype == "float32"
    hidden, out = model.predict_on_batch(ids)
    assert hidden.dtype == "bfloat16" and out.dtype == "bfloat16"
    assert model(ids)[0].dtype == "bfloat16"
    assert make()(floats()).dtype == "bfloat16"  # float32 inputs too (not from a bfloat16 layer)
    np.testing.assert_allclose(np.asarray(hidden, "float32"), want_hidden, atol=3e-2)
    np.testing.assert_allclose(np.asarray(out, "float32"), want_out, atol=3e-2)

    model.compile("adam", ["mse", "mse"])
    before = [np.asarray(w).copy() for w in model.weights]
    history = model.fit(ids, [np.zeros((B, 4)), np.zeros((B, 2))], epochs=1, batch_size=B, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert rnn.cell.recurrent_kernel.dtype == "float32"
    changed = [not np.array_equal(np.asarray(w), b) for w, b in zip(model.weights, before)]
    assert all(changed), [w.path for w, c in zip(model.weights, changed) if not c]


def test_auto_jit_compile_uses_xla_below_the_measured_size():
    """'auto' compiles the loop with XLA unless the recurrent kernel has 2**22 weights or more."""
    assert LSTM(256).loop_jit_compile() and LSTM(512).loop_jit_compile() and GRU(1024).loop_jit_compile()
    assert not LSTM(1024).loop_jit_compile() and not GRU(1200).loop_jit_compile()
    assert SimpleRNN(1024).loop_jit_compile()
    assert not LSTM(256, jit_compile=False).loop_jit_compile()
    assert LSTM(1024, jit_compile=True).loop_jit_compile()
    # bfloat16 matmuls: only oneDNN in the graph executor runs them faster than float32 on CPU
    assert LSTM(256, dtype="mixed_bfloat16").loop_jit_compile() and GRU(512, dtype="mixed_bfloat16").loop_jit_compile()
    assert not LSTM(512, dtype="mixed_bfloat16").loop_jit_compile()
    assert not GRU(1024, dtype="mixed_bfloat16").loop_jit_compile()
    assert LSTM(512, dtype="mixed_bfloat16", jit_compile=True).loop_jit_compile()
