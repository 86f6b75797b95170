"""Word-level language models: the tied / variational RecurrentLanguageModel options, running-text ids
with <eos> and <unk>, perplexity by hand, carried-state training and evaluation, the PTB recipe end to
end on a tiny corpus, and `zoo evaluate` / `zoo generate` on a word model (bad input included)."""

import dataclasses
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import fit_steps, run, run_error, saved_checkpoint
from recipes import ptb_language_model as recipe
from zoo.training import TrainingOptions
from zoo.evaluation import language_model_loss, running_text_ids
from zoo.models import RecurrentLanguageModel
from zoo.models.recurrent_language_model import word_type_dropout
from zoo.text import EOS_ID, UNK_ID, WordTokenizer

WORDS = ["the", "cat", "dog", "sat", "ran", "on", "mat", "a", "log"]
LINES = ["the cat sat on the mat", "a dog ran on a log", "the dog sat on the log", "a cat ran on the mat"]
TEXT = "\n".join(LINES * 6) + "\n"


def word_model(**options):
    options = {"units": 12, "num_layers": 2, "embedding_dim": 8, **options}
    model = RecurrentLanguageModel(len(WORDS) + 4, seed=1, tokenizer=WordTokenizer(WORDS), **options)
    model(tf.zeros((1, 2), "int32"))
    return model


# --- the model's options -----------------------------------------------------------------


def test_tied_embeddings_share_the_matrix_and_step_agrees_with_encode():
    model = word_model(tie_embeddings=True)  # 12 units, 8-dim embedding: through an (12, 8) projection
    untied = word_model()
    assert [w.shape for w in model.logits.weights] == [(13,)]  # only the bias is its own
    assert model.count_params() == untied.count_params() - 12 * 13 + 12 * 8  # (12, 13) kernel -> (12, 8)
    ids = tf.constant(np.random.default_rng(0).integers(4, 12, (3, 6)), tf.int32)  # never id 12
    logits = model(ids)
    states, steps = model.initial_states(3), []
    for t in range(6):
        step_logits, states = model.step(ids[:, t], states)
        steps.append(step_logits)
    np.testing.assert_allclose(tf.stack(steps, axis=1), logits, atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(model(ids)[:, :, 12])
    gradient = tape.gradient(loss, model.embedding.embeddings)
    assert np.abs(tf.convert_to_tensor(gradient)[12]).sum() > 0  # row 12 is read as an output weight only


def test_new_options_round_trip_and_default_to_the_old_model():
    options = dict(tie_embeddings=True, variational_dropout=True, word_dropout=0.1, output_dropout=0.3,
                   weight_dropout=0.4)
    model = word_model(**options)
    assert [(layer.weight_dropout, layer.seed) for layer in model.recurrent.stacked_layers] == [(0.4, 1), (0.4, 2)]
    again = RecurrentLanguageModel.from_config(model.get_config())
    again(tf.zeros((1, 2), "int32"))
    again.set_weights(model.get_weights())
    ids = tf.constant([[4, 5, 6, 7]])
    np.testing.assert_allclose(again(ids), model(ids), atol=1e-6)
    assert {k: again.get_config()[k] for k in options} == options
    old = word_model().get_config()  # a char LM saved before these options read them as their defaults
    for key in options:
        old.pop(key)
    plain = RecurrentLanguageModel.from_config(old)
    assert (plain.tie_embeddings, plain.variational_dropout, plain.word_dropout, plain.output_dropout,
            plain.weight_dropout) == (False, False, 0.0, None, 0.0)
    assert [layer.get_config() for layer in plain.recurrent.stacked_layers] == [
        layer.get_config() for layer in word_model().recurrent.stacked_layers]  # its layers as before
    assert plain.output_drop.rate == plain.dropout and plain.output_drop.noise_shape is None


def test_variational_dropout_drops_the_same_features_at_every_step():
    model = word_model(embedding_dropout=0.5, output_dropout=0.5, variational_dropout=True)
    for layer in (model.embedding_drop, model.output_drop):
        kept = layer(tf.ones((4, 9, 8)), training=True).numpy() != 0  # (B, T, F)
        assert (kept == kept[:, :1]).all() and 0 < kept.mean() < 1
    per_step = word_model(embedding_dropout=0.5).embedding_drop(tf.ones((4, 9, 8)), training=True).numpy() != 0
    assert not (per_step == per_step[:, :1]).all()


def test_word_dropout_drops_every_occurrence_of_a_word_type():
    ids = tf.constant([[4, 5, 4, 6, 5, 4, 7, 7]] * 64)
    embedded = tf.ones((64, 8, 3))
    dropped = word_type_dropout(ids, embedded, 0.5, 10, keras.random.SeedGenerator(0)).numpy()
    kept = dropped[:, :, 0] != 0  # (B, T)
    for word in (4, 5, 7):
        positions = np.flatnonzero(ids[0].numpy() == word)
        assert (kept[:, positions] == kept[:, positions[:1]]).all()  # all occurrences alike, per sequence
    assert 0.3 < kept.mean() < 0.7 and np.allclose(dropped[kept], 2.0)  # kept ones scaled by 1 / (1 - 0.5)


# --- running text, <unk>, perplexity --------------------------------------------------------


def test_running_text_ends_each_line_with_eos_and_maps_unknown_words_to_unk():
    tokenizer = WordTokenizer(WORDS)
    ids, unknown = running_text_ids(tokenizer, "the cat <unk> zebra\n\nsat\n")
    assert ids.tolist() == [4, 5, UNK_ID, UNK_ID, EOS_ID, EOS_ID, 7, EOS_ID]
    assert unknown.tolist() == [False, False, False, True, False, False, False, False]  # "<unk>" is PTB's own
    assert running_text_ids(tokenizer, "")[0].size == 0


def test_perplexity_is_exp_of_the_mean_cross_entropy_by_hand():
    """A model that ignores its input: p = softmax(bias) = (pad .05, unk .05, bos .05, eos .1, the .5, cat .25)."""
    probabilities = np.array([0.05, 0.05, 0.05, 0.1, 0.5, 0.25])
    model = RecurrentLanguageModel(6, units=4, num_layers=1, embedding_dim=3, tokenizer=WordTokenizer(["the", "cat"]))
    model(tf.zeros((1, 2), "int32"))
    model.logits.kernel.assign(tf.zeros_like(model.logits.kernel))
    model.logits.bias.assign(np.log(probabilities).astype("float32"))
    ids, _ = running_text_ids(model.tokenizer, "the cat the\n")  # the cat the <eos>: cat, the, <eos> scored
    result = language_model_loss(model, ids)
    assert result["tokens"] == 3
    assert result["nats"] == pytest.approx(-(math.log(0.25) + math.log(0.5) + math.log(0.1)) / 3, rel=1e-5)
    assert result["perplexity"] == pytest.approx((0.25 * 0.5 * 0.1) ** (-1 / 3), rel=1e-5)  # 80^(1/3) = 4.309


def test_evaluation_in_segments_with_carried_state_equals_one_pass():
    model = word_model(tie_embeddings=True, variational_dropout=True, dropout=0.3, word_dropout=0.2)
    ids, _ = running_text_ids(model.tokenizer, TEXT)
    logits = model(ids[None, :-1]).numpy()[0]  # one pass over the whole text
    log_probabilities = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    expected = -np.mean(log_probabilities[np.arange(len(ids) - 1), ids[1:]])
    for segment_length in (5, 17, 1000):
        assert language_model_loss(model, ids, segment_length)["nats"] == pytest.approx(expected, rel=1e-5)


# --- the recipe's training data and carried state ----------------------------------------------


def test_contiguous_batches_continue_each_stream_from_window_to_window():
    config = recipe.Config("t", units=4, embedding_dim=4, batch_size=3, sequence_length=5)
    ids = np.arange(100, dtype="int32")
    for offset in (0, 4):
        windows = list(recipe.contiguous_batches(ids, config, offset).as_numpy_iterator())
        assert len(windows) >= recipe.steps_per_epoch(len(ids), config)
        inputs = np.concatenate([x for x, _ in windows], axis=1)  # (B, K T): each row one stretch of text
        targets = np.concatenate([y for _, y in windows], axis=1)
        stream_length = (100 - offset) // 3
        np.testing.assert_array_equal(inputs[:, 0], offset + stream_length * np.arange(3))
        np.testing.assert_array_equal(np.diff(inputs, axis=1), 1)
        np.testing.assert_array_equal(targets, inputs + 1)


def test_carried_state_training_reads_consecutive_windows_as_one_text():
    model = word_model(tie_embeddings=True)
    trainer = recipe.CarriedStateTraining(model, batch_size=2)
    streams = tf.constant(np.random.default_rng(2).integers(4, 13, (2, 12)), tf.int32)
    windows = [trainer(streams[:, i : i + 4]) for i in range(0, 12, 4)]
    np.testing.assert_allclose(tf.concat(windows, axis=1), model(streams), atol=1e-5)
    trainer.reset_states()
    np.testing.assert_allclose(trainer(streams[:, :4]), windows[0], atol=1e-6)


def test_zarembas_schedule_and_the_plateau_default():
    schedule = recipe.learning_rate_schedule(recipe.CONFIGS["wordlm-ptb-small"])
    assert [schedule(epoch) for epoch in range(6)] == [20.0, 20.0, 20.0, 20.0, 10.0, 5.0]
    assert recipe.learning_rate_schedule(recipe.CONFIGS["wordlm-ptb-lstm"]) is None


def test_the_shipped_configuration_stays_under_24_million_parameters():
    config = recipe.CONFIGS["wordlm-ptb-lstm"]
    tokenizer = WordTokenizer([f"w{i}" for i in range(9_998)])  # PTB's vocabulary size: 10,002 ids
    model = recipe.build_language_model(config, tokenizer)
    assert model.count_params() == 13_276_502  # 2 x 650 tied: embedding 6.5M, LSTMs 6.8M, output bias
    assert [(layer.weight_dropout, layer.seed) for layer in model.recurrent.stacked_layers] == [(0.5, 0), (0.5, 1)]
    embeddings = model.embedding.embeddings.numpy()  # U(-0.1, 0.1), not Keras' U(-0.05, 0.05)
    assert 0.09 < np.abs(embeddings).max() <= 0.1


def test_zarembas_initialisation_draws_every_weight_uniformly():
    model = recipe.build_language_model(recipe.CONFIGS["wordlm-ptb-small"], WordTokenizer(WORDS))
    for variable in model.trainable_weights:
        values = variable.numpy()
        assert np.abs(values).max() <= 0.1 and values.std() == pytest.approx(0.1 / math.sqrt(3), rel=0.3)


def test_tiny_run_trains_packages_and_evaluates_as_its_card_says(tmp_path, capsys):
    data = tmp_path / "data"
    (data / "ptb").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, count in (("train", 120), ("valid", 12), ("test", 12)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(count)]
        (data / "ptb" / f"ptb.{split}.txt").write_text("".join(f" {line} \n" for line in lines))
    config = recipe.CONFIGS["wordlm-ptb-tiny"]  # with weight drop and a moving average of the weights
    history = recipe.train(config, data, tmp_path / "run", TrainingOptions(max_minutes=5))
    assert len(history.history["val_perplexity"]) == config.max_epochs
    best = keras.saving.load_model(tmp_path / "run" / "best.keras", compile=False).language_model
    valid, _ = running_text_ids(best.tokenizer, (data / "ptb" / "ptb.valid.txt").read_text())
    # validated on what best.keras keeps: the average, not the trained weights
    assert language_model_loss(best, valid)["nats"] == pytest.approx(min(history.history["val_loss"]), abs=1e-5)
    results = recipe.package(config, data, tmp_path / "run", tmp_path / "checkpoints")
    folder = tmp_path / "checkpoints" / config.name
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["perplexity"]["test"]["perplexity"] == results["test"]["perplexity"]
    card = (folder / "README.md").read_text()
    assert f"{results['test']['perplexity']:.2f}" in card and "4 reserved ids" in card and "other 9 words" in card
    code, out, _ = run(capsys, "evaluate", folder, "--text-file", data / "ptb" / "ptb.test.txt")
    assert f"perplexity {results['test']['perplexity']:.3f}" in out
    assert f"{results['test']['tokens']:,} tokens" in out
    assert dataclasses.asdict(config) == metadata["config"]
    optimizer = json.loads((folder / "config.json").read_text())["compile_config"]["optimizer"]["config"]
    assert optimizer["use_ema"] is False  # fine-tuning ends at the trained weights, not at their average
    quick, test, valid = metadata["checks"]  # what `zoo evaluate` printed, in the card
    assert quick["commands"] == [f'zoo evaluate {config.name} --text-file "$ZOO_DATA_DIR/ptb/ptb.test.txt" --first 200']
    assert f"perplexity {results['test']['perplexity']:.3f}" in test["prints"]
    assert f"perplexity {results['valid']['perplexity']:.3f}" in valid["prints"] and "## Checks" in card


# --- the command line on a word model ---------------------------------------------------------


@pytest.fixture(scope="module")
def word_checkpoint(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = word_model(tie_embeddings=True, num_layers=1, units=16)  # through a (16, 8) projection
    model.compile(optimizer=keras.optimizers.Adam(0.03),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids, _ = running_text_ids(model.tokenizer, TEXT)
    fit_steps(model, ids[None, :-1], ids[None, 1:], epochs=100)
    return saved_checkpoint(model, tmp_path_factory, "tiny-wordlm")


def test_evaluate_reports_per_word_perplexity_and_tokens_scored(word_checkpoint, tmp_path, capsys):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    code, out, _ = run(capsys, "evaluate", word_checkpoint, "--text-file", path)
    tokens = len(TEXT.split()) + TEXT.count("\n")
    assert code == 0 and f"{tokens - 1:,} tokens (words and <eos>) scored" in out
    nats = float(out.split("nats/word")[1].split()[0])
    assert float(out.split("perplexity")[1].split()[0]) == pytest.approx(math.exp(nats), rel=1e-3)
    assert nats < 1.0 and "0.0% words outside" in out and "warning" not in out
    five = "".join(TEXT.splitlines(keepends=True)[:5])
    path.write_text(five)
    five_lines = run(capsys, "evaluate", word_checkpoint, "--text-file", path)[1]
    path.write_text(TEXT)
    first_five = run(capsys, "evaluate", word_checkpoint, "--text-file", path, "--first", 5)[1]
    assert f"({len(five.split()) + 5 - 1} tokens (words and <eos>) scored)" in first_five and first_five == five_lines
    assert "--first must be a positive number of examples, got 0" in run_error(
        capsys, "evaluate", word_checkpoint, "--text-file", path, "--first", 0)


def test_evaluate_bad_input_for_a_word_model(word_checkpoint, tmp_path, capsys):
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "holds 0 tokens: evaluation needs at least 2" in run_error(
        capsys, "evaluate", word_checkpoint, "--text-file", empty)
    unknown = tmp_path / "unknown.txt"
    unknown.write_text("zebras graze quietly\nlions sleep\n")
    code, out, _ = run(capsys, "evaluate", word_checkpoint, "--text-file", unknown)
    assert code == 0 and math.isfinite(float(out.split("perplexity")[1].split()[0]))
    assert "<unk>      71.4% of the tokens (71.4% words outside" in out  # 5 of 7: two <eos> are known
    assert "warning: 71.4% of the tokens are outside the model's vocabulary" in out


def test_generate_writes_words_and_eos_as_line_breaks(word_checkpoint, capsys):
    outputs = [run(capsys, "generate", word_checkpoint, "--prompt", "the cat", "--length", 14, "--temperature", 0)[1]
               for _ in range(2)]
    assert outputs[0] == outputs[1] and outputs[0].startswith("the cat ")
    generated = outputs[0][len("the cat ") : -1]  # print's own line break off
    assert "\n" in generated  # it went on past an <eos>
    assert len(generated.split()) + generated.count("\n") == 14  # words and <eos>
    assert set(generated.split()) <= set(WORDS)


def test_generate_warns_about_unknown_prompt_words_and_empty_prompts(word_checkpoint, capsys):
    code, out, err = run(capsys, "generate", word_checkpoint, "--prompt", "the zebra <unk>", "--length", 3)
    assert code == 0 and "words outside" in err and "'zebra'" in err
    assert "at least one word" in run_error(capsys, "generate", word_checkpoint, "--prompt", "  ")


def test_the_recipe_is_listed_for_zoo_train(capsys):
    assert "did you mean 'ptb_language_model'" in run_error(capsys, "train", "ptb_languag_model")
