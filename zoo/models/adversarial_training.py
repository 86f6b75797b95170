"""Adversarial training on word vectors (Miyato et al. 2017), for any model that reads word vectors."""

import keras
import tensorflow as tf


class AdversarialTraining:
    """A `train_step` for a keras.Model with `adversarial` = eps > 0 (0: Keras' own step):

        L = loss(y, f(e)) + loss(y, f(e + r)),   r = eps ||e|| g / ||g||,   g = dL(y, f(e))/de

    per example (norms over its (T, E) word vectors, r held constant), so that the model also learns
    to hold its answer where a small change of the word vectors would hurt it most; eps is relative
    to the vectors' norm, so it means the same at any embedding scale. The logged loss and metrics are
    those of f(e).

    The model provides `word_vectors(x, training) -> (e (B, T, E), context)` (word dropout and all)
    and `logits_of_vectors(e, context, training) -> y_pred`: the rest of its forward pass.
    """

    def train_step(self, data):
        if not self.adversarial:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            e, context = self.word_vectors(x, training=True)  # (B, T, E)
            with tf.GradientTape() as inner:
                inner.watch(e)
                y_pred = self.logits_of_vectors(e, context, training=True)
                loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
            with tape.stop_recording():
                g = inner.gradient(loss, e)  # (B, T, E)
                r = self.adversarial * tf.norm(e, axis=[1, 2], keepdims=True) * tf.math.l2_normalize(g, axis=[1, 2])
            perturbed = self.logits_of_vectors(e + r, context, training=True)
            adversarial_loss = self.compute_loss(x=x, y=y, y_pred=perturbed, sample_weight=sample_weight, training=True)
            total = self.optimizer.scale_loss(loss + adversarial_loss)  # (mixed precision's loss scale, as Keras)
        variables = self.trainable_weights
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        replicas = tf.distribute.get_strategy().num_replicas_in_sync  # compute_loss divides by them, as Keras logs
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss * replicas, sample_weight=tf.shape(e)[0])
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)
