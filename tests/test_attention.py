"""Attention layers, the attention decoder, the encoder-decoder model and its loss."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import layers
from zoo.losses import MaskedCrossEntropy
from zoo.models import EncoderDecoder

RNG = np.random.default_rng(0)
MEMORY = RNG.normal(size=(3, 5, 6)).astype("float32")  # (B, S, M)
QUERY = RNG.normal(size=(3, 4)).astype("float32")  # (B, Q)
MASK = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 0, 0, 0, 0]], bool)


def attentions():
    return [layers.BahdanauAttention(7), layers.LuongAttention("general")]


@pytest.mark.parametrize("attention", attentions(), ids=["bahdanau", "luong"])
def test_weights_sum_to_one_and_are_zero_on_padding(attention):
    context, weights = attention(QUERY, MEMORY, mask=MASK)
    np.testing.assert_allclose(weights.numpy().sum(-1), 1.0, rtol=1e-6)
    assert np.all(weights.numpy()[~MASK] == 0.0)
    np.testing.assert_allclose(context.numpy(), np.einsum("bs,bsm->bm", weights.numpy(), MEMORY), rtol=1e-5)
    # the single real position of row 2 takes all the weight
    np.testing.assert_allclose(context.numpy()[2], MEMORY[2, 0], rtol=1e-6)


def test_bahdanau_score_is_the_additive_formula():
    attention = layers.BahdanauAttention(7)
    _, weights = attention(QUERY, MEMORY)
    w_a, u_a, b, v = (x.numpy() for x in (attention.query_kernel, attention.memory_kernel, attention.bias,
                                          attention.score_vector))
    energies = np.tanh((QUERY @ w_a)[:, None, :] + MEMORY @ u_a + b) @ v  # (B, S)
    expected = np.exp(energies) / np.exp(energies).sum(-1, keepdims=True)
    np.testing.assert_allclose(weights.numpy(), expected, rtol=1e-5, atol=1e-7)


def test_luong_scores():
    memory = MEMORY[..., :4]
    _, dot = layers.LuongAttention("dot")(QUERY, memory)
    expected = np.exp(np.einsum("bq,bsq->bs", QUERY, memory))
    np.testing.assert_allclose(dot.numpy(), expected / expected.sum(-1, keepdims=True), rtol=1e-5)
    general = layers.LuongAttention("general")
    _, weights = general(QUERY, MEMORY)
    energies = np.einsum("bq,bsq->bs", QUERY, MEMORY @ general.memory_kernel.numpy())
    np.testing.assert_allclose(weights.numpy(), np.exp(energies) / np.exp(energies).sum(-1, keepdims=True), rtol=1e-5)


def test_attention_bad_input():
    with pytest.raises(ValueError, match="query"):
        layers.BahdanauAttention(4)(MEMORY, MEMORY)
    with pytest.raises(ValueError, match="mask"):
        layers.BahdanauAttention(4)(QUERY, MEMORY, mask=MASK[:, :3])
    with pytest.raises(ValueError, match="dot"):
        layers.LuongAttention("dot")(QUERY, MEMORY)
    with pytest.raises(ValueError, match="units"):
        layers.BahdanauAttention(0)
    with pytest.raises(ValueError, match="score_function"):
        layers.LuongAttention("concat")


@pytest.mark.parametrize("attention", attentions(), ids=["bahdanau", "luong"])
def test_attention_config_round_trip(attention):
    attention(QUERY, MEMORY)
    clone = type(attention).from_config(attention.get_config())
    clone(QUERY, MEMORY)
    clone.set_weights(attention.get_weights())
    np.testing.assert_allclose(clone(QUERY, MEMORY, mask=MASK)[1], attention(QUERY, MEMORY, mask=MASK)[1])


def tiny_decoder(cell="gru", attention="bahdanau", units=4):
    cell_layer = {"gru": layers.GRUCell, "lstm": layers.LSTMCell, "rnn": layers.SimpleRNNCell}[cell](units)
    attention_layer = layers.BahdanauAttention(3) if attention == "bahdanau" else layers.LuongAttention("general")
    decoder = layers.AttentionDecoder(cell_layer, attention_layer)
    decoder.build((None, None, 2), MEMORY.shape)
    return decoder


@pytest.mark.parametrize("cell", ["gru", "lstm", "rnn"])
@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_decoder_loop_equals_steps(cell, attention):
    decoder = tiny_decoder(cell, attention)
    targets = RNG.normal(size=(3, 4, 2)).astype("float32")
    initial = [tf.constant(RNG.normal(size=(3, n)).astype("float32")) for n in decoder.state_size]
    outputs, contexts, weights, final = decoder(targets, MEMORY, initial, memory_mask=MASK)
    source, states = decoder.attend_to(MEMORY, MASK), initial
    for t in range(4):
        output, context, step_weights, states = decoder.step(targets[:, t], states, source)
        np.testing.assert_allclose(output, outputs[:, t], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(context, contexts[:, t], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(step_weights, weights[:, t], rtol=1e-5, atol=1e-6)
    for a, b in zip(states, final):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert np.all(weights.numpy()[np.broadcast_to(~MASK[:, None, :], weights.shape)] == 0.0)


def test_decoder_step_reads_context_through_the_gates():
    """The GRU step equals the cell on [y; c] with the context of the previous state."""
    decoder = tiny_decoder("gru")
    y = RNG.normal(size=(3, 2)).astype("float32")
    h = RNG.normal(size=(3, 4)).astype("float32")
    output, context, _, _ = decoder.step(y, [h], decoder.attend_to(MEMORY, MASK))
    expected_context, _ = decoder.attention(h, MEMORY, mask=MASK)
    np.testing.assert_allclose(context, expected_context, rtol=1e-5, atol=1e-6)
    expected, _ = decoder.cell(np.concatenate([y, expected_context.numpy()], -1), [h])
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-6)


def test_decoder_gradient_matches_finite_differences():
    """Autodiff through the decoder loop (float32, like every zoo loop) against central differences."""
    decoder = tiny_decoder("gru")
    targets = tf.constant(RNG.normal(size=(3, 3, 2)).astype("float32"))
    memory, h0 = tf.constant(MEMORY), tf.constant(RNG.normal(size=(3, 4)).astype("float32"))

    @tf.function  # traced once: the differences call it many times
    def loss(targets, memory, h0):
        outputs, contexts, _, final = decoder(targets, memory, [h0], memory_mask=MASK)
        return tf.reduce_sum(outputs**2) + tf.reduce_sum(tf.sin(contexts)) + tf.reduce_sum(final[0])

    analytic, numeric = tf.test.compute_gradient(loss, [targets, memory, h0], delta=1e-2)
    for a, n in zip(analytic, numeric):
        np.testing.assert_allclose(a, n, rtol=2e-2, atol=2e-3)


def test_decoder_refuses_a_two_matmul_cell():
    with pytest.raises(ValueError, match="one matmul"):
        layers.AttentionDecoder(layers.GRUCell(4, reset_after=False), layers.BahdanauAttention(3))


def tiny_model(cell="gru", **kwargs):
    settings = dict(embedding_dim=8, encoder_units=6, encoder_layers=2, decoder_units=10, attention_units=5,
                    readout_dim=8, dropout=0.0)
    model = EncoderDecoder(30, 20, cell=cell, **{**settings, **kwargs})
    model.build()
    return model


SOURCE = np.array([[5, 6, 7, 8], [9, 10, 0, 0]], "int32")
TARGET_IN = np.array([[2, 5, 6], [2, 7, 0]], "int32")


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_model_decode_steps_equal_teacher_forcing(cell):
    model = tiny_model(cell)
    logits = model((SOURCE, TARGET_IN)).numpy()
    source, states = model.encode(SOURCE)
    for t in range(TARGET_IN.shape[1]):
        step_logits, states, weights = model.decode_step(tf.constant(TARGET_IN[:, t]), states, source)
        np.testing.assert_allclose(step_logits, logits[:, t], rtol=1e-5, atol=1e-6)
    assert np.all(weights.numpy()[1, 2:] == 0.0)


def test_model_padding_of_the_source_changes_nothing():
    model = tiny_model()
    padded = np.pad(SOURCE, [(0, 0), (0, 3)])
    np.testing.assert_allclose(model((padded, TARGET_IN)), model((SOURCE, TARGET_IN)), rtol=1e-5, atol=1e-6)


def test_model_save_and_load(tmp_path):
    model = tiny_model("lstm", tie_embeddings=False, readout_dim=7)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded((SOURCE, TARGET_IN)), model((SOURCE, TARGET_IN)), rtol=1e-6)
    assert loaded.get_config() == model.get_config()


def test_model_bad_config():
    with pytest.raises(ValueError, match="cell"):
        EncoderDecoder(10, 10, cell="rnn")
    with pytest.raises(ValueError, match="attention"):
        EncoderDecoder(10, 10, attention="dot")
    with pytest.raises(ValueError, match="readout_dim == embedding_dim"):
        EncoderDecoder(10, 10, embedding_dim=8, readout_dim=6)


def test_masked_cross_entropy_by_hand():
    logits = RNG.normal(size=(2, 3, 5)).astype("float32")
    labels = np.array([[4, 1, 0], [2, 0, 0]])
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = [(0, 0), (0, 1), (1, 0)]
    nll = np.mean([-log_p[b, t, labels[b, t]] for b, t in real])
    np.testing.assert_allclose(MaskedCrossEntropy()(labels, logits), nll, rtol=1e-6)
    smoothed = np.mean([-0.9 * log_p[b, t, labels[b, t]] - 0.1 * log_p[b, t].mean() for b, t in real])
    np.testing.assert_allclose(MaskedCrossEntropy(label_smoothing=0.1)(labels, logits), smoothed, rtol=1e-6)
    with pytest.raises(ValueError, match="label_smoothing"):
        MaskedCrossEntropy(label_smoothing=1.0)


@pytest.mark.slow
def test_model_fit_lowers_the_loss():
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedCrossEntropy())
    labels = np.array([[5, 6, 3], [7, 3, 0]], "int32")
    history = model.fit((SOURCE, TARGET_IN), labels, epochs=30, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
