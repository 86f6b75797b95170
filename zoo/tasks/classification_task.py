"""Text classifiers: label a text, score labelled sentences, serve `classify`, fine-tune on pairs."""

import sys

import numpy as np
import tensorflow as tf

from zoo.corpora import read_labelled_tsv
from zoo.evaluation import classification_accuracy, tree_evaluation
from zoo.plotting import plot_tree
from zoo.models.tree_text_classifier import TreeTextClassifier
from zoo.tasks.task import Task, first_examples, shuffled_batches
from zoo.trees import Tree, read_trees, tensors_to_trees, trees_to_tensors


class ClassificationTask(Task):
    """p(label | text) (`SequenceClassifier`, `ClassifierEnsemble`, `TreeClassifier`)."""

    name, title, verb = "classification", "a classifier", "classify"
    evaluation_flags, evaluation_usage = ("tsv", "trees"), "--tsv FILE (a tree model also --trees FILE)"

    def add_verb_arguments(self, parser):
        parser.add_argument("text")
        parser.add_argument("--show-tree", action="store_true",
                            help="a tree model: also print the tree it built, every node's label in brackets")
        parser.add_argument("--plot-tree", metavar="PNG", help="a tree model: draw that tree into this file")

    def run(self, model, args):
        """Prints the label of a text and its probability (a tree model: and its tree with --show-tree)."""
        if args.show_tree or args.plot_tree:
            tree = _predicted_tree(_tree_model(model, args.name, "--show-tree" if args.show_tree else "--plot-tree"),
                                   args.text)
            if args.show_tree:
                print(tree)
            if args.plot_tree:
                print(f"tree -> {plot_tree(tree, args.plot_tree, title=f'{args.name}: {args.text}')}", file=sys.stderr)
        label, probabilities = model.classify(args.text)
        print(f"{label}\t{probabilities.max():.4f}")

    def add_evaluation_arguments(self, group):
        group.add_argument("--tsv", help="`sentence<TAB>label` lines (an optional header), for a classifier")
        group.add_argument("--trees", help="bracketed trees with a 0-4 label on every node (the Sentiment Treebank's "
                                           "format), for a tree model: root and phrase accuracy, gold and own trees")

    def evaluate(self, model, args):
        """Accuracy on `sentence<TAB>label` lines; a tree model's accuracies on labelled trees."""
        if args.tsv and args.trees:
            raise ValueError("give --tsv FILE or --trees FILE, not both")
        if args.trees:
            return _evaluate_trees(_tree_model(model, args.name, "--trees"), args)
        sentences, labels = read_labelled_tsv(args.tsv, len(model.labels))
        result = classification_accuracy(model, first_examples(sentences, args), first_examples(labels, args))
        print(f"{args.name} on {args.tsv} ({result['count']:,} sentences)")
        print(f"  accuracy {result['accuracy']:.2%} ({result['correct']:,} of {result['count']:,})")

    def export_module(self, model, **options):
        module = TextClassifierModule(model)
        return module, {"classify": module.classify, "classify_batch": module.classify_batch}

    def dataset(self, model, data, batch_size=32, shuffle=True, seed=None):
        """(sentences (B,) string, label ids (B,) int32) from a `sentence<TAB>label` file (path; label
        ids) or a list of (sentence, label) pairs, each label a name of `model.labels` or its id. A tree
        model also takes labelled trees (a bracketed treebank file, or a list of `zoo.trees.Tree`):
        -> ({"words", "children", "node_mask"}, node labels (B, N)), every node supervised."""
        trees = _labelled_trees(data) if isinstance(model, TreeTextClassifier) else None
        if trees is not None:
            return shuffled_batches(trees, batch_size, shuffle, seed, tree_batch, TREE_BATCH_SIGNATURE)
        if isinstance(data, (list, tuple)):
            sentences, labels = _pairs(model.labels, data)
        else:
            sentences, labels = read_labelled_tsv(data, len(model.labels))
        examples = tf.data.Dataset.from_tensor_slices((tf.constant(sentences), np.asarray(labels, np.int32)))
        if shuffle:
            examples = examples.shuffle(len(sentences), seed=seed)
        return examples.batch(batch_size)


TREE_BATCH_SIGNATURE = (
    {"words": tf.TensorSpec((None, None), tf.string), "children": tf.TensorSpec((None, None, 2), tf.int32),
     "node_mask": tf.TensorSpec((None, None), tf.bool)},
    tf.TensorSpec((None, None), tf.int32),
)
WIDTH_STEP = 8  # a batch is padded to a multiple of this many words (fewer traced shapes)


def tree_batch(trees):
    """({"words", "children", "node_mask"}, node labels) of a list of `zoo.trees.Tree`s, padded to the next
    multiple of `WIDTH_STEP` words."""
    longest = max(len(tree.words) for tree in trees)
    t = trees_to_tensors(trees, max_words=-(-longest // WIDTH_STEP) * WIDTH_STEP)
    return {key: t[key] for key in ("words", "children", "node_mask")}, t["labels"]


def _labelled_trees(data):
    """`data` as a list of trees if it is trees or a treebank file (its first character a bracket), else None."""
    if isinstance(data, (list, tuple)):
        return list(data) if data and all(isinstance(x, Tree) for x in data) else None
    with open(data, encoding="utf-8") as f:
        start = f.read(64).lstrip()
    return read_trees(data) if start.startswith("(") else None


def _tree_model(model, name, option):
    if not isinstance(model, TreeTextClassifier):
        raise ValueError(f"{option} needs a tree model (TreeClassifier, TreeEnsemble); {name} is a {type(model).__name__}")
    return model


def _predicted_tree(model, text):
    """The `zoo.trees.Tree` `model` builds for `text`, each node labelled with its argmax label (0-4)."""
    words, children, node_mask = model.parse(tf.constant([text]))
    labels = model.node_logits(words, children, node_mask).numpy().argmax(-1)
    return tensors_to_trees(children, node_mask, words.numpy(), labels=labels)[0]


def _evaluate_trees(model, args):
    result = tree_evaluation(model, first_examples(read_trees(args.trees), args))
    gold, own = result["gold"], result["own"]
    print(f"{args.name} on {args.trees} ({result['trees']:,} trees, {result['sst2_trees']:,} with a non-neutral root)")
    print("                          gold trees   own trees")
    print(f"  SST-2 root accuracy     {gold['sst2_root']:10.2%}   {own['sst2_root']:9.2%}")
    print(f"  SST-5 root accuracy     {gold['sst5_root']:10.2%}   {own['sst5_root']:9.2%}")
    print(f"  phrase accuracy (5)     {gold['phrases']:10.2%}   {own['phrases']:9.2%}   (own trees: over the "
          f"{own['phrases_found']:,} of {own['phrases_total']:,} gold phrases they contain)")
    print(f"  own trees: bracket F1 {own['bracket_f1']:.3f}, exact trees {own['exact_trees']:.1%}")


def _pairs(names, pairs):
    """(sentences, label ids) of (sentence, label name or id) pairs, with errors naming the pair."""
    sentences, labels = [], []
    for number, pair in enumerate(pairs):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f"dataset: example {number} is {pair!r}, not a (sentence, label) pair")
        sentence, label = pair
        if not sentence.strip():
            raise ValueError(f"dataset: example {number} has an empty sentence")
        if label in names:
            label = names.index(label)
        if not (isinstance(label, (int, np.integer)) and 0 <= label < len(names)):
            raise ValueError(f"dataset: example {number} has the label {label!r}, not one of {names} or their ids")
        sentences.append(sentence)
        labels.append(int(label))
    if not sentences:
        raise ValueError("dataset: no examples")
    return sentences, labels


class TextClassifierModule(tf.Module):
    """classify(text) -> label and probabilities: tokenization, encoder and softmax in-graph."""

    def __init__(self, model):
        super().__init__()
        model.build()
        self.model = model
        self.tokenizer = model.tokenizer
        self.labels = tf.constant(model.labels)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
    def classify_batch(self, texts):
        ids = self.tokenizer(texts)  # (B, T)
        words = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)  # (B,)
        check = tf.debugging.assert_positive(words, message="classify: a text has no words")
        with tf.control_dependencies([check]):
            probabilities = tf.nn.softmax(self.model(texts))  # (B, C)
        return {"labels": tf.gather(self.labels, tf.argmax(probabilities, axis=1)), "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="text")])
    def classify(self, text):
        result = self.classify_batch(text[None])
        return {"label": result["labels"][0], "probabilities": result["probabilities"][0]}
