"""An attentional encoder-decoder (Bahdanau, Cho and Bengio 2015) from zoo layers."""

import keras
import tensorflow as tf

from zoo import layers
from zoo.decoding.loop import Step
from zoo.models.recurrent_language_model import tied_logits
from zoo.text import BOS_ID, PAD_ID

GATED_CELLS = ("gru", "lstm")  # the attention decoder's cells
ATTENTIONS = {
    "bahdanau": lambda units: layers.BahdanauAttention(units, name="attention"),
    "luong": lambda units: layers.LuongAttention("general", name="attention"),
}


@keras.saving.register_keras_serializable(package="zoo")
class EncoderDecoder(keras.Model):
    """p(y_t | y_<t, x) from a bidirectional encoder and an attention decoder:

        h_j = [h->_j; h<-_j] = BiRNN^L(E_x[x])_j                       (B, S, 2U), the memory
        s_0 = tanh(W_b [h->_S; h<-_1] + b_b)                           bridge from both final states
        s_t, c_t, a_t = AttentionDecoder(E_y[y_{t-1}], h, s_{t-1})     (B, T, H), (B, T, 2U), (B, T, S)
        r_t = maxout_2(W_r [s_t; E_y[y_{t-1}]; c_t] + b_r)             deep output, (B, T, R)
        logits_t = r_t E_y^T + b_o   (tied)  or  r_t W_o + b_o         (B, T, V_y)

    `model((source_ids, target_in_ids))` gives the teacher-forced logits (B, T, V_y), where
    target_in is `<bos>` y_1 .. y_{T-1} and the labels are y_1 .. y_{T-1} `<eos>`; ids are
    right-padded with 0. For decoding: `encode(source_ids)` -> (`SourceMemory`, initial states),
    then `decode_step(token, states, source)` -> (logits, states, attention weights).

    Args:
        source_vocabulary_size, target_vocabulary_size: V_x, V_y (with the reserved ids).
        cell: "gru" or "lstm", in the encoder and the decoder.
        embedding_dim: E, of both embeddings.
        encoder_units: U per direction; encoder_layers: L.
        decoder_units: H.
        attention: "bahdanau" (additive) or "luong" (general); attention_units: A (Bahdanau only).
        readout_dim: R; with `tie_embeddings`, R must equal E.
        dropout: on embeddings, between encoder layers, and on r_t.
        source_tokenizer, target_tokenizer: optional text layers (saved with the model).
        max_source_length: the longest source (in ids) `zoo.decoding` decodes: its id-level
            functions refuse longer ones, `translate` truncates them with a warning.
    """

    task = "translation"  # zoo.tasks.TASKS

    def __init__(
        self,
        source_vocabulary_size,
        target_vocabulary_size,
        cell="gru",
        embedding_dim=256,
        encoder_units=256,
        encoder_layers=2,
        decoder_units=512,
        attention="bahdanau",
        attention_units=256,
        readout_dim=256,
        tie_embeddings=True,
        dropout=0.3,
        seed=None,
        source_tokenizer=None,
        target_tokenizer=None,
        max_source_length=256,
        **kwargs,
    ):
        super().__init__(**kwargs)
        source_tokenizer, target_tokenizer = (
            keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
            for t in (source_tokenizer, target_tokenizer)
        )
        if cell not in GATED_CELLS:
            raise ValueError(f"EncoderDecoder: `cell` must be one of {sorted(GATED_CELLS)}, got {cell!r}")
        cell_classes = layers.CELLS[cell]
        if attention not in ATTENTIONS:
            raise ValueError(f"EncoderDecoder: `attention` must be one of {sorted(ATTENTIONS)}, got {attention!r}")
        if tie_embeddings and readout_dim != embedding_dim:
            raise ValueError(
                f"EncoderDecoder: tied embeddings need readout_dim == embedding_dim, got {readout_dim} and {embedding_dim}"
            )
        self.source_vocabulary_size = source_vocabulary_size
        self.target_vocabulary_size = target_vocabulary_size
        self.cell_name = cell
        self.embedding_dim = embedding_dim
        self.encoder_units = encoder_units
        self.encoder_layers = encoder_layers
        self.decoder_units = decoder_units
        self.attention_name = attention
        self.attention_units = attention_units
        self.readout_dim = readout_dim
        self.tie_embeddings = tie_embeddings
        self.dropout = dropout
        self.seed = seed
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.max_source_length = max_source_length

        self.source_embedding = keras.layers.Embedding(source_vocabulary_size, embedding_dim, name="source_embedding")
        self.target_embedding = keras.layers.Embedding(target_vocabulary_size, embedding_dim, name="target_embedding")
        self.embedding_drop = keras.layers.Dropout(dropout, seed=seed, name="embedding_dropout")
        self.encoder = layers.Stacked(
            [layers.Bidirectional(cell_classes.layer(encoder_units, name=f"encoder_{i}")) for i in range(encoder_layers)],
            dropout=dropout,
            return_sequences=True,
            return_state=True,
            seed=seed,
            name="encoder",
        )
        decoder_cell = cell_classes.cell(decoder_units, name="decoder_cell")
        self.bridges = [
            keras.layers.Dense(size, activation="tanh", name=f"bridge_{i}")
            for i, size in enumerate(decoder_cell.state_size)
        ]
        self.decoder = layers.AttentionDecoder(decoder_cell, ATTENTIONS[attention](attention_units), name="decoder")
        self.readout = keras.layers.Dense(2 * readout_dim, name="readout")
        self.readout_drop = keras.layers.Dropout(dropout, seed=seed, name="readout_dropout")
        self.output_bias = None
        self.output_projection = None if tie_embeddings else keras.layers.Dense(target_vocabulary_size, name="logits")

    def build(self, input_shape=None):
        if self.built:
            return
        source, target = tf.ones((1, 1), tf.int32), tf.ones((1, 1), tf.int32)
        self.output_bias = self.add_weight(name="output_bias", shape=(self.target_vocabulary_size,), initializer="zeros")
        self.decoder.build((None, None, self.embedding_dim), (None, None, 2 * self.encoder_units))
        self._teacher_forced(source, target, training=False)
        self.built = True

    # --- encoder -------------------------------------------------------------------------

    def encode(self, source_ids, training=False):
        """(B, S) ids -> (`SourceMemory`, the decoder's initial states)."""
        mask = source_ids != PAD_ID  # (B, S)
        embedded = self.embedding_drop(self.source_embedding(source_ids), training=training)  # (B, S, E)
        memory, *states = self.encoder(embedded, mask=mask, training=training)  # (B, S, 2U)
        per_direction = len(states) // (2 * self.encoder_layers)  # 1 for GRU, 2 (h, c) for LSTM
        top_forward_h, top_backward_h = states[-2 * per_direction], states[-per_direction]  # (B, U) each
        final = tf.concat([top_forward_h, top_backward_h], axis=-1)  # (B, 2U)
        initial_states = [bridge(final) for bridge in self.bridges]  # (B, H) each
        return self.decoder.attend_to(memory, mask), initial_states

    # --- decoder -------------------------------------------------------------------------

    def _logits(self, states, embedded_previous, contexts, training=False):
        """Deep output: (..., H), (..., E), (..., M) -> (..., V_y)."""
        pre = self.readout(tf.concat([states, embedded_previous, contexts], axis=-1))  # (..., 2R)
        pairs = tf.reshape(pre, tf.concat([tf.shape(pre)[:-1], [self.readout_dim, 2]], axis=0))
        readout = self.readout_drop(tf.reduce_max(pairs, axis=-1), training=training)  # (..., R) maxout
        if self.tie_embeddings:
            logits = tied_logits(readout, self.target_embedding.embeddings)  # (..., V)
        else:
            logits = self.output_projection(readout)
        return logits + tf.cast(self.output_bias, logits.dtype)

    def _teacher_forced(self, source_ids, target_in_ids, training):
        source, states = self.encode(source_ids, training=training)
        embedded = self.embedding_drop(self.target_embedding(target_in_ids), training=training)  # (B, T, E)
        outputs, contexts, weights, _ = self.decoder(
            embedded, source.memory, states, memory_mask=source.mask, keys=source.keys
        )
        return self._logits(outputs, embedded, contexts, training=training), weights

    def call(self, inputs, training=False):
        source_ids, target_in_ids = inputs
        return self._teacher_forced(source_ids, target_in_ids, training)[0]

    def attention_weights(self, source_ids, target_in_ids):
        """Teacher-forced attention weights (B, T, S), e.g. to draw the alignment of a reference."""
        return self._teacher_forced(source_ids, target_in_ids, training=False)[1]

    def decode_step(self, token, states, source):
        """One step: y_{t-1} ids (B,), states, `SourceMemory` -> (logits (B, V_y), states, weights (B, S))."""
        embedded = self.target_embedding(token)  # (B, E)
        output, context, weights, states = self.decoder.step(embedded, states, source)
        return self._logits(output, embedded, context), states, weights

    def decoding_start(self, source_ids):
        """The decoding protocol (zoo.decoding): (B, S) source ids -> (`Step` after `<bos>`: the
        first output token's logits, the states, the attention weights; the `SourceMemory`)."""
        self.build()
        source, states = self.encode(source_ids)
        bos = tf.fill(tf.shape(source_ids)[:1], tf.constant(BOS_ID, tf.int32))  # (B,)
        return self.decoding_step(bos, states, source), source

    def decoding_step(self, token, state, context):
        """The decoding protocol: `decode_step` as a `Step`, the attention weights its record."""
        logits, states, weights = self.decode_step(token, state, context)
        return Step(logits, list(states), weights)

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "source_vocabulary_size": self.source_vocabulary_size,
            "target_vocabulary_size": self.target_vocabulary_size,
            "cell": self.cell_name,
            "embedding_dim": self.embedding_dim,
            "encoder_units": self.encoder_units,
            "encoder_layers": self.encoder_layers,
            "decoder_units": self.decoder_units,
            "attention": self.attention_name,
            "attention_units": self.attention_units,
            "readout_dim": self.readout_dim,
            "tie_embeddings": self.tie_embeddings,
            "dropout": self.dropout,
            "seed": self.seed,
            "source_tokenizer": None if self.source_tokenizer is None else serialize(self.source_tokenizer),
            "target_tokenizer": None if self.target_tokenizer is None else serialize(self.target_tokenizer),
            "max_source_length": self.max_source_length,
        }
