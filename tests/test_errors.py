"""Bad input gives a ValueError that names the layer and what was expected."""

import re

import keras
import numpy as np
import pytest

from zoo.layers import GRU, LSTM, Bidirectional, LSTMCell, SequencePooling, SimpleRNN, Stacked

B, T, D = 2, 5, 3


def floats(*shape):
    return np.zeros(shape, dtype="float32")


RNNS = {
    "simple_rnn": lambda **kw: SimpleRNN(4, **kw),
    "lstm": lambda **kw: LSTM(4, **kw),
    "gru": lambda **kw: GRU(4, **kw),
}


# --- rank and feature size ---------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RNNS))
@pytest.mark.parametrize("shape", [(B, D), (B, T, D, 1)], ids=["2d", "4d"])
def test_wrong_rank(kind, shape):
    layer = RNNS[kind](name="my_layer")
    pattern = rf"'my_layer'.*rank 3, shape \(batch, timesteps, features\); got shape {re.escape(str(shape))}"
    with pytest.raises(ValueError, match=pattern):
        layer(floats(*shape))


def test_wrong_rank_in_a_functional_model():
    with pytest.raises(ValueError, match=r"'my_layer' \(LSTM\) expects inputs of rank 3"):
        LSTM(4, name="my_layer")(keras.Input((D,)))


def test_unknown_feature_size():
    with pytest.raises(ValueError, match=r"'my_layer'.*known feature size.*\(batch, timesteps, features\)"):
        LSTM(4, name="my_layer")(keras.Input((T, None)))


@pytest.mark.parametrize("kind", list(RNNS))
def test_wrong_feature_size_after_build(kind):
    layer = RNNS[kind](name="my_layer")
    layer(floats(B, T, D))
    with pytest.raises(ValueError, match=r"'my_layer'.*built for 3 features: expected shape \(batch, timesteps, 3\)"):
        layer(floats(B, T, D + 1))


def test_wrong_feature_size_in_a_functional_model():
    """As with Keras' own GRU, a symbolic call is not checked; running the model is."""
    layer = GRU(4, name="my_layer")
    layer(floats(B, T, D))
    model = keras.Model(inputs := keras.Input((T, D + 2)), layer(inputs))
    with pytest.raises(ValueError, match=r"'my_layer'.*built for 3 features.*got shape \(2, 5, 5\)"):
        model.predict_on_batch(floats(B, T, D + 2))


# --- masks ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mask_shape", [(B, T + 1), (B + 1, T), (B, T, 1), (B,)], ids=["steps", "batch", "rank3", "rank1"]
)
def test_mask_of_the_wrong_shape(mask_shape):
    layer = LSTM(4, name="my_layer")
    with pytest.raises(ValueError, match=r"'my_layer'.*mask of shape \(batch, timesteps\) = \(2, 5\)"):
        layer(floats(B, T, D), mask=np.ones(mask_shape, dtype=bool))


# --- dtypes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(RNNS))
@pytest.mark.parametrize("dtype", ["int32", "int64", "bool"])
def test_integer_inputs(kind, dtype):
    layer = RNNS[kind](name="my_layer")
    pattern = rf"'my_layer'.*floating-point inputs of shape \(batch, timesteps, 3\); got dtype {dtype}.*Embedding"
    with pytest.raises(ValueError, match=pattern):
        layer(np.zeros((B, T, D), dtype=dtype))


# --- initial states ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, states, pattern",
    [
        ("lstm", [floats(B, 4)], r"expects 2 initial state tensor\(s\) of shapes \[\(2, 4\), \(2, 4\)\]; got 1"),
        ("lstm", [floats(B, 4)] * 3, r"expects 2 initial state tensor\(s\).*got 3"),
        ("gru", [floats(B, 4)] * 2, r"expects 1 initial state tensor\(s\) of shapes \[\(2, 4\)\]; got 2"),
        ("lstm", [floats(B, 4), floats(B, 5)], r"initial states of shapes \[\(2, 4\), \(2, 4\)\]; got shape \(2, 5\)"),
        ("gru", [floats(B + 1, 4)], r"initial states of shapes \[\(2, 4\)\]; got shape \(3, 4\)"),
        ("simple_rnn", [floats(B, 4, 1)], r"initial states of shapes \[\(2, 4\)\]; got shape \(2, 4, 1\)"),
    ],
    ids=["lstm_too_few", "lstm_too_many", "gru_too_many", "lstm_wrong_size", "gru_wrong_batch", "rank3"],
)
def test_wrong_initial_states(kind, states, pattern):
    layer = RNNS[kind](name="my_layer")
    with pytest.raises(ValueError, match=r"'my_layer'.*" + pattern):
        layer(floats(B, T, D), initial_state=states)


def test_stacked_wrong_number_of_initial_states():
    stack = Stacked([LSTM(4), GRU(4)], name="my_stack")
    with pytest.raises(ValueError, match=r"'my_stack' \(Stacked\) expects 3 initial states.*got 2"):
        stack(floats(B, T, D), initial_state=[floats(B, 4)] * 2)


def test_cell_step_on_a_sequence():
    cell = LSTMCell(4, name="my_cell")
    with pytest.raises(ValueError, match=r"'my_cell'.*steps on inputs of shape \(batch, features\); got shape \(2, 5, 3\)"):
        cell(floats(B, T, D), [floats(B, 4), floats(B, 4)])


# --- options ------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["avg", None, "Concat"])
def test_bad_merge_mode(mode):
    with pytest.raises(ValueError, match=r"Bidirectional.*`merge_mode` must be one of .*'concat'.*got"):
        Bidirectional(LSTM(4), merge_mode=mode)


def test_backward_layer_reading_the_same_way():
    with pytest.raises(ValueError, match=r"Bidirectional.*`backward_layer` must read the other way"):
        Bidirectional(LSTM(4), backward_layer=LSTM(4))


@pytest.mark.parametrize("mode", ["first", "sum", None])
def test_bad_pooling_mode(mode):
    with pytest.raises(ValueError, match=r"SequencePooling.*`mode` must be one of .*'last'.*got"):
        SequencePooling(mode)


def test_pooling_wrong_rank_and_odd_bi_last():
    with pytest.raises(ValueError, match=r"'my_pool' \(SequencePooling\).*\(batch, timesteps, features\); got shape \(2, 3\)"):
        SequencePooling(name="my_pool")(floats(B, 3))
    with pytest.raises(ValueError, match=r"'my_pool' \(SequencePooling, bi_last\).*even number of features"):
        SequencePooling("bi_last", name="my_pool")(floats(B, T, 3))


def test_stacked_bad_layers():
    with pytest.raises(ValueError, match=r"Stacked.*at least one layer"):
        Stacked([])
    with pytest.raises(ValueError, match=r"Stacked.*must merge its outputs"):
        Stacked([Bidirectional(LSTM(4), merge_mode="none")])


@pytest.mark.parametrize("kind", list(RNNS))
def test_stateful_without_a_fixed_batch_size(kind):
    with pytest.raises(ValueError, match=r"'my_layer' is stateful and needs a fixed batch size.*batch_shape"):
        RNNS[kind](stateful=True, name="my_layer")(keras.Input((T, D)))


@pytest.mark.parametrize("layer_class", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("units", [0, -3, 2.5, None])
def test_units_must_be_a_positive_int(layer_class, units):
    with pytest.raises(ValueError, match=r"`units` must be a positive int, got " + re.escape(repr(units))):
        layer_class(units)


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_outside_unit_interval(rate):
    with pytest.raises(ValueError, match=r"'my_layer': `dropout` must be in \[0, 1\), got"):
        LSTM(4, dropout=rate, name="my_layer")
    with pytest.raises(ValueError, match=r"'my_stack': `dropout` must be in \[0, 1\), got"):
        Stacked([LSTM(4)], dropout=rate, name="my_stack")
    with pytest.raises(ValueError, match=r"'my_layer': `weight_dropout` must be in \[0, 1\), got"):
        LSTM(4, weight_dropout=rate, name="my_layer")


@pytest.mark.parametrize("rate", [0.0, 0.999])
def test_dropout_at_the_edges_of_the_interval_is_accepted(rate):
    assert LSTM(4, dropout=rate).dropout == rate


def test_bad_jit_compile_option():
    with pytest.raises(ValueError, match="jit_compile"):
        LSTM(3, jit_compile="yes")
