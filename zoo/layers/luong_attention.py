"""Multiplicative attention (Luong, Pham and Manning 2015)."""

import keras
import tensorflow as tf

from zoo.layers.attention import Attention

SCORES = ("dot", "general")


@keras.saving.register_keras_serializable(package="zoo")
class LuongAttention(Attention):
    """Multiplicative attention:

        e_j = s^T h_j            "dot" (query and memory of one width)
        e_j = s^T W_a h_j        "general"; W_a h_j are the keys, computed once per sequence

    Args:
        score_function: "dot" or "general".
        Shapes of call: query s (B, Q), memory h (B, S, M), mask (B, S) -> context (B, M),
        weights (B, S).
    """

    def __init__(self, score_function="general", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        if score_function not in SCORES:
            raise ValueError(f"LuongAttention: `score_function` must be one of {SCORES}, got {score_function!r}")
        self.score_function = score_function
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, memory_shape):
        if self.score_function == "dot" and query_shape[-1] != memory_shape[-1]:
            raise ValueError(
                f"Layer '{self.name}' (LuongAttention, dot): query width {query_shape[-1]} differs from memory "
                f"width {memory_shape[-1]}; use score_function='general'"
            )
        if self.score_function == "general":
            self.memory_kernel = self.add_weight(  # W_a^T (M, Q)
                name="memory_kernel", shape=(memory_shape[-1], query_shape[-1]), initializer=self.kernel_initializer
            )
        self.built = True

    def project_memory(self, memory):
        if self.score_function == "dot":
            return memory
        return tf.tensordot(memory, self.memory_kernel, axes=1)  # (B, S, Q)

    def score(self, projected_query, keys):
        return tf.einsum("bq,bsq->bs", projected_query, keys)  # (B, S)

    def get_config(self):
        return {
            **super().get_config(),
            "score_function": self.score_function,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
