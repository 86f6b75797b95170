"""The contract of an attention mechanism: score, masked softmax, weighted sum."""

import keras
import tensorflow as tf

NEGATIVE_INFINITY = -1e9  # exp underflows to exactly 0 in float32: padded positions get weight 0


@keras.saving.register_keras_serializable(package="zoo")
class Attention(keras.layers.Layer):
    """Attention of a query s over a memory h_1 .. h_S (the encoder states):

        e_j = score(s, h_j)                     (B, S)
        a_j = exp(e_j) / sum_k exp(e_k)         over unmasked positions; 0 at padding
        c   = sum_j a_j h_j                     (B, M)

    The memory is projected into keys once per sequence (`project_memory`) and the
    query once per step (`project_query`), so a decoder step pays only for `score`.
    A subclass writes those three.

    `layer(query, memory, mask=None)` returns `(context (B, M), weights (B, S))`.

    Args of call:
        query: (B, Q), the decoder state s_{t-1}.
        memory: (B, S, M), the encoder states h_j.
        mask: (B, S) bool, False at padded source positions.
    """

    query_kernel = None  # a subclass whose query projection is a matmul sets it (a decoder may fuse it)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, query_shape, memory_shape):
        self.built = True

    def project_memory(self, memory):
        """(B, S, M) -> keys (B, S, K), once per source sequence."""
        return memory

    def project_query(self, query):
        """(B, Q) -> (B, K') as `score` reads it: query W_a, or the query itself."""
        return query if self.query_kernel is None else tf.matmul(query, self.query_kernel)

    def score(self, projected_query, keys):
        """(B, K'), (B, S, K) -> (B, S) energies."""
        raise NotImplementedError

    def attend(self, projected_query, keys, memory, mask=None):
        """The step's share: energies, masked softmax, context. Returns (context, weights)."""
        energies = self.score(projected_query, keys)  # (B, S)
        if mask is not None:
            energies = tf.where(mask, energies, NEGATIVE_INFINITY)
        weights = tf.nn.softmax(energies, axis=-1)  # (B, S)
        context = tf.einsum("bs,bsm->bm", weights, memory)  # (B, M)
        return context, weights

    def call(self, query, memory, mask=None):
        _check_inputs(self, query, memory, mask)
        return self.attend(self.project_query(query), self.project_memory(memory), memory, mask)

    def compute_output_spec(self, query, memory, mask=None):
        return (
            keras.KerasTensor((query.shape[0], memory.shape[-1]), dtype=self.compute_dtype),
            keras.KerasTensor((query.shape[0], memory.shape[1]), dtype=self.compute_dtype),
        )


def _check_inputs(layer, query, memory, mask):
    where = f"Layer '{layer.name}' ({type(layer).__name__})"
    if len(query.shape) != 2:
        raise ValueError(f"{where}: `query` must have shape (batch, query_size), got {tuple(query.shape)}")
    if len(memory.shape) != 3:
        raise ValueError(
            f"{where}: `memory` must have shape (batch, source_length, memory_size), got {tuple(memory.shape)}"
        )
    if mask is not None and tuple(mask.shape) != tuple(memory.shape[:2]):
        raise ValueError(
            f"{where}: `mask` must have shape (batch, source_length) = {tuple(memory.shape[:2])}, "
            f"got {tuple(mask.shape)}"
        )
