"""recipes.sst2_sentiment: the validation slice carved by sentence and a tiny run end to end (train, package,
`zoo evaluate --tsv` agreeing with the card); of its studies (experiments/sst2_studies.py), the pooling
report (the ensemble and LM-pretraining studies are not run by the suite: its time limit)."""

import json

import pytest

from helpers import run, run_error
from experiments import sst2_studies as studies
from recipes import sst2_sentiment as recipe
from recipes.card import PRECISION_SECTIONS
from zoo.layers.sequence_pooling import POOLING_MODES
from zoo.training.precision import training_precision

SENTENCES = {"the film is good .": 1, "the story is dull .": 0, "a good cast": 1, "dull , dull , dull": 0}
PARTS = {"the film": 1, "is good": 1, "good": 1, "the story": 0, "is dull": 0, "dull": 0, "the": 1, "a good": 1,
         "cast": 1, "dull ,": 0}


def test_sentences_are_the_phrases_inside_no_other():
    phrases = list(PARTS) + list(SENTENCES)
    assert sorted(phrases[i] for i in recipe.sentence_indices(phrases)) == sorted(SENTENCES)
    assert recipe.spans("a b c") == {"a", "b", "c", "a b", "b c", "a b c"}


def test_the_validation_slice_holds_whole_sentences_and_their_own_phrases_only():
    phrases = list(PARTS) + list(SENTENCES)
    labels = list(PARTS.values()) + list(SENTENCES.values())
    for seed in range(6):
        split = recipe.carve_validation(phrases, labels, 1, seed)
        (held,) = split.validation_texts
        assert split.validation_labels == [SENTENCES[held]]
        kept = [s for s in SENTENCES if s != held]
        assert sorted(split.training_sentences) == sorted(kept)
        kept_parts = set().union(*(recipe.spans(s) for s in kept))
        # trained on: exactly the phrases inside a kept sentence, with their labels
        assert sorted(split.train_texts) == sorted(p for p in phrases if p in kept_parts)
        assert all(labels[phrases.index(t)] == y for t, y in zip(split.train_texts, split.train_labels))
        assert held not in split.train_texts
    with pytest.raises(ValueError, match="validation_sentences must be in"):
        recipe.carve_validation(phrases, labels, 4, 0)


def test_the_pooling_report_has_a_row_per_pooling_and_a_plot(tmp_path):
    def run_result(validation, dev):
        return {"validation": {"accuracy": validation}, "dev": {"accuracy": dev}, "epochs": 4, "minutes": 8.0}

    results = {mode: [run_result(0.80 + 0.01 * k + 0.001 * s, 0.82 + 0.002 * s) for s in range(3)]
               for k, mode in enumerate(POOLING_MODES)}
    report = tmp_path / "docs" / "pooling.md"
    studies.write_pooling_report(results, studies.CONFIGS["sentiment-sst2-bilstm"], 8.0, report)
    text = report.read_text()
    for mode in POOLING_MODES:
        assert f"| `{mode}` | 3 |" in text
    last = POOLING_MODES[-1]
    assert f"Best on the validation slice: **`{last}`**" in text
    assert "| 83.10 ± 0.10 (83.00-83.20) | 82.20 ± 0.20 (82.00-82.40) | 4.0 | 8.0 |" in text
    assert (tmp_path / "docs" / "pooling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data_dir(sst2_data_dir):
    return sst2_data_dir


@pytest.mark.slow
def test_a_tiny_run_trains_packages_and_its_card_matches_zoo_evaluate(data_dir, tmp_path, capsys):
    """In bfloat16 where the CPU has a bfloat16 unit (float32 elsewhere, saying so): the card and
    metadata state the precision, and a resume may not change it."""
    flags = ["--model", "sentiment-sst2-tiny", "--data-dir", data_dir, "--run-dir", tmp_path / "run"]
    precision, fallback = training_precision("bfloat16")
    code, out, _ = run(capsys, "train", "sst2_sentiment", *flags, "--precision", "bfloat16")
    assert code == 0 and (fallback is None or fallback in out)
    if precision == "bfloat16":
        refusal = run_error(capsys, "train", "sst2_sentiment", *flags, "--precision", "float32", "--resume")
        assert "trained in bfloat16, not float32: resume it with --precision bfloat16" in refusal
    run(capsys, "train", "sst2_sentiment", *flags, "--package", "--checkpoints-dir", tmp_path / "checkpoints")
    folder = tmp_path / "checkpoints" / "sentiment-sst2-tiny"
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["precision"] == precision
    assert PRECISION_SECTIONS[precision, precision] in (folder / "README.md").read_text()
    code, out, _ = run(capsys, "evaluate", folder, "--tsv", data_dir / "sst2" / "dev.tsv")
    dev = metadata["dev"]
    assert code == 0 and f"accuracy {dev['accuracy']:.2%} ({dev['correct']} of 12)" in out
    quick, whole = metadata["checks"]  # run at packaging, on the card
    assert whole["prints"][0] == f"accuracy {dev['accuracy']:.2%} ({dev['correct']} of 12)"
    assert quick["commands"] == ['zoo evaluate sentiment-sst2-tiny --tsv "$ZOO_DATA_DIR/sst2/dev.tsv" --first 200']
    card = (folder / "README.md").read_text()
    assert f"**{dev['accuracy']:.2%}**" in card and "moving average of the weights (momentum 0.9" in card
    assert metadata["epochs"] == 2 and len(metadata["history"]) == 2
    # Fine-tuning the shipped model compiles a plain optimizer: with the average Keras would end a short
    # model.fit at nearly the starting weights.
    optimizer = json.loads((folder / "config.json").read_text())["compile_config"]["optimizer"]["config"]
    assert optimizer["use_ema"] is False
    assert optimizer["learning_rate"] == pytest.approx(recipe.CONFIGS["sentiment-sst2-tiny"].learning_rate)
