"""zoo.models.AdversarialTraining: one step of a sequence and of a tree classifier, against the same
step worked out by hand."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import test_sequence_classifier as sequence
import test_tree_classifier as tree
from zoo.text import WordTokenizer


def sequence_model(epsilon):
    model = sequence.tiny(WordTokenizer.from_texts(sequence.TEXTS, lowercase=True), adversarial=epsilon)
    return model, tf.constant(sequence.TEXTS[:4]), sequence.LABELS[:4]


def tree_model(epsilon):
    model = tree.tiny()
    model.adversarial = epsilon
    x, y = tree.gold()
    return model, x, y


@pytest.mark.parametrize("make", [sequence_model, tree_model], ids=["sequence", "tree"])
def test_a_step_is_the_step_on_the_loss_at_the_worst_nearby_word_vectors(make):
    """One SGD step of `adversarial` training equals the step on L(e) + L(e + r), r = eps ||e|| g / ||g||
    per example, computed by hand; r raises the loss (it points up the gradient); the logged loss is L(e)."""
    epsilon, rate = 0.3, 0.5
    model, x, y = make(epsilon)
    model.build()
    model.compile(optimizer=keras.optimizers.SGD(rate), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = [v.numpy() for v in model.trainable_variables]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)  # (the tree's padding: its logits' mask)
    with tf.GradientTape() as tape:
        e, context = model.word_vectors(x)
        with tf.GradientTape() as inner:
            inner.watch(e)
            clean = loss(y, model.logits_of_vectors(e, context))
        g = inner.gradient(clean, e).numpy()
        norms = np.sqrt((g**2).sum(axis=(1, 2), keepdims=True))
        r = epsilon * np.sqrt((e.numpy() ** 2).sum(axis=(1, 2), keepdims=True)) * g / norms
        perturbed = loss(y, model.logits_of_vectors(e + r, context))
        total = clean + perturbed
    gradients = [tf.convert_to_tensor(d).numpy() for d in tape.gradient(total, model.trainable_variables)]
    expected = [w - rate * d for w, d in zip(before, gradients, strict=True)]
    assert float(perturbed) > float(clean)
    logged = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(logged, float(clean), rtol=1e-5)
    for actual, wanted in zip(model.trainable_variables, expected, strict=True):
        np.testing.assert_allclose(actual.numpy(), wanted, atol=1e-6)
