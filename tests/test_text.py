"""zoo.text.CharTokenizer: ids, padding, detokenize, graphs, .keras round trip, SavedModel export."""

import json
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run_fresh_python
from zoo.text import RESERVED, CharTokenizer

SHAKESPEARE = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\n"
    "All:\nSpeak, speak! — Café; 'tis 3 o'clock?\n"
)
TINY = ["a", "b", "\n"]  # a -> 4, b -> 5, \n -> 6


def test_reserved_ids_and_vocabulary():
    assert RESERVED == ("<pad>", "<unk>", "<bos>", "<eos>")
    tokenizer = CharTokenizer(TINY)
    assert tokenizer.vocabulary_size == 7
    assert tokenizer.get_vocabulary() == TINY
    tokenizer = CharTokenizer.from_text(SHAKESPEARE)
    assert tokenizer.get_vocabulary() == sorted(set(SHAKESPEARE))
    assert tokenizer.vocabulary_size == 4 + len(set(SHAKESPEARE))


def test_ids_pinned_by_hand():
    tokenizer = CharTokenizer(TINY)
    np.testing.assert_array_equal(tokenizer(tf.constant(["ab\nz"])).numpy(), [[4, 5, 6, 1]])
    assert tokenizer(tf.constant(["ab\nz"])).dtype == tf.int32
    np.testing.assert_array_equal(tokenizer(["ba"]).numpy(), [[5, 4]])  # python strings too
    np.testing.assert_array_equal(tokenizer(tf.constant("ab")).numpy(), [4, 5])  # a scalar: one row


def test_padding_and_ragged():
    tokenizer = CharTokenizer(TINY)
    batch = tf.constant(["ab", "", "babab", "b"])
    np.testing.assert_array_equal(
        tokenizer(batch).numpy(),
        [[4, 5, 0, 0, 0], [0, 0, 0, 0, 0], [5, 4, 5, 4, 5], [5, 0, 0, 0, 0]],
    )
    ragged = tokenizer.tokenize_ragged(batch)
    assert isinstance(ragged, tf.RaggedTensor) and ragged.dtype == tf.int32
    assert ragged.to_list() == [[4, 5], [], [5, 4, 5, 4, 5], [5]]
    assert tokenizer(tf.constant([""])).shape == (1, 0)


def test_round_trip_shakespeare_with_non_ascii():
    tokenizer = CharTokenizer.from_text(SHAKESPEARE)
    texts = [SHAKESPEARE, "Speak!\n", "", "é—é"]
    ids = tokenizer(tf.constant(texts))
    assert ids.shape == (4, len(SHAKESPEARE))  # characters, not UTF-8 bytes
    assert [t.decode("utf-8") for t in tokenizer.detokenize(ids).numpy()] == texts
    ragged = tokenizer.tokenize_ragged(tf.constant(texts))
    assert [t.decode("utf-8") for t in tokenizer.detokenize(ragged).numpy()] == texts
    vocabulary = tokenizer.get_vocabulary()
    assert ids[3].numpy().tolist()[:3] == [4 + vocabulary.index(c) for c in "é—é"]


def test_unknown_characters():
    tokenizer = CharTokenizer(TINY)
    ids = tokenizer(tf.constant(["aéb€", "x"]))
    np.testing.assert_array_equal(ids.numpy(), [[4, 1, 5, 1], [1, 0, 0, 0]])
    assert tokenizer.detokenize(ids).numpy().tolist() == ["a\ufffdb\ufffd".encode(), "\ufffd".encode()]
    assert tokenizer(tf.constant([b"a\xffb"])).numpy().tolist() == [[4, 1, 5]]  # invalid UTF-8 -> <unk>


def test_detokenize_reserved_ids():
    tokenizer = CharTokenizer(TINY)
    ids = tf.constant(
        [
            [2, 4, 5, 3, 4, 4],  # <bos> a b <eos> a a -> "ab"
            [4, 0, 5, 0, 0, 0],  # pads are dropped wherever they are
            [3, 4, 4, 4, 4, 4],  # <eos> first -> ""
            [2, 2, 4, 6, 1, 3],  # <bos> dropped, \n kept, <unk> -> U+FFFD
        ],
        dtype="int64",
    )
    expected = ["ab", "ab", "", "a\n\ufffd"]
    assert [t.decode("utf-8") for t in tokenizer.detokenize(ids).numpy()] == expected
    ragged = tf.ragged.constant([[2, 4, 5, 3, 4], [4, 5], [3], [4, 6, 1]])
    assert [t.decode() for t in tokenizer.detokenize(ragged).numpy()] == ["ab", "ab", "", "a\n\ufffd"]
    assert tokenizer.detokenize(np.array([4, 5, 3, 4])).numpy() == b"ab"  # one row -> a scalar
    with pytest.raises(ValueError, match="integer ids"):
        tokenizer.detokenize(tf.constant([[0.5]]))
    # ids outside the vocabulary are <unk>, also int64 ones that int32 would wrap onto real ids
    beyond = tf.constant([[2**32 + 4, 5, 2**32 + 3, -1, 4]], "int64")
    assert tokenizer.detokenize(beyond).numpy().tolist() == ["\ufffdb\ufffd\ufffda".encode()]


def test_inside_tf_function():
    tokenizer = CharTokenizer(TINY)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def round_trip(strings):
        ids = tokenizer(strings)
        return ids, tokenizer.detokenize(ids)

    ids, texts = round_trip(tf.constant(["ab\nz", "b"]))
    np.testing.assert_array_equal(ids.numpy(), [[4, 5, 6, 1], [5, 0, 0, 0]])
    assert texts.numpy().tolist() == ["ab\n\ufffd".encode(), b"b"]
    ids, _ = round_trip(tf.constant(["a", "bb", "a"]))  # same trace, another batch
    np.testing.assert_array_equal(ids.numpy(), [[4, 0], [5, 5], [4, 0]])


def _text_model(vocabulary):
    inputs = keras.Input(shape=(), dtype="string")
    tokenizer = CharTokenizer(vocabulary, name="chars")
    ids = tokenizer(inputs)
    outputs = keras.layers.Embedding(tokenizer.vocabulary_size, 3, name="embedding")(ids)
    return keras.Model(inputs, outputs)


def test_keras_file_round_trip(tmp_path):
    vocabulary = sorted(set(SHAKESPEARE))
    model = _text_model(vocabulary)
    assert model.output_shape == (None, None, 3)
    strings = tf.constant(["Speak, é!", "", "z—"])
    expected = model(strings).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assets = [name for name in archive.namelist() if name.endswith("vocabulary.json")]
        assert len(assets) == 1 and assets[0].startswith("assets/")
        assert json.loads(archive.read(assets[0]).decode("utf-8")) == vocabulary
        assert "é" in archive.read(assets[0]).decode("utf-8")  # ensure_ascii=False
    loaded = keras.saving.load_model(path)
    tokenizer = loaded.get_layer("chars")
    assert isinstance(tokenizer, CharTokenizer)
    assert tokenizer.get_vocabulary() == vocabulary
    np.testing.assert_array_equal(loaded(strings).numpy(), expected)


def test_config_alone_rebuilds_the_tokenizer():
    tokenizer = CharTokenizer(TINY, name="t")
    config = tokenizer.get_config()
    assert config["vocabulary"] == TINY
    json.dumps(config)  # plain JSON
    clone = CharTokenizer.from_config(config)
    assert clone.name == "t" and clone.get_vocabulary() == TINY
    np.testing.assert_array_equal(clone(["ab\nz"]).numpy(), [[4, 5, 6, 1]])


@pytest.mark.slow
def test_saved_model_serves_without_zoo(tmp_path):
    model = _text_model(TINY)
    expected = model(tf.constant(["ab"])).numpy()
    model.export(str(tmp_path / "exported"), format="tf_saved_model", verbose=False)
    np.save(tmp_path / "expected.npy", expected)
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        # Keep the loaded object: `tf.saved_model.load(d).serve(x)` in one expression fails (its
        # variables are garbage-collected with it) for any Keras export, not only this one.
        served = tf.saved_model.load({str(tmp_path / "exported")!r})
        out = served.serve(tf.constant(["ab"])).numpy()
        np.testing.assert_allclose(out, np.load({str(tmp_path / "expected.npy")!r}))
        assert not [m for m in sys.modules if m == "zoo" or m.startswith("zoo.")], sorted(sys.modules)
        print("served", out.shape)
        """
    )
    stdout = run_fresh_python(script, tmp_path)
    assert "served (1, 2, 3)" in stdout


@pytest.mark.parametrize(
    "vocabulary, message",
    [
        (["a", "bc"], "entry 1 is 'bc' \\(2 characters\\)"),
        (["a", ""], "entry 1 is ''"),
        (["a", 5], "entry 1 is 5 \\(int\\)"),
        (["a", "b", "a"], "entry 2 \\('a'\\) duplicates entry 0"),
        (["a", "<unk>"], "reserved token '<unk>'"),
        ([], "empty"),
        ("abc", "list of single characters"),
        (["\ud800"], "surrogate"),
    ],
)
def test_bad_vocabulary(vocabulary, message):
    with pytest.raises(ValueError, match="CharTokenizer.*" + message):
        CharTokenizer(vocabulary)


def test_non_string_inputs():
    tokenizer = CharTokenizer(TINY, name="chars")
    for bad in (tf.constant([1, 2]), np.array([[0.5]]), [1, 2]):
        with pytest.raises(ValueError, match="Layer 'chars' \\(CharTokenizer\\) expects strings"):
            tokenizer(bad)
    with pytest.raises(ValueError, match="expects strings"):
        tokenizer.tokenize_ragged(tf.constant([3]))
    with pytest.raises(ValueError, match="expects strings"):
        tokenizer(keras.Input(shape=(4,), dtype="int32"))


def test_messages_name_the_subclass():
    class Letters(CharTokenizer):
        pass

    tokenizer = Letters(TINY, name="letters")
    with pytest.raises(ValueError, match="Layer 'letters' \\(Letters\\) expects strings"):
        tokenizer([1, 2])
    with pytest.raises(ValueError, match="Layer 'letters' \\(Letters\\).detokenize expects integer ids"):
        tokenizer.detokenize(tf.constant([[0.5]]))
    with pytest.raises(ValueError, match="Layer 'bad' \\(Letters\\): `vocabulary` is empty"):
        Letters([], name="bad")
