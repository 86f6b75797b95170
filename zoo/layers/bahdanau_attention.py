"""Additive attention (Bahdanau, Cho and Bengio 2015)."""

import keras
import tensorflow as tf

from zoo.layers.attention import Attention


@keras.saving.register_keras_serializable(package="zoo")
class BahdanauAttention(Attention):
    """Additive attention:

        e_j = v^T tanh(W_a s + U_a h_j + b_a)

    U_a h_j + b_a are the keys, computed once per source sequence; W_a s once per step.

    Args:
        units: A, the width of the hidden layer of the score.
        Shapes of call: query s (B, Q), memory h (B, S, M), mask (B, S) -> context (B, M),
        weights (B, S).
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"BahdanauAttention: `units` must be a positive int, got {units!r}")
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, memory_shape):
        self.query_kernel = self.add_weight(  # W_a (Q, A)
            name="query_kernel", shape=(query_shape[-1], self.units), initializer=self.kernel_initializer
        )
        self.memory_kernel = self.add_weight(  # U_a (M, A)
            name="memory_kernel", shape=(memory_shape[-1], self.units), initializer=self.kernel_initializer
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")  # b_a
        self.score_vector = self.add_weight(  # v (A,)
            name="score_vector", shape=(self.units,), initializer=self.kernel_initializer
        )
        self.built = True

    def project_memory(self, memory):
        return tf.tensordot(memory, self.memory_kernel, axes=1) + self.bias  # (B, S, A)

    def score(self, projected_query, keys):
        return tf.reduce_sum(tf.tanh(keys + projected_query[:, None, :]) * self.score_vector, axis=-1)  # (B, S)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
