"""zoo.decoding on an EncoderDecoder (greedy, beam search and sampling) against eager and
teacher-forced references, attention, argument checks; zoo.decoding's `translate` on strings;
and a tiny trained model that must reproduce its training pairs."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import fit_steps
from zoo import decoding
from zoo.decoding import beam_search, greedy, sample
from zoo.losses import MaskedCrossEntropy
from zoo.models import EncoderDecoder
from zoo.text import CharTokenizer
from zoo.decoding import translate

VOCABULARY = 30  # 4 reserved ids + 26
LETTERS = "abcdefghijklmnopqrstuvwxyz"
PAD, UNK, BOS, EOS = 0, 1, 2, 3
SOURCES = np.array([[5, 6, 7, 8, 0, 0], [9, 10, 0, 0, 0, 0], [11, 12, 13, 14, 15, 16], [20, 0, 0, 0, 0, 0]], np.int32)


def tiny_model(**kwargs):
    return EncoderDecoder(
        VOCABULARY, VOCABULARY, embedding_dim=16, encoder_units=16, encoder_layers=1, decoder_units=32,
        attention_units=16, readout_dim=16, dropout=0.0, **kwargs,
    )


def random_model(seed=1, scale=0.7, **kwargs):
    """Weights drawn here, large enough that outputs differ from row to row and eos comes
    at different steps."""
    model = tiny_model(**kwargs)
    model.build()
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        variable.assign(rng.normal(0.0, scale, size=variable.shape).astype("float32"))
    return model


@pytest.fixture(scope="module")
def model():
    return random_model()


def reserved_log_softmax(logits):
    logits = np.array(logits, np.float64)
    logits[..., [PAD, UNK, BOS]] = -np.inf
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def eager_greedy(model, source_ids, max_length):
    """The per-token reference: decode_step in eager mode, one row at a time."""
    outputs = []
    for row in source_ids:
        row = row[row != PAD][None, :]
        source, states = model.encode(tf.constant(row))
        token, ids, weights = tf.constant([BOS]), [], []
        for _ in range(max_length):
            logits, states, attention = model.decode_step(token, states, source)
            next_id = int(np.argmax(reserved_log_softmax(logits.numpy())[0]))
            ids.append(next_id)
            weights.append(attention.numpy()[0])
            if next_id == EOS:
                break
            token = tf.constant([next_id])
        outputs.append((ids, np.array(weights)))
    return outputs


def teacher_forced_log_prob(model, source_row, output_ids):
    """log p(y | x) of one output (eos included if there) by teacher forcing."""
    target_in = np.array([[BOS, *output_ids[:-1]]], np.int32)
    logits = model((tf.constant(source_row[None, :]), tf.constant(target_in))).numpy()[0]
    log_p = reserved_log_softmax(logits)
    return float(sum(log_p[t, y] for t, y in enumerate(output_ids)))


# --- greedy ----------------------------------------------------------------------------


@pytest.mark.parametrize("jit_compile", [True, False])
def test_greedy_equals_an_eager_per_token_loop(model, jit_compile):
    result = greedy(model, SOURCES, max_length=12, jit_compile=jit_compile)
    assert result.ids.dtype == np.int32 and result.ids.shape == (4, result.lengths.max())
    reference = eager_greedy(model, SOURCES, 12)
    assert len({tuple(ids) for ids, _ in reference}) > 1  # the rows do see their own sources
    assert any(ids[-1] == EOS for ids, _ in reference) and any(ids[-1] != EOS for ids, _ in reference)
    for row, (ids, weights) in enumerate(reference):
        assert result.lengths[row] == len(ids)
        np.testing.assert_array_equal(result.ids[row, : len(ids)], ids)
        assert np.all(result.ids[row, len(ids) :] == PAD)
        width = weights.shape[1]
        np.testing.assert_allclose(result.attention[row, : len(ids), :width], weights, atol=1e-5)
        assert result.log_probs[row] == pytest.approx(teacher_forced_log_prob(model, SOURCES[row], ids), abs=1e-3)


def test_greedy_default_max_length_is_twice_the_source_plus_10():
    model = random_model(seed=2)
    model.output_bias.assign(np.where(np.arange(VOCABULARY) == EOS, -1e4, 0.0).astype("float32"))  # never eos
    result = greedy(model, SOURCES)
    np.testing.assert_array_equal(result.lengths, 2 * (SOURCES != PAD).sum(axis=1) + 10)
    assert result.ids.shape == (4, 22)


def test_stepwise_references_equal_the_loops(model):
    np.testing.assert_array_equal(
        greedy(model, SOURCES, stepwise=True).ids, greedy(model, SOURCES, jit_compile=False).ids
    )
    loop = beam_search(model, SOURCES, beam_size=3, return_all=True, jit_compile=False)
    stepwise = beam_search(model, SOURCES, beam_size=3, return_all=True, stepwise=True)
    np.testing.assert_array_equal(stepwise.ids, loop.ids)
    np.testing.assert_allclose(stepwise.scores, loop.scores, rtol=1e-6)
    np.testing.assert_allclose(stepwise.attention, loop.attention, atol=1e-6)


# --- beam search -----------------------------------------------------------------------


@pytest.mark.parametrize("jit_compile", [True, False])
def test_beam_size_1_is_greedy(model, jit_compile):
    best = greedy(model, SOURCES, jit_compile=jit_compile)
    beam = beam_search(model, SOURCES, beam_size=1, jit_compile=jit_compile)
    np.testing.assert_array_equal(beam.ids, best.ids)
    np.testing.assert_array_equal(beam.lengths, best.lengths)
    np.testing.assert_allclose(beam.log_probs, best.log_probs, rtol=1e-5)
    np.testing.assert_allclose(beam.attention, best.attention, atol=1e-6)


@pytest.mark.parametrize("length_penalty", [0.0, 1.0, 0.6])
def test_beam_hypotheses_are_ranked_and_scored_as_teacher_forcing_says(model, length_penalty):
    result = beam_search(model, SOURCES, beam_size=4, length_penalty=length_penalty, return_all=True)
    batch, k, longest = result.ids.shape
    assert (batch, k) == (4, 4) and result.scores.shape == (4, 4) and result.attention.shape[:3] == (4, 4, longest)
    assert np.all(np.diff(result.scores, axis=1) <= 0)  # best first
    for row in range(batch):
        hypotheses = {tuple(result.ids[row, j, : result.lengths[row, j]]) for j in range(k)}
        assert len(hypotheses) == k  # distinct
        for j in range(k):
            ids = result.ids[row, j, : result.lengths[row, j]].tolist()
            assert not set(ids[:-1]) & {PAD, UNK, BOS, EOS}  # eos only at the end
            log_prob = teacher_forced_log_prob(model, SOURCES[row], ids)
            assert result.log_probs[row, j] == pytest.approx(log_prob, abs=2e-3)
            assert result.scores[row, j] == pytest.approx(log_prob / len(ids) ** length_penalty, abs=2e-3)
    best = beam_search(model, SOURCES, beam_size=4, length_penalty=length_penalty)
    np.testing.assert_array_equal(best.ids, result.ids[:, 0, : best.ids.shape[1]])
    np.testing.assert_array_equal(best.scores, result.scores[:, 0])


def test_beam_search_finds_at_least_the_greedy_log_probability(model):
    best = greedy(model, SOURCES)
    beam = beam_search(model, SOURCES, beam_size=5, length_penalty=0.0)
    assert np.all(beam.log_probs >= best.log_probs - 1e-4)


def test_a_batch_decodes_as_each_row_alone(model):
    batch = beam_search(model, SOURCES, beam_size=3)
    for row, source in enumerate(SOURCES):
        alone = beam_search(model, source[source != PAD][None, :], beam_size=3)
        length = batch.lengths[row]
        np.testing.assert_array_equal(alone.ids[0, :length], batch.ids[row, :length])
        assert alone.scores[0] == pytest.approx(batch.scores[row], abs=1e-4)


# --- attention, reserved ids --------------------------------------------------------------


def test_attention_rows_sum_to_one_and_skip_padding(model):
    real = SOURCES != PAD
    for result in (greedy(model, SOURCES), beam_search(model, SOURCES, beam_size=3),
                   sample(model, SOURCES, seed=0)):
        assert result.attention.dtype == np.float32 and result.attention.shape[2] == SOURCES.shape[1]
        for row in range(len(SOURCES)):
            length = result.lengths[row]
            np.testing.assert_allclose(result.attention[row, :length].sum(axis=-1), 1.0, atol=1e-5)
            assert np.all(result.attention[row, :length][:, ~real[row]] == 0.0)
            assert np.all(result.attention[row, length:] == 0.0)
    every = beam_search(model, SOURCES, beam_size=3, return_all=True)
    for row in range(len(SOURCES)):
        for j in range(3):
            length = every.lengths[row, j]
            np.testing.assert_allclose(every.attention[row, j, :length].sum(axis=-1), 1.0, atol=1e-5)


def test_reserved_ids_are_never_produced():
    model = random_model(seed=3)
    bias = np.zeros(VOCABULARY, np.float32)
    bias[[PAD, UNK, BOS]] = 50.0  # the model prefers them by far
    model.output_bias.assign(bias)
    for result in (greedy(model, SOURCES), beam_search(model, SOURCES, beam_size=4),
                   sample(model, SOURCES, temperature=2.0, seed=1)):
        for row in range(len(SOURCES)):
            ids = result.ids[row, : result.lengths[row]]
            assert not set(ids.tolist()) & {PAD, UNK, BOS}


# --- sampling --------------------------------------------------------------------------


def test_sampling_with_a_seed_repeats_and_top_k_1_is_greedy(model):
    first = sample(model, SOURCES, temperature=1.5, seed=7)
    again = sample(model, SOURCES, temperature=1.5, seed=7)
    np.testing.assert_array_equal(first.ids, again.ids)
    other = sample(model, SOURCES, temperature=1.5, seed=8)
    assert not np.array_equal(first.ids, other.ids)
    np.testing.assert_array_equal(sample(model, SOURCES, top_k=1, seed=3).ids, greedy(model, SOURCES).ids)
    np.testing.assert_array_equal(sample(model, SOURCES, temperature=0.0).ids, greedy(model, SOURCES).ids)
    for row in range(len(SOURCES)):  # log_probs are the model's, untempered
        ids = first.ids[row, : first.lengths[row]].tolist()
        assert first.log_probs[row] == pytest.approx(teacher_forced_log_prob(model, SOURCES[row], ids), abs=2e-3)


# --- argument checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: beam_search(m, SOURCES, beam_size=0), "beam_size"),
        (lambda m: beam_search(m, SOURCES, beam_size=VOCABULARY - 2), "beam_size"),
        (lambda m: beam_search(m, SOURCES, beam_size=2.0), "beam_size"),
        (lambda m: beam_search(m, SOURCES, length_penalty=-1.0), "length_penalty"),
        (lambda m: greedy(m, SOURCES, max_length=-3), "max_length"),
        (lambda m: greedy(m, SOURCES, max_length=0), "max_length"),
        (lambda m: greedy(m, SOURCES[0]), "shape"),
        (lambda m: greedy(m, SOURCES[None]), "shape"),
        (lambda m: beam_search(m, np.array([[5, 6], [0, 0]])), r"empty source in row\(s\) \[1\]"),
        (lambda m: greedy(m, np.zeros((2, 0), np.int32)), "empty source"),
        (lambda m: greedy(m, np.zeros((0, 3), np.int32)), "batch size 0"),
        (lambda m: greedy(m, np.array([[5, 0, 6]])), "right-padded"),
        (lambda m: greedy(m, np.array([[5, VOCABULARY]])), "ids in"),
        (lambda m: greedy(m, np.array([[5.0, 6.0]])), "integer"),
        (lambda m: greedy(m, np.full((1, 300), 5)), "max_source_length"),
        (lambda m: sample(m, SOURCES, temperature=-1.0), "temperature"),
        (lambda m: sample(m, SOURCES, top_k=-1), "top_k"),
        (lambda m: sample(m, SOURCES, top_p=0.0), "top_p"),
        (lambda m: greedy(object(), SOURCES), "EncoderDecoder"),
    ],
)
def test_bad_arguments_raise_value_errors(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)


# --- translate ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_model():
    return random_model(
        seed=4, source_tokenizer=CharTokenizer(list(LETTERS)), target_tokenizer=CharTokenizer(list(LETTERS)),
        max_source_length=12,
    )


def test_translate_strings(text_model):
    sentences = ["abc", "hello", "z", "translate", "qq"]
    out = translate(text_model, sentences, method="greedy")
    assert isinstance(out, list) and len(out) == 5 and all(isinstance(s, str) for s in out)
    ids = text_model.source_tokenizer(sentences).numpy()
    expected = greedy(text_model, ids)
    assert out == [s.decode() for s in text_model.target_tokenizer.detokenize(expected.ids).numpy()]
    # chunks (decoded in order of length) keep the input order
    assert translate(text_model, sentences, method="greedy", batch_size=2) == out
    assert translate(text_model, sentences, beam_size=1) == out
    with_attention = translate(text_model, sentences, method="beam", beam_size=3, return_attention=True)
    assert [t for t, _ in with_attention] == translate(text_model, sentences, beam_size=3)
    for sentence, (text, attention) in zip(sentences, with_attention):
        assert attention.shape[1] == len(sentence) and attention.shape[0] >= len(text)
        np.testing.assert_allclose(attention.sum(axis=1), 1.0, atol=1e-5)
    assert translate(text_model, []) == []


def test_translate_truncates_long_sentences_with_a_warning(text_model):
    with pytest.warns(UserWarning, match=r"sentence 1 has 20 source ids.*max_source_length 12"):
        out = translate(text_model, ["abc", "abcdefghijklmnopqrst"], method="greedy")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert out[1] == translate(text_model, ["abcdefghijkl"], method="greedy")[0]


def test_translate_refuses_bad_input(text_model, model):
    with pytest.raises(ValueError, match="sentence 2 is empty"):
        translate(text_model, ["abc", "de", "   "])
    with pytest.raises(ValueError, match="sentence 0 is empty"):
        translate(text_model, [""])
    with pytest.raises(ValueError, match="sentence 1 is a int"):
        translate(text_model, ["abc", 5])
    with pytest.raises(ValueError, match="single string"):
        translate(text_model, "abc")
    with pytest.raises(ValueError, match="method"):
        translate(text_model, ["abc"], method="nucleus")
    with pytest.raises(ValueError, match="no source_tokenizer and no target_tokenizer"):
        translate(model, ["abc"])


# --- a trained model ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_trained_model_reproduces_its_training_pairs():
    """20 random reverse-copy pairs over ids 4..29, lengths 3-8: greedy and beam search give
    every target back exactly after a short fit."""
    rng = np.random.default_rng(0)
    pairs = [rng.integers(4, VOCABULARY, size=rng.integers(3, 9)) for _ in range(20)]
    width = 9
    source = np.zeros((20, width), np.int32)
    target_in = np.zeros((20, width), np.int32)
    labels = np.zeros((20, width), np.int32)
    for i, ids in enumerate(pairs):
        target = ids[::-1]
        source[i, : len(ids)] = ids
        target_in[i, : len(ids) + 1] = [BOS, *target]
        labels[i, : len(ids) + 1] = [*target, EOS]
    keras.utils.set_random_seed(0)
    model = tiny_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=MaskedCrossEntropy())
    fit_steps(model, (source, target_in), labels, batch_size=20, epochs=200)  # loss ~0.002 at 100
    for result in (greedy(model, source), beam_search(model, source, beam_size=4)):
        for i, ids in enumerate(pairs):
            np.testing.assert_array_equal(result.ids[i, : len(ids) + 1], [*ids[::-1], EOS])
            assert result.lengths[i] == len(ids) + 1


def test_lstm_and_luong_attention_decode_too():
    model = random_model(seed=5, cell="lstm", attention="luong")
    best = greedy(model, SOURCES, max_length=10)
    for row, (ids, weights) in enumerate(eager_greedy(model, SOURCES, 10)):
        np.testing.assert_array_equal(best.ids[row, : len(ids)], ids)
    np.testing.assert_array_equal(beam_search(model, SOURCES, beam_size=1, max_length=10).ids, best.ids)
    every = beam_search(model, SOURCES, beam_size=3, max_length=10, return_all=True)
    stepwise = beam_search(model, SOURCES, beam_size=3, max_length=10, return_all=True, stepwise=True)
    np.testing.assert_array_equal(every.ids, stepwise.ids)


def test_no_retracing_for_new_batches_widths_and_lengths(model):
    greedy(model, SOURCES, jit_compile=False)
    beam_search(model, SOURCES, beam_size=2, jit_compile=False)
    functions = decoding.loop._FUNCTIONS[model]
    loops = [functions["loop", ("greedy",), 2, False], functions["loop", ("beam", 2), 2, False]]
    counts = [f.experimental_get_tracing_count() for f in loops]
    greedy(model, SOURCES[:3, :2], max_length=4, jit_compile=False)
    beam_search(model, SOURCES[1:, :3], beam_size=2, max_length=7, jit_compile=False)
    assert [f.experimental_get_tracing_count() for f in loops] == counts


def test_extra_padding_columns_change_nothing_but_the_attention_width(model):
    wide = np.pad(SOURCES, [(0, 0), (0, 5)])
    narrow, padded = beam_search(model, SOURCES, beam_size=3), beam_search(model, wide, beam_size=3)
    np.testing.assert_array_equal(narrow.ids, padded.ids)
    assert padded.attention.shape[-1] == wide.shape[1]
    np.testing.assert_allclose(padded.attention[..., : SOURCES.shape[1]], narrow.attention, atol=1e-5)
    assert np.all(padded.attention[..., SOURCES.shape[1] :] == 0.0)
