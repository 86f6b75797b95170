"""A recurrent language model: embedding, stacked recurrent layers, softmax over the vocabulary."""

import keras
import tensorflow as tf

from zoo import layers

CELL_LAYERS = {"lstm": layers.LSTM, "gru": layers.GRU, "rnn": layers.SimpleRNN}


@keras.saving.register_keras_serializable(package="zoo")
class RecurrentLanguageModel(keras.Model):
    """p(x_{t+1} | x_1..x_t) = softmax(W_o h^(L)_t + b_o), h^(l) from a stack of recurrent layers.

        e_t = E[x_t]                        (B, T, E), dropout on e
        h^(1..L) = Stacked(RNN_1 .. RNN_L)  (B, T, H), dropout between layers and on h^(L)
        logits_t = h^(L)_t W_o + b_o         (B, T, V)

    Args:
        vocabulary_size: V, including the reserved ids (pad 0, unk 1, bos 2, eos 3).
        cell: "lstm", "gru" or "rnn" (Elman).
        units: H of every layer.
        num_layers: L.
        embedding_dim: E.
        dropout: between layers and before the softmax.
        embedding_dropout: on the embeddings.
        tokenizer: optional text layer (e.g. `zoo.text.CharTokenizer`) that maps strings to
            the ids this model reads; saved with the model (its vocabulary as an asset).

    `model(ids)` returns logits (B, T, V) for unpadded ids. `initial_states`/`step` run one
    token at a time with explicit states, for generation; `encode(ids, states, mask=...)` runs
    a whole (padded) prompt.
    """

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
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(tokenizer, dict):
            tokenizer = keras.saving.deserialize_keras_object(tokenizer)
        if cell not in CELL_LAYERS:
            raise ValueError(f"RecurrentLanguageModel: `cell` must be one of {sorted(CELL_LAYERS)}, got {cell!r}")
        self.vocabulary_size = vocabulary_size
        self.cell_name = cell
        self.units = units
        self.num_layers = num_layers
        self.embedding_dim = embedding_dim
        self.dropout = dropout
        self.embedding_dropout = embedding_dropout
        self.seed = seed
        # No mask_zero: training text has no padding, and a mask costs the loop ~17% (measured on the
        # 2x512 LSTM); `encode` takes an explicit mask for right-padded batches (prompts).
        self.embedding = keras.layers.Embedding(vocabulary_size, embedding_dim, name="embedding")
        self.embedding_drop = keras.layers.Dropout(embedding_dropout, seed=seed, name="embedding_dropout")
        self.recurrent = layers.Stacked(
            [CELL_LAYERS[cell](units, name=f"{cell}_{i}") for i in range(num_layers)],
            dropout=dropout,
            return_sequences=True,
            return_state=True,
            seed=seed,
            name="recurrent",
        )
        self.output_drop = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")
        self.logits = keras.layers.Dense(vocabulary_size, name="logits")
        self.tokenizer = tokenizer

    def call(self, ids, training=False):
        return self.encode(ids, training=training)[0]

    def encode(self, ids, states=None, training=False, mask=None):
        """ids (B, T) -> (logits (B, T, V), final states: a flat list, bottom layer first).

        mask: optional (B, T) booleans, False at padding: a padded step keeps the state, so
        the final states of a right-padded row are those of its last real token.
        """
        e = self.embedding_drop(self.embedding(ids), training=training)  # (B, T, E)
        h, *states = self.recurrent(e, mask=mask, initial_state=states, training=training)  # (B, T, H)
        return self.logits(self.output_drop(h, training=training)), states

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
        return self.logits(x), new_states

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
            "seed": self.seed,
            "tokenizer": None if self.tokenizer is None else keras.saving.serialize_keras_object(self.tokenizer),
        }
