"""A recurrent language model: embedding, stacked recurrent layers, softmax over the vocabulary."""

import keras
import tensorflow as tf

from zoo import layers
from zoo.decoding.loop import Step
from zoo.text import PAD_ID


@keras.saving.register_keras_serializable(package="zoo")
class RecurrentLanguageModel(keras.Model):
    """p(x_{t+1} | x_1..x_t) = softmax(W_o h^(L)_t + b_o), h^(l) from a stack of recurrent layers.

        e_t = E[x_t]                        (B, T, E), dropout on e
        h^(1..L) = Stacked(RNN_1 .. RNN_L)  (B, T, H), dropout between layers and on h^(L)
        logits_t = h^(L)_t W_o + b_o         (B, T, V)
        tied (`tie_embeddings`): W_o = (P E^T), logits_t = (h^(L)_t P) E^T + b_o, with P (H, E) a
            linear projection where H != E, none where H == E (Press & Wolf 2017, Inan et al. 2017)

    Args:
        vocabulary_size: V, including the reserved ids (pad 0, unk 1, bos 2, eos 3).
        cell: "lstm", "gru" or "rnn" (Elman).
        units: H of every layer.
        num_layers: L.
        embedding_dim: E.
        dropout: between layers (one mask per sequence), and before the softmax unless
            `output_dropout` is given.
        embedding_dropout: on the embeddings' features.
        output_dropout: before the softmax (None: `dropout`).
        variational_dropout: the embedding and output dropout draw one mask per sequence, shared
            by all its steps (Gal & Ghahramani 2016), as the dropout between layers always does;
            False: a new mask at every step (Zaremba et al. 2014).
        word_dropout: per sequence, each word type is dropped with this probability: all its
            occurrences read a zero embedding, the others are scaled by 1 / (1 - word_dropout)
            (Gal & Ghahramani 2016's embedding dropout).
        tie_embeddings: the output layer reuses the embedding matrix (see above).
        weight_dropout: DropConnect on every layer's recurrent kernel U, one mask per batch
            (AWD-LSTM's weight drop, Merity et al. 2018; `zoo.layers.RNN`).
        tokenizer: optional text layer (e.g. `zoo.text.CharTokenizer`) that maps strings to
            the ids this model reads; saved with the model (its vocabulary as an asset).

    `model(ids)` returns logits (B, T, V) for unpadded ids. `initial_states`/`step` run one
    token at a time with explicit states, for generation; `encode(ids, states, mask=...)` runs
    a whole (padded) prompt.
    """

    task = "language_model"  # zoo.tasks.TASKS

    def __init__(
        self,
        vocabulary_size,
        cell="lstm",
        units=512,
        num_layers=2,
        embedding_dim=128,
        dropout=0.0,
        embedding_dropout=0.0,
        seed=None,
        tokenizer=None,
        output_dropout=None,
        variational_dropout=False,
        word_dropout=0.0,
        tie_embeddings=False,
        weight_dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        layer_class = layers.cell_named(cell, "RecurrentLanguageModel").layer
        self.vocabulary_size = vocabulary_size
        self.cell_name = cell
        self.units = units
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.output_dropout = output_dropout
        self.variational_dropout = variational_dropout
        self.word_dropout = word_dropout
        self.tie_embeddings = tie_embeddings
        self.weight_dropout = weight_dropout
        self.seed = seed
        # No mask_zero: training text has no padding, and a mask costs the loop ~17% (measured on the
        # 2x512 LSTM); `encode` takes an explicit mask for right-padded batches (prompts).
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        noise_shape = (None, 1, None) if variational_dropout else None  # (B, 1, F): one mask per sequence
        self.word_seed_generator = keras.random.SeedGenerator(seed) if word_dropout else None
        self.embedding_drop = keras.layers.Dropout(
            embedding_dropout, noise_shape=noise_shape, seed=seed, name="embedding_dropout"
        )
        self.recurrent = layers.Stacked(
            [layer_class(units, name=f"{cell}_{i}", **_weight_dropout_options(weight_dropout, seed, i))
             for i in range(num_layers)],
            dropout=dropout,
            return_sequences=True,
            return_state=True,
            seed=seed,
            name="recurrent",
        )
        self.output_drop = keras.layers.Dropout(
            dropout if output_dropout is None else output_dropout, noise_shape=noise_shape, seed=seed,
            name="output_dropout",
        )
        self.projection = (
            keras.layers.Dense(embedding_dim, use_bias=False, name="output_projection")
            if tie_embeddings and units != embedding_dim else None
        )
        self.logits = TiedLogits(vocabulary_size, name="logits") if tie_embeddings else keras.layers.Dense(
            vocabulary_size, name="logits"
        )
        self.tokenizer = tokenizer

    def call(self, ids, training=False):
        return self.encode(ids, training=training)[0]

    def encode(self, ids, states=None, training=False, mask=None):
        """ids (B, T) -> (logits (B, T, V), final states: a flat list, bottom layer first).

        mask: optional (B, T) booleans, False at padding: a padded step keeps the state, so
        the final states of a right-padded row are those of its last real token.
        """
        e = self.embedding(ids)  # (B, T, E)
        if training and self.word_dropout:
            e = word_type_dropout(ids, e, self.word_dropout, self.vocabulary_size, self.word_seed_generator)
        e = self.embedding_drop(e, training=training)
        h, *states = self.recurrent(e, mask=mask, initial_state=states, training=training)  # (B, T, H)
        return self.output_logits(self.output_drop(h, training=training)), states

    def output_logits(self, h):
        """h (..., H) -> logits (..., V): the output layer, through the embedding matrix when tied."""
        if not self.tie_embeddings:
            return self.logits(h)
        if self.projection is not None:
            h = self.projection(h)  # (..., E)
        return self.logits(h, self.embedding.embeddings)

    def initial_states(self, batch_size):
        return [tf.zeros((batch_size, size)) for size in self.recurrent.state_size]

    def step(self, ids, states):
        """One token per sequence: ids (B,) -> (logits (B, V), new states). Inference only."""
        x = self.embedding(ids)  # (B, E)
        new_states, start = [], 0
        for layer in self.recurrent.stacked_layers:
            count = len(layer.state_size)
            x, layer_states = layer.cell(x, states[start : start + count])
            new_states += layer_states
            start += count
        return self.output_logits(x), new_states

    def decoding_start(self, prompt_ids):
        """The decoding protocol (zoo.decoding): a right-padded prompt (B, P) -> (`Step` of the
        logits at each row's last real token and the states there, no context ())."""
        if not self.built:  # called eagerly by zoo.decoding.decode to build the variables
            self(prompt_ids[:, :1])
        mask = prompt_ids != PAD_ID
        logits, states = self.encode(prompt_ids, mask=mask)  # (B, P, V)
        last = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) - 1  # (B,)
        return Step(tf.gather(logits, last, axis=1, batch_dims=1), list(states), None), ()

    def decoding_step(self, token, state, context):
        """The decoding protocol: `step` as a `Step` (no record)."""
        logits, states = self.step(token, state)
        return Step(logits, states, None)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary_size": self.vocabulary_size,
            "cell": self.cell_name,
            "units": self.units,
            "num_layers": self.num_layers,
            "embedding_dim": self.embedding_dim,
            "dropout": self.dropout,
            "embedding_dropout": self.embedding_dropout,
            "output_dropout": self.output_dropout,
            "variational_dropout": self.variational_dropout,
            "word_dropout": self.word_dropout,
            "tie_embeddings": self.tie_embeddings,
            "weight_dropout": self.weight_dropout,
            "seed": self.seed,
            "tokenizer": None if self.tokenizer is None else keras.saving.serialize_keras_object(self.tokenizer),
        }


def _weight_dropout_options(rate, seed, layer_index):
    """A recurrent layer's DropConnect rate and seed (its own per layer); none without weight dropout."""
    return {"weight_dropout": rate, "seed": None if seed is None else seed + layer_index} if rate else {}


def tied_logits(h, embeddings):
    """h E^T: h (..., E), the embedding matrix E (V, E) -> (..., V), as one matmul that reads E as
    stored. (`tf.tensordot` copies E^T first: at every token of a decoding loop, 0.5 ms of the
    de-en translator's 0.77 ms step under XLA.)"""
    flat = tf.reshape(h, (-1, tf.shape(h)[-1]))  # (N, E)
    logits = tf.matmul(flat, tf.cast(embeddings, h.dtype), transpose_b=True)  # (N, V)
    return tf.reshape(logits, tf.concat([tf.shape(h)[:-1], tf.shape(embeddings)[:1]], axis=0))


@keras.saving.register_keras_serializable(package="zoo")
class TiedLogits(keras.layers.Layer):
    """The output layer of tied embeddings: logits = h E^T + b, E (V, E) the input embedding matrix.

    Its only weight is the bias b (V,). Call: `layer(h, embeddings)`, h (..., E) -> (..., V).
    """

    def __init__(self, vocabulary_size, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.supports_masking = True  # per step: a mask on h passes through

    def build(self, h_shape, embeddings_shape):
        self.bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros", name="bias")

    def call(self, h, embeddings):
        return tied_logits(h, embeddings) + tf.cast(self.bias, h.dtype)  # (..., V)

    def compute_output_shape(self, h_shape, embeddings_shape):
        return tuple(h_shape[:-1]) + (self.vocabulary_size,)

    def get_config(self):
        return {**super().get_config(), "vocabulary_size": self.vocabulary_size}


def word_type_dropout(ids, embedded, rate, vocabulary_size, seed_generator):
    """Drops word types, not single tokens (Gal & Ghahramani 2016): per sequence, each id of the
    vocabulary is dropped with probability `rate`; all its occurrences get a zero embedding.

        keep[b, v] ~ Bernoulli(1 - rate)                        (B, V)
        e'[b, t] = e[b, t] * keep[b, ids[b, t]] / (1 - rate)    (B, T, E)
    """
    keep = keras.random.uniform((tf.shape(ids)[0], vocabulary_size), seed=seed_generator) >= rate  # (B, V)
    kept = tf.gather(keep, ids, batch_dims=1)  # (B, T)
    return embedded * tf.cast(kept, embedded.dtype)[:, :, None] / (1.0 - rate)
