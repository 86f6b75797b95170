"""Sentiment over a sentence's binary tree, a label at every node (Socher et al. 2013, Tai et al. 2015)."""

import keras
import tensorflow as tf

from zoo import _compat, layers
from zoo.models.adversarial_training import AdversarialTraining
from zoo.models.tree_text_classifier import FINE_LABELS, TreeTextClassifier
from zoo.text import unknown_word_dropout

TREE_CELLS = {"tree_lstm": layers.BinaryTreeLSTMCell, "recursive": layers.RecursiveCell}


@keras.saving.register_keras_serializable(package="zoo")
class TreeClassifier(AdversarialTraining, TreeTextClassifier):
    """p(fine label | phrase) at every node of a binary tree; SST-2 from the root:

        words = tokenizer.split(text)              (B, T) treebank tokens, lowercased
        children, m = parser(words)                (B, N, 2), (B, N), N = 2T - 1: the model's own
                                                   tree (gold trees may be given instead)
        x_n = E[word_n] at leaves, 0 inside        (B, N, E), dropout (word dropout to <unk>); with
                                                   `context_units` C, x at the leaves is
                                                   BiLSTM(E[words]) (B, T, 2C) instead
        h_n = TreeRecurrence(cell)(x, children)    (B, N, H): Tree-LSTM or recursive NN
        logits_n = dropout(h_n) W_o + b_o          (B, N, 5) SST's five labels at every node
        SST-2 at the root r: p(positive) = (p_3 + p_4) / (p_0 + p_1 + p_3 + p_4)

    `model(texts)` reads plain sentences (SST-2 logits (B, 2)), `model({"words", "children",
    "node_mask"})` gives the node logits (B, N, 5): see `TreeTextClassifier`.

    Args:
        tokenizer: a `zoo.text.TreebankTokenizer` (the word vocabulary), saved with the model.
        parser: a trained `zoo.layers.TreeParser`, saved with the model (None: trees only, as the
            members of a `TreeEnsemble`).
        cell: "tree_lstm" (`BinaryTreeLSTMCell`) or "recursive" (`RecursiveCell`).
        units: H. embedding_dim: E.
        dropout: on the word vectors and on h before the output layer.
        word_dropout: in training, the rate at which a known word is read as `<unk>`.
        context_units: C > 0 reads the words with a BiLSTM first, so that each leaf starts from its
            word in context (0: from the word alone, as Tai et al.).
        adversarial: eps of adversarial training on the word vectors (`AdversarialTraining`; 0: plain
            training).
    """

    def __init__(self, tokenizer, parser, cell="tree_lstm", units=150, embedding_dim=300, dropout=0.5,
                 word_dropout=0.0, context_units=0, adversarial=0.0, labels=("negative", "positive"), seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        tokenizer, parser = (keras.saving.deserialize_keras_object(x) if isinstance(x, dict) else x
                             for x in (tokenizer, parser))  # parser None: trees are given (`without_parser`)
        if cell not in TREE_CELLS:
            raise ValueError(f"TreeClassifier: `cell` must be one of {sorted(TREE_CELLS)}, got {cell!r}")
        self.tokenizer, self.parser = tokenizer, parser
        if parser is not None:
            self.parser.trainable = False  # trained on its own (span loss), before the classifier
        self.cell_name, self.units, self.embedding_dim = cell, units, embedding_dim
        self.dropout, self.word_dropout, self.context_units, self.seed = dropout, word_dropout, context_units, seed
        self.adversarial = adversarial
        self.labels = [str(label) for label in labels]
        self.supports_jit = False  # string ops, hash tables and a loop over a data-dependent number of levels
        self.embedding = keras.layers.Embedding(tokenizer.vocabulary_size, embedding_dim, name="embedding")
        self.input_drop = keras.layers.Dropout(dropout, seed=seed, name="input_dropout")
        self.context = layers.Bidirectional(layers.LSTM(context_units, return_sequences=True, jit_compile=False),
                                            name="context") if context_units else None
        self.tree = layers.TreeRecurrence(TREE_CELLS[cell](units), name="tree")
        self.output_drop = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")
        self.logits = keras.layers.Dense(len(FINE_LABELS), name="logits")
        self.word_dropout_seed = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        if self.built:
            return
        leaf_size = 2 * self.context_units if self.context_units else self.embedding_dim
        shapes = {self.embedding: (None, None), self.tree: (None, None, leaf_size), self.logits: (None, None, self.units)}
        if self.parser is not None:
            shapes[self.parser] = None
        if self.context is not None:
            shapes[self.context] = (None, None, self.embedding_dim)
        for layer, shape in shapes.items():
            if not layer.built:  # node_logits may have built some already
                layer.build(shape)
        self.built = True

    def without_parser(self):
        """A copy without the parser, sharing nothing, for a `TreeEnsemble` whose one parser builds the trees
        of all its members: `node_logits` and `model(trees)` as this model's; `model(texts)` refused."""
        self.build()
        copy = type(self).from_config({**self.get_config(), "parser": None})
        copy.build()
        for layer in copy.layers:
            layer.set_weights(self.get_layer(layer.name).get_weights())
        return copy

    def node_logits(self, words, children, node_mask, training=False):
        """The five-label logits of every node (B, N, 5) of the trees `children` over `words` (B, T)."""
        trees = {"words": words, "children": children, "node_mask": node_mask}
        return self.logits_of_vectors(*self.word_vectors(trees, training=training), training=training)

    def word_vectors(self, trees, training=False):
        """{"words" (B, T), "children", "node_mask"} -> (E[words] (B, T, E) (word dropout in training),
        the trees), `AdversarialTraining`'s view of the inputs."""
        ids = self.tokenizer.lookup(trees["words"])  # (B, T)
        if training and self.word_dropout:
            ids = unknown_word_dropout(ids, self.word_dropout, self.word_dropout_seed)
        return self.embedding(ids), {**trees, "ids": ids}

    def logits_of_vectors(self, e, trees, training=False):
        """Word vectors e (B, T, E) of `trees` -> the node logits (B, N, 5), masked at padding."""
        e = self.input_drop(e, training=training)
        if self.context is not None:
            e = self.context(e, mask=trees["ids"] != 0, training=training)  # (B, T, 2C)
        inside = tf.zeros_like(e[:, 1:])  # (B, T - 1, E): internal nodes have no input
        x = tf.concat([e, inside], axis=1)  # (B, N, E)
        node_mask = tf.convert_to_tensor(trees["node_mask"], tf.bool)
        h = self.tree(x, tf.convert_to_tensor(trees["children"], tf.int32), mask=node_mask)
        logits = self.logits(self.output_drop(h, training=training))  # (B, N, 5)
        return _compat.set_keras_mask(logits, node_mask)  # losses and metrics in fit skip the padding

    def get_config(self):
        return {
            **super().get_config(),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "parser": None if self.parser is None else keras.saving.serialize_keras_object(self.parser),
            "cell": self.cell_name,
            "units": self.units,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "word_dropout": self.word_dropout,
            "context_units": self.context_units,
            "adversarial": self.adversarial,
            "labels": self.labels,
            "seed": self.seed,
        }
