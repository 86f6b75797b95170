"""Pooling a sequence of hidden states into one vector per sequence."""

import keras
import tensorflow as tf

POOLING_MODES = ("last", "mean", "max", "bi_last")


@keras.saving.register_keras_serializable(package="zoo")
class SequencePooling(keras.layers.Layer):
    """Pools (B, T, F) hidden states into (B, F), respecting a (B, T) mask.

    - "last": h_{t*} with t* the last valid step of each sequence.
    - "mean": sum_t m_t h_t / sum_t m_t.
    - "max": max over valid steps, per feature.
    - "bi_last": for the output of a `Bidirectional(..., merge_mode="concat")`
      layer: the forward half at the last valid step and the backward half at
      the first valid step, the two directions' final states, concatenated.

    A sequence with no valid step pools to zeros.

    Args:
        mode: one of "last", "mean", "max", "bi_last".
    """

    def __init__(self, mode="last", **kwargs):
        super().__init__(**kwargs)
        if mode not in POOLING_MODES:
            raise ValueError(f"SequencePooling: `mode` must be one of {POOLING_MODES}, got {mode!r}")
        self.mode = mode
        self.supports_masking = True

    def build(self, input_shape):
        if len(input_shape) != 3:
            raise ValueError(
                f"Layer '{self.name}' (SequencePooling) expects inputs of shape (batch, timesteps, features); "
                f"got shape {tuple(input_shape)}."
            )
        if self.mode == "bi_last" and input_shape[-1] is not None and input_shape[-1] % 2:
            raise ValueError(
                f"Layer '{self.name}' (SequencePooling, bi_last) expects an even number of features "
                f"(forward and backward halves); got shape {tuple(input_shape)}."
            )

    def call(self, inputs, mask=None):
        if mask is None:
            mask = tf.ones(tf.shape(inputs)[:2], dtype="bool")
        mask = tf.cast(mask, "bool")  # (B, T)
        valid = tf.cast(mask, inputs.dtype)[:, :, None]  # (B, T, 1)
        any_valid = tf.reduce_any(mask, axis=1, keepdims=True)  # (B, 1)
        if self.mode == "mean":
            return tf.reduce_sum(inputs * valid, axis=1) / tf.maximum(tf.reduce_sum(valid, axis=1), 1.0)
        if self.mode == "max":
            lowest = tf.constant(inputs.dtype.min, inputs.dtype)
            pooled = tf.reduce_max(tf.where(mask[:, :, None], inputs, lowest), axis=1)
            return tf.where(any_valid, pooled, tf.zeros_like(pooled))
        last = _state_at(inputs, _last_valid_index(mask))
        if self.mode == "last":
            return tf.where(any_valid, last, tf.zeros_like(last))
        first = _state_at(inputs, tf.argmax(tf.cast(mask, "int32"), axis=1, output_type="int32"))
        half = inputs.shape[-1] // 2
        pooled = tf.concat([last[:, :half], first[:, half:]], axis=-1)
        return tf.where(any_valid, pooled, tf.zeros_like(pooled))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def _last_valid_index(mask):
    steps = tf.shape(mask)[1]
    from_end = tf.argmax(tf.cast(tf.reverse(mask, axis=[1]), "int32"), axis=1, output_type="int32")
    return steps - 1 - from_end  # (B,)


def _state_at(inputs, index):
    return tf.gather(inputs, index, axis=1, batch_dims=1)  # (B, F)
