"""zoo.text.SubwordTokenizer: training, ids, bos/eos/max_length, detokenize, graphs, saving, SavedModel export."""

import base64
import io
import json
import random
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import sentencepiece
import tensorflow as tf

from helpers import run_fresh_python
from zoo.text import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID, SubwordTokenizer

UNKNOWN = " \u2047 "  # what sentencepiece writes for <unk>


def _lines(count=200, seed=0):
    """Sentences of made-up words (with a few non-ASCII letters): enough text for a 64-id model."""
    rng = random.Random(seed)
    syllables = ["ka", "ro", "mi", "tu", "sen", "pa", "lo", "ve", "qui", "zo", "na", "é", "ß"]
    words = ["".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for _ in range(80)]
    return [" ".join(rng.choice(words) for _ in range(rng.randint(3, 10))) for _ in range(count)]


LINES = _lines()
VOCABULARY_SIZE = 64


@pytest.fixture(scope="module")
def tokenizer():
    return SubwordTokenizer.train(LINES, VOCABULARY_SIZE, name="subwords")


@pytest.fixture(scope="module")
def processor(tokenizer):
    """The reference implementation (the sentencepiece package) loaded with the same model."""
    return sentencepiece.SentencePieceProcessor(model_proto=tokenizer.model)


def _texts(strings):
    return [s.decode("utf-8") for s in np.asarray(strings).reshape(-1)]


def _normalised(text):
    return " ".join(text.split())


def test_reserved_ids_and_vocabulary(tokenizer, processor):
    assert (PAD_ID, UNK_ID, BOS_ID, EOS_ID) == (0, 1, 2, 3)
    assert tokenizer.vocabulary_size == VOCABULARY_SIZE
    vocabulary = tokenizer.get_vocabulary()
    assert len(vocabulary) == VOCABULARY_SIZE and vocabulary[:4] == list(RESERVED)
    assert vocabulary == [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
    assert (processor.pad_id(), processor.unk_id(), processor.bos_id(), processor.eos_id()) == (0, 1, 2, 3)
    assert any(piece.startswith("\u2581") and len(piece) > 2 for piece in vocabulary)  # real subwords
    # Deterministic: the same lines give the same model.
    assert SubwordTokenizer.train(LINES, VOCABULARY_SIZE).model == tokenizer.model


def test_ids_match_sentencepiece_and_padding(tokenizer, processor):
    texts = LINES[:3] + ["", "ka"]
    ids = tokenizer(tf.constant(texts))
    assert ids.dtype == tf.int32
    expected = [processor.encode(text) for text in texts]
    assert ids.shape == (5, max(len(row) for row in expected))
    for row, reference in zip(ids.numpy().tolist(), expected):
        assert row == reference + [PAD_ID] * (ids.shape[1] - len(reference))
        assert all(i >= len(RESERVED) for i in reference)
    ragged = tokenizer.tokenize_ragged(tf.constant(texts))
    assert isinstance(ragged, tf.RaggedTensor) and ragged.dtype == tf.int32
    assert ragged.to_list() == expected
    assert tokenizer(texts[:2]).numpy().tolist() == ids[:2, : len(max(expected[:2], key=len))].numpy().tolist()
    np.testing.assert_array_equal(tokenizer(tf.constant(texts[0])).numpy(), expected[0])  # a scalar: one row
    assert tokenizer(tf.constant([""])).shape == (1, 0)
    assert tokenizer(tf.constant([[texts[0]], [texts[1]]])).shape == (2, 1, ids.shape[1])  # rank 2 inputs


def test_round_trip(tokenizer):
    texts = LINES[:20] + ["", "  ka   ro\tmi\nsen  ", "ßé zoé", LINES[5] + " " + LINES[6]]
    ids = tokenizer(tf.constant(texts))
    assert _texts(tokenizer.detokenize(ids)) == [_normalised(t) for t in texts]  # whitespace normalised
    assert _texts(tokenizer.detokenize(tokenizer.tokenize_ragged(tf.constant(texts)))) == [
        _normalised(t) for t in texts
    ]
    assert tokenizer.detokenize(tokenizer(LINES[7])).numpy().decode() == LINES[7]  # one row -> a scalar


def test_bos_eos_and_max_length(tokenizer):
    texts = [LINES[0], "", "ka"]
    plain = tokenizer.tokenize_ragged(tf.constant(texts)).to_list()
    assert len(plain[0]) > 5 and plain[1] == []

    both = SubwordTokenizer(tokenizer.model, add_bos=True, add_eos=True)
    assert both.tokenize_ragged(tf.constant(texts)).to_list() == [[BOS_ID] + row + [EOS_ID] for row in plain]
    bos = SubwordTokenizer(tokenizer.model, add_bos=True)
    assert bos.tokenize_ragged(tf.constant(texts)).to_list() == [[BOS_ID] + row for row in plain]
    eos = SubwordTokenizer(tokenizer.model, add_eos=True)
    assert eos.tokenize_ragged(tf.constant(texts)).to_list() == [row + [EOS_ID] for row in plain]
    np.testing.assert_array_equal(eos(tf.constant("")).numpy(), [EOS_ID])

    cut = SubwordTokenizer(tokenizer.model, max_length=4)
    assert cut.tokenize_ragged(tf.constant(texts)).to_list() == [row[:4] for row in plain]
    cut = SubwordTokenizer(tokenizer.model, add_bos=True, add_eos=True, max_length=5)
    ids = cut(tf.constant(texts))
    assert ids.shape == (3, 5)
    expected = [[BOS_ID] + row[:3] + [EOS_ID] for row in plain]  # <eos> stays last
    assert ids.numpy().tolist() == [row + [PAD_ID] * (5 - len(row)) for row in expected]
    np.testing.assert_array_equal(cut(tf.constant(texts[0])).numpy(), expected[0])
    # The detokenized text is the (cut) text: <bos>, <eos> and pads are dropped.
    assert _texts(both.detokenize(both(tf.constant(texts)))) == texts
    assert _texts(cut.detokenize(ids)) == _texts(tokenizer.detokenize(tf.ragged.constant([row[:3] for row in plain])))


def test_unknown_characters(tokenizer, processor):
    texts = ["ka x€ ro", "€", "ka€"]  # neither x nor € is in the training text
    ids = tokenizer.tokenize_ragged(tf.constant(texts)).to_list()
    assert ids == [processor.encode(text) for text in texts]
    word_start, ka, ro = (tokenizer.get_vocabulary().index(piece) for piece in ("\u2581", "\u2581ka", "\u2581ro"))
    assert ids == [[ka, word_start, UNK_ID, ro], [word_start, UNK_ID], [ka, UNK_ID]]  # "x€": one <unk>
    assert _texts(tokenizer.detokenize(tf.ragged.constant(ids))) == ["ka " + UNKNOWN + " ro", UNKNOWN, "ka" + UNKNOWN]
    assert _texts(tokenizer.detokenize(tf.ragged.constant(ids))) == [processor.decode(row) for row in ids]
    assert UNK_ID in tokenizer(tf.constant([b"ka\xffro"])).numpy()  # invalid UTF-8 -> <unk>


def test_detokenize_reserved_ids(tokenizer):
    ka, ro = tokenizer.tokenize_ragged(tf.constant(["ka", "ro"])).to_list()
    ka_ro = tokenizer.tokenize_ragged(tf.constant("ka ro")).numpy().tolist()
    assert len(ka) == len(ro) == 1 and ka_ro == ka + ro
    [ka], [ro] = ka, ro
    ids = tf.constant(
        [
            [BOS_ID, ka, ro, EOS_ID, ka, ka],  # <bos> ka ro <eos> ka ka -> "ka ro"
            [ka, PAD_ID, ro, PAD_ID, PAD_ID, PAD_ID],  # pads are dropped wherever they are
            [EOS_ID, ka, ka, ka, ka, ka],  # <eos> first -> ""
            [BOS_ID, BOS_ID, ka, UNK_ID, EOS_ID, ro],  # <bos> dropped, <unk> -> " ⁇ "
            [ka, VOCABULARY_SIZE, -1, ro, 10**9, PAD_ID],  # ids outside the vocabulary -> <unk>
        ],
        dtype="int64",
    )
    expected = ["ka ro", "ka ro", "", "ka" + UNKNOWN, "ka" + UNKNOWN + UNKNOWN + " ro" + UNKNOWN]
    assert _texts(tokenizer.detokenize(ids)) == expected
    ragged = tf.ragged.constant([[BOS_ID, ka, ro, EOS_ID, ka], [ka, ro], [EOS_ID], [ka, UNK_ID]])
    assert _texts(tokenizer.detokenize(ragged)) == ["ka ro", "ka ro", "", "ka" + UNKNOWN]
    assert tokenizer.detokenize(np.array([ka, ro, EOS_ID, ka])).numpy() == b"ka ro"  # one row -> a scalar
    with pytest.raises(ValueError, match="Layer 'subwords' \\(SubwordTokenizer\\).detokenize expects integer ids"):
        tokenizer.detokenize(tf.constant([[0.5]]))
    with pytest.raises(ValueError, match="rank >= 1"):
        tokenizer.detokenize(tf.constant(4))


def test_inside_tf_function(tokenizer):
    layer = SubwordTokenizer(tokenizer.model, add_eos=True)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def round_trip(strings):
        ids = layer(strings)
        return ids, layer.detokenize(ids)

    texts = [LINES[0], "ka€"]
    ids, detokenized = round_trip(tf.constant(texts))
    np.testing.assert_array_equal(ids.numpy(), layer(tf.constant(texts)).numpy())
    assert _texts(detokenized) == [LINES[0], "ka" + UNKNOWN]
    ids, detokenized = round_trip(tf.constant(LINES[3:6]))  # same trace, another batch
    assert _texts(detokenized) == LINES[3:6]
    assert round_trip.experimental_get_tracing_count() == 1


def test_survives_seeding_and_clear_session(tokenizer):
    # tensorflow_text's own tokenizer loses its model when TensorFlow clears its kernel cache
    # (tensorflow/text#570); the layer's model resource is shared by name and survives.
    layer = SubwordTokenizer(tokenizer.model)
    traced = tf.function(lambda strings: layer.detokenize(layer(strings)))
    expected = layer(tf.constant(LINES[:3])).numpy()
    assert _texts(traced(tf.constant(LINES[:3]))) == LINES[:3]
    keras.utils.set_random_seed(7)
    np.testing.assert_array_equal(layer(tf.constant(LINES[:3])).numpy(), expected)
    keras.backend.clear_session()
    np.testing.assert_array_equal(layer(tf.constant(LINES[:3])).numpy(), expected)
    assert _texts(traced(tf.constant(LINES[:3]))) == LINES[:3]
    assert _texts(layer.detokenize(expected)) == LINES[:3]


def test_config_alone_rebuilds_the_tokenizer(tokenizer):
    layer = SubwordTokenizer(tokenizer.model, add_bos=True, max_length=7, name="t")
    config = layer.get_config()
    json.dumps(config)  # plain JSON
    assert base64.b64decode(config["model"]) == tokenizer.model
    assert (config["add_bos"], config["add_eos"], config["max_length"]) == (True, False, 7)
    clone = SubwordTokenizer.from_config(config)
    assert clone.name == "t" and clone.get_vocabulary() == tokenizer.get_vocabulary()
    np.testing.assert_array_equal(clone(tf.constant(LINES[:4])).numpy(), layer(tf.constant(LINES[:4])).numpy())
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(clone, SubwordTokenizer) and clone.max_length == 7
    np.testing.assert_array_equal(clone(tf.constant(LINES[:4])).numpy(), layer(tf.constant(LINES[:4])).numpy())
    with pytest.raises(ValueError, match="base64"):
        SubwordTokenizer.from_config({**config, "model": "not base64!"})


def _text_model(model):
    inputs = keras.Input(shape=(), dtype="string")
    tokenizer = SubwordTokenizer(model, add_bos=True, add_eos=True, max_length=12, name="subwords")
    ids = tokenizer(inputs)
    outputs = keras.layers.Embedding(tokenizer.vocabulary_size, 3, name="embedding")(ids)
    return keras.Model(inputs, outputs)


def test_keras_file_round_trip(tokenizer, tmp_path):
    model = _text_model(tokenizer.model)
    assert model.output_shape == (None, None, 3)
    strings = tf.constant([LINES[0], "", "ka €"])
    expected = model(strings).numpy()
    assert expected.shape == (3, 12, 3)
    path = tmp_path / "model.keras"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        assets = [name for name in archive.namelist() if name.endswith("sentencepiece.model")]
        assert len(assets) == 1 and assets[0].startswith("assets/")
        assert archive.read(assets[0]) == tokenizer.model
    loaded = keras.saving.load_model(path)
    layer = loaded.get_layer("subwords")
    assert isinstance(layer, SubwordTokenizer)
    assert layer.model == tokenizer.model and (layer.add_bos, layer.add_eos, layer.max_length) == (True, True, 12)
    np.testing.assert_allclose(loaded(strings).numpy(), expected)


def test_assets_replace_the_model(tokenizer, tmp_path):
    other = SubwordTokenizer.train(_lines(seed=1), 48)
    other.save_assets(str(tmp_path))
    assert (tmp_path / "sentencepiece.model").read_bytes() == other.model
    layer = SubwordTokenizer(tokenizer.model)
    layer.load_assets(str(tmp_path))
    assert layer.model == other.model and layer.vocabulary_size == 48
    np.testing.assert_array_equal(layer(tf.constant(LINES[:3])).numpy(), other(tf.constant(LINES[:3])).numpy())


def test_other_model_types():
    for model_type in ("bpe", "char", "word"):
        if model_type == "word":  # every word gets an id: as many as there are, up to 500
            layer = SubwordTokenizer.train(LINES, 500, model_type="word", trainer_options={"hard_vocab_limit": False})
            assert 50 < layer.vocabulary_size < 500
        else:
            layer = SubwordTokenizer.train(LINES, 48, model_type=model_type)
        assert layer.get_vocabulary()[:4] == list(RESERVED)
        assert _texts(layer.detokenize(layer(tf.constant(LINES[:5])))) == LINES[:5], model_type


class _Serving(tf.Module):
    def __init__(self, tokenizer):
        super().__init__()
        self.tokenizer = tokenizer

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string)])
    def tokenize(self, strings):
        return {"ids": self.tokenizer(strings)}

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32)])
    def detokenize(self, ids):
        return {"text": self.tokenizer.detokenize(ids)}


@pytest.mark.slow
def test_saved_model_serves_without_zoo(tokenizer, tmp_path):
    layer = SubwordTokenizer(tokenizer.model, add_eos=True)
    serving = _Serving(layer)
    tf.saved_model.save(
        serving, str(tmp_path / "module"),
        signatures={"tokenize": serving.tokenize, "detokenize": serving.detokenize},
    )
    model = _text_model(tokenizer.model)
    model.export(str(tmp_path / "keras"), format="tf_saved_model", verbose=False)
    texts = [LINES[0], "", "ka €"]
    np.save(tmp_path / "ids.npy", layer(tf.constant(texts)).numpy())
    expected_text = layer.detokenize(layer(tf.constant(texts))).numpy().tolist()
    assert expected_text == [LINES[0].encode(), b"", "ka  \u2047 ".encode()]
    np.save(tmp_path / "embedded.npy", model(tf.constant(texts)).numpy())
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        texts = tf.constant({texts!r})
        module = tf.saved_model.load({str(tmp_path / "module")!r})
        tf.random.set_seed(0)  # clears TensorFlow's kernel cache: the model resource must survive it
        ids = module.signatures["tokenize"](strings=texts)["ids"]
        np.testing.assert_array_equal(ids.numpy(), np.load({str(tmp_path / "ids.npy")!r}))
        text = module.signatures["detokenize"](ids=ids)["text"].numpy().tolist()
        assert text == {expected_text!r}, text
        keras_export = tf.saved_model.load({str(tmp_path / "keras")!r})
        np.testing.assert_allclose(keras_export.serve(texts).numpy(), np.load({str(tmp_path / "embedded.npy")!r}))
        assert not [m for m in sys.modules if m == "zoo" or m.startswith("zoo.")], sorted(sys.modules)
        assert not [m for m in sys.modules if m == "sentencepiece" or m.startswith("sentencepiece.")]
        print("served", ids.shape)
        """
    )
    stdout = run_fresh_python(script, tmp_path)
    assert f"served {tuple(np.load(tmp_path / 'ids.npy').shape)}" in stdout


def _sentencepiece_model(**options):
    writer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(LINES), model_writer=writer, vocab_size=40, character_coverage=1.0,
        minloglevel=2, **options,
    )
    return writer.getvalue()


@pytest.mark.parametrize(
    "model, message",
    [
        (b"garbage bytes", "not a sentencepiece model"),
        (b"", "not a sentencepiece model \\(it has 0 pieces"),
        (b"\x0a\x05\x0a\x03abc", "not a sentencepiece model \\(it has 1 pieces"),
        (b"\x0a\xff", "not a sentencepiece model \\(truncated"),
        ("model.model", "bytes\\), got a str .*open\\(path, 'rb'\\)"),
        (None, "bytes\\), got NoneType"),
        ("defaults", "unk_id=0, bos_id=1, eos_id=2.*trained with pad_id=0, unk_id=1, bos_id=2, eos_id=3"),
        ("no bos/eos", "bos_id=-1, eos_id=-1.*trained with pad_id=0"),
    ],
)
def test_bad_models(model, message):
    if model == "defaults":  # sentencepiece's own defaults: <unk>=0, <s>=1, </s>=2, no pad
        model = _sentencepiece_model()
    elif model == "no bos/eos":
        model = _sentencepiece_model(pad_id=0, unk_id=1, bos_id=-1, eos_id=-1)
    with pytest.raises(ValueError, match="Layer 'bad' \\(SubwordTokenizer\\): .*" + message):
        SubwordTokenizer(model, name="bad")


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"add_bos": "yes"}, "`add_bos` must be True or False, got 'yes'"),
        ({"add_eos": 1}, "`add_eos` must be True or False"),
        ({"max_length": 0}, "`max_length` must be None or an int > 0"),
        ({"max_length": 2, "add_bos": True, "add_eos": True}, ".*an int > 2 \\(room for <bos>/<eos>"),
        ({"max_length": 4.0}, "`max_length` must be None or an int"),
    ],
)
def test_bad_options(tokenizer, arguments, message):
    with pytest.raises(ValueError, match="Layer 'bad' \\(SubwordTokenizer\\): " + message):
        SubwordTokenizer(tokenizer.model, name="bad", **arguments)


@pytest.mark.parametrize(
    "lines, arguments, message",
    [
        ([], {}, "`lines` is empty"),
        (["", "  \n"], {}, "`lines` is empty"),
        ("one long text", {}, "iterable of str lines, got a str .*splitlines"),
        (5, {}, "iterable of str lines, got int"),
        (["ka", b"ro"], {}, "line 1 is bytes"),
        (LINES, {"vocabulary_size": 5000}, "vocabulary_size=5000 is too large for this text: .*at most \\d+ ids"),
        (LINES, {"vocabulary_size": 8}, "vocabulary_size=8 is too small for this text"),
        (LINES, {"vocabulary_size": 4}, "`vocabulary_size` must be an int > 4"),
        (LINES, {"vocabulary_size": 64.0}, "`vocabulary_size` must be an int > 4"),
        (LINES, {"model_type": "wordpiece"}, "`model_type` must be one of"),
        (LINES, {"trainer_options": {"pad_id": 3}}, "option 'pad_id' is set by SubwordTokenizer.train"),
        (LINES, {"trainer_options": {"no_such_option": 1}}, "sentencepiece training failed: .*no_such_option"),
        (["ka " * 3000], {}, "no usable line .*max_sentence_length"),
    ],
)
def test_bad_training_input(lines, arguments, message):
    arguments = {"vocabulary_size": VOCABULARY_SIZE, **arguments}
    with pytest.raises(ValueError, match="SubwordTokenizer.train: .*" + message):
        SubwordTokenizer.train(lines, **arguments)


def test_training_needs_sentencepiece(monkeypatch):
    monkeypatch.setitem(sys.modules, "sentencepiece", None)  # `import sentencepiece` fails
    with pytest.raises(ImportError, match="SubwordTokenizer.train needs the `sentencepiece` package"):
        SubwordTokenizer.train(LINES, VOCABULARY_SIZE)


def test_non_string_inputs(tokenizer):
    for bad in (tf.constant([1, 2]), np.array([[0.5]]), [1, 2]):
        with pytest.raises(ValueError, match="Layer 'subwords' \\(SubwordTokenizer\\) expects strings"):
            tokenizer(bad)
    with pytest.raises(ValueError, match="got dtype int32"):
        tokenizer.tokenize_ragged(tf.constant([3]))
    with pytest.raises(ValueError, match="expects strings"):
        tokenizer(keras.Input(shape=(4,), dtype="int32"))
