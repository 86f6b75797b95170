"""Losses over padded token sequences and over the nodes of trees."""

import keras
import tensorflow as tf

from zoo.trees import NEUTRAL, polarity_logits


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


@keras.saving.register_keras_serializable(package="zoo")
class PhraseSentimentLoss(keras.losses.Loss):
    """The five-label cross-entropy of every node, plus `polarity` times the SST-2 one of its
    non-neutral nodes (Tai et al. train a separate binary model on those; here one softmax serves
    both, and the second term weighs the polarity decision the SST-2 view reads at the root):

        l_n = -log p(y_n) - polarity * [y_n != 2] log p(pos_n | not neutral)
        p(pos | not neutral) = (p_3 + p_4) / (p_0 + p_1 + p_3 + p_4),  pos_n = [y_n > 2]

    Padding nodes are left out by the logits' Keras mask (`TreeClassifier.node_logits`). A tree model
    called on plain sentences gives SST-2 logits (B, 2) instead: for those (labels 0/1) the loss is
    their cross-entropy, so one compiled model fine-tunes on trees or on labelled sentences.

    Args:
        polarity: the weight of the SST-2 term (0: plain five-label cross-entropy).
    """

    def __init__(self, polarity=0.0, name="phrase_sentiment_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.polarity = polarity

    def call(self, y_true, y_pred):
        labels, logits = tf.cast(y_true, "int32"), tf.cast(y_pred, "float32")  # (B, N), (B, N, 5)
        if logits.shape[-1] == 2:  # SST-2 logits of sentences (B, 2), labels (B,)
            return tf.nn.sparse_softmax_cross_entropy_with_logits(tf.reshape(labels, tf.shape(logits)[:-1]), logits)
        fine = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits)  # (B, N)
        if not self.polarity:
            return fine
        binary = tf.nn.sparse_softmax_cross_entropy_with_logits(tf.cast(labels > NEUTRAL, "int32"), polarity_logits(logits))
        return fine + self.polarity * binary * tf.cast(labels != NEUTRAL, "float32")

    def get_config(self):
        return {**super().get_config(), "polarity": self.polarity}
