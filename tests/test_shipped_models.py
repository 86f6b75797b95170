"""The shipped checkpoints: they load by name, still score what their model card says on a fixed
slice of their data, generate (or translate), and fine-tune with model.fit (the character models
and the classifier through the README's snippets: tests/test_readme.py)."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import zoo
from helpers import fit_steps
from zoo.checkpoints import checkpoint_folder

DATA_DIR = Path(os.environ.get("ZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
SHIPPED = ["charlm-shakespeare-lstm", "charlm-shakespeare-gru", "charlm-shakespeare-rnn"]


def metadata(name):
    return json.loads((checkpoint_folder(name) / "metadata.json").read_text())


@pytest.mark.parametrize("name", SHIPPED)
def test_listed_and_verified(name):
    assert name in zoo.list_models()
    assert zoo.load(name).count_params() > 0


@pytest.mark.parametrize("name", SHIPPED)
def test_generates_from_the_vocabulary(name):
    from zoo.decoding import generate

    model = zoo.load(name)
    ids = generate(model, model.tokenizer(tf.constant(["ROMEO:"])), 60, temperature=0.0)
    text = model.tokenizer.detokenize(ids).numpy()[0].decode()
    assert len(text) == 60 and set(text) <= set(model.tokenizer.get_vocabulary())


# --- translators -------------------------------------------------------------------------

TRANSLATORS = [name for name in ("nmt-multi30k-de-en", "nmt-multi30k-en-de") if name in zoo.list_models()]


@pytest.mark.slow
@pytest.mark.skipif(not (DATA_DIR / "multi30k").exists(), reason="needs the shared data")
@pytest.mark.parametrize("name", TRANSLATORS)
def test_translator_bleu_on_a_fixed_slice_matches_the_card(name):
    """Beam search over the first test sentences gives the BLEU recorded when the model shipped."""
    from zoo.evaluation import corpus_bleu
    from zoo.decoding import translate

    meta = metadata(name)
    check, config = meta["quality_check"], meta["config"]
    sources, references = (multi30k_lines(check["split"], config[side], check["sentences"])
                           for side in ("source", "target"))
    hypotheses = translate(zoo.load(name), sources, beam_size=config["beam_size"])
    assert corpus_bleu(hypotheses, references)["sacrebleu"] == pytest.approx(check["sacrebleu"], abs=0.2)


def multi30k_lines(split, language, count):
    return (DATA_DIR / "multi30k" / f"{split}.{language}").read_text(encoding="utf-8").splitlines()[:count]


@pytest.mark.parametrize("name", TRANSLATORS)
def test_translator_covers_unknown_words_with_subwords(name):
    """Words never seen in training (and odd characters) still translate, with no <unk> out."""
    from zoo.decoding import beam_search

    model = zoo.load(name)
    source = model.source_tokenizer(["Zyxwvu Qbrtzlplatz™ 42"])
    result = beam_search(model, source, beam_size=3)
    assert result.lengths[0] > 0 and not np.isin(result.ids, [1, 2]).any()  # no <unk>, no <bos>


# --- classifiers --------------------------------------------------------------------------

CLASSIFIERS = [name for name in ("sentiment-sst2-bilstm", "sentiment-sst-treelstm") if name in zoo.list_models()]


@pytest.mark.skipif(not (DATA_DIR / "sst2").exists(), reason="needs the shared data")
@pytest.mark.parametrize("name", CLASSIFIERS)
def test_classifier_accuracy_on_a_fixed_slice_matches_the_card(name):
    """The first dev sentences get the accuracy recorded when the model shipped."""
    from zoo.corpora import read_labelled_tsv
    from zoo.evaluation import classification_accuracy as accuracy

    check = metadata(name)["quality_check"]
    sentences, labels = read_labelled_tsv(DATA_DIR / check["tsv"])
    result = accuracy(zoo.load(name), sentences[: check["sentences"]], labels[: check["sentences"]])
    assert result["correct"] == check["correct"]


# --- taggers ------------------------------------------------------------------------------

TAGGERS = [name for name in ("pos-ewt-bilstm",) if name in zoo.list_models()]


@pytest.mark.skipif(not (DATA_DIR / "ud_english_ewt").exists(), reason="needs the shared data")
@pytest.mark.parametrize("name", TAGGERS)
def test_tagger_accuracy_on_a_fixed_slice_matches_the_card(name):
    """The first test sentences of EWT get the accuracy recorded when the model shipped."""
    from zoo.corpora import read_conllu
    from zoo.evaluation import tagging_accuracy

    check = metadata(name)["quality_check"]
    sentences = read_conllu(DATA_DIR / "ud_english_ewt" / "en_ewt-ud-test.conllu")[: check["sentences"]]
    result = tagging_accuracy(zoo.load(name), sentences)
    assert result["words"] == check["words"] and result["accuracy"] == pytest.approx(check["accuracy"], abs=1e-9)


@pytest.mark.parametrize("name", TAGGERS)
def test_tagger_tags_unseen_words_from_their_spelling(name):
    tags = dict(zoo.load(name).tag(["The zorbles were glimfing quickly ."])[0])
    assert tags["zorbles"] == "NOUN" and tags["glimfing"] == "VERB" and tags["quickly"] == "ADV"


# --- word language models -------------------------------------------------------------------

WORD_LANGUAGE_MODELS = [name for name in ("wordlm-ptb-lstm", "wordlm-ptb-small") if name in zoo.list_models()]
# Their issues' bars: test perplexity and parameters (the small one: Zaremba et al.'s 114.5 + 5%; the shipped
# one: issue 21's, their medium LSTM's 82.7 at <= 24M parameters).
WORD_MODEL_BARS = {"wordlm-ptb-lstm": (82.7, 24_000_000), "wordlm-ptb-small": (114.5 * 1.05, 5_000_000)}


@pytest.mark.parametrize("name", WORD_LANGUAGE_MODELS)
def test_word_model_meets_its_bar(name):
    """The card's test perplexity (which tests/test_card_checks.py recomputes) and size meet the issue's bar."""
    perplexity, parameters = WORD_MODEL_BARS[name]
    assert metadata(name)["perplexity"]["test"]["perplexity"] <= perplexity
    assert zoo.load(name).count_params() <= parameters


@pytest.mark.parametrize("name", WORD_LANGUAGE_MODELS)
def test_word_model_generates_words_of_its_vocabulary(name):
    from zoo.decoding import detokenize_lines, generate

    model = zoo.load(name)
    ids = generate(model, model.tokenizer(tf.constant(["the company said"])), 40, temperature=0.0)
    text = detokenize_lines(model.tokenizer, ids)[0]  # <eos> as line breaks
    assert len(text.split()) + text.count("\n") == 40 and set(text.split()) <= set(model.tokenizer.get_vocabulary())


@pytest.mark.slow
@pytest.mark.parametrize("name", WORD_LANGUAGE_MODELS)
def test_word_model_fine_tunes_on_new_text(name):
    """It loads compiled as it trained (Adam, clipping, dropout): model.fit lowers the loss on new text."""
    text = "the zoo keeps recurrent networks and each layer reads a sequence one word at a time " * 3
    model = zoo.load(name)
    ids = model.tokenizer(tf.constant([text]))
    x, y = ids[:, :-1], ids[:, 1:]
    before = model.evaluate(x, y, verbose=0)
    fit_steps(model, x, y, epochs=20)
    assert model.evaluate(x, y, verbose=0) < before


# --- images ------------------------------------------------------------------------------


def test_pixelrnn_meets_its_bar():
    """At most 88 nats/image on the test images (the card's figure, which tests/test_card_checks.py recomputes)."""
    assert metadata("pixelrnn-mnist")["test"]["nats"] <= 88.0


def test_pixelrnn_draws_digits():
    from zoo.decoding.image_sampling import sample_images

    images = sample_images(zoo.load("pixelrnn-mnist"), 4, seed=0).numpy()
    assert images.shape == (4, 28, 28, 1) and set(np.unique(images)) <= {0.0, 1.0}
    assert 0.05 < images.mean() < 0.35  # ink as in MNIST (13% of the pixels), not blank, not noise
