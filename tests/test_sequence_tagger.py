"""The sequence tagger: character encoder, masking, a tiny model that learns its sentences, the recipe's
batches, `zoo tag`, `zoo evaluate --conllu`, and the exported SavedModel in a fresh process."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import run, run_error, run_fresh_python, saved_checkpoint
from recipes import ud_pos_tagging as recipe
from zoo.training import TrainingOptions, dataset_of
from zoo.corpora import TaggedSentence
from zoo.evaluation import tagging_accuracy
from zoo.layers import WordCharacterEncoder
from zoo.text import CharTokenizer, WordTokenizer

SENTENCES = [
    TaggedSentence(tuple(words.split()), tuple(tags.split()))
    for words, tags in [
        ("the dog runs .", "DET NOUN VERB PUNCT"),
        ("a cat sleeps", "DET NOUN VERB"),
        ("dogs run fast !", "NOUN VERB ADV PUNCT"),
        ("the old cat runs home .", "DET ADJ NOUN VERB NOUN PUNCT"),
        ("Sleep !", "VERB PUNCT"),
        ("we run", "PRON VERB"),
        ("the run was long", "DET NOUN AUX ADJ"),  # "run" as a noun: context decides
    ]
]
TAGS = sorted({t for s in SENTENCES for t in s.tags})


def tiny_tagger(seed=0, word_dropout=0.0):
    keras.utils.set_random_seed(seed)
    words = WordTokenizer.from_texts([" ".join(s.words) for s in SENTENCES], lowercase=True, name="word_tokenizer")
    chars = CharTokenizer(sorted({c for s in SENTENCES for w in s.words for c in w}), name="char_tokenizer")
    config = recipe.Config("test", word_dim=12, char_dim=8, char_units=8, units=16, dropout=0.0,
                           word_dropout=word_dropout, learning_rate=0.02)
    return recipe.build_model(config, words, chars, TAGS)


@pytest.fixture(scope="module")
def trained():
    model = tiny_tagger()
    tag_index = {t: i for i, t in enumerate(TAGS)}
    data = dataset_of(recipe.batches(SENTENCES, tag_index, 4), recipe.BATCH_SIGNATURE)
    model.fit(data.repeat(), steps_per_epoch=2 * 60, verbose=0)
    return model


@pytest.fixture(scope="module")
def checkpoint(trained, tmp_path_factory):
    return saved_checkpoint(trained, tmp_path_factory, "tiny-tagger")


def padded(rows):
    width = max(len(r) for r in rows)
    return tf.constant([list(r) + [""] * (width - len(r)) for r in rows])


def test_character_encoder_gives_a_word_the_same_vector_in_any_batch_and_padding_zeros():
    keras.utils.set_random_seed(0)
    encoder = WordCharacterEncoder(CharTokenizer(list("abcdefgh")), embedding_dim=4, units=3, max_word_length=5)
    vectors = encoder(tf.constant([["abc", "", "abc"], ["hg", "abcdefgh", "abcdeXYZ"]])).numpy()  # (2, 3, 6)
    assert vectors.shape == (2, 3, 6)
    np.testing.assert_array_equal(vectors[0, 0], vectors[0, 2])
    np.testing.assert_array_equal(vectors[0, 1], 0.0)
    np.testing.assert_array_equal(vectors[1, 1], vectors[1, 2])  # both cut to their first 5 characters
    alone = encoder(tf.constant(["hg"])).numpy()
    np.testing.assert_allclose(alone[0], vectors[1, 0], rtol=1e-6, atol=1e-6)
    assert not np.allclose(vectors[0, 0], vectors[1, 0])


def test_encoder_gradients_flow_through_the_gather_of_distinct_words():
    keras.utils.set_random_seed(0)
    encoder = WordCharacterEncoder(CharTokenizer(list("abc")), embedding_dim=4, units=3)
    words = tf.constant([["ab", "ab", "c"]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(encoder(words) ** 2)
    gradients = tape.gradient(loss, encoder.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(tf.convert_to_tensor(g))) for g in gradients)
    assert float(tf.reduce_sum(tf.abs(tf.convert_to_tensor(gradients[0])))) > 0.0


def test_the_output_mask_keeps_padding_out_of_the_loss_and_accuracy():
    model = tiny_tagger()
    words = padded([["the", "dog"], ["a", "cat", "sleeps"]])
    labels = np.array([[1, 3, 0], [1, 3, 5]])
    loss, accuracy = model.evaluate(words, labels, verbose=0)
    logits = model(words).numpy()
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    real = words.numpy() != b""
    nll = -np.take_along_axis(log_p, labels[..., None], -1)[..., 0]
    np.testing.assert_allclose(loss, nll[real].mean(), rtol=1e-5)
    np.testing.assert_allclose(accuracy, (log_p.argmax(-1) == labels)[real].mean(), rtol=1e-6)


def test_a_tiny_tagger_learns_its_sentences_exactly(trained):
    result = tagging_accuracy(trained, SENTENCES)
    assert result["accuracy"] == 1.0 and result["words"] == sum(len(s.words) for s in SENTENCES)
    assert trained.tag(["the run was long"]) == [[("the", "DET"), ("run", "NOUN"), ("was", "AUX"), ("long", "ADJ")]]


def test_padding_never_changes_a_tag(trained):
    alone = [trained(padded([s.words])).numpy()[0] for s in SENTENCES]
    batch = trained(padded([s.words for s in SENTENCES])).numpy()  # padded to the longest sentence
    for i, s in enumerate(SENTENCES):
        np.testing.assert_allclose(batch[i, : len(s.words)], alone[i], rtol=1e-5, atol=1e-5)
    tags = trained.tag_words(padded([s.words for s in SENTENCES])).numpy()
    assert all(t == b"" for t in tags[4, 2:])  # padding gets no tag


def test_tagging_accuracy_counts_unknown_gold_tags_as_errors_and_reports_unseen_words(trained):
    sentences = [TaggedSentence(("the", "zebra", "runs"), ("DET", "NOUN", "MADE-UP"))]
    result = tagging_accuracy(trained, sentences)
    assert result["words"] == 3 and result["accuracy"] <= 2 / 3
    assert result["unseen_words"] == 1  # "zebra"


def test_word_dropout_reads_known_words_as_unk_in_training_only():
    model = tiny_tagger(word_dropout=0.5)
    words = padded([["the", "dog", "runs", "."]] * 8)
    assert np.allclose(model(words), model(words))  # inference: deterministic
    assert not np.allclose(model(words, training=True), model(words, training=True))


def test_batches_hold_every_sentence_once_with_padding():
    tag_index = {t: i for i, t in enumerate(TAGS)}
    seen = []
    for words, tags in recipe.batches(SENTENCES, tag_index, 3, np.random.default_rng(0)):
        for row_words, row_tags in zip(words, tags):
            n = sum(1 for w in row_words if w)
            seen.append((tuple(row_words[:n]), tuple(TAGS[t] for t in row_tags[:n])))
            assert all(t == 0 for t in row_tags[n:])
    assert sorted(seen) == sorted(SENTENCES)


def test_bad_inputs_to_the_model():
    model = tiny_tagger()
    with pytest.raises(ValueError, match="tf.string of shape"):
        model(tf.constant([[1, 2]]))
    with pytest.raises(ValueError, match="sentence 1 is empty"):
        model.tag(["the dog", "   "])


@pytest.mark.slow
def test_zoo_tag_and_evaluate_conllu(checkpoint, capsys, tmp_path):
    code, out, _ = run(capsys, "tag", checkpoint, "the old cat runs home .")
    assert code == 0
    assert out.splitlines() == ["the\tDET", "old\tADJ", "cat\tNOUN", "runs\tVERB", "home\tNOUN", ".\tPUNCT"]
    conllu = tmp_path / "tiny.conllu"
    write_conllu(conllu, SENTENCES)
    code, out, _ = run(capsys, "evaluate", checkpoint, "--conllu", conllu)
    assert code == 0 and "UPOS accuracy         100.00%" in out
    assert "empty" in run_error(capsys, "tag", checkpoint, "  ")
    conllu.write_text("1\tthe\t_\tDET\n")
    assert f"{conllu}, line 1" in run_error(capsys, "evaluate", checkpoint, "--conllu", conllu)
    conllu.write_bytes(b"1\tth\xe9\t_\tDET\t_\t_\t0\t_\t_\t_\n")
    assert "not UTF-8" in run_error(capsys, "evaluate", checkpoint, "--conllu", conllu)


@pytest.mark.slow
def test_exported_tagger_runs_in_a_fresh_process(checkpoint, capsys, tmp_path):
    exported = tmp_path / "saved"
    assert run(capsys, "export", checkpoint, exported)[0] == 0
    script = f"""
import tensorflow as tf, tensorflow_text
m = tf.saved_model.load({str(exported)!r})
out = m.signatures["tag"](text=tf.constant("the dog  runs ."))
print(" ".join(w.decode() + "/" + t.decode() for w, t in zip(out["words"].numpy(), out["tags"].numpy())))
tags = m.signatures["tag_words"](words=tf.constant([["we", "run", ""], ["a", "cat", "sleeps"]]))["tags"]
print(" ".join(t.decode() or "-" for t in tags.numpy().ravel()))
try:
    m.signatures["tag"](text=tf.constant("  "))
except tf.errors.InvalidArgumentError as error:
    print("refused:", "no words" in str(error))
"""
    lines = run_fresh_python(script, tmp_path).splitlines()
    assert lines == ["the/DET dog/NOUN runs/VERB ./PUNCT", "PRON VERB - DET NOUN VERB", "refused: True"]


def write_conllu(path, sentences):
    path.write_text("".join(
        "".join(f"{i}\t{w}\t_\t{t}\t_\t_\t0\t_\t_\t_\n" for i, (w, t) in enumerate(zip(s.words, s.tags), 1)) + "\n"
        for s in sentences
    ), encoding="utf-8")


@pytest.mark.slow
def test_two_runs_of_the_recipe_with_one_seed_give_identical_weights_and_package(tmp_path):
    data = tmp_path / "data" / "ud_english_ewt"
    data.mkdir(parents=True)
    for split, name in recipe.SPLITS.items():
        write_conllu(data / name, SENTENCES * 3)
    weights = []
    for run_name in ("first", "second"):
        recipe.train(recipe.CONFIGS["pos-ewt-tiny"], tmp_path / "data", tmp_path / run_name,
                     TrainingOptions(max_minutes=5))
        weights.append(keras.saving.load_model(tmp_path / run_name / "best.keras", compile=False).get_weights())
    assert len(weights[0]) == len(weights[1]) > 10
    for first, second in zip(*weights):
        np.testing.assert_array_equal(first, second)
    results = recipe.package(recipe.CONFIGS["pos-ewt-tiny"], tmp_path / "data", tmp_path / "first", tmp_path / "out")
    metadata = json.loads((tmp_path / "out" / "pos-ewt-tiny" / "metadata.json").read_text())
    quick, test, dev = metadata["checks"]  # `zoo evaluate --conllu` at packaging, on the card
    assert quick["commands"] == ['zoo evaluate pos-ewt-tiny --conllu "$ZOO_DATA_DIR/ud_english_ewt/'
                                 'en_ewt-ud-test.conllu" --first 300']
    assert any(f"{results['test']['accuracy']:.2%}" in line for line in test["prints"])
    assert any(f"{results['dev']['accuracy']:.2%}" in line for line in dev["prints"])
