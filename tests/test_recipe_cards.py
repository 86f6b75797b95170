"""Each recipe's card template (recipes/cards/<recipe>.md), filled from a shipped checkpoint's metadata.json
(and, for the sizes of its vocabularies, its config.json), is that checkpoint's README.md byte for byte.
(charlm_shakespeare's: tests/test_charlm.py.)"""

import json
import os
import types
from pathlib import Path

import pytest

from helpers import shipped_model_stand_in
from recipes import multi30k_translation, ptb_language_model, sst2_sentiment, ud_pos_tagging

CHECKPOINTS = Path(__file__).resolve().parents[1] / "checkpoints"
DATA_DIR = Path(os.environ.get("ZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
# How long beam search took on each split when the translation models were packaged: on the cards, not in
# metadata.json, so given here.
BEAM_SEARCH_SECONDS = {"nmt-multi30k-de-en": {"test_2016_flickr": 19, "val": 26},
                       "nmt-multi30k-en-de": {"test_2016_flickr": 12, "val": 18}}


def shipped(name):
    """(metadata.json, the model's Keras config from config.json, README.md) of checkpoints/<name>/."""
    folder = CHECKPOINTS / name
    metadata = json.loads((folder / "metadata.json").read_text())
    model_config = json.loads((folder / "config.json").read_text())["config"]
    return metadata, model_config, (folder / "README.md").read_text(encoding="utf-8")


def vocabulary_size(tokenizer_config):
    """The ids of a serialized WordTokenizer: its vocabulary and the reserved ids."""
    from zoo.text import RESERVED

    return len(tokenizer_config["config"]["vocabulary"]) + len(RESERVED)


@pytest.mark.parametrize("name", ["wordlm-ptb-lstm", "wordlm-ptb-small"])
def test_the_ptb_card(name):
    metadata, model_config, card = shipped(name)
    model = shipped_model_stand_in(metadata, vocabulary_size=model_config["vocabulary_size"])
    config = ptb_language_model.Config(**metadata["config"])
    assert ptb_language_model.model_card(config, model, metadata) == card


@pytest.mark.parametrize("name", ["nmt-multi30k-de-en", "nmt-multi30k-en-de"])
def test_the_translation_cards(name):
    metadata, model_config, card = shipped(name)
    model = shipped_model_stand_in(metadata, source_vocabulary_size=model_config["source_vocabulary_size"],
                                   target_vocabulary_size=model_config["target_vocabulary_size"])
    config = multi30k_translation.Config(**metadata["config"])
    assert config == multi30k_translation.CONFIGS[name]
    metadata.setdefault("beam_search_seconds", BEAM_SEARCH_SECONDS[name])  # kept in metadata.json since issue 21
    assert multi30k_translation.model_card(config, model, metadata) == card


def test_the_pos_tagger_card():
    metadata, model_config, card = shipped("pos-ewt-bilstm")
    model = shipped_model_stand_in(metadata, word_tokenizer=types.SimpleNamespace(
        vocabulary_size=vocabulary_size(model_config["word_tokenizer"])))
    config = ud_pos_tagging.Config(**metadata["config"])
    assert config == ud_pos_tagging.CONFIGS["pos-ewt-bilstm"]
    assert ud_pos_tagging.model_card(config, model, metadata) == card


@pytest.mark.skipif(not (DATA_DIR / "sst2" / "train.tsv").exists(), reason="SST-2 is not in the data dir")
def test_the_sentiment_card():
    """The counts of sentences and phrases on the card are the split's: carved from the data, as the recipe does."""
    metadata, model_config, card = shipped("sentiment-sst2-bilstm")
    # The study fields that recipes/sst2_sentiment.py's Config no longer has: the shipped model's are the plain
    # classifier's (experiments/sst2_studies.py's StudyConfig defaults).
    study_fields = {"members": 1, "pretrained_lm": False, "lm_sequence_length": 50, "lm_learning_rate": 0.002,
                    "lm_dropout": 0.3}
    assert {field: metadata["config"].pop(field) for field in study_fields} == study_fields
    assert metadata["language_model_history"] is None
    config = sst2_sentiment.Config(**metadata["config"])
    assert config == sst2_sentiment.CONFIGS["sentiment-sst2-bilstm"]
    model = shipped_model_stand_in(metadata, tokenizer=types.SimpleNamespace(vocabulary_size=vocabulary_size(
        model_config["tokenizer"])))
    split = sst2_sentiment.load_split(config, DATA_DIR)
    assert sst2_sentiment.build_tokenizer(config, split).vocabulary_size == model.tokenizer.vocabulary_size
    assert sst2_sentiment.model_card(config, model, metadata, split) == card


@pytest.mark.skipif(not (DATA_DIR / "sst" / "train.txt").exists(), reason="the treebank is not in the data dir")
def test_the_tree_sentiment_card():
    from recipes import sst_trees

    metadata, model_config, card = shipped("sentiment-sst-treelstm")
    config = sst_trees.Config(**metadata["config"])
    assert config == sst_trees.CONFIGS["sentiment-sst-treelstm"]
    tokenizer = model_config["members"][0]["config"]["tokenizer"]
    model = shipped_model_stand_in(metadata, tokenizer=types.SimpleNamespace(vocabulary_size=vocabulary_size(tokenizer)))
    train_trees = len(sst_trees.read_split(DATA_DIR, "train"))
    assert sst_trees.model_card(config, model, metadata, train_trees) == card


def test_the_pixelrnn_card():
    from recipes import mnist_pixelrnn

    metadata, _, card = shipped("pixelrnn-mnist")
    config = mnist_pixelrnn.Config(**metadata["config"])
    assert config == mnist_pixelrnn.CONFIGS["pixelrnn-mnist"]
    assert mnist_pixelrnn.model_card(config, shipped_model_stand_in(metadata), metadata) == card
