"""A tiny translator end to end: the recipe's batching, `zoo translate`, `zoo evaluate --src --ref`,
the attention plot, and the exported SavedModel in a fresh process."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import run, run_error, saved_checkpoint
from recipes import multi30k_translation as recipe
from zoo.training import dataset_of
from zoo.losses import MaskedCrossEntropy
from zoo.models import EncoderDecoder
from zoo.text import BOS_ID, EOS_ID, PAD_ID, SubwordTokenizer

WORDS = {"ein": "a", "hund": "dog", "mann": "man", "rot": "red", "blau": "blue", "katze": "cat", "sieht": "sees"}
GERMAN = [" ".join(np.random.default_rng(i).choice(list(WORDS), size=3 + i % 3)) for i in range(40)]
ENGLISH = [" ".join(WORDS[w] for w in line.split()) for line in GERMAN]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    keras.utils.set_random_seed(1)
    source = SubwordTokenizer.train(GERMAN, 26, name="source_tokenizer")
    target = SubwordTokenizer.train(ENGLISH, 20, name="target_tokenizer")
    model = EncoderDecoder(source.vocabulary_size, target.vocabulary_size, embedding_dim=16, encoder_units=16,
                           encoder_layers=1, decoder_units=32, attention_units=16, readout_dim=16, dropout=0.0,
                           source_tokenizer=source, target_tokenizer=target, max_source_length=12)
    model.build()
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss=MaskedCrossEntropy())
    batches = recipe.bucketed_batches(recipe.token_ids(source, GERMAN), recipe.token_ids(target, ENGLISH), 8)
    model.fit(dataset_of(batches, recipe.BATCH_SIGNATURE).repeat(), steps_per_epoch=len(batches) * 60, verbose=0)
    return saved_checkpoint(model, tmp_path_factory, "tiny-nmt")


def test_bucketed_batches_hold_every_pair_once_with_bos_and_eos():
    sources = [np.arange(4, 4 + n) for n in (3, 1, 5, 2, 4)]
    targets = [np.arange(10, 10 + n) for n in (2, 4, 1, 3, 5)]
    batches = recipe.bucketed_batches(sources, targets, 2, np.random.default_rng(0))
    seen = []
    for (source, target_in), labels in batches:
        assert np.all(target_in[:, 0] == BOS_ID)
        for s, t_in, label in zip(source, target_in, labels):
            real = label[label != PAD_ID]
            assert real[-1] == EOS_ID and np.array_equal(t_in[1 : len(real)], real[:-1])
            seen.append((tuple(s[s != PAD_ID]), tuple(real[:-1])))
    assert sorted(seen) == sorted((tuple(s), tuple(t)) for s, t in zip(sources, targets))


@pytest.mark.slow
def test_translate_prints_a_translation_and_draws_the_attention(checkpoint, capsys, tmp_path):
    png = tmp_path / "attention.png"
    code, out, err = run(capsys, "translate", checkpoint, GERMAN[0], "--plot-attention", png)
    assert code == 0 and out.strip() == ENGLISH[0]
    assert png.stat().st_size > 5000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_evaluate_reports_bleu_on_a_file_pair(checkpoint, capsys, tmp_path):
    src, ref = tmp_path / "src.txt", tmp_path / "ref.txt"
    src.write_text("\n".join(GERMAN[:10]) + "\n")
    ref.write_text("\n".join(ENGLISH[:10]) + "\n")
    code, out, _ = run(capsys, "evaluate", checkpoint, "--src", src, "--ref", ref)
    assert code == 0
    bleu = float(out.split("sacreBLEU")[1].split()[0])
    assert bleu > 80.0  # the tiny model learned its word-for-word task
    assert "lowercased tokenized BLEU" in out
    src.write_text("\n".join(GERMAN[:4]) + "\n")
    ref.write_text("\n".join(ENGLISH[:4]) + "\n")
    four = run(capsys, "evaluate", checkpoint, "--src", src, "--ref", ref)[1]
    src.write_text("\n".join(GERMAN[:10]) + "\n")
    ref.write_text("\n".join(ENGLISH[:10]) + "\n")
    first_four = run(capsys, "evaluate", checkpoint, "--src", src, "--ref", ref, "--first", 4)[1]
    assert "(4 sentences" in first_four and first_four.split("sacreBLEU")[1] == four.split("sacreBLEU")[1]


@pytest.mark.slow
def test_evaluate_and_translate_bad_input(checkpoint, capsys, tmp_path):
    src, ref, empty = tmp_path / "src.txt", tmp_path / "ref.txt", tmp_path / "empty.txt"
    src.write_text("ein hund\nein mann\n")
    ref.write_text("a dog\n")
    empty.write_text("")
    assert "line-aligned" in run_error(capsys, "evaluate", checkpoint, "--src", src, "--ref", ref)
    assert "both --src" in run_error(capsys, "evaluate", checkpoint, "--src", src)
    assert "empty" in run_error(capsys, "evaluate", checkpoint, "--src", empty, "--ref", empty)
    assert "no such file" in run_error(capsys, "evaluate", checkpoint, "--src", tmp_path / "nope", "--ref", ref)
    ref.write_text("a dog\n\n")
    src.write_text("ein hund\n\n")
    assert "empty lines" in run_error(capsys, "evaluate", checkpoint, "--src", src, "--ref", ref)
    assert "empty" in run_error(capsys, "translate", checkpoint, "   ")


@pytest.mark.slow
def test_a_long_source_is_truncated_with_a_warning(checkpoint, capsys):
    with pytest.warns(UserWarning, match="truncated"):
        code, out, _ = run(capsys, "translate", checkpoint, " ".join(["ein hund"] * 20))
    assert code == 0 and out.strip()


@pytest.mark.slow
def test_export_translates_in_a_fresh_process(checkpoint, capsys, tmp_path):
    import zoo
    from zoo.decoding import translate

    exported = tmp_path / "exported"
    run(capsys, "export", checkpoint, exported)
    expected = translate(zoo.load(checkpoint), ["ein rot hund", "katze sieht mann"])
    script = (
        "import sys, tensorflow as tf, tensorflow_text\n"
        f"m = tf.saved_model.load({str(exported)!r})\n"
        "print(m.translate(tf.constant('ein rot hund'))['translation'].numpy().decode())\n"
        "out = m.signatures['translate_batch'](texts=tf.constant(['ein rot hund', 'katze sieht mann']))\n"
        "print('|'.join(t.decode() for t in out['translations'].numpy()))\n"
        "print('zoo' in sys.modules or any(k.startswith('zoo.') for k in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    single, batch, imported_zoo = result.stdout.strip().splitlines()[-3:]
    assert single == expected[0] and batch.split("|") == expected
    assert imported_zoo == "False"


@pytest.mark.slow
def test_a_fresh_process_loads_the_translator_compiled(checkpoint):
    """zoo.load registers every zoo class a checkpoint names (the loss of its compile config too)."""
    script = f"import zoo; m = zoo.load({str(checkpoint)!r}); print(type(m.loss).__name__)"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "MaskedCrossEntropy"
