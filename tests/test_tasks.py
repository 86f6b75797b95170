"""Tasks: every model class declares one, the CLI refuses a model of another kind by name, and each
task's `dataset` turns a user's data into exactly the batches `fit` takes."""

from types import SimpleNamespace

import keras
import numpy as np
import pytest

import zoo
from helpers import run_error
from zoo.models import ClassifierEnsemble, EncoderDecoder, RecurrentLanguageModel, SequenceClassifier, SequenceTagger
from zoo.tasks import TASKS, require_task, task_of
from zoo.text import BOS_ID, EOS_ID, CharTokenizer, WordTokenizer


def batches(dataset):
    return [keras.tree.map_structure(np.asarray, batch) for batch in dataset]


def test_every_model_class_declares_a_registered_task():
    for model_class in (RecurrentLanguageModel, EncoderDecoder, SequenceTagger, SequenceClassifier, ClassifierEnsemble):
        assert model_class.task in TASKS
    with pytest.raises(ValueError, match="Sequential declares no zoo task"):
        task_of(keras.Sequential())


def test_a_model_of_another_kind_is_refused_with_both_kinds_named():
    model = RecurrentLanguageModel(8, cell="gru", units=4, num_layers=1, embedding_dim=4)
    with pytest.raises(ValueError, match=r"lm is a language model \(RecurrentLanguageModel\), not a classifier: use "
                                         r"`zoo generate` and `zoo evaluate lm --text-file FILE`"):
        require_task(model, TASKS["classification"], "lm")


def test_evaluate_needs_the_data_of_one_kind(capsys):
    assert "no data to evaluate on: give one of --text-file FILE (a language model)" in run_error(
        capsys, "evaluate", "charlm-shakespeare-rnn")
    assert "options are for different kinds of model" in run_error(
        capsys, "evaluate", "charlm-shakespeare-rnn", "--tsv", "a.tsv", "--conllu", "b.conllu")
    assert "not a classifier" in run_error(capsys, "classify", "charlm-shakespeare-rnn", "good")


def test_language_model_windows_are_consecutive_and_shifted_by_one(tmp_path):
    tokenizer = CharTokenizer(list("abcd\n"))
    model = RecurrentLanguageModel(tokenizer.vocabulary_size, cell="gru", units=4, num_layers=1, embedding_dim=4,
                                   tokenizer=tokenizer)
    (tmp_path / "text.txt").write_text("abcdabcdab\ncd")
    ids = np.asarray(tokenizer(["abcdabcdab\ncd"]))[0]  # 13 tokens: 3 windows of 4 (the 13th is a target only)
    [(x, y)] = batches(zoo.dataset(model, tmp_path / "text.txt", sequence_length=4, batch_size=8, shuffle=False))
    np.testing.assert_array_equal(x, ids[:12].reshape(3, 4))
    np.testing.assert_array_equal(y, ids[1:13].reshape(3, 4))
    from_texts = batches(zoo.dataset(model, ["abcdabcdab", "cd"], sequence_length=4, shuffle=False))
    np.testing.assert_array_equal(from_texts[0][0], x)
    shuffled = batches(zoo.dataset(model, tmp_path / "text.txt", sequence_length=4, seed=3))[0][0]
    assert sorted(map(tuple, shuffled)) == sorted(map(tuple, x))
    with pytest.raises(ValueError, match="holds 13 tokens, fewer than sequence_length"):
        zoo.dataset(model, ["abcdabcdab", "cd"], sequence_length=13)
    with pytest.raises(ValueError, match="no such file"):
        zoo.dataset(model, tmp_path / "missing.txt")


def test_classifier_pairs_take_label_names_or_ids(tmp_path):
    model = SequenceClassifier(WordTokenizer(["good", "bad"]), labels=["negative", "positive"], units=4,
                               embedding_dim=4)
    [(texts, labels)] = batches(zoo.dataset(model, [("good", "positive"), ("bad", 0)], shuffle=False))
    assert list(texts) == [b"good", b"bad"] and list(labels) == [1, 0]
    (tmp_path / "l.tsv").write_text("sentence\tlabel\ngood\t1\nbad\t0\n")
    [(texts, labels)] = batches(zoo.dataset(model, tmp_path / "l.tsv", shuffle=False))
    assert list(texts) == [b"good", b"bad"] and list(labels) == [1, 0]
    with pytest.raises(ValueError, match=r"example 1 has the label 'neutral', not one of \['negative', 'positive'\]"):
        zoo.dataset(model, [("good", 1), ("meh", "neutral")])
    with pytest.raises(ValueError, match="example 0 has an empty sentence"):
        zoo.dataset(model, [(" ", 1)])


def test_tagger_batches_pad_words_with_empty_strings_and_tags_with_0(tmp_path):
    tagger = SimpleNamespace(tags=["DET", "NOUN", "VERB"])
    sentences = [("the dog", "DET NOUN"), (["dogs", "bark", "loudly"], ["NOUN", "VERB", "VERB"])]
    [(words, tags)] = batches(TASKS["tagging"].dataset(tagger, sentences, shuffle=False))
    assert words.tolist() == [[b"the", b"dog", b""], [b"dogs", b"bark", b"loudly"]]
    assert tags.tolist() == [[0, 1, 0], [1, 2, 2]]
    with pytest.raises(ValueError, match="tags the model does not have: ADJ"):
        TASKS["tagging"].dataset(tagger, [("big", "ADJ")])
    with pytest.raises(ValueError, match="sentence 0 has 2 words and 1 tags"):
        TASKS["tagging"].dataset(tagger, [("the dog", "DET")])


def test_translation_batches_are_teacher_forced_and_sources_cut(tmp_path):
    tokenizer = CharTokenizer(list("abc"))
    model = SimpleNamespace(source_tokenizer=tokenizer, target_tokenizer=tokenizer, max_source_length=2)
    [((source, target_in), labels)] = batches(TASKS["translation"].dataset(model, [("abc", "b"), ("a", "ca")],
                                                                           shuffle=False))
    a, b, c = (int(i) for i in np.asarray(tokenizer(["abc"]))[0])
    assert source.tolist() == [[a, b], [a, 0]]
    assert target_in.tolist() == [[BOS_ID, b, 0], [BOS_ID, c, a]]
    assert labels.tolist() == [[b, EOS_ID, 0], [c, a, EOS_ID]]
    (tmp_path / "src").write_text("abc\na\n")
    (tmp_path / "tgt").write_text("b\nca\n")
    from_files = batches(TASKS["translation"].dataset(model, (tmp_path / "src", tmp_path / "tgt"), shuffle=False))
    np.testing.assert_array_equal(from_files[0][1], labels)
    (tmp_path / "tgt").write_text("b\n")
    with pytest.raises(ValueError, match="must be line-aligned"):
        TASKS["translation"].dataset(model, (tmp_path / "src", tmp_path / "tgt"))
