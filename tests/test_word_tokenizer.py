"""zoo.text.WordTokenizer: whitespace words, fixed vocabulary, <unk>, lowercasing, saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.text import EOS_ID, UNK_ID, WordTokenizer


def test_words_map_to_ids_in_frequency_order_and_unknown_words_to_unk():
    tokenizer = WordTokenizer.from_texts(["the cat sat", "the dog sat", "the end"], min_count=2)
    assert tokenizer.get_vocabulary() == ["the", "sat"]  # most frequent first; "cat" and "dog" seen once
    assert tokenizer.vocabulary_size == 6
    ids = tokenizer(["the  cat\tsat", "sat"]).numpy()  # any run of whitespace separates words
    np.testing.assert_array_equal(ids, [[4, UNK_ID, 5], [5, 0, 0]])
    assert tokenizer("the sat").numpy().tolist() == [4, 5]  # a scalar string gives (T,)


def test_reserved_words_in_text_keep_their_ids_and_padding_words_map_to_zero():
    tokenizer = WordTokenizer(["a", "b"])
    assert tokenizer("a <unk> b <eos>").numpy().tolist() == [4, UNK_ID, 5, EOS_ID]  # as PTB writes them
    ids = tokenizer.lookup(tf.constant([["a", "zzz", ""], ["b", "", ""]])).numpy()
    np.testing.assert_array_equal(ids, [[4, UNK_ID, 0], [5, 0, 0]])


def test_lowercasing_reads_any_case_including_non_ascii():
    tokenizer = WordTokenizer.from_texts(["Über den Fluss"], lowercase=True)
    assert tokenizer.get_vocabulary() == ["über", "den", "fluss"]
    assert tokenizer("ÜBER DEN fluss").numpy().tolist() == [4, 5, 6]
    with pytest.raises(ValueError, match="not lowercase"):
        WordTokenizer(["Über"], lowercase=True)


def test_detokenize_joins_words_and_stops_at_eos():
    tokenizer = WordTokenizer(["a", "b"])
    text = tokenizer.detokenize(tf.constant([[4, 1, 5, EOS_ID, 4], [5, 0, 0, 0, 0]])).numpy()
    assert text.tolist() == [b"a <unk> b", b"b"]


@pytest.mark.parametrize("vocabulary, problem", [
    ([], "empty"), ("abc", "list of words"), (["a b"], "without whitespace"), ([""], "non-empty"),
    (["<eos>"], "reserved"), (["a", "a"], "duplicates"), ([3], "non-empty str"),
])
def test_bad_vocabularies_are_refused_by_entry(vocabulary, problem):
    with pytest.raises(ValueError, match=problem):
        WordTokenizer(vocabulary)


def test_bad_inputs_are_refused():
    tokenizer = WordTokenizer(["a"])
    with pytest.raises(ValueError, match="expects strings"):
        tokenizer(tf.constant([1, 2]))
    with pytest.raises(ValueError, match="no word occurs 2 or more times"):
        WordTokenizer.from_texts(["a b"], min_count=2)


def test_round_trip_through_a_keras_file_and_a_tf_function(tmp_path):
    tokenizer = WordTokenizer.from_texts(["one two three two"], lowercase=True)
    inputs = keras.Input((), dtype="string")
    model = keras.Model(inputs, tokenizer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    text = tf.constant(["Two one four", "three"])
    np.testing.assert_array_equal(loaded(text), model(text))
    assert loaded.layers[-1].get_vocabulary() == ["two", "one", "three"]
    assert loaded.layers[-1].lowercase
    traced = tf.function(tokenizer.tokenize_ragged, input_signature=[tf.TensorSpec((None,), tf.string)])
    assert traced(text).to_list() == [[4, 5, UNK_ID], [6]]
