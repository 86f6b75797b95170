"""Sentiment classification on SST-2 (GLUE): words -> bidirectional zoo LSTM -> pooling -> label.

Data: `sst2/train.tsv` (67,349 labelled phrases: the 6,885 training sentences of the Stanford
Sentiment Treebank and their sub-phrases) and `sst2/dev.tsv` (872 sentences), which is the test set
here: only `--package` and `--compare-pooling` read it, to report. Model: `zoo.models.SequenceClassifier`
(word embedding -> BiLSTM -> `SequencePooling` -> dense), reading whitespace-tokenized, lowercased text.

    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm                   # train (--resume continues a stopped run)
    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm --package         # dev accuracy, ship
    python -m recipes.sst2_sentiment --compare-pooling --epochs-per-run 3            # docs/sst2_pooling.*
    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm-lm --pretrain-lm --max-minutes 25
    python -m recipes.sst2_sentiment --model sentiment-sst2-bilstm-lm                # fine-tune from the LMs

The validation slice (tuning and early stopping) is carved from train by whole sentences: the
sentences are the phrases that are no part of a longer phrase; `validation_sentences` of them are
held out at random, and with them every phrase that occurs only inside held-out sentences. A phrase
that also occurs in a kept sentence stays in training, as it would for dev: SST-2's dev sentences
share such phrases with train too. So no held-out sentence, nor any part of one that is not also
part of a training sentence, is trained on.

Settings, chosen on the validation slice (docs/sst2_tuning.md has every run): the first recipe's
heavy regularisation (dropout 0.4, word dropout 0.25, AdamW weight decay 0.05) cost about a point;
the shipped members use embeddings of 300, max pooling, Adam 1e-3, mild dropout (0.2), word dropout
to `<unk>` (0.1, which also trains the `<unk>` vector that dev's unseen words read) and adversarial
training on the word vectors (eps 0.05), two epochs (every run peaked in epoch 1 or 2), the epoch
chosen by validation-slice accuracy, and the moving average of the weights (momentum 0.998) is what
is validated and kept. With `members` > 1 the model is a `ClassifierEnsemble`: members
trained one after another from seeds `seed`, `seed` + 1, ..., in `runs/<model>/member-<k>/`, their
probabilities averaged.

Training writes `runs/<model>/`: `checkpoint/` (the state `--resume` continues from), `best.keras`, `history.csv`; the
comparison `runs/<model>-pooling/<pooling>-seed<k>/` (the same, and `result.json`: a finished run is not
redone); `--pretrain-lm` writes `runs/<model>/lm-forward/` and `lm-backward/` (`zoo.models.RecurrentLanguageModel`
of the classifier's vocabulary, on SST-2's training sentences, WikiText-2 valid/test and PTB).
"""

import csv
import dataclasses
import json
import statistics
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes import charlm_shakespeare
from recipes.command_line import REPO, argument_parser, run_dir_of, run_recipe, training_options
from zoo.corpora import read_labelled_tsv
from zoo.evaluation import classification_accuracy, evaluate_tsv, running_text_ids
from zoo.layers.sequence_pooling import POOLING_MODES
from zoo.models import ClassifierEnsemble, SequenceClassifier
from zoo.models.sequence_classifier import initialise_from_language_models
from zoo.text import UNK_ID, WordTokenizer
from zoo.training import (TrainingOptions, bucketed_indices, dataset_of, distribution_strategy, fit,
                          save_model_atomically)

LABELS = ("negative", "positive")  # SST-2 label ids 0 and 1
LANGUAGE_MODEL_TEXTS = ("wikitext-2/valid.txt", "wikitext-2/test.txt", "ptb/ptb.train.txt", "ptb/ptb.valid.txt",
                        "ptb/ptb.test.txt")
QUALITY_CHECK_SENTENCES = 200  # the first dev sentences, for tests/test_shipped_models.py
POOLING_REPORT = REPO / "docs" / "sst2_pooling.md"


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
    members: int = 1  # > 1: an ensemble of classifiers trained from seeds seed, seed + 1, ... (ClassifierEnsemble)
    pretrained_lm: bool = False  # start the encoder from runs/<name>/lm-{forward,backward}/best.keras
    lm_sequence_length: int = 50
    lm_learning_rate: float = 2e-3
    lm_dropout: float = 0.3


# Chosen on the validation slice (see the module docstring): 2 epochs, about 4 minutes a classifier.
CHOSEN = dict(embedding_dim=300, dropout=0.2, word_dropout=0.1, weight_decay=0.0, learning_rate=1e-3, max_epochs=2,
              adversarial=0.05, weight_average=0.998)
CONFIGS = {
    config.name: config
    for config in (
        Config("sentiment-sst2-bilstm", **CHOSEN),
        # The mean of 8 such classifiers, 84 MB: over the zoo's 25 MB a checkpoint. Measured without the weight
        # average (docs/sst2_tuning.md): 84.29% on dev, below the single averaged classifier's 84.75%.
        Config("sentiment-sst2-bilstm-x8", **CHOSEN, members=8),
        Config("sentiment-sst2-bilstm-lm", **CHOSEN, pretrained_lm=True),
        # For tests:
        Config("sentiment-sst2-tiny", embedding_dim=8, units=8, max_epochs=2, validation_sentences=4, adversarial=0.05,
               weight_average=0.9),
        Config("sentiment-sst2-tiny-ensemble", embedding_dim=8, units=8, max_epochs=2, validation_sentences=4, members=2),
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


def language_model_dirs(run_dir):
    return {direction: run_dir / f"lm-{direction}" for direction in ("forward", "backward")}


def member_dirs(config, run_dir):
    """Where each member of the model trains: the run folder itself, or `member-<k>/` of an ensemble."""
    return [run_dir] if config.members == 1 else [run_dir / f"member-{k}" for k in range(config.members)]


def train(config, data_dir, run_dir, options, split=None):
    """Trains the model's member(s) on the training phrases, each keeping the epoch with its best
    validation-slice accuracy; an ensemble's members (seeds `seed`, `seed` + 1, ...) train one after
    the other, `options.max_minutes` / `members` each, and `best.keras` is then their `ClassifierEnsemble`.
    With `options.resume`, finished members are kept and the unfinished one continues."""
    split = split or load_split(config, data_dir)
    language_models = load_language_models(run_dir) if config.pretrained_lm else None
    if config.members == 1:
        return train_member(config, run_dir, options, split, language_models)
    member_options = dataclasses.replace(options, max_minutes=options.max_minutes / config.members)
    for k, member_dir in enumerate(member_dirs(config, run_dir)):
        finished = member_dir / "finished"
        if options.resume and finished.exists():
            print(f"member {k + 1} of {config.members}: finished in an earlier run ({member_dir})")
            continue
        print(f"member {k + 1} of {config.members}:")
        train_member(dataclasses.replace(config, seed=config.seed + k), member_dir, member_options, split,
                     language_models)
        finished.touch()
        keras.backend.clear_session()
    members = [keras.saving.load_model(folder / "best.keras", compile=False) for folder in member_dirs(config, run_dir)]
    ensemble = ClassifierEnsemble(members, name=config.name.replace("-", "_"))
    ensemble.build()
    save_model_atomically(ensemble, run_dir / "best.keras")  # `load_best` compiles it
    print(f"{config.name}: the ensemble of {config.members} members -> {run_dir / 'best.keras'}")


def train_member(config, run_dir, options, split, language_models=None):
    """Trains one classifier in `run_dir` (see `train`), its encoder started from the (forward,
    backward) `language_models` if given."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    tokenizer = build_tokenizer(config, split)
    model = build_model(config, tokenizer)
    if language_models:
        initialise_from_language_models(model, *language_models)
    steps_per_epoch = -(-len(split.train_texts) // config.batch_size)
    print(f"{config.name}: {len(split.train_texts):,} training phrases, {len(split.validation_texts):,} validation "
          f"sentences, vocabulary {tokenizer.vocabulary_size:,}; {model.count_params():,} parameters")
    validation = batches(split.validation_texts, split.validation_labels, config.batch_size)
    return fit(model, batches_of_epoch(split, config), steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, monitor="val_accuracy", signature=BATCH_SIGNATURE,
               validation_data=dataset_of(validation, BATCH_SIGNATURE))


def load_language_models(run_dir):
    """The pretrained (forward, backward) language models of a run, from `--pretrain-lm`."""
    paths = [folder / "best.keras" for folder in language_model_dirs(run_dir).values()]
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"no pretrained language model at {', '.join(missing)}: run this recipe with "
                                f"--pretrain-lm first")
    return [keras.saving.load_model(path, compile=False) for path in paths]


# --- language model pretraining -----------------------------------------------------------


def language_model_config(config, direction):
    """The word-level LM whose embedding and LSTM fit the classifier's first layer."""
    return charlm_shakespeare.Config(
        name=f"{config.name}-lm-{direction}", cell="lstm", units=config.units, num_layers=1,
        embedding_dim=config.embedding_dim, dropout=config.lm_dropout, embedding_dropout=0.1,
        sequence_length=config.lm_sequence_length, learning_rate=config.lm_learning_rate, max_epochs=50,
        patience=2, validation_sequence_length=config.lm_sequence_length, seed=config.seed,
    )


def language_model_text(data_dir, split):
    """SST-2's training sentences, then WikiText-2 valid and test, then PTB: non-empty lines."""
    lines = list(split.training_sentences)
    for relative in LANGUAGE_MODEL_TEXTS:
        path = Path(data_dir) / relative
        if not path.is_file():
            raise FileNotFoundError(f"{relative} not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return lines


def pretrain_language_models(config, data_dir, run_dir, options):
    """Trains a forward and a backward (reversed text) LSTM language model of the classifier's vocabulary,
    `options.max_minutes` / 2 each; the validation text is the validation slice's sentences (no labels read)."""
    if not config.pretrained_lm:
        raise ValueError(f"{config.name} does not start from language models: use --model "
                         f"{next(c.name for c in CONFIGS.values() if c.pretrained_lm)}")
    split = load_split(config, data_dir)
    tokenizer = build_tokenizer(config, split)
    # One int32 stream each: every line's word ids followed by `<eos>`, as zoo evaluate reads text.
    text, validation = (running_text_ids(tokenizer, "\n".join(lines))[0]
                        for lines in (language_model_text(data_dir, split), split.validation_texts))
    print(f"language model text: {len(text):,} words ({np.mean(text == UNK_ID):.1%} <unk>), validation "
          f"{len(validation):,}; vocabulary {tokenizer.vocabulary_size:,}")
    for direction, folder in language_model_dirs(run_dir).items():
        folder.mkdir(parents=True, exist_ok=True)
        lm_config = language_model_config(config, direction)
        stream, held = (text, validation) if direction == "forward" else (text[::-1], validation[::-1])
        keras.utils.set_random_seed(config.seed)
        model = charlm_shakespeare.build_model(lm_config, tokenizer.vocabulary_size, tokenizer=tokenizer)
        steps_per_epoch = (len(stream) - lm_config.sequence_length) // lm_config.sequence_length // lm_config.batch_size
        print(f"{lm_config.name}: {model.count_params():,} parameters")
        fit(model, charlm_shakespeare.windows_of_epoch(stream, lm_config), steps_per_epoch, lm_config.max_epochs,
            folder, dataclasses.replace(options, max_minutes=options.max_minutes / 2), patience=lm_config.patience,
            validation_data=charlm_shakespeare.validation_windows(held, lm_config))


# --- evaluation, packaging, the pooling comparison ----------------------------------------


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
    history = read_history(run_dir)
    best = max(history, key=lambda row: float(row["val_accuracy"]))
    return {"epochs": len(history), "chosen_epoch": int(best["epoch"]),
            "minutes": float(history[-1]["train_seconds"]) / 60}


def evaluate_run(model, data_dir, run_dir, split):
    """Validation-slice and dev accuracy of a run's best `model`, with the run's epochs and minutes."""
    return {
        "validation": classification_accuracy(model, split.validation_texts, split.validation_labels),
        "dev": evaluate_tsv(model, tsv_path(data_dir, "dev")),
        **run_summary(run_dir),
    }


def evaluate_ensemble(model, data_dir, run_dir, config, split):
    """An ensemble's validation-slice and dev accuracy, and each member's validation-slice accuracy,
    epochs and minutes (the members' dev accuracy is not measured: dev is the ensemble's test set)."""
    members = [{"validation": classification_accuracy(member, split.validation_texts, split.validation_labels), **run_summary(folder)}
               for member, folder in zip(model.members, member_dirs(config, run_dir))]
    return {
        "validation": classification_accuracy(model, split.validation_texts, split.validation_labels),
        "dev": evaluate_tsv(model, tsv_path(data_dir, "dev")),
        "members": members,
        "minutes": sum(member["minutes"] for member in members),
    }


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model, with its dev accuracy (as `zoo evaluate --tsv`
    computes it) in the model card."""
    from zoo.checkpoints import round_weights_to_float16, save_checkpoint

    split = load_split(config, data_dir)
    model = load_best(config, run_dir)
    round_weights_to_float16(model)  # stored as float16 (half the bytes): measure what is stored
    if config.members == 1:
        result = evaluate_run(model, data_dir, run_dir, split)
    else:
        result = evaluate_ensemble(model, data_dir, run_dir, config, split)
    sentences, labels = read_labelled_tsv(tsv_path(data_dir, "dev"), len(LABELS))
    n = QUALITY_CHECK_SENTENCES
    quality_check = classification_accuracy(model, sentences[:n], labels[:n])
    pretraining = {direction: read_history(folder) for direction, folder in language_model_dirs(run_dir).items()
                   } if config.pretrained_lm else None
    folder = Path(checkpoints_dir) / config.name
    metadata = {
        "recipe": "sst2_sentiment",
        "config": dataclasses.asdict(config),
        **result,
        **({"history": read_history(run_dir)} if config.members == 1 else
           {"member_histories": [read_history(member) for member in member_dirs(config, run_dir)]}),
        "language_model_history": pretraining,
        "quality_check": {"tsv": "sst2/dev.tsv", "sentences": n, **quality_check},
    }
    save_checkpoint(model, folder, model_card(config, model, result, split, pretraining), metadata=metadata,
                    weights_dtype="float16")
    print(f"{config.name}: dev accuracy {result['dev']['accuracy']:.2%}, validation slice "
          f"{result['validation']['accuracy']:.2%} -> {folder}")
    return result


def model_card(config, model, result, split, pretraining):
    dev, validation = result["dev"], result["validation"]
    initialisation = "" if pretraining is None else _pretraining_paragraph(config, pretraining)
    classifier = (f"""word embedding ({config.embedding_dim}) -> {config.num_layers} x bidirectional zoo
`LSTM` ({config.units} units a direction) -> `SequencePooling("{config.pooling}")` -> dense over {{negative, positive}}""")
    adversarial = (f", adversarial training on the word vectors (eps {config.adversarial}: "
                   f"`SequenceClassifier.train_step`)" if config.adversarial else "")
    averaged = (f"; what is validated and kept is the moving average of the weights (momentum {config.weight_average}, "
                f"the optimizer's `use_ema`), not the last step's" if config.weight_average else "")
    if config.members == 1:
        architecture = f"{classifier}."
        chosen = "validation slice (chose the epoch)"
        runs = f"{result['epochs']} epochs ({result['chosen_epoch']} chosen)"
    else:
        members = result["members"]
        member_accuracies = [m["validation"]["accuracy"] for m in members]
        architecture = (f"""the mean of the probabilities of {config.members} classifiers
(`zoo.models.ClassifierEnsemble`), trained apart from seeds {config.seed}-{config.seed + config.members - 1}, each: {classifier}.""")
        chosen = (f"validation slice (chose each member's epoch; members: {100 * min(member_accuracies):.2f}-"
                  f"{100 * max(member_accuracies):.2f}%, mean {100 * statistics.mean(member_accuracies):.2f}%)")
        runs = (f"{config.members} members, one after the other: "
                + ", ".join(f"{m['epochs']} epochs ({m['chosen_epoch']} chosen)" for m in members))
    return f"""# {config.name}

Binary sentiment of English movie-review sentences (SST-2): {architecture}
Whitespace-tokenized, lowercased words (SST's tokenization: "it 's", "do n't");
{model.tokenizer.vocabulary_size:,} ids (the words of the training sentences + `<pad>`, `<unk>`,
`<bos>`, `<eos>`), tokenization in the graph. {model.count_params():,} parameters, stored as float16 (they load
as float32; every number below was measured with the stored values).{initialisation}

## Data

SST-2 from GLUE (Socher et al. 2013): `train.tsv`, the labelled phrases of
{len(split.training_sentences) + len(split.validation_texts):,} training sentences, and `dev.tsv`, {dev['count']} sentences, used here as the
test set (GLUE's test labels are not public). {config.validation_sentences} training sentences were held out as the
validation slice that chose the epoch, with every phrase that occurs only inside them: the model
trained on {len(split.train_texts):,} phrases. No outside embeddings{"" if pretraining is None else ", and no outside text but the language models'"}.

## Metrics

| split | accuracy | correct | sentences |
|---|---:|---:|---:|
| dev (the test set) | **{dev['accuracy']:.2%}** | {dev['correct']} | {dev['count']} |
| {chosen} | {validation['accuracy']:.2%} | {validation['correct']} | {validation['count']} |

Measured by:

```bash
zoo evaluate {config.name} --tsv "${{ZOO_DATA_DIR:-../shared/data}}/sst2/dev.tsv"
zoo classify {config.name} "a gorgeous , witty , seductive movie ."
```

## Training

`zoo train sst2_sentiment --model {config.name}`: AdamW (learning rate {config.learning_rate}, weight decay
{config.weight_decay}, clipnorm {config.clipnorm}), batches of {config.batch_size} phrases of similar length, word dropout
to `<unk>` {config.word_dropout}, dropout {config.dropout} (embedding features, one mask per sentence, and before the
output){adversarial}, learning rate halved when the validation accuracy stalls, the epoch with the best
validation accuracy kept{averaged}. {runs}; {result['minutes']:.0f} minutes on 2 CPU cores (TensorFlow 2.21).
How these settings were chosen (on the validation slice): `docs/sst2_tuning.md` in the repository.
"""


def _pretraining_paragraph(config, pretraining):
    losses = {d: min(float(row["val_loss"]) for row in rows) for d, rows in pretraining.items()}
    minutes = sum(float(rows[-1]["train_seconds"]) for rows in pretraining.values()) / 60
    return f"""

The embedding and the first layer's forward and backward LSTMs started from two word-level zoo
`RecurrentLanguageModel`s of the same vocabulary (`--pretrain-lm`: forward, and on reversed text),
trained on SST-2's training sentences, WikiText-2 valid/test and PTB for {minutes:.0f} minutes in all
(`zoo train sst2_sentiment --model {config.name} --pretrain-lm`; validation-slice text:
{losses['forward']:.3f} / {losses['backward']:.3f} nats/word), then fine-tuned with `model.fit`."""


def compare_pooling(config, data_dir, minutes_per_run, seeds, epochs_per_run=None, report=POOLING_REPORT):
    """Trains every pooling with `seeds` seeds, at most `epochs_per_run` epochs (default: the config's)
    and `minutes_per_run` each (resumable: a finished run is read back from its result.json), and
    writes the table `report` and its plot (.png)."""
    config = dataclasses.replace(config, max_epochs=epochs_per_run or config.max_epochs)
    split = load_split(config, data_dir)
    results = {}
    for pooling in POOLING_MODES:
        for seed in range(config.seed, config.seed + seeds):
            run_dir = REPO / "runs" / f"{config.name}-pooling" / f"{pooling}-seed{seed}"
            path = run_dir / "result.json"
            if not path.exists():
                run_config = dataclasses.replace(config, pooling=pooling, seed=seed)
                train(run_config, data_dir, run_dir, TrainingOptions(max_minutes=minutes_per_run), split=split)
                result = evaluate_run(load_best(run_config, run_dir), data_dir, run_dir, split)
                path.write_text(json.dumps(result, indent=1))
                keras.backend.clear_session()
            results.setdefault(pooling, []).append(json.loads(path.read_text()))
    write_pooling_report(results, config, minutes_per_run, report)
    return results


def _spread(values):
    """'mean ± sd (min-max)' of accuracies, in %."""
    values = [100 * v for v in values]
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} ± {sd:.2f} ({min(values):.2f}-{max(values):.2f})"


def write_pooling_report(results, config, minutes_per_run, report):
    """The markdown table (mean ± sd and range of validation-slice and dev accuracy per pooling) and
    a plot of every run next to it (same name, .png)."""
    report = Path(report)
    report.parent.mkdir(parents=True, exist_ok=True)
    plot = report.with_suffix(".png")
    plot_pooling(results, plot)
    best = max(results, key=lambda p: statistics.mean(r["validation"]["accuracy"] for r in results[p]))
    rows = "\n".join(
        f"| `{pooling}` | {len(runs)} | {_spread([r['validation']['accuracy'] for r in runs])} | "
        f"{_spread([r['dev']['accuracy'] for r in runs])} | {statistics.mean(r['epochs'] for r in runs):.1f} | "
        f"{statistics.mean(r['minutes'] for r in runs):.1f} |"
        for pooling, runs in results.items()
    )
    settings = ", ".join(f"{k} {v}" for k, v in dataclasses.asdict(config).items() if k not in ("name", "pooling", "seed"))
    report.write_text(f"""# SST-2: pooling over the BiLSTM's states

`python -m recipes.sst2_sentiment --compare-pooling --epochs-per-run {config.max_epochs} --minutes-per-run {minutes_per_run:g}`
({time.strftime('%Y-%m-%d')}):
the `{config.name}` model with each `SequencePooling` mode, {len(next(iter(results.values())))} seeds each, the same
budget per run (at most {config.max_epochs} epochs and {minutes_per_run:g} minutes, early stopping after
{config.patience} epochs without a better validation-slice accuracy), on 2 CPU cores. Accuracy in %, mean ±
standard deviation over the seeds (lowest-highest):

| pooling | runs | validation slice ({config.validation_sentences} sentences) | dev (872 sentences, the test set) | epochs | minutes |
|---|---:|---|---|---:|---:|
{rows}

Best on the validation slice: **`{best}`**. The choice is made there, not on dev, which is the test set.
Settings: {settings}.

![accuracy of every run by pooling]({plot.name})
""", encoding="utf-8")
    print(f"wrote {report} and {plot}")


def plot_pooling(results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for offset, (split, marker) in zip((-0.12, 0.12), (("validation", "o"), ("dev", "s"))):
        for x, runs in enumerate(results.values()):
            values = [100 * r[split]["accuracy"] for r in runs]
            axes.scatter([x + offset] * len(values), values, marker=marker, color=f"C{int(offset > 0)}", alpha=0.7,
                         label=(f"{split} ({'validation slice' if split == 'validation' else 'test set'})"
                                if x == 0 else None))
            axes.hlines(np.mean(values), x + offset - 0.08, x + offset + 0.08, color=f"C{int(offset > 0)}")
    axes.set_xticks(range(len(results)), list(results))
    axes.set(xlabel="pooling over the BiLSTM's states", ylabel="accuracy (%)",
             title="SST-2: every seed (points) and the mean (bars) per pooling")
    axes.grid(alpha=0.3, axis="y")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argument_parser(__doc__.split("\n")[0], CONFIGS, "sentiment-sst2-bilstm", 60.0)
    parser.add_argument("--compare-pooling", action="store_true",
                        help=f"train every pooling ({', '.join(POOLING_MODES)}) with --seeds seeds and write "
                             f"docs/sst2_pooling.md and .png (dev accuracy included)")
    parser.add_argument("--minutes-per-run", type=float, default=10.0, help="the budget of each comparison run")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per pooling in the comparison")
    parser.add_argument("--epochs-per-run", type=int, default=None,
                        help="the epoch budget of each comparison run (default: the model's max_epochs)")
    parser.add_argument("--pretrain-lm", action="store_true",
                        help="train the forward and backward language models the -lm model starts from "
                             "(--max-minutes for both)")
    args = parser.parse_args(argv)
    config = CONFIGS[args.model]
    if args.compare_pooling:
        compare_pooling(config, args.data_dir, args.minutes_per_run, args.seeds, args.epochs_per_run)
    elif args.pretrain_lm:
        with distribution_strategy(args.strategy, args.logical_cpus).scope():
            pretrain_language_models(config, args.data_dir, run_dir_of(args, config), training_options(args))
    else:
        run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
