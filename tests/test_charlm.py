"""The character LM recipe's data handling and the language-model evaluation."""

import json
import math
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import shipped_model_stand_in
from recipes import charlm_shakespeare as recipe
from zoo.evaluation import language_model_loss
from zoo.models import RecurrentLanguageModel

DATA_DIR = Path(os.environ.get("ZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
needs_data = pytest.mark.skipif(
    not (DATA_DIR / "tinyshakespeare" / "input.txt").exists(), reason="Tiny Shakespeare is not in the data dir"
)


@needs_data
def test_split_is_nanogpts():
    train, validation = recipe.split(recipe.load_text(DATA_DIR))
    assert (len(train), len(validation)) == (1_003_854, 111_540)
    assert len(recipe.vocabulary_of(train)) == 65


@needs_data
def test_validation_command_reproduces_the_split(tmp_path):
    command, count = recipe.validation_command(DATA_DIR)
    assert count == 111_540
    _, validation = recipe.split(recipe.load_text(DATA_DIR))
    os.system(f"ZOO_DATA_DIR={DATA_DIR} " + command.replace("> shakespeare_validation.txt", f"> {tmp_path / 'v.txt'}"))
    assert (tmp_path / "v.txt").read_text() == validation


def test_encoding_reserves_four_ids():
    ids = recipe.encode("ba\nz", ["\n", "a", "b"])
    assert ids.tolist() == [6, 5, 4, 1]  # z is unknown


def test_training_windows_are_next_character_pairs():
    ids = np.arange(4, 4 + 1000, dtype="int32")
    config = recipe.Config("t", "lstm", sequence_length=10, batch_size=4)
    inputs, targets = next(iter(recipe.training_windows(ids, config, epoch_seed=1)))
    np.testing.assert_array_equal(inputs.numpy()[:, 1:], targets.numpy()[:, :-1])
    np.testing.assert_array_equal(targets.numpy() - inputs.numpy(), 1)


def tiny_model(vocabulary_size=9, cell="lstm"):
    model = RecurrentLanguageModel(vocabulary_size, cell=cell, units=6, num_layers=2, embedding_dim=4, seed=1)
    model(tf.zeros((1, 2), "int32"))
    return model


def test_loss_is_the_mean_cross_entropy_of_one_pass():
    """Hand check: exp of the mean next-token cross-entropy, from one full pass, equals the perplexity."""
    model = tiny_model()
    ids = np.random.default_rng(0).integers(4, 9, size=40).astype("int32")
    logits = model(ids[None, :-1]).numpy()[0]  # (39, V)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_probs[np.arange(39), ids[1:]])
    result = language_model_loss(model, ids)
    assert result["tokens"] == 39
    assert result["nats"] == pytest.approx(expected, rel=1e-5)
    assert result["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert result["bits"] == pytest.approx(expected / math.log(2), rel=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
def test_carried_state_over_segments_equals_one_pass(cell):
    model = tiny_model(cell=cell)
    ids = np.random.default_rng(1).integers(4, 9, size=101).astype("int32")
    whole = language_model_loss(model, ids, segment_length=1000)
    for segment_length in (7, 33):
        assert language_model_loss(model, ids, segment_length=segment_length)["nats"] == pytest.approx(
            whole["nats"], rel=1e-5
        )


def test_loss_needs_two_tokens():
    with pytest.raises(ValueError, match="at least 2"):
        language_model_loss(tiny_model(), [5])


@needs_data
@pytest.mark.parametrize("name", sorted(recipe.CONFIGS))
def test_model_card_template_renders_the_shipped_card(name):
    """recipes/cards/charlm_shakespeare.md, filled with a shipped model's metadata, is its card byte for byte."""
    folder = Path(__file__).resolve().parents[1] / "checkpoints" / name
    metadata = json.loads((folder / "metadata.json").read_text())
    model = shipped_model_stand_in(metadata, vocabulary_size=69)
    card = recipe.model_card(recipe.Config(**metadata["config"]), model, metadata, DATA_DIR)
    assert card == (folder / "README.md").read_text(encoding="utf-8")


def test_tiny_run_trains_packages_and_its_card_checks_print_its_numbers(tmp_path):
    """The recipe end to end on a small text: validation on the moving average of the weights (what
    best.keras keeps), the card's checks (`tail` then `zoo evaluate`) printing the card's figure."""
    from zoo.training import TrainingOptions

    data = tmp_path / "data"
    (data / "tinyshakespeare").mkdir(parents=True)
    lines = ["First Citizen:", "Before we proceed any further, hear me speak.", "All:", "Speak, speak.", ""]
    (data / "tinyshakespeare" / "input.txt").write_text("\n".join(lines * 60))
    config = recipe.Config("charlm-tiny", "gru", units=16, num_layers=1, embedding_dim=8, sequence_length=32,
                           batch_size=8, max_epochs=2, validation_sequence_length=64, weight_average=0.9)
    history = recipe.train(config, data, tmp_path / "run", TrainingOptions(max_minutes=5))
    train_text, validation_text = recipe.split(recipe.load_text(data))
    windows = recipe.validation_windows(recipe.encode(validation_text, recipe.vocabulary_of(train_text)), config)
    best = keras.saving.load_model(tmp_path / "run" / "best.keras")
    assert best.evaluate(windows, verbose=0) == pytest.approx(min(history.history["val_loss"]), abs=1e-5)
    result = recipe.package(config, data, tmp_path / "run", tmp_path / "checkpoints")
    metadata = json.loads((tmp_path / "checkpoints" / config.name / "metadata.json").read_text())
    quick, whole = metadata["checks"]
    assert whole["commands"] == [f'tail -c {result["tokens"] + 1} "$ZOO_DATA_DIR/tinyshakespeare/input.txt" > '
                                 "shakespeare_validation.txt", "zoo evaluate charlm-tiny --text-file "
                                 "shakespeare_validation.txt"]
    assert f"nats/char  {result['nats']:.4f}" in whole["prints"] and quick["commands"][-1].endswith("--first 500")
    optimizer = json.loads((tmp_path / "checkpoints" / config.name / "config.json").read_text())["compile_config"]
    assert optimizer["optimizer"]["config"]["use_ema"] is False  # fine-tuning ends at the trained weights
