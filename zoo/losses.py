"""Losses over padded token sequences."""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class MaskedCrossEntropy(keras.losses.Loss):
    """Token cross-entropy from logits, averaged over the non-pad tokens of the batch,
    with optional label smoothing (Szegedy et al. 2016):

        l_t = -(1 - eps) log p(y_t) - eps * mean_v log p(v)       for y_t != pad
        loss = sum_t l_t / #{t : y_t != pad}

    Args:
        label_smoothing: eps in [0, 1).
        pad_id: the id of padding in the labels (its positions score nothing).
    """

    def __init__(self, label_smoothing=0.0, pad_id=0, name="masked_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"MaskedCrossEntropy: `label_smoothing` must be in [0, 1), got {label_smoothing}")
        self.label_smoothing = label_smoothing
        self.pad_id = pad_id

    def call(self, y_true, y_pred):
        labels = tf.cast(y_true, "int32")  # (B, T)
        log_probabilities = tf.nn.log_softmax(tf.cast(y_pred, "float32"), axis=-1)  # (B, T, V)
        nll = -tf.gather(log_probabilities, labels, axis=-1, batch_dims=2)  # (B, T)
        if self.label_smoothing:
            uniform = -tf.reduce_mean(log_probabilities, axis=-1)
            nll = (1.0 - self.label_smoothing) * nll + self.label_smoothing * uniform
        real = tf.cast(labels != self.pad_id, "float32")
        # Keras averages what `call` returns over all B*T positions; rescale so that the
        # average runs over the real tokens only.
        scale = tf.cast(tf.size(real), "float32") / tf.maximum(tf.reduce_sum(real), 1.0)
        return nll * real * scale

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing, "pad_id": self.pad_id}
