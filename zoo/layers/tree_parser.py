"""An easy-first binary parser in the graph: BiLSTM span scores, then n-1 greedy merges."""

import keras
import tensorflow as tf

from zoo.layers.bidirectional import Bidirectional
from zoo.layers.lstm import LSTM
from zoo.text import PAD_ID, WordTokenizer, unknown_word_dropout


@keras.saving.register_keras_serializable(package="zoo")
class TreeParser(keras.layers.Layer):
    """Builds a binary tree over each sentence of a batch of tokenized sentences.

    A BiLSTM over the word embeddings gives forward states f_t and backward states b_t; the span
    of words i..j scores (Stern et al. 2017, with f_{-1} = b_n = 0)

        s(i, j) = v . relu(W_f (f_j - f_{i-1}) + W_b (b_i - b_{j+1}) + c).

    Easy-first: start with the n words as spans; n-1 times, merge the adjacent pair of spans whose
    union scores highest. Trained on gold trees with a logistic loss on every span of two or more
    words (constituent or not): `span_loss`.

    `layer(words)`: tf.string (B, T) words, right-padded with "" (lowercased by the layer; words
    outside the vocabulary read as `<unk>`) -> (children (B, 2T-1, 2) int32, node_mask (B, 2T-1)
    bool) in the layout of `zoo.trees`: leaves in slots 0..T-1, the n-1 internal nodes in slots
    T.. in merge order. A one-word sentence is its leaf; an empty sentence is an error.

    Args:
        vocabulary: the words (lowercase, see `zoo.text.WordTokenizer`), saved with the layer.
        embedding_dim, units, hidden: sizes of the word vectors, of each LSTM direction, of the
            span scorer's hidden layer.
        word_dropout: in training, the rate at which a word is read as `<unk>`.
    """

    def __init__(self, vocabulary, embedding_dim=64, units=64, hidden=64, word_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False  # strings
        self._allow_non_tensor_positional_args = True  # NumPy arrays and lists of str are fine
        self.tokenizer = WordTokenizer(vocabulary, lowercase=True, name="words")
        self.embedding_dim, self.units, self.hidden = embedding_dim, units, hidden
        self.word_dropout, self.seed = word_dropout, seed
        self.seed_generator = keras.random.SeedGenerator(seed) if word_dropout else None
        self.embedding = keras.layers.Embedding(self.tokenizer.vocabulary_size, embedding_dim, name="embedding")
        self.encoder = Bidirectional(LSTM(units, return_sequences=True), merge_mode="none", name="encoder")
        self.span_hidden = keras.layers.Dense(hidden, name="span_hidden")
        self.span_output = keras.layers.Dense(1, name="span_output")

    def build(self, input_shape=None):
        shapes = {self.embedding: (None, None), self.encoder: (None, None, self.embedding_dim),
                  self.span_hidden: (None, None, 2 * self.units), self.span_output: (None, None, None, self.hidden)}
        for layer, shape in shapes.items():
            if not layer.built:  # a deserialized layer may be built already
                layer.build(shape)
        self.built = True

    def lengths(self, words):
        """tf.string (B, T) -> int32 (B,) the number of words ("" is padding)."""
        return tf.reduce_sum(tf.cast(words != "", "int32"), axis=1)

    def span_scores(self, words, training=False):
        """tf.string (B, T) -> float32 (B, T, T): s(i, j) at [b, i, j] (meaningful for i <= j < n)."""
        ids = self.tokenizer.lookup(words)  # (B, T)
        if training and self.word_dropout:
            ids = unknown_word_dropout(ids, self.word_dropout, self.seed_generator)
        mask = ids != PAD_ID
        forward, backward = self.encoder(self.embedding(ids), mask=mask, training=training)  # (B, T, H) each
        zeros = tf.zeros_like(forward[:, :1])
        boundaries = tf.concat([tf.concat([zeros, forward], 1), -tf.concat([backward, zeros], 1)], -1)  # (B, T+1, 2H)
        # Row k holds [f_{k-1}; -b_k]; the hidden layer's pre-activation of span (i, j) is D[j+1] - D[i] + c.
        d = self.span_hidden(boundaries)  # (B, T+1, K); the bias cancels in the difference and is added back
        pre = d[:, None, 1:, :] - d[:, :-1, None, :] + self.span_hidden.bias  # (B, T, T, K)
        return tf.squeeze(self.span_output(tf.nn.relu(pre)), -1)  # (B, T, T)

    def span_loss(self, words, children, node_mask, training=True):
        """Mean logistic loss over the spans i < j < n of each sentence: 1 for a constituent of the
        gold tree (`children`, `node_mask` in the `zoo.trees` layout), 0 otherwise."""
        words = tf.convert_to_tensor(words, tf.string)
        scores = self.span_scores(words, training=training)  # (B, T, T)
        n = self.lengths(words)
        t = tf.shape(words)[1]
        gold = gold_spans(children, node_mask, t)
        position = tf.range(t)
        valid = (position[:, None] < position[None, :])[None] & (position < n[:, None])[:, None, :]  # (B, T, T)
        losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=gold, logits=scores)
        return tf.reduce_sum(tf.where(valid, losses, 0.0)) / tf.maximum(tf.reduce_sum(tf.cast(valid, "float32")), 1.0)

    def call(self, words, training=False):
        words = tf.convert_to_tensor(words, tf.string)
        n = self.lengths(words)
        checks = [tf.debugging.assert_positive(n, message=f"Layer '{self.name}' (TreeParser): a sentence is empty "
                                               f"(no words); every sentence needs at least one word")]
        with tf.control_dependencies(checks):
            scores = tf.identity(self.span_scores(words, training=training))
        return easy_first(scores, n)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.tokenizer.get_vocabulary(),
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "hidden": self.hidden,
            "word_dropout": self.word_dropout,
            "seed": self.seed,
        }


def easy_first(scores, lengths):
    """Greedy bottom-up parse of each sentence from span scores.

    scores (B, T, T) float, s(i, j) at [b, i, j]; lengths (B,) int32, n >= 1 words -> (children
    (B, 2T-1, 2) int32, node_mask (B, 2T-1) bool). Step k (k < n-1) merges the adjacent pair of
    current spans with the highest union score (the leftmost on a tie) into node slot T + k.
    """
    b, t = tf.shape(scores)[0], tf.shape(scores)[1]
    n_slots = 2 * t - 1
    position = tf.broadcast_to(tf.range(t), (b, t))  # (B, T)
    flat_scores = tf.reshape(scores, (b, t * t))

    def merge(step, starts, ends, slots, children):
        # starts/ends/slots (B, T): the current spans, left to right; the first n - step are real.
        following = tf.concat([ends[:, 1:], ends[:, -1:]], 1)  # end of the next span
        union = tf.gather(flat_scores, starts * t + following, batch_dims=1)  # (B, T)
        candidate = position < (lengths - step - 1)[:, None]
        best = tf.argmax(tf.where(candidate, union, -float("inf")), axis=1, output_type="int32")  # (B,)
        active = step < lengths - 1  # (B,)
        pair = tf.stack([tf.gather(slots, best, batch_dims=1), tf.gather(slots, best + 1, batch_dims=1)], 1)  # (B, 2)
        new_slot = t + step
        written = (tf.range(n_slots) == new_slot)[None, :, None] & active[:, None, None]  # (B, N, 1)
        children = tf.where(written, pair[:, None, :], children)
        at_best = position == best[:, None]
        # The merged span takes position best; the spans after it move one left.
        shift = tf.minimum(position + tf.cast(position > best[:, None], "int32"), t - 1)
        new_starts = tf.gather(starts, shift, batch_dims=1)
        new_ends = tf.where(at_best, tf.gather(ends, best + 1, batch_dims=1)[:, None], tf.gather(ends, shift, batch_dims=1))
        new_slots = tf.where(at_best, new_slot, tf.gather(slots, shift, batch_dims=1))
        keep = lambda new, old: tf.where(active[:, None], new, old)  # noqa: E731
        return step + 1, keep(new_starts, starts), keep(new_ends, ends), keep(new_slots, slots), children

    children = tf.fill((b, n_slots, 2), -1)
    _, _, _, _, children = tf.while_loop(
        lambda step, *_: step < tf.reduce_max(lengths) - 1,
        merge,
        (tf.constant(0), position, position, position, children),
    )
    slot = tf.range(n_slots)[None, :]
    node_mask = (slot < lengths[:, None]) | ((slot >= t) & (slot < t + lengths[:, None] - 1))
    return children, node_mask


def gold_spans(children, node_mask, t):
    """The constituents of trees in the `zoo.trees` layout as a float32 (B, T, T) matrix: 1 at
    [b, i, j] when words i..j are a node of tree b."""
    children, node_mask = tf.convert_to_tensor(children, "int32"), tf.convert_to_tensor(node_mask, "bool")
    b, n_slots = tf.shape(children)[0], tf.shape(children)[1]
    leaf = tf.broadcast_to(tf.range(n_slots), (b, n_slots))  # a leaf spans itself; internal nodes get theirs below

    def node(k, first, last):
        slot = t + k
        left, right = children[:, slot, 0], children[:, slot, 1]
        here = (tf.range(n_slots) == slot)[None, :] & (left >= 0)[:, None]
        first = tf.where(here, tf.gather(first, tf.maximum(left, 0), batch_dims=1)[:, None], first)
        last = tf.where(here, tf.gather(last, tf.maximum(right, 0), batch_dims=1)[:, None], last)
        return k + 1, first, last

    _, first, last = tf.while_loop(lambda k, *_: k < t - 1, node, (tf.constant(0), leaf, leaf))
    indices = tf.stack([tf.broadcast_to(tf.range(b)[:, None], (b, n_slots)), first, last], -1)  # (B, N, 3)
    return tf.scatter_nd(tf.boolean_mask(indices, node_mask), tf.ones_like(tf.boolean_mask(first, node_mask), "float32"),
                         (b, t, t))
