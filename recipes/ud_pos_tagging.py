"""Universal POS tagging on UD English EWT: word embeddings + a character BiLSTM + a 2-layer BiLSTM.

Trains on en_ewt-ud-train.conllu (12,544 sentences), chooses the epoch by UPOS accuracy on
en_ewt-ud-dev.conllu, and `--package` reports accuracy on en_ewt-ud-test.conllu with gold
tokenization (multiword tokens such as "don't" are tagged as their syntactic words do|n't).

    python -m recipes.ud_pos_tagging --model pos-ewt-bilstm                  # train (--resume continues a stopped run)
    python -m recipes.ud_pos_tagging --model pos-ewt-bilstm --package        # evaluate, write the checkpoint

Training writes `runs/<model>/`: `checkpoint/` (the state `--resume` continues from, every 500 steps and epoch), `best.keras` (best dev
accuracy), `history.csv`, `vocabulary.json` (the word and character vocabularies of train).
"""

import csv
import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.training import bucketed_indices, dataset_of, fit
from zoo.corpora import read_conllu
from zoo.evaluation import tagging_accuracy
from zoo.models import SequenceTagger
from zoo.tasks.tagging_task import padded_batch
from zoo.text import CharTokenizer, WordTokenizer
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

SPLITS = {"train": "en_ewt-ud-train.conllu", "dev": "en_ewt-ud-dev.conllu", "test": "en_ewt-ud-test.conllu"}
UPOS_TAGS = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART", "PRON", "PROPN", "PUNCT",
             "SCONJ", "SYM", "VERB", "X")  # the 17 universal POS tags of UD v2
QUICK_CHECK_SENTENCES = 300  # the first test sentences: the card's check that every test run repeats


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    word_dim: int = 100
    char_dim: int = 50
    char_units: int = 100
    units: int = 200
    num_layers: int = 2
    dropout: float = 0.33
    word_dropout: float = 0.1
    min_word_count: int = 2  # rarer training words are left to the character encoder
    max_word_length: int = 24
    batch_size: int = 32
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    max_epochs: int = 40
    patience: int = 5  # epochs without a better dev accuracy before stopping
    seed: int = 0


CONFIGS = {config.name: config for config in (
    Config("pos-ewt-bilstm"),
    Config("pos-ewt-tiny", word_dim=16, char_dim=8, char_units=8, units=16, max_epochs=2),  # for tests
)}


def read_split(data_dir, split):
    path = Path(data_dir) / "ud_english_ewt" / SPLITS[split]
    if not path.is_file():
        raise FileNotFoundError(f"UD English EWT {split} not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
    return read_conllu(path)


def vocabularies(config, sentences, run_dir):
    """The word tokenizer (lowercased training words seen `min_word_count` times or more), the
    character tokenizer (every character of the training words) and the tag list (the UPOS tags and
    any other tag of the training data); cached in the run."""
    path = run_dir / "vocabulary.json"
    if path.exists():
        saved = json.loads(path.read_text(encoding="utf-8"))
    else:
        words = [" ".join(s.words) for s in sentences]
        saved = {
            "words": WordTokenizer.from_texts(words, min_count=config.min_word_count, lowercase=True).get_vocabulary(),
            "characters": sorted({c for s in sentences for w in s.words for c in w}),
            "tags": sorted(set(UPOS_TAGS) | {t for s in sentences for t in s.tags}),
        }
        path.write_text(json.dumps(saved, ensure_ascii=False), encoding="utf-8")
    return (WordTokenizer(saved["words"], lowercase=True, name="word_tokenizer"),
            CharTokenizer(saved["characters"], name="char_tokenizer"), saved["tags"])


def batches(sentences, tag_index, batch_size, rng=None):
    lengths = [len(s.words) for s in sentences]
    return [padded_batch([sentences[i] for i in b], tag_index) for b in bucketed_indices(lengths, batch_size, rng)]


BATCH_SIGNATURE = (tf.TensorSpec((None, None), tf.string), tf.TensorSpec((None, None), tf.int32))  # (words, tags)


def build_model(config, word_tokenizer, char_tokenizer, tags):
    model = SequenceTagger(
        tags, word_tokenizer, char_tokenizer, word_dim=config.word_dim, char_dim=config.char_dim,
        char_units=config.char_units, units=config.units, num_layers=config.num_layers, dropout=config.dropout,
        word_dropout=config.word_dropout, max_word_length=config.max_word_length, seed=config.seed,
        name=config.name.replace("-", "_"),
    )
    model.build()
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate, beta_2=0.9, clipnorm=config.clipnorm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],  # over real words: the model's output mask hides the padding
    )
    return model


def train(config, data_dir, run_dir, options):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    train_sentences, dev_sentences = read_split(data_dir, "train"), read_split(data_dir, "dev")
    word_tokenizer, char_tokenizer, tags = vocabularies(config, train_sentences, run_dir)
    tag_index = {t: i for i, t in enumerate(tags)}
    dev = batches(dev_sentences, tag_index, 64)
    model = build_model(config, word_tokenizer, char_tokenizer, tags)
    print(f"{config.name}: {len(train_sentences):,} training sentences, {len(dev_sentences):,} dev; "
          f"{word_tokenizer.vocabulary_size:,} word ids, {char_tokenizer.vocabulary_size} character ids, "
          f"{len(tags)} tags; {model.count_params():,} parameters")

    def batches_of_epoch(epoch):  # bucketed batches, each epoch from its own seed
        return batches(train_sentences, tag_index, config.batch_size, np.random.default_rng(config.seed * 1000 + epoch))

    steps_per_epoch = -(-len(train_sentences) // config.batch_size)
    return fit(model, batches_of_epoch, steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, monitor="val_accuracy", signature=BATCH_SIGNATURE,
               validation_data=dataset_of(dev, BATCH_SIGNATURE))


# --- packaging ------------------------------------------------------------------------------


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model, with dev and test UPOS accuracy in its card and the
    `zoo evaluate` commands that measure them (its checks)."""
    word_tokenizer, char_tokenizer, tags = vocabularies(config, read_split(data_dir, "train"), run_dir)
    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    model = build_model(config, word_tokenizer, char_tokenizer, tags)
    model.set_weights(best.get_weights())
    results = {split: tagging_accuracy(model, read_split(data_dir, split)) for split in ("dev", "test")}
    for split, result in results.items():
        print(f"{config.name} {split}: {result}")
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    metadata = {"recipe": "ud_pos_tagging", "config": dataclasses.asdict(config), "upos_accuracy": results,
                "history": history, "provenance": run_provenance(run_dir)}
    folder = Path(checkpoints_dir) / config.name
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata), metadata,
                     evaluation_commands(config.name), data_dir)
    print(f"-> {folder}")
    return results


def evaluation_commands(name):
    """The card's checks: `zoo evaluate` on the first test sentences, on all of them, and on the dev sentences."""
    test = f"zoo evaluate {name} --conllu {data_path('ud_english_ewt', SPLITS['test'])}"
    return [[f"{test} --first {QUICK_CHECK_SENTENCES}"], [test],
            [f"zoo evaluate {name} --conllu {data_path('ud_english_ewt', SPLITS['dev'])}"]]


def model_card(config, model, metadata):
    """The card of a packaged model, from what `package` puts in its metadata.json."""
    results = metadata["upos_accuracy"]
    rows = "\n".join(
        f"| {split} | {r['accuracy']:.2%} | {r['words']:,} | {r['sentences']:,} | {r['unseen_accuracy']:.2%} "
        f"| {r['unseen_words']:,} |"
        for split, r in (("test", results["test"]), ("dev", results["dev"]))
    )
    return render_card("ud_pos_tagging", precision_of(model), metadata.get("provenance"), metadata.get("checks"),
                       config=config, word_ids=model.word_tokenizer.vocabulary_size, parameters=model.count_params(),
                       rows=rows, **training_summary(metadata["history"], monitor="val_accuracy", best=max))


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "pos-ewt-bilstm", 55.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
