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
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.corpora import read_labelled_tsv
from zoo.evaluation import classification_accuracy, tree_evaluation
from zoo.layers import TreeParser
from zoo.losses import PhraseSentimentLoss
from zoo.models import TreeClassifier, TreeEnsemble
from zoo.models.tree_classifier import TREE_CELLS
from zoo.tasks.classification_task import TREE_BATCH_SIGNATURE, tree_batch
from zoo.text import TreebankTokenizer, WordTokenizer
from zoo.training import bucketed_indices, dataset_of, fit, member_dirs, save_model_atomically, train_members
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance
from zoo.trees import read_trees, sst2_view



@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    cell: str = "tree_lstm"
    units: int = 150
    embedding_dim: int = 300
    dropout: float = 0.5
    word_dropout: float = 0.1
    context_units: int = 0  # > 0: a BiLSTM reads the words before the tree
    adversarial: float = 0.0  # eps of adversarial training on the word vectors (AdversarialTraining)
    polarity: float = 0.0  # weight of the SST-2 term of the nodes' loss (zoo.losses.PhraseSentimentLoss)
    weight_average: float = 0.0  # > 0: validate and keep the moving average of the weights (this momentum)
    members: int = 1  # > 1: a TreeEnsemble of this many classifiers trained one after another
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
    Config("sentiment-sst-treelstm", embedding_dim=100, members=5),
    Config("sentiment-sst-recursive", cell="recursive", embedding_dim=100),  # one member: the comparison in docs/
    Config("sentiment-sst-tree-tiny", units=8, embedding_dim=8, max_epochs=2, parser_minutes=0.02,  # for tests
           parser_units=8, parser_hidden=8, parser_embedding_dim=8, members=2, batch_size=4, polarity=0.5),
)}


def read_split(data_dir, split):
    path = data_dir / "sst" / f"{split}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"the Sentiment Treebank's {split} trees are not at {path}: pass --data-dir or set "
                                f"ZOO_DATA_DIR")
    return read_trees(path)


def tree_batches(trees, batch_size, rng=None):
    """Batches of trees of similar length in the tensor layout: ({words, children, node_mask}, labels)."""
    return [tree_batch([trees[i] for i in b]) for b in bucketed_indices([len(t.words) for t in trees], batch_size, rng)]


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
                           word_dropout=config.word_dropout, context_units=config.context_units,
                           adversarial=config.adversarial, seed=config.seed, name=config.name.replace("-", "_"))
    model.build()
    return compile_model(model, config)


def compile_model(model, config):
    """Adam (AdamW with `weight_decay`), `PhraseSentimentLoss` of every node, accuracy over the real nodes."""
    optimizer = keras.optimizers.AdamW if config.weight_decay else keras.optimizers.Adam
    model.compile(
        optimizer=optimizer(config.learning_rate, weight_decay=config.weight_decay or None, clipnorm=config.clipnorm,
                            use_ema=config.weight_average > 0, ema_momentum=config.weight_average or 0.99),
        loss=PhraseSentimentLoss(config.polarity),
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
    """The parser, then the classifier; with `members` > 1, that many classifiers one after another
    (seeds `seed`, `seed` + 1, ..., one parser), and `best.keras` is their `TreeEnsemble`."""
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    keras.utils.set_random_seed(config.seed)
    train_trees, dev_trees = read_split(data_dir, "train"), read_split(data_dir, "dev")
    parser = train_parser(config, train_trees, run_dir / "parser")
    tokenizer = vocabulary(train_trees, run_dir)
    if config.members == 1:
        return train_classifier(config, train_trees, dev_trees, tokenizer, parser, run_dir, options)

    def train_member(k, member_dir, member_options):
        member = dataclasses.replace(config, seed=config.seed + k)
        keras.utils.set_random_seed(member.seed)
        train_classifier(member, train_trees, dev_trees, tokenizer, parser, member_dir, member_options)

    folders = train_members(config.members, run_dir, options, train_member)
    ensemble = TreeEnsemble([keras.saving.load_model(f / "best.keras", compile=False) for f in folders],
                            name=config.name.replace("-", "_"))
    ensemble.build()
    save_model_atomically(ensemble, run_dir / "best.keras")
    print(f"{config.name}: the ensemble of {config.members} members -> {run_dir / 'best.keras'}")


def train_classifier(config, train_trees, dev_trees, tokenizer, parser, run_dir, options):
    """One `TreeClassifier` on every node of the training trees, the epoch chosen by dev SST-2 accuracy
    from plain text; writes `run_dir/best.keras`."""
    model = build_model(config, tokenizer, parser)
    dev_sst2, dev_labels = sst2_view(dev_trees)
    print(f"{config.name}: {len(train_trees):,} training trees, {len(dev_trees):,} dev ({len(dev_sst2)} SST-2); "
          f"{model.tokenizer.vocabulary_size:,} word ids; {model.count_params():,} parameters", flush=True)

    def batches_of_epoch(epoch):  # bucketed batches, each epoch from its own seed
        return tree_batches(train_trees, config.batch_size, np.random.default_rng(config.seed * 1000 + epoch))

    steps_per_epoch = len(batches_of_epoch(0))
    return fit(model, batches_of_epoch, steps_per_epoch, config.max_epochs, run_dir, options,
               patience=config.patience, monitor="val_sst2_accuracy", signature=TREE_BATCH_SIGNATURE,
               validation_data=dataset_of(tree_batches(dev_trees, 64), TREE_BATCH_SIGNATURE),
               extra_callbacks=[RawTextAccuracy([" ".join(t.words) for t in dev_sst2], dev_labels)])


REQUIRED_SST2 = 0.86  # what issue 18 asked, on dev from plain text
QUICK_CHECK_SENTENCES = 200  # the first dev.tsv sentences: the card's check that every test run repeats


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model (weights stored as float16, the numbers measured
    after rounding to them), with its dev accuracies (as `zoo evaluate --tsv` and `--trees` compute
    them) in the model card."""
    from zoo.checkpoints import round_weights_to_float16

    train_trees, dev_trees = read_split(data_dir, "train"), read_split(data_dir, "dev")
    model = keras.saving.load_model(run_dir / "best.keras", compile=False)
    compile_model(model, dataclasses.replace(config, weight_average=0.0))  # loads compiled, ready for `fit`
    round_weights_to_float16(model)
    sentences, labels = read_labelled_tsv(data_dir / "sst2" / "dev.tsv", len(model.labels))
    results = {"tsv": classification_accuracy(model, sentences, labels), "trees": tree_evaluation(model, dev_trees)}
    print(f"{config.name}: {json.dumps(results, indent=1)}")
    histories = [read_history(folder) for folder in member_dirs(config.members, run_dir)]
    metadata = {"recipe": "sst_trees", "config": dataclasses.asdict(config), **results, "histories": histories,
                "provenance": run_provenance(run_dir)}
    folder = checkpoints_dir / config.name
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata, len(train_trees)), metadata,
                     evaluation_commands(config.name), data_dir, weights_dtype="float16")
    print(f"-> {folder}")
    return results


def evaluation_commands(name):
    """The card's checks: `zoo evaluate` on the first dev sentences as plain text, on all of them, and on the dev trees."""
    tsv = f"zoo evaluate {name} --tsv {data_path('sst2', 'dev.tsv')}"
    return [[f"{tsv} --first {QUICK_CHECK_SENTENCES}"], [tsv],
            [f"zoo evaluate {name} --trees {data_path('sst', 'dev.txt')}"]]


def read_history(run_dir):
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def model_card(config, model, metadata, train_trees):
    """The card of a packaged model, from what `package` puts in its metadata.json."""
    results, histories = metadata, metadata["histories"]
    summaries = [training_summary(history, monitor="val_sst2_accuracy", best=max) for history in histories]
    chosen = ", ".join(f"{summary['chosen_epoch']} of {summary['epochs']}" for summary in summaries)
    extras = [f"decoupled weight decay {config.weight_decay}" if config.weight_decay else "",
              f"adversarial training on the word vectors (eps {config.adversarial})" if config.adversarial else "",
              f"the SST-2 term of the node loss weighted {config.polarity}" if config.polarity else "",
              f"the moving average of the weights (momentum {config.weight_average}) validated and kept"
              if config.weight_average else ""]
    return render_card(
        "sst_trees", precision_of(model), metadata.get("provenance"), metadata.get("checks"), config=config, cell_title={"tree_lstm": "binary Tree-LSTM (Tai et al. 2015)",
                                                "recursive": "recursive neural network (Socher et al. 2011)"}[config.cell],
        cell_class=TREE_CELLS[config.cell].__name__, vocabulary_size=model.tokenizer.vocabulary_size,
        parameters=model.count_params(), train_trees=train_trees, dev_trees=results["trees"]["trees"],
        sst2_trees=results["trees"]["sst2_trees"], tsv=results["tsv"], trees=results["trees"],
        ensemble=(f"The model is the mean of the probabilities of {config.members} such classifiers at every node "
                  f"(`zoo.models.TreeEnsemble`), trained apart from seeds {config.seed}-{config.seed + config.members - 1} "
                  f"over one parser's trees.\n" if config.members > 1 else ""),
        extras="".join(f", {extra}" for extra in extras if extra),
        chosen=(f"the epoch with the best dev SST-2 accuracy from plain text kept ({chosen}"
                + (" for the members)" if config.members > 1 else ")")),
        minutes=sum(summary["minutes"] for summary in summaries),
        verdict=(f"Short of the {REQUIRED_SST2:.1%} SST-2 dev accuracy the zoo asked of a tree model without outside "
                 f"embeddings or text: docs/sst_trees.md records what was tried."
                 if results["tsv"]["accuracy"] < REQUIRED_SST2 else
                 f"Above the {REQUIRED_SST2:.1%} SST-2 dev accuracy the zoo asked of a tree model."))


def main(argv=None):
    args = argument_parser(__doc__.split("\n")[0], CONFIGS, "sentiment-sst-treelstm", 55.0).parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
