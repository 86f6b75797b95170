"""Train the easy-first `TreeParser` on the Sentiment Treebank's train trees; report dev bracket F1.

    PYTHONPATH=$PWD python -m experiments.train_tree_parser --data ../../shared/data/sst --out runs/parser

Bracket F1 is unlabeled and micro-averaged over the corpus (evalb style): a bracket is a span of
2 .. n-1 words (single words and the whole sentence are always right and are not counted).
Defaults chosen on dev F1 (2 min, word dropout 0.25: 0.655; 4 min, 0.1: 0.633).
Writes `config.json` (the layer's Keras config, vocabulary included) and `parser.weights.h5`.
"""

import argparse
import json
import random
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo.layers.tree_parser import TreeParser
from zoo.trees import read_trees, spans, tensors_to_trees, trees_to_tensors
from zoo.text import WordTokenizer

BUCKET = 8  # sentences are padded to a multiple of this many words (fewer traced shapes)


def batches(trees, size, shuffle):
    """Batches of trees of similar length, as tensor-layout dicts."""
    order = sorted(range(len(trees)), key=lambda i: len(trees[i].words))
    groups = [order[i:i + size] for i in range(0, len(order), size)]
    if shuffle:
        random.shuffle(groups)
    for group in groups:
        longest = max(len(trees[i].words) for i in group)
        yield group, trees_to_tensors([trees[i] for i in group], max_words=-(-longest // BUCKET) * BUCKET)


def brackets(tree):
    """The spans of 2 .. n-1 words of `tree`."""
    n = len(tree.words)
    return {(i, j) for i, j in spans(tree) if 0 < j - i < n - 1}


def evaluate(parser, trees, batch_size=64):
    """(bracket precision, recall, F1, exact-tree rate) of the parser's trees against `trees`."""
    parse = tf.function(parser.call, reduce_retracing=True)
    matched = predicted = gold = exact = 0
    for group, batch in batches(trees, batch_size, shuffle=False):
        children, node_mask = parse(tf.constant(batch["words"]))
        for i, tree in zip(group, tensors_to_trees(children, node_mask, batch["words"])):
            found, truth = brackets(tree), brackets(trees[i])
            matched, predicted, gold = matched + len(found & truth), predicted + len(found), gold + len(truth)
            exact += found == truth
    precision, recall = matched / max(predicted, 1), matched / max(gold, 1)
    return precision, recall, 2 * precision * recall / max(precision + recall, 1e-9), exact / len(trees)


def train(train_trees, minutes, batch_size=32, learning_rate=2e-3, **sizes):
    vocabulary = WordTokenizer.from_texts([" ".join(t.words) for t in train_trees], min_count=2, lowercase=True)
    parser = TreeParser(vocabulary.get_vocabulary(), seed=0, **sizes)
    parser.build()  # training calls span_loss, not the layer
    optimizer = keras.optimizers.Adam(learning_rate, clipnorm=5.0)

    @tf.function(reduce_retracing=True)
    def step(words, children, node_mask):
        with tf.GradientTape() as tape:
            loss = parser.span_loss(words, children, node_mask, training=True)
        optimizer.apply(tape.gradient(loss, parser.trainable_variables), parser.trainable_variables)
        return loss

    start, epoch = time.time(), 0
    while time.time() - start < 60 * minutes:
        epoch += 1
        losses = [float(step(tf.constant(b["words"]), b["children"], b["node_mask"]))
                  for _, b in batches(train_trees, batch_size, shuffle=True)]
        print(f"epoch {epoch}: loss {np.mean(losses):.4f} ({time.time() - start:.0f}s)", flush=True)
    return parser


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../../shared/data/sst", help="folder with train.txt and dev.txt")
    parser.add_argument("--out", default="runs/parser", help="folder for config.json and parser.weights.h5")
    parser.add_argument("--minutes", type=float, default=2.0, help="training time budget")
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--word-dropout", type=float, default=0.25)
    args = parser.parse_args(argv)
    random.seed(0)
    keras.utils.set_random_seed(0)
    data = Path(args.data)
    model = train(read_trees(data / "train.txt"), args.minutes, units=args.units, hidden=args.hidden,
                  embedding_dim=args.embedding_dim, word_dropout=args.word_dropout)
    started = time.time()
    precision, recall, f1, exact = evaluate(model, read_trees(data / "dev.txt"))
    print(f"dev: bracket precision {precision:.4f} recall {recall:.4f} F1 {f1:.4f}, exact trees {exact:.4f} "
          f"({time.time() - started:.1f}s to parse)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(keras.saving.serialize_keras_object(model)))
    keras.saving.save_weights(model, out / "parser.weights.h5")
    print(f"wrote {out}/config.json and {out}/parser.weights.h5")


if __name__ == "__main__":
    main()
