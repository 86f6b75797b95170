"""The batches `fit` trains and validates on, as tf.data views."""

import itertools

import numpy as np
import tensorflow as tf


def dataset_of(batches, signature):
    """A tf.data view of a list of batches of the structure `signature` (e.g. a validation split), of known
    length, so that Keras does not warn that it "ran out of data" where it ends."""
    dataset = tf.data.Dataset.from_generator(lambda: iter(batches), output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


def endless_stream(batches_of_epoch, steps_per_epoch, start=(0, 0), signature=None):
    """The training data of `model.fit(..., steps_per_epoch=steps_per_epoch)` as one endless dataset:
    epoch after epoch of the batches `batches_of_epoch(epoch)` (epoch 0, 1, ...: e.g. a new seed each;
    a tf.data.Dataset, or an iterable of batches of the structure `signature`), each cut to its first
    `steps_per_epoch` batches, from batch `start[1]` of epoch `start[0]` on."""
    first_epoch, first_step = start

    def numpy_batches(epoch):
        batches = batches_of_epoch(epoch)
        batches = batches.as_numpy_iterator() if isinstance(batches, tf.data.Dataset) else iter(batches)
        return itertools.islice(batches, first_step if epoch == first_epoch else 0, steps_per_epoch)

    if signature is None:
        signature = batches_of_epoch(first_epoch).element_spec
    generator = tf.data.Dataset.from_generator(
        lambda: (batch for epoch in itertools.count(first_epoch) for batch in numpy_batches(epoch)),
        output_signature=signature,
    )
    return generator.prefetch(2)


def bucketed_indices(lengths, batch_size, rng=None, chunk_batches=50):
    """Index batches of examples of similar length (little padding). With `rng`: the examples
    shuffled, sorted by length within chunks of `chunk_batches` batches, the batches in random
    order; without: all sorted by length."""
    order = np.arange(len(lengths)) if rng is None else rng.permutation(len(lengths))
    length = np.asarray(lengths)[order]
    chunk = batch_size * chunk_batches if rng is not None else len(order)
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk][np.argsort(length[start : start + chunk], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
