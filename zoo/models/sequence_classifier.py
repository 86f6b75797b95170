"""A text classifier: word embedding, bidirectional zoo LSTM, pooling over time, a linear layer."""

import keras
import numpy as np
import tensorflow as tf

from zoo import layers
from zoo.models.adversarial_training import AdversarialTraining
from zoo.text import unknown_word_dropout


class TextClassifier(keras.Model):
    """What every zoo text classifier offers: `classify(texts)` from `model(texts)` (logits (B, C))
    and the attributes `tokenizer` and `labels` (the C names in label-id order)."""

    task = "classification"  # zoo.tasks.TASKS

    def classify(self, texts, batch_size=256):
        """texts: a list of str -> (label names, probabilities (B, C) float32); one str -> (name, (C,)).

        Texts are run in batches of similar length (the padding does not change the result).
        Raises ValueError on a text without words."""
        single = isinstance(texts, str)
        texts = [texts] if single else list(texts)
        lengths = self.tokenizer.tokenize_ragged(tf.constant(texts, tf.string)).row_lengths().numpy()
        empty = np.flatnonzero(lengths == 0)
        if empty.size:
            raise ValueError(f"classify: text {empty[0]} ({texts[empty[0]]!r}) has no words: nothing to classify")
        probabilities = np.zeros((len(texts), len(self.labels)), np.float32)
        order = np.argsort(lengths, kind="stable")
        for start in range(0, len(texts), batch_size):
            rows = order[start : start + batch_size]
            logits = self.predict_on_batch(tf.constant([texts[i] for i in rows]))
            probabilities[rows] = tf.nn.softmax(logits).numpy()
        names = [self.labels[i] for i in probabilities.argmax(axis=1)]
        return (names[0], probabilities[0]) if single else (names, probabilities)


@keras.saving.register_keras_serializable(package="zoo")
class SequenceClassifier(AdversarialTraining, TextClassifier):
    """p(y | text) = softmax(W_o pool(BiLSTM^L(E[x]), m) + b_o), read from strings:

        x = tokenizer(texts)                      (B, T) ids, right-padded with 0; mask m_t = x_t != 0
        x_t <- <unk> with probability `word_dropout` (training only)
        e_t = E[x_t]                              (B, T, E), dropout: the same features at every step
        h_t = [h->_t; h<-_t] = BiLSTM^L(e)_t      (B, T, 2H), dropout `dropout` between layers; the
                                                  backward LSTM starts at the last real word
        z = pool(h, m)                            (B, 2H): "max" max_t h_t, "mean" sum_t m_t h_t / sum_t m_t,
                                                  "last" h_{t*}, "bi_last" [h->_{t*}; h<-_1] (t* = last word)
        logits = dropout(z) W_o + b_o             (B, C), C = len(labels)

    Padding never changes a prediction: the mask keeps it out of both directions and of the pooling.

    Args:
        tokenizer: a `zoo.text` tokenizer (e.g. `WordTokenizer`), saved with the model.
        labels: the C label names, in label-id order (e.g. ["negative", "positive"]).
        units: H, per direction and layer.
        num_layers: L bidirectional layers (a zoo `Stacked`).
        embedding_dim: E.
        pooling: "max", "mean", "last" or "bi_last" (`zoo.layers.SequencePooling`).
        dropout: on the embedding features (one mask per sequence), between layers, and on z.
        word_dropout: probability of reading a known word as `<unk>` in training, so that the
            `<unk>` embedding learns to stand for the unseen words of test text.
        adversarial: eps of adversarial training on the word vectors (`AdversarialTraining`; 0: plain
            training).

    `model(texts)` maps tf.string (B,) to logits (B, C); `classify(texts)` gives label names and
    probabilities; `classify_ids(ids)` and `encode(ids)` work on ids.
    """

    def __init__(
        self,
        tokenizer,
        labels=("negative", "positive"),
        units=256,
        num_layers=1,
        embedding_dim=128,
        pooling="max",
        dropout=0.0,
        word_dropout=0.0,
        adversarial=0.0,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        labels = [str(label) for label in labels]
        if len(labels) < 2 or len(set(labels)) != len(labels) or not all(labels):
            raise ValueError(f"SequenceClassifier: `labels` must be 2 or more distinct non-empty names, got {labels}")
        self.tokenizer = tokenizer
        self.labels = labels
        self.units = units
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.pooling_mode = pooling
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.adversarial = adversarial
        self.seed = seed
        # The tokenizer's string ops and hash table cannot run under XLA: keep jit_compile="auto" off it.
        self.supports_jit = False
        self.embedding = keras.layers.Embedding(
            tokenizer.vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )
        self.feature_drop = keras.layers.SpatialDropout1D(dropout, seed=seed, name="embedding_dropout")
        self.encoder = layers.Stacked(
            # Every batch has its own length and XLA would compile each anew: the graph executor runs the loops.
            [layers.Bidirectional(layers.LSTM(units, jit_compile=False, name=f"lstm_{i}")) for i in range(num_layers)],
            dropout=dropout,
            return_sequences=True,
            seed=seed,
            name="encoder",
        )
        self.pooling = layers.SequencePooling(pooling, name="pooling")
        self.output_drop = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")
        self.logits = keras.layers.Dense(len(labels), name="logits")
        self.word_dropout_seed = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        if self.built:
            return
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.logits.build((None, self.encoder.output_size))
        self.built = True

    def call(self, texts, training=False):
        return self.classify_ids(self.tokenizer(texts), training=training)

    def embed(self, ids, training=False):
        """ids (B, T) -> (e (B, T, E) the word vectors (word dropout in training), m (B, T) the mask of real words)."""
        mask = self.embedding.compute_mask(ids)  # (B, T)
        if training and self.word_dropout:
            ids = unknown_word_dropout(ids, self.word_dropout, self.word_dropout_seed)
        return self.embedding(ids), mask

    def encode(self, ids, training=False):
        """ids (B, T) -> (h (B, T, 2H) the encoder's states, m (B, T) the mask of real words)."""
        e, mask = self.embed(ids, training=training)
        return self._encode_vectors(e, mask, training), mask

    def _encode_vectors(self, e, mask, training):
        return self.encoder(self.feature_drop(e, training=training), mask=mask, training=training)  # (B, T, 2H)

    def word_vectors(self, texts, training=False):
        """`AdversarialTraining`'s view: texts -> (e (B, T, E), m (B, T))."""
        return self.embed(self.tokenizer(texts), training=training)

    def logits_of_vectors(self, e, mask, training=False):
        """e (B, T, E) word vectors -> logits (B, C)."""
        z = self.pooling(self._encode_vectors(e, mask, training), mask=mask)  # (B, 2H)
        return self.logits(self.output_drop(z, training=training))  # (B, C)

    def classify_ids(self, ids, training=False):
        """ids (B, T), right-padded with 0 -> logits (B, C)."""
        e, mask = self.embed(ids, training=training)
        return self.logits_of_vectors(e, mask, training)

    def get_config(self):
        return {
            **super().get_config(),
            "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
            "labels": self.labels,
            "units": self.units,
            "num_layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "pooling": self.pooling_mode,
            "dropout": self.dropout,
            "word_dropout": self.word_dropout,
            "adversarial": self.adversarial,
            "seed": self.seed,
        }


def initialise_from_language_models(classifier, forward_model, backward_model=None):
    """Starts a classifier's encoder from pretrained `RecurrentLanguageModel`s of the same vocabulary.

    Copies, from `forward_model` (p(x_{t+1} | x_1..x_t)), the embedding E and the first LSTM layer
    into the classifier's embedding and the forward LSTM of its first bidirectional layer; from
    `backward_model`, if given (an LM of reversed text, p(x_{t-1} | x_T..x_t)), its first LSTM
    layer into the backward LSTM, which reads the sentence in that order. Deeper layers (their
    inputs are 2H wide) and the output layer keep their initialisation.

    Raises ValueError if a language model has no tokenizer, another vocabulary, another cell
    or other shapes than the classifier.
    """
    classifier.build()
    first = classifier.encoder.stacked_layers[0]
    pairs = [(forward_model.embedding, classifier.embedding, "embedding")]
    directions = [("forward", forward_model, first.forward_layer), ("backward", backward_model, first.backward_layer)]
    for direction, language_model, target in directions:
        if language_model is None:
            continue
        _check_same_vocabulary(classifier.tokenizer, language_model, direction)
        if language_model.cell_name != "lstm":
            raise ValueError(f"initialise_from_language_models: the {direction} language model is a "
                             f"{language_model.cell_name.upper()}, the classifier's encoder an LSTM")
        language_model(tf.zeros((1, 1), "int32"))  # builds it, if it is not yet
        pairs.append((language_model.recurrent.stacked_layers[0], target, f"{direction} LSTM"))
    for source, target, what in pairs:  # every shape checked before anything is copied
        shapes = [[tuple(w.shape) for w in layer.get_weights()] for layer in (source, target)]
        if shapes[0] != shapes[1]:
            raise ValueError(f"initialise_from_language_models: the language model's {what} has weights of "
                             f"shapes {shapes[0]}, the classifier's {shapes[1]}")
    for source, target, _ in pairs:
        target.set_weights(source.get_weights())


def _check_same_vocabulary(tokenizer, language_model, direction):
    theirs = getattr(language_model, "tokenizer", None)
    if theirs is None:
        raise ValueError(f"initialise_from_language_models: the {direction} language model has no tokenizer, so "
                         f"its vocabulary cannot be matched with the classifier's")
    difference = tokenizer_difference(tokenizer, theirs)
    if difference:
        raise ValueError(f"initialise_from_language_models: the {direction} language model's {difference}, against "
                         f"the classifier's: its embedding rows would mean other words")


def tokenizer_difference(mine, theirs):
    """None if the tokenizers `mine` and `theirs` give the same ids to every text, else what differs
    (said of `theirs`): the vocabulary (sizes, the first differing word) or the settings."""
    mine_words, their_words = mine.get_vocabulary(), theirs.get_vocabulary()
    if mine_words != their_words:
        differing = next((i for i, (a, b) in enumerate(zip(mine_words, their_words)) if a != b),
                         min(len(mine_words), len(their_words)))
        return (f"vocabulary differs ({len(their_words)} and {len(mine_words)} words, first difference at word "
                f"{differing})")
    if tokenizer_settings(theirs) != tokenizer_settings(mine):
        return f"tokenizer reads text differently ({tokenizer_settings(theirs)} and {tokenizer_settings(mine)})"
    return None


def tokenizer_settings(tokenizer):
    """A tokenizer's class and own settings: with its vocabulary, what decides the ids it gives. Not the
    Keras layer's name, trainable flag or dtype (a deserialized dtype also carries a per-object id)."""
    config = {k: v for k, v in tokenizer.get_config().items() if k not in ("name", "trainable", "dtype", "vocabulary")}
    return type(tokenizer).__name__, config
