"""zoo.models.SequenceClassifier: pooling under masks, padding, training, save/load, the exported
SavedModel in a fresh process, initialisation from language models, `zoo classify` and
`zoo evaluate --tsv` with their bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from helpers import fit_steps, run, run_error, run_fresh_python, saved_checkpoint
from zoo.layers.sequence_pooling import POOLING_MODES
from zoo.models import ClassifierEnsemble, RecurrentLanguageModel, SequenceClassifier
from zoo.models.sequence_classifier import initialise_from_language_models
from zoo.text import WordTokenizer

SENTENCES = [
    ("a good film", 1), ("a bad film", 0), ("good acting and a great story", 1), ("dull and tedious", 0),
    ("the cast is great", 1), ("the story is bad", 0), ("not tedious at all , great", 1), ("an awful mess", 0),
]
TEXTS = [text for text, _ in SENTENCES]
LABELS = np.array([label for _, label in SENTENCES], np.int32)


@pytest.fixture(scope="module")
def tokenizer():
    return WordTokenizer.from_texts(TEXTS, lowercase=True)


def tiny(tokenizer, pooling="max", units=6, **kwargs):
    return SequenceClassifier(tokenizer, units=units, embedding_dim=5, pooling=pooling, seed=0, **kwargs)


@pytest.fixture(scope="module")
def trained(tokenizer):
    keras.utils.set_random_seed(7)
    model = tiny(tokenizer, units=16)
    model.compile(optimizer=keras.optimizers.Adam(0.02), metrics=["accuracy"],
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    fit_steps(model, tf.constant(TEXTS), LABELS, batch_size=4, epochs=30, shuffle=True)
    return model


@pytest.fixture(scope="module")
def checkpoint(trained, tmp_path_factory):
    return saved_checkpoint(trained, tmp_path_factory, "tiny-sentiment")


def pooled_by_hand(h, words, mode):
    """What `mode` should give for one sentence's encoder states h (T, 2H) of `words` real steps."""
    half = h.shape[-1] // 2
    return {"max": h[:words].max(axis=0), "mean": h[:words].mean(axis=0), "last": h[words - 1],
            "bi_last": np.concatenate([h[words - 1, :half], h[0, half:]])}[mode]


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_pooling_reads_only_the_real_words(tokenizer, mode):
    model = tiny(tokenizer, mode, num_layers=2)
    short, words = "good film", 2
    h_alone, _ = model.encode(tokenizer([short]))
    h, mask = model.encode(tokenizer(["the story is bad and dull", short]))  # the short one padded with 4
    np.testing.assert_array_equal(mask.numpy()[1], [True] * words + [False] * 4)
    np.testing.assert_array_equal(h.numpy()[1, words:], 0.0)  # padding outputs zeros
    np.testing.assert_allclose(h.numpy()[1, :words], h_alone.numpy()[0], atol=1e-6)
    expected = pooled_by_hand(h_alone.numpy()[0], words, mode)
    np.testing.assert_allclose(model.pooling(h, mask=mask).numpy()[1], expected, atol=1e-6)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_padding_never_changes_a_prediction(tokenizer, mode):
    model = tiny(tokenizer, mode)
    in_a_batch = model(tf.constant(TEXTS)).numpy()  # each padded to the longest
    for i in (0, 2):  # 3 and 5 words, padded with 3 and 1
        np.testing.assert_allclose(in_a_batch[i], model(tf.constant([TEXTS[i]])).numpy()[0], atol=1e-6, rtol=0)
    _, probabilities = model.classify(TEXTS, batch_size=3)  # length-sorted batches, put back in order
    np.testing.assert_allclose(probabilities, tf.nn.softmax(in_a_batch).numpy(), atol=1e-6)


def test_a_tiny_model_overfits_a_handful_of_examples(trained):
    names, probabilities = trained.classify(TEXTS)
    assert names == [["negative", "positive"][label] for label in LABELS]
    assert probabilities.max(axis=1).min() > 0.9
    label, probabilities = trained.classify("a great film")  # one text: one label, (C,) probabilities
    assert label == "positive" and probabilities.shape == (2,)


def test_classify_refuses_a_text_without_words(tokenizer):
    with pytest.raises(ValueError, match=r"text 1 \('  '\) has no words"):
        tiny(tokenizer).classify(["good", "  "])


def test_save_and_load_keep_predictions_labels_and_vocabulary(trained, checkpoint, tokenizer):
    model = zoo.load(checkpoint)
    assert isinstance(model, SequenceClassifier) and model.labels == ["negative", "positive"]
    assert model.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    names, probabilities = model.classify(TEXTS)
    assert names == trained.classify(TEXTS)[0]
    np.testing.assert_array_equal(probabilities, trained.classify(TEXTS)[1])
    model.fit(tf.constant(TEXTS), LABELS, batch_size=8, epochs=1, verbose=0)  # loads compiled: fine-tunes


@pytest.fixture(scope="module")
def ensemble(trained, tokenizer):
    other = SequenceClassifier(tokenizer, units=8, embedding_dim=5, pooling="mean", seed=3)  # untrained: differs
    model = ClassifierEnsemble([trained, other])
    model.build()
    return model


@pytest.fixture(scope="module")
def ensemble_checkpoint(ensemble, tmp_path_factory):
    return saved_checkpoint(ensemble, tmp_path_factory, "tiny-sentiment-ensemble")


def test_an_ensemble_gives_the_mean_of_its_members_probabilities(ensemble):
    names, probabilities = ensemble.classify(TEXTS)
    members = [member.classify(TEXTS)[1] for member in ensemble.members]
    assert not np.allclose(*members, atol=1e-3)
    np.testing.assert_allclose(probabilities, np.mean(members, axis=0), atol=1e-6)
    assert names == [ensemble.labels[i] for i in probabilities.argmax(axis=1)]


def test_an_ensemble_saves_and_loads_by_name(ensemble, ensemble_checkpoint, tokenizer):
    model = zoo.load(ensemble_checkpoint, compile=False)
    assert isinstance(model, ClassifierEnsemble) and len(model.members) == 2
    assert model.tokenizer.get_vocabulary() == tokenizer.get_vocabulary()
    np.testing.assert_allclose(model.classify(TEXTS)[1], ensemble.classify(TEXTS)[1], atol=1e-7)


def test_an_ensemble_refuses_members_that_cannot_be_averaged(trained, tokenizer):
    with pytest.raises(ValueError, match="`members` is empty"):
        ClassifierEnsemble([])
    with pytest.raises(ValueError, match=r"member 1 is a Dense, which has no `classify_ids`"):
        ClassifierEnsemble([trained, keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"member 1 has the labels \['bad', 'good'\]"):
        ClassifierEnsemble([trained, SequenceClassifier(tokenizer, labels=["bad", "good"], units=4)])
    other_vocabulary = WordTokenizer.from_texts(TEXTS + ["brilliant"], lowercase=True)
    with pytest.raises(ValueError, match="member 1's tokenizer differs"):
        ClassifierEnsemble([trained, SequenceClassifier(other_vocabulary, units=4)])


def language_model(tokenizer, units=6, embedding_dim=5, cell="lstm", **kwargs):
    model = RecurrentLanguageModel(tokenizer.vocabulary_size if tokenizer else 30, cell=cell, units=units,
                                   num_layers=1, embedding_dim=embedding_dim, tokenizer=tokenizer, **kwargs)
    model(tf.zeros((1, 2), "int32"))
    return model


def test_initialisation_from_language_models_copies_embedding_and_both_directions(tokenizer):
    forward, backward = language_model(tokenizer, seed=1), language_model(tokenizer, seed=2)
    classifier = tiny(tokenizer, num_layers=2)
    initialise_from_language_models(classifier, forward, backward)
    first = classifier.encoder.stacked_layers[0]
    for source, target in ((forward.embedding, classifier.embedding),
                           (forward.recurrent.stacked_layers[0], first.forward_layer),
                           (backward.recurrent.stacked_layers[0], first.backward_layer)):
        for expected, actual in zip(source.get_weights(), target.get_weights(), strict=True):
            np.testing.assert_array_equal(actual, expected)
    assert not np.array_equal(first.forward_layer.get_weights()[0], first.backward_layer.get_weights()[0])


def test_initialisation_refuses_another_vocabulary_cell_or_shape(tokenizer):
    classifier = tiny(tokenizer)
    other = WordTokenizer(tokenizer.get_vocabulary()[::-1], lowercase=True)
    cases = [
        (language_model(other), "vocabulary differs"),
        (language_model(None), "has no tokenizer"),
        (language_model(tokenizer, cell="gru"), "is a GRU"),
        (language_model(tokenizer, units=7), r"LSTM has weights of shapes \[\(5, 28\)"),
        (language_model(tokenizer, embedding_dim=4), "embedding has weights of shapes"),
    ]
    for model, message in cases:
        with pytest.raises(ValueError, match=message):
            initialise_from_language_models(classifier, model)


def test_classify_prints_the_label_and_its_probability(checkpoint, capsys):
    code, out, _ = run(capsys, "classify", checkpoint, "a great story")
    label, probability = out.split()
    assert code == 0 and label == "positive" and 0.5 < float(probability) <= 1.0


def test_evaluate_tsv_reports_accuracy_and_count(checkpoint, capsys, tmp_path):
    tsv = tmp_path / "labelled.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f"{text} \t{label}\n" for text, label in SENTENCES) + "\n")
    code, out, _ = run(capsys, "evaluate", checkpoint, "--tsv", tsv)
    assert code == 0 and "(8 sentences)" in out and "accuracy 100.00% (8 of 8)" in out
    code, out, _ = run(capsys, "evaluate", checkpoint, "--tsv", tsv, "--first", 3)
    assert code == 0 and "(3 sentences)" in out and "accuracy 100.00% (3 of 3)" in out


@pytest.mark.parametrize("content, message", [
    ("sentence\tlabel\ngood\t1\nbad\t2\n", "labelled.tsv, line 3: label '2' is not one of 0, 1"),
    ("good\t1\n \t0\n", "labelled.tsv, line 2: the sentence is empty"),
    ("good 1\n", "labelled.tsv, line 1: expected `sentence<TAB>label`, found 0 tabs"),
    ("sentence\tlabel\n\n", "labelled.tsv holds no `sentence<TAB>label` lines"),
])
def test_evaluate_tsv_names_the_file_and_line_of_bad_input(checkpoint, capsys, tmp_path, content, message):
    tsv = tmp_path / "labelled.tsv"
    tsv.write_text(content, encoding="utf-8")
    assert message in run_error(capsys, "evaluate", checkpoint, "--tsv", tsv)


def test_bad_bytes_files_and_texts_give_clear_errors(checkpoint, capsys, tmp_path):
    latin1 = tmp_path / "latin1.tsv"
    latin1.write_bytes("good\t1\nfin de siècle\t1\n".encode("latin-1"))  # è is byte 16, alone: not UTF-8
    error = run_error(capsys, "evaluate", checkpoint, "--tsv", latin1)
    assert "latin1.tsv: not UTF-8 text: byte 16 (line 2) is b'\\xe8'" in error
    assert "no such file" in run_error(capsys, "evaluate", checkpoint, "--tsv", tmp_path / "missing.tsv")
    assert "the text is empty" in run_error(capsys, "classify", checkpoint, "   ")


@pytest.mark.slow
@pytest.mark.parametrize("model", ["checkpoint", "ensemble_checkpoint"])
def test_export_classifies_in_a_fresh_process(model, request, capsys, tmp_path):
    checkpoint = request.getfixturevalue(model)
    exported = tmp_path / "exported"
    run(capsys, "export", checkpoint, exported)
    names, probabilities = zoo.load(checkpoint).classify(["a great story", "an awful film"])
    script = (
        "import sys, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({str(exported)!r})\n"
        "one = m.classify(tf.constant('a great story'))\n"
        "print(one['label'].numpy().decode(), *one['probabilities'].numpy())\n"
        "batch = m.signatures['classify_batch'](texts=tf.constant(['a great story', 'an awful film']))\n"
        "print(*[n.decode() for n in batch['labels'].numpy()], *batch['probabilities'].numpy().ravel())\n"
        "print(any(k == 'zoo' or k.startswith('zoo.') for k in sys.modules))\n"
        "try:\n    m.classify(tf.constant('  '))\nexcept tf.errors.InvalidArgumentError as e:\n"
        "    print('refused:', 'a text has no words' in e.message)\n"
    )
    one, batch, imported_zoo, refused = run_fresh_python(script, tmp_path).strip().splitlines()[-4:]
    assert one.split()[0] == names[0]
    np.testing.assert_allclose([float(p) for p in one.split()[1:]], probabilities[0], atol=1e-6)
    assert batch.split()[:2] == names
    np.testing.assert_allclose([float(p) for p in batch.split()[2:]], probabilities.ravel(), atol=1e-6)
    assert imported_zoo == "False" and refused == "refused: True"
