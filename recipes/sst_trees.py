"""Sentiment over trees: a Tree-LSTM (or recursive NN) on the Sentiment Treebank, every node supervised.

Two stages, one command: first the easy-first `TreeParser` learns the treebank's trees (so that
the model reads plain sentences), then the classifier learns the five labels of every node of the
gold training trees. The epoch is chosen by SST-2 root accuracy on the dev sentences read as plain
text (the model's own trees); `--package` evaluates on dev with gold and with own trees.

    zoo train sst_trees --model sentiment-sst-treelstm             # train (--resume continues a stopped run)
    zoo train sst_trees --model sentiment-sst-treelstm --package   # evaluate, write the checkpoint

Training writes `runs/<model>/`: `parser/` (the trained parser and its dev bracket F1), `checkpoint/`,
`best.keras`, `history.csv`, `vocabulary.json`.
"""

import csv
import dataclasses
import json
import time

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.command_line import argument_parser, run_recipe
from zoo.corpora import read_labelled_tsv
from zoo.evaluation import classification_accuracy, tree_evaluation
from zoo.layers import TreeParser
from zoo.models import TreeClassifier
from zoo.models.tree_classifier import TREE_CELLS
from zoo.text import TreebankTokenizer, WordTokenizer
from zoo.training import bucketed_indices, dataset_of, fit
from zoo.trees import read_trees, sst2_view, trees_to_tensors

BUCKET = 8  # sentences are padded to a multiple of this many words (fewer traced shapes)


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    cell: str = "tree_lstm"
    units: int = 150
    embedding_dim: int = 300
    dropout: float = 0.5
    word_dropout: float = 0.1
    context_units: int = 0  # > 0: a BiLSTM reads the words before the tree
    batch_size: int = 25
    learning_rate: float = 2e-3
    weight_decay: float = 0.0  # AdamW's decoupled decay where > 0
    clipnorm: float = 5.0
    max_epochs: int = 12
    patience: int = 3  # epochs without a better dev SST-2 accuracy before stopping
    parser_minutes: float = 2.0
    parser_units: int = 64
    parser_hidden: int = 64
    parser_embedding_dim: int = 64
    parser_word_dropout: float = 0.25
    seed: int = 0


CONFIGS = {config.name: config for config in (
    Config("sentiment-sst-treelstm"),
    Config("sentiment-sst-recursive", cell="recursive"),
    Config("sentiment-sst-tree-tiny", units=8, embedding_dim=8, max_epochs=2, parser_minutes=0.05,  # for tests
           parser_units=8, parser_hidden=8, parser_embedding_dim=8),
)}


def read_split(data_dir, split):
    path = data_dir / "sst" / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"the Sentiment Treebank's {split} trees are not at {path}: pass --data-dir or set "
                                f"ZOO_DATA_DIR")
    return read_trees(path)


def tree_batches(trees, batch_size, rng=None):
    """Batches of trees of similar length in the tensor layout: ({words, children, node_mask}, labels)."""
    def batch(indices):
        longest = max(len(trees[i].words) for i in indices)
        t = trees_to_tensors([trees[i] for i in indices], max_words=-(-longest // BUCKET) * BUCKET)
        return {key: t[key] for key in ("words", "children", "node_mask")}, t["labels"]

    return [batch(b) for b in bucketed_indices([len(t.words) for t in trees], batch_size, rng)]


BATCH_SIGNATURE = (
    {"words": tf.TensorSpec((None, None), tf.string), "children": tf.TensorSpec((None, None, 2), tf.int32),
     "node_mask": tf.TensorSpec((None, None), tf.bool)},
    tf.TensorSpec((None, None), tf.int32),
)


# --- the parser ------------------------------------------------------------------------------


def train_parser(config, trees, folder):
    """The easy-first parser, trained for `parser_minutes` on the gold trees' spans (`span_loss`), or
    the one a previous run left in `folder`."""
    if (folder / "parser.weights.h5").is_file():
        parser = keras.saving.deserialize_keras_object(json.loads((folder / "config.json").read_text()))
        parser.build()
        keras.saving.load_weights(parser, folder / "parser.weights.h5")
        return parser
    vocabulary = WordTokenizer.from_texts([" ".join(t.words) for t in trees], min_count=2, lowercase=True)
    parser = TreeParser(vocabulary.get_vocabulary(), embedding_dim=config.parser_embedding_dim,
                        units=config.parser_units, hidden=config.parser_hidden,
                        word_dropout=config.parser_word_dropout, seed=config.seed, name="parser")
    parser.build()
    optimizer = keras.optimizers.Adam(2e-3, clipnorm=5.0)

    @tf.function(reduce_retracing=True)
    def step(words, children, node_mask):
        with tf.GradientTape() as tape:
            loss = parser.span_loss(words, children, node_mask, training=True)
        optimizer.apply(tape.gradient(loss, parser.trainable_variables), parser.trainable_variables)
        return loss

    start, epoch, rng = time.time(), 0, np.random.default_rng(config.seed)
    while time.time() - start < 60 * config.parser_minutes:
        losses = [float(step(tf.constant(x["words"]), x["children"], x["node_mask"]))
                  for x, _ in tree_batches(trees, 32, rng)]
        epoch += 1
        print(f"parser epoch {epoch}: span loss {np.mean(losses):.4f} ({time.time() - start:.0f} s)", flush=True)
    folder.mkdir(parents=True, exist_ok=True)
    keras.saving.save_weights(parser, folder / "parser.weights.h5")
    (folder / "config.json").write_text(json.dumps(keras.saving.serialize_keras_object(parser)))
    return parser


# --- the classifier --------------------------------------------------------------------------


class RawTextAccuracy(keras.callbacks.Callback):
    """Adds `val_sst2_accuracy` to the epoch's logs: SST-2 root accuracy on the dev sentences read
    as plain text (tokenized and parsed by the model itself), what `zoo classify` does."""

    def __init__(self, sentences, labels):
        super().__init__()
        self.sentences, self.labels = sentences, labels

    def on_epoch_end(self, epoch, logs=None):
        logs["val_sst2_accuracy"] = classification_accuracy(self.model, self.sentences, self.labels)["accuracy"]


def build_model(config, tokenizer, parser):
    model = TreeClassifier(tokenizer, parser, cell=config.cell, units=config.units,
                           embedding_dim=config.embedding_dim, dropout=config.dropout,
                           word_dropout=config.word_dropout, context_units=config.context_units, seed=config.seed,
                           name=config.name.replace("-", "_"))
    model.build()
    model.compile(
        optimizer=(keras.optimizers.AdamW(config.learning_rate, weight_decay=config.weight_decay, clipnorm=config.clipnorm)
                   if config.weight_decay else keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm)),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],  # over the real nodes: the node logits' mask hides the padding
    )
    return model


def vocabulary(trees, run_dir):
    """Every lowercased word of the training trees (cached in the run)."""
    path = run_dir / "vocabulary.json"
    if not path.exists():
        words = WordTokenizer.from_texts([" ".join(t.words) for t in trees], lowercase=True).get_vocabulary()
        path.write_text(json.dumps(words[4:], ensure_ascii=False), encoding="utf-8")
    return TreebankTokenizer(json.loads(path.read_text(encoding="utf-8")), name="tokenizer")


def train(config, data_dir, run_dir, options):
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    train_trees, dev_trees = read_split(data_dir, "train"), read_split(data_dir, "dev")
    parser = train_parser(config, train_trees, run_dir / "parser")
    model = build_model(config, vocabulary(train_trees, run_dir), parser)
    dev_sst2, dev_labels = sst2_view(dev_trees)
    print(f"{config.name}: {len(train_trees):,} training trees, {len(dev_trees):,} dev ({len(dev_sst2)} SST-2); "
          f"{model.tokenizer.vocabulary_size:,} word ids; {model.count_params():,} parameters", flush=True)

    def batches_of_epoch(epoch):  # bucketed batches, each epoch from its own seed
        return tree_batches(train_trees, config.batch_size, np.random.default_rng(config.seed * 1000 + epoch))

    steps_per_epoch = len(batches_of_epoch(0))
    return fit(model, batches_of_epoch, steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, monitor="val_sst2_accuracy", signature=BATCH_SIGNATURE,
               validation_data=dataset_of(tree_batches(dev_trees, 64), BATCH_SIGNATURE),
               extra_callbacks=[RawTextAccuracy([" ".join(t.words) for t in dev_sst2], dev_labels)])


QUALITY_CHECK_SENTENCES = 200  # the first dev.tsv sentences, re-evaluated by tests/test_shipped_models.py


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model, with its dev accuracies (as `zoo evaluate --tsv`
    and `--trees` compute them) in the model card."""
    from zoo.checkpoints import save_checkpoint

    train_trees, dev_trees = read_split(data_dir, "train"), read_split(data_dir, "dev")
    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    model = build_model(config, vocabulary(train_trees, run_dir), train_parser(config, train_trees, run_dir / "parser"))
    model.set_weights(best.get_weights())
    sentences, labels = read_labelled_tsv(data_dir / "sst2" / "dev.tsv", len(model.labels))
    results = {"tsv": classification_accuracy(model, sentences, labels), "trees": tree_evaluation(model, dev_trees)}
    print(f"{config.name}: {json.dumps(results, indent=1)}")
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    n = QUALITY_CHECK_SENTENCES
    metadata = {
        "recipe": "sst_trees",
        "config": dataclasses.asdict(config),
        **results,
        "history": history,
        "quality_check": {"tsv": "sst2/dev.tsv", "sentences": n,
                          **classification_accuracy(model, sentences[:n], labels[:n])},
    }
    folder = save_checkpoint(model, checkpoints_dir / config.name, model_card(config, model, results, history,
                                                                              len(train_trees)), metadata=metadata)
    print(f"-> {folder}")
    return results


def model_card(config, model, results, history, train_trees):
    cell = TREE_CELLS[config.cell]
    return render_card(
        "sst_trees", config=config, cell_title={"tree_lstm": "binary Tree-LSTM (Tai et al. 2015)",
                                                "recursive": "recursive neural network (Socher et al. 2011)"}[config.cell],
        cell_class=cell.__name__, vocabulary_size=model.tokenizer.vocabulary_size, parameters=model.count_params(),
        train_trees=train_trees, dev_trees=results["trees"]["trees"], sst2_trees=results["trees"]["sst2_trees"],
        tsv=results["tsv"], trees=results["trees"],
        decay=f", decoupled weight decay {config.weight_decay}" if config.weight_decay else "",
        **training_summary(history, monitor="val_sst2_accuracy", best=max))


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "sentiment-sst-treelstm", 55.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
