"""Saving and loading zoo layers: .keras files, get_config/from_config, and TF SavedModel export."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from zoo.layers import GRU, LSTM, RNN, Bidirectional, GRUCell, SequencePooling, SimpleRNN, Stacked

BATCH, STEPS, FEATURES, VOCAB = 3, 5, 4, 7

# Right-padded ids (0 is padding), a non-contiguous gap in row 1, an all-padding row 2.
IDS = np.array([[3, 1, 4, 0, 0], [2, 0, 5, 6, 0], [0, 0, 0, 0, 0]], dtype="int32")


def _floats(shape=(BATCH, STEPS, FEATURES), seed=0):
    return np.random.RandomState(seed).randn(*shape).astype("float32")


def _float_model(layer):
    inputs = keras.Input((STEPS, FEATURES))
    return keras.Model(inputs, layer(inputs))


def _ids_model(layer):
    """Embedding(mask_zero) -> GRU -> `layer`, so the mask reaches `layer` after a reload too."""
    inputs = keras.Input((STEPS,), dtype="int32")
    hidden = keras.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    hidden = GRU(4, return_sequences=True)(hidden)
    return keras.Model(inputs, layer(hidden))


# name -> (layer factory, model builder, input). Non-default options where a lost option would show.
CASES = {
    "simple_rnn": (
        lambda: SimpleRNN(5, activation="relu", return_sequences=True, go_backwards=True, name="srnn"),
        _float_model,
        _floats,
    ),
    "lstm": (
        lambda: LSTM(
            5, unit_forget_bias=False, recurrent_activation="hard_sigmoid", dropout=0.25, seed=3,
            kernel_regularizer=keras.regularizers.L2(1e-3), recurrent_dropout=0.2, unroll=True,
            implementation=1, use_cudnn=False, zero_output_for_mask=True, name="lstm",
        ),
        _float_model,
        _floats,
    ),
    "gru_reset_after": (
        lambda: GRU(5, reset_after=True, return_sequences=True, return_state=True, name="gru"),
        _float_model,
        _floats,
    ),
    "gru_cho": (
        lambda: GRU(5, reset_after=False, use_bias=True, jit_compile=False, name="gru_cho"),
        _float_model,
        _floats,
    ),
    "rnn_of_cell": (
        lambda: RNN(GRUCell(4, reset_after=False), return_sequences=True, name="rnn"),
        _float_model,
        _floats,
    ),
    "stacked": (
        lambda: Stacked(
            [LSTM(4, name="s0"), LSTM(4, name="s1")], residual=True, dropout=0.3, seed=5,
            return_sequences=True, name="stack",
        ),
        _float_model,
        _floats,
    ),
    **{
        f"bidirectional_{mode}": (
            lambda mode=mode: Bidirectional(LSTM(3, return_sequences=True, name=f"bi_{mode}"), merge_mode=mode),
            _float_model,
            _floats,
        )
        for mode in ("concat", "sum", "mean", "none")
    },
    **{
        f"pooling_{mode}": (lambda mode=mode: SequencePooling(mode, name=f"pool_{mode}"), _ids_model, lambda: IDS)
        for mode in ("last", "mean", "max", "bi_last")
    },
}


def _plain(config):
    """JSON turns tuples into lists (Keras' own build_config shapes come back as lists): compare as JSON."""
    return json.loads(json.dumps(config))


def _as_list(outputs):
    return [np.asarray(o) for o in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


@pytest.mark.parametrize("case", list(CASES))
def test_keras_file_round_trip(case, tmp_path):
    make_layer, make_model, make_input = CASES[case]
    model = make_model(make_layer())
    x = make_input()
    expected = _as_list(model.predict_on_batch(x))

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)

    assert _plain(loaded.get_config()) == _plain(model.get_config())
    got = _as_list(loaded.predict_on_batch(x))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g, e)
    # the weights themselves, not only what they produce
    assert len(loaded.weights) == len(model.weights)
    for w_loaded, w in zip(loaded.weights, model.weights):
        np.testing.assert_array_equal(np.asarray(w_loaded), np.asarray(w))


@pytest.mark.parametrize("case", list(CASES))
def test_layer_config_round_trip(case):
    make_layer, make_model, _ = CASES[case]
    layer = make_layer()
    make_model(layer)  # built, as a layer is when its config is taken for saving
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert type(clone) is type(layer)
    assert _plain(clone.get_config()) == _plain(config)


@pytest.mark.parametrize("case", list(CASES))
def test_layer_from_config_computes_the_same(case):
    """The clone is the same layer: in the same model with the weights copied, the same outputs."""
    make_layer, make_model, make_input = CASES[case]
    layer = make_layer()
    model = make_model(layer)
    clone_model = make_model(type(layer).from_config(layer.get_config()))
    clone_model.set_weights(model.get_weights())
    x = make_input()
    for g, e in zip(_as_list(clone_model.predict_on_batch(x)), _as_list(model.predict_on_batch(x))):
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-6)


def test_config_keeps_options():
    """The options a config must carry actually appear in it (a config of defaults would round-trip too)."""
    lstm = CASES["lstm"][0]().get_config()
    assert lstm["units"] == 5 and lstm["unit_forget_bias"] is False and lstm["dropout"] == 0.25
    assert lstm["seed"] == 3 and lstm["recurrent_activation"] == "hard_sigmoid"
    assert lstm["kernel_regularizer"]["config"]["l2"] == pytest.approx(1e-3)
    assert lstm["recurrent_dropout"] == 0.2 and lstm["unroll"] is True and lstm["zero_output_for_mask"] is True
    assert lstm["implementation"] == 1 and lstm["use_cudnn"] is False
    assert CASES["gru_cho"][0]().get_config()["reset_after"] is False
    srnn = CASES["simple_rnn"][0]().get_config()
    assert srnn["go_backwards"] is True and srnn["activation"] == "relu" and srnn["return_sequences"] is True
    assert "implementation" not in srnn and "use_cudnn" not in srnn  # as Keras' SimpleRNN: LSTM and GRU only
    stack = CASES["stacked"][0]().get_config()
    assert stack["residual"] is True and stack["dropout"] == 0.3 and len(stack["layers"]) == 2
    bi = CASES["bidirectional_sum"][0]().get_config()
    assert bi["merge_mode"] == "sum" and bi["backward_layer"]["config"]["go_backwards"] is True


# --- TF SavedModel export, served by TensorFlow alone ----------------------------------

_SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    restored = tf.saved_model.load(sys.argv[1])  # kept: it owns the variables `serve` reads
    for x_path in sys.argv[2:]:
        np.save(x_path.replace("x_", "y_"), restored.serve(tf.constant(np.load(x_path))).numpy())
    assert not any(m == "zoo" or m.startswith("zoo.") for m in sys.modules), "served with zoo imported"
    """
)


def _serve_in_fresh_python(model, inputs, tmp_path):
    """Exports `model`, serves each of `inputs` in a new interpreter that imports only TensorFlow."""
    export_dir = tmp_path / "sm"
    model.export(str(export_dir), format="tf_saved_model", verbose=False)
    x_paths = [str(tmp_path / f"x_{i}.npy") for i in range(len(inputs))]
    for x, x_path in zip(inputs, x_paths):
        np.save(x_path, x)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, "-c", _SERVE, str(export_dir), *x_paths],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return [np.load(x_path.replace("x_", "y_")) for x_path in x_paths]


@pytest.mark.slow
def test_export_lstm_served_by_tensorflow_alone(tmp_path):
    inputs = keras.Input((None, FEATURES))
    hidden = LSTM(5, return_sequences=True)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    x = _floats((BATCH, 6, FEATURES), seed=1)
    expected = np.asarray(model.predict_on_batch(x))
    (served,) = _serve_in_fresh_python(model, [x], tmp_path)
    assert served.shape == expected.shape == (BATCH, 6, 2)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_export_masked_bidirectional_gru_served_by_tensorflow_alone(tmp_path):
    inputs = keras.Input((None,), dtype="int32")
    hidden = keras.layers.Embedding(VOCAB, 4, mask_zero=True)(inputs)
    hidden = Bidirectional(GRU(3, return_sequences=True))(hidden)
    model = keras.Model(inputs, SequencePooling("bi_last")(hidden))
    expected = np.asarray(model.predict_on_batch(IDS))
    assert not np.allclose(expected[:2], 0.0)
    np.testing.assert_array_equal(expected[2], 0.0)  # the all-padding row
    unpadded = IDS[:1, :3]  # row 0 without its padding
    served, served_unpadded = _serve_in_fresh_python(model, [IDS, unpadded], tmp_path)
    assert served.shape == expected.shape == (BATCH, 6)
    np.testing.assert_allclose(served, expected, rtol=1e-5, atol=1e-5)
    # the mask survived the export: padding does not change a row's result
    np.testing.assert_allclose(served_unpadded[0], served[0], rtol=1e-5, atol=1e-5)
