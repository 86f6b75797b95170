"""Sentiment classification on SST-2 (GLUE): words -> bidirectional zoo LSTM -> pooling -> label.

Data: `sst2/train.tsv` (67,349 labelled phrases: the 6,885 training sentences of the Stanford
Sentiment Treebank and their sub-phrases) and `sst2/dev.tsv` (872 sentences), which is the test set
here: only `--package` reads it, to report. Model: `zoo.models.SequenceClassifier`
(word embedding -> BiLSTM -> `SequencePooling` -> dense), reading whitespace-tokenized, lowercased text.

    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm                   # train (--resume continues a stopped run)
    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm --package         # dev accuracy, ship

The validation slice (tuning and early stopping) is carved from train by whole sentences: the
sentences are the phrases that are no part of a longer phrase; `validation_sentences` of them are
held out at random, and with them every phrase that occurs only inside held-out sentences. A phrase
that also occurs in a kept sentence stays in training, as it would for dev: SST-2's dev sentences
share such phrases with train too. So no held-out sentence, nor any part of one that is not also
part of a training sentence, is trained on.

Settings, chosen on the validation slice (docs/sst2_tuning.md has every run): the first recipe's
heavy regularisation (dropout 0.4, word dropout 0.25, AdamW weight decay 0.05) cost about a point;
the shipped model uses embeddings of 300, max pooling, Adam 1e-3, mild dropout (0.2), word dropout
to `<unk>` (0.1, which also trains the `<unk>` vector that dev's unseen words read) and adversarial
training on the word vectors (eps 0.05), two epochs (every run peaked in epoch 1 or 2), the epoch
chosen by validation-slice accuracy, and the moving average of the weights (momentum 0.998) is what
is validated and kept. The studies that were not shipped (the pooling comparison, an ensemble of 8,
the encoder started from language models) are `experiments/sst2_studies.py`.

Training writes `runs/<model>/`: `checkpoint/` (the state `--resume` continues from), `best.keras`, `history.csv`.
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
from zoo.corpora import read_labelled_tsv
from zoo.evaluation import classification_accuracy, evaluate_tsv
from zoo.models import SequenceClassifier
from zoo.text import WordTokenizer
from zoo.training import bucketed_indices, dataset_of, fit
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

LABELS = ("negative", "positive")  # SST-2 label ids 0 and 1
QUICK_CHECK_SENTENCES = 200  # the first dev sentences: the card's check that every test run repeats


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    embedding_dim: int = 128
    units: int = 256
    num_layers: int = 1
    pooling: str = "max"
    dropout: float = 0.4
    word_dropout: float = 0.25
    adversarial: float = 0.0  # eps of adversarial training on the word vectors (SequenceClassifier.train_step)
    min_count: int = 1  # words of the training sentences kept in the vocabulary
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    clipnorm: float = 1.0
    weight_average: float = 0.0  # > 0: validate and keep the moving average of the weights with this momentum
    max_epochs: int = 20
    patience: int = 3  # epochs without a better validation accuracy before stopping
    validation_sentences: int = 800
    validation_seed: int = 0  # the same slice for every model and seed
    seed: int = 0


# Chosen on the validation slice (see the module docstring): 2 epochs, about 4 minutes a classifier.
CHOSEN = dict(embedding_dim=300, dropout=0.2, word_dropout=0.1, weight_decay=0.0, learning_rate=1e-3, max_epochs=2,
              adversarial=0.05, weight_average=0.998)
CONFIGS = {
    config.name: config
    for config in (
        Config("sentiment-sst2-bilstm", **CHOSEN),
        # For tests:
        Config("sentiment-sst2-tiny", embedding_dim=8, units=8, max_epochs=2, validation_sentences=4, adversarial=0.05,
               weight_average=0.9),
    )
}


# --- data ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Split:
    """SST-2's training phrases split by sentence: what is trained on and what is held out."""

    train_texts: list
    train_labels: list
    validation_texts: list  # whole held-out sentences
    validation_labels: list
    training_sentences: list  # the sentences the training phrases come from (vocabulary, LM text)


def tsv_path(data_dir, split):
    path = Path(data_dir) / "sst2" / f"{split}.tsv"
    if not path.is_file():
        raise FileNotFoundError(f"SST-2 {split} not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
    return path


def spans(sentence):
    """Every run of consecutive words of `sentence`, as strings: L (L + 1) / 2 of them."""
    words = sentence.split()
    return {" ".join(words[a:b]) for a in range(len(words)) for b in range(a + 1, len(words) + 1)}


def sentence_indices(phrases):
    """Indices of the phrases that are no run of words of a longer phrase: SST's sentences (or, where
    a neutral sentence was left out of SST-2, its largest labelled parts), longest first."""
    covered, sentences = set(), []
    for i in sorted(range(len(phrases)), key=lambda i: -len(phrases[i].split())):
        if phrases[i] not in covered:
            sentences.append(i)
            covered |= spans(phrases[i])
    return sentences


def carve_validation(phrases, labels, count, seed):
    """A `Split`: `count` sentences held out at random, trained on: every phrase that is part of a kept
    sentence (see the module docstring)."""
    sentences = sentence_indices(phrases)
    if not 0 < count < len(sentences):
        raise ValueError(f"validation_sentences must be in [1, {len(sentences) - 1}], got {count}")
    held = set(np.random.default_rng(seed).choice(len(sentences), count, replace=False).tolist())
    held_out = [sentences[k] for k in sorted(held)]
    kept = [sentences[k] for k in range(len(sentences)) if k not in held]
    trainable = set().union(*(spans(phrases[i]) for i in kept))
    training = [i for i in range(len(phrases)) if phrases[i] in trainable]
    return Split(
        train_texts=[phrases[i] for i in training],
        train_labels=[labels[i] for i in training],
        validation_texts=[phrases[i] for i in held_out],
        validation_labels=[labels[i] for i in held_out],
        training_sentences=[phrases[i] for i in kept],
    )


def load_split(config, data_dir):
    phrases, labels = read_labelled_tsv(tsv_path(data_dir, "train"), len(LABELS))
    return carve_validation(phrases, labels, config.validation_sentences, config.validation_seed)


def build_tokenizer(config, split):
    """Lowercased words of the training sentences seen `min_count` times or more."""
    return WordTokenizer.from_texts(split.training_sentences, min_count=config.min_count, lowercase=True,
                                    name="tokenizer")


def batches(texts, labels, batch_size, rng=None):
    """(texts (B,), labels (B,)) batches of sentences of similar length (shuffled with `rng`)."""
    texts, labels = np.array(texts, dtype=object), np.array(labels, dtype=np.int32)
    lengths = [len(text.split()) for text in texts]
    return [(texts[b].tolist(), labels[b]) for b in bucketed_indices(lengths, batch_size, rng)]


BATCH_SIGNATURE = (tf.TensorSpec((None,), tf.string), tf.TensorSpec((None,), tf.int32))  # (texts, labels)


def batches_of_epoch(split, config):
    """epoch -> that epoch's length-bucketed training batches, from the epoch's own seed."""
    return lambda epoch: batches(split.train_texts, split.train_labels, config.batch_size,
                                 np.random.default_rng(config.seed * 1000 + epoch))


# --- model and training -------------------------------------------------------------------


def build_model(config, tokenizer):
    model = SequenceClassifier(
        tokenizer,
        labels=LABELS,
        units=config.units,
        num_layers=config.num_layers,
        embedding_dim=config.embedding_dim,
        pooling=config.pooling,
        dropout=config.dropout,
        word_dropout=config.word_dropout,
        adversarial=config.adversarial,
        seed=config.seed,
        name=config.name.replace("-", "_"),
    )
    model.build()
    return compiled(model, config)


def compiled(model, config):
    """`model` compiled for training on labels (a classifier or an ensemble of them)."""
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=config.learning_rate, weight_decay=config.weight_decay, clipnorm=config.clipnorm,
            use_ema=config.weight_average > 0, ema_momentum=config.weight_average,
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train(config, data_dir, run_dir, options, split=None, initialise=None):
    """Trains a classifier on the training phrases (of `split`, default: `load_split`), keeping the epoch with
    its best validation-slice accuracy; `initialise(model)`, if given, sets the built model's starting
    weights (experiments/sst2_studies.py starts it from language models)."""
    split = split or load_split(config, data_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    tokenizer = build_tokenizer(config, split)
    model = build_model(config, tokenizer)
    if initialise:
        initialise(model)
    steps_per_epoch = -(-len(split.train_texts) // config.batch_size)
    print(f"{config.name}: {len(split.train_texts):,} training phrases, {len(split.validation_texts):,} validation "
          f"sentences, vocabulary {tokenizer.vocabulary_size:,}; {model.count_params():,} parameters")
    validation = batches(split.validation_texts, split.validation_labels, config.batch_size)
    return fit(model, batches_of_epoch(split, config), steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, monitor="val_accuracy", signature=BATCH_SIGNATURE,
               validation_data=dataset_of(validation, BATCH_SIGNATURE))


# --- evaluation and packaging -------------------------------------------------------------


def load_best(config, run_dir):
    """The run's best model (a classifier or an ensemble), compiled as for training but without a
    moving average of the weights: that is the checkpoint's compile config, what `zoo.load` compiles
    for fine-tuning, where Keras would end a short `model.fit` by copying in an average that has
    hardly left the starting weights."""
    return compiled(keras.saving.load_model(run_dir / "best.keras", compile=False),
                    dataclasses.replace(config, weight_average=0.0))


def read_history(run_dir):
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def run_summary(run_dir):
    """The epochs a classifier trained, the one chosen (best validation-slice accuracy) and the minutes."""
    summary = training_summary(read_history(run_dir), monitor="val_accuracy", best=max)
    del summary["best"]
    return summary


def evaluate_run(model, data_dir, run_dir, split):
    """Validation-slice and dev accuracy of a run's best `model`, with the run's epochs and minutes."""
    return {
        "validation": classification_accuracy(model, split.validation_texts, split.validation_labels),
        "dev": evaluate_tsv(model, tsv_path(data_dir, "dev")),
        **run_summary(run_dir),
    }


def packaged_model(config, run_dir):
    """The run's best model as it is shipped: its weights rounded to float16 (half the bytes), so that
    every number measured is that of the stored weights."""
    from zoo.checkpoints import round_weights_to_float16

    model = load_best(config, run_dir)
    round_weights_to_float16(model)
    return model


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model, with its dev accuracy (as `zoo evaluate --tsv`
    computes it) in the model card."""
    split = load_split(config, data_dir)
    model = packaged_model(config, run_dir)
    result = evaluate_run(model, data_dir, run_dir, split)
    return save_package(config, model, data_dir, run_dir, checkpoints_dir, result, {"history": read_history(run_dir)},
                        lambda metadata: model_card(config, model, metadata, split))


def save_package(config, model, data_dir, run_dir, checkpoints_dir, result, histories, card_of):
    """Writes checkpoints/<name>/: `model`, its card `card_of(metadata)` with the checks that `zoo evaluate`
    on the dev sentences prints, and metadata.json (the config, `result`, the training `histories`, the run's
    provenance)."""
    folder = Path(checkpoints_dir) / config.name
    metadata = {"recipe": "sst2_sentiment", "config": dataclasses.asdict(config), **result, **histories,
                "provenance": run_provenance(run_dir)}
    save_with_checks(model, folder, card_of, metadata, evaluation_commands(config.name), data_dir,
                     weights_dtype="float16")
    print(f"{config.name}: dev accuracy {result['dev']['accuracy']:.2%}, validation slice "
          f"{result['validation']['accuracy']:.2%} -> {folder}")
    return result


def evaluation_commands(name):
    """The card's checks: `zoo evaluate` on the first dev sentences, and on all of them."""
    dev = f"zoo evaluate {name} --tsv {data_path('sst2', 'dev.tsv')}"
    return [[f"{dev} --first {QUICK_CHECK_SENTENCES}"], [dev]]


def model_card(config, model, metadata, split):
    """The card of a classifier, from what `package` puts in its metadata.json."""
    return render_card("sst2_sentiment", precision_of(model), metadata.get("provenance"), metadata.get("checks"),
                       **card_fields(config, model, metadata, split), ensemble="", initialisation="",
                       outside_text="", chosen="validation slice (chose the epoch)",
                       runs=f"{metadata['epochs']} epochs ({metadata['chosen_epoch']} chosen)")


def card_fields(config, model, result, split):
    """The fields of recipes/cards/sst2_sentiment.md that a classifier and an ensemble of them share; the card
    also needs `ensemble`, `initialisation`, `outside_text`, `chosen` and `runs` (`model_card`'s are a
    classifier's; experiments/sst2_studies.py fills them for its ensembles and LM-initialised classifiers)."""
    adversarial = (f", adversarial training on the word vectors (eps {config.adversarial}: "
                   f"`SequenceClassifier.train_step`)" if config.adversarial else "")
    averaged = (f"; what is validated and kept is the moving average of the weights (momentum {config.weight_average}, "
                f"the optimizer's `use_ema`), not the last step's" if config.weight_average else "")
    return dict(config=config, vocabulary_size=model.tokenizer.vocabulary_size, parameters=model.count_params(),
                sentences=len(split.training_sentences) + len(split.validation_texts), phrases=len(split.train_texts),
                dev=result["dev"], validation=result["validation"], adversarial=adversarial, averaged=averaged,
                minutes=result["minutes"])


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "sentiment-sst2-bilstm", 60.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
