"""The `zoo` command line on a tiny character LM checkpoint: commands and bad input."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import fit_steps, run, run_error, saved_checkpoint
from zoo.models import RecurrentLanguageModel
from zoo.presets import PRESETS
from zoo.text import CharTokenizer

TEXT = "to be or not to be, that is the question.\n" * 8


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    tokenizer = CharTokenizer.from_text(TEXT)
    model = RecurrentLanguageModel(tokenizer.vocabulary_size, units=16, num_layers=1, embedding_dim=8,
                                   tokenizer=tokenizer, seed=3)
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = tokenizer(tf.constant([TEXT]))
    fit_steps(model, ids[:, :-1], ids[:, 1:], epochs=60)
    return saved_checkpoint(model, tmp_path_factory, "tiny-charlm")


def test_generate_greedy_is_repeatable_and_continues_the_prompt(checkpoint, capsys):
    outputs = [run(capsys, "generate", checkpoint, "--prompt", "to be", "--length", 30, "--temperature", 0)[1]
               for _ in range(2)]
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("to be") and len(outputs[0].rstrip("\n")) == len("to be") + 30


def test_generate_samples_with_a_seed(checkpoint, capsys):
    first = run(capsys, "generate", checkpoint, "--prompt", "t", "--length", 40, "--seed", 5, "--samples", 2)[1]
    again = run(capsys, "generate", checkpoint, "--prompt", "t", "--length", 40, "--seed", 5, "--samples", 2)[1]
    assert first == again and first.count("-" * 40) == 2


def test_evaluate_reports_nats_bits_and_perplexity(checkpoint, capsys, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT)
    code, out, _ = run(capsys, "evaluate", checkpoint, "--text-file", path)
    nats = float(out.split("nats/char")[1].split()[0])
    bits = float(out.split("bits/char")[1].split()[0])
    assert code == 0 and f"{len(TEXT) - 1:,} characters scored" in out
    assert bits == pytest.approx(nats / np.log(2), abs=2e-4)
    assert nats < 1.5  # it was trained on this text (uniform over 18 ids would be 2.9)


def test_info_prints_the_card(checkpoint, capsys):
    code, out, _ = run(capsys, "info", checkpoint)
    assert "A test model." in out and "parameters:" in out


def test_list_and_info_of_the_shipped_presets_in_a_checkout(capsys):
    from zoo.checkpoints import DEFAULT_ROOT

    code, out, _ = run(capsys, "list")
    assert out.splitlines() == [f"{name:<23}  {preset['task']:<14}  checkout folder: {DEFAULT_ROOT / name}"
                                for name, preset in sorted(PRESETS.items())]
    code, out, _ = run(capsys, "info", "charlm-shakespeare-rnn")
    parameters = json.loads((DEFAULT_ROOT / "charlm-shakespeare-rnn" / "metadata.json").read_text())["parameters"]
    assert out.startswith((DEFAULT_ROOT / "charlm-shakespeare-rnn" / "README.md").read_text())
    assert out.endswith(f"\nparameters: {parameters:,}\n")


def test_unknown_model_lists_close_matches(checkpoint, capsys, monkeypatch):
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(checkpoint.parent))
    err = run_error(capsys, "generate", "tiny-charln", "--prompt", "a")
    assert "did you mean 'tiny-charlm'" in err and "Traceback" not in err
    code, out, _ = run(capsys, "list")
    rows = {line.split()[0]: line.split(None, 1)[1] for line in out.splitlines()}
    assert sorted(rows) == sorted(["tiny-charlm", *PRESETS])
    assert rows["tiny-charlm"] == f"language_model  checkout folder: {checkpoint}"


def test_corrupt_checkpoint(checkpoint, capsys, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    weights = broken / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    err = run_error(capsys, "generate", broken, "--prompt", "a")
    assert "model.weights.h5" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompt", ""], "prompt is empty"),
        (["--prompt", "a", "--length", "-3"], "length"),
        (["--prompt", "a", "--temperature", "-1"], "temperature"),
        (["--prompt", "a", "--top-p", "0"], "top_p"),
    ],
)
def test_bad_generation_arguments(checkpoint, capsys, argv, message):
    assert message in run_error(capsys, "generate", checkpoint, *argv)


def test_characters_outside_the_vocabulary_warn(checkpoint, capsys):
    code, out, err = run(capsys, "generate", checkpoint, "--prompt", "to ☃", "--length", 5, "--temperature", 0)
    assert code == 0 and "outside" in err and "☃" in err


def test_evaluate_bad_files(checkpoint, capsys, tmp_path):
    assert "no such text file" in run_error(capsys, "evaluate", checkpoint, "--text-file", tmp_path / "nope.txt")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert "at least 2" in run_error(capsys, "evaluate", checkpoint, "--text-file", empty)


def test_unknown_recipe(capsys):
    assert "charlm_shakespeare" in run_error(capsys, "train", "charlm_shakespear")


@pytest.mark.slow
def test_export_generates_in_a_process_without_zoo(checkpoint, capsys, tmp_path):
    code, out, _ = run(capsys, "export", checkpoint, tmp_path / "saved")
    greedy = run(capsys, "generate", checkpoint, "--prompt", "to be", "--length", 20, "--temperature", 0)[1]
    program = f"""
import sys
import tensorflow as tf
import tensorflow_text  # noqa: F401
generator = tf.saved_model.load({str(tmp_path / 'saved')!r})
generate = generator.signatures["generate"]
result = generate(prompt=tf.constant("to be"), length=tf.constant(20), temperature=tf.constant(0.0),
                  seed=tf.constant(1, tf.int64))
sys.stdout.write(result["text"].numpy().decode("utf-8"))
assert "zoo" not in sys.modules
"""
    served = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True).stdout
    assert "to be" + served == greedy.rstrip("\n")
