"""An ensemble of text classifiers of one vocabulary: the mean of their probabilities."""

import math

import keras
import tensorflow as tf

from zoo.models.sequence_classifier import TextClassifier, tokenizer_difference


class EnsembleMembers:
    """What an ensemble model of `self.members` (one tokenizer, one set of labels) takes from them:
    `tokenizer` and `labels` are member 0's, building builds each, the config lists them."""

    @property
    def tokenizer(self):
        return self.members[0].tokenizer

    @property
    def labels(self):
        return self.members[0].labels

    def build(self, input_shape=None):
        for member in self.members:
            member.build()
        self.built = True

    def get_config(self):
        return {**super().get_config(), "members": [keras.saving.serialize_keras_object(m) for m in self.members]}


@keras.saving.register_keras_serializable(package="zoo")
class ClassifierEnsemble(EnsembleMembers, TextClassifier):
    """p(y | text) = (1/K) sum_k p_k(y | text), the mean of K classifiers' probabilities:

        x = tokenizer(texts)                               (B, T) ids, tokenized once for every member
        log p_k = log_softmax(member_k.classify_ids(x))    (B, C) each
        logits = logsumexp_k(log p_k) - log K              (B, C), so softmax(logits) = mean_k p_k

    Members trained apart (other seeds: other initial weights and orders of the data) err on
    different texts, so their mean is right more often than a typical member; the
    `sst2_sentiment` recipe measures by how much.

    Args:
        members: K >= 1 classifiers with `classify_ids` (e.g. `SequenceClassifier`s), the same
            labels and the same tokenizer (vocabulary and settings).

    `model(texts)` maps tf.string (B,) to logits (B, C); `classify(texts)` gives label names and
    probabilities; `classify_ids(ids)` works on ids.
    """

    def __init__(self, members, **kwargs):
        super().__init__(**kwargs)
        members = [keras.saving.deserialize_keras_object(m) if isinstance(m, dict) else m for m in members]
        check_members("ClassifierEnsemble", members, ("classify_ids", "tokenizer", "labels"),
                      "text classifiers such as SequenceClassifier")
        self.members = members
        self.supports_jit = False  # the tokenizer's string ops cannot run under XLA

    def call(self, texts, training=False):
        return self.classify_ids(self.tokenizer(texts), training=training)

    def classify_ids(self, ids, training=False):
        """ids (B, T), right-padded with 0 -> logits (B, C), the log of the mean probability."""
        return mean_of_probabilities([m.classify_ids(ids, training=training) for m in self.members])



def mean_of_probabilities(logits):
    """K logits (..., C) -> (..., C) whose softmax is the mean of theirs: logsumexp_k log_softmax_k - log K."""
    log_p = tf.stack([tf.nn.log_softmax(x) for x in logits])  # (K, ..., C)
    return tf.reduce_logsumexp(log_p, axis=0) - math.log(len(logits))


def check_members(owner, members, attributes, kind):
    """Raises ValueError unless `members` are >= 1 models with `attributes`, the same labels and the same
    tokenizer (`owner` and `kind`, what they should be, name the problem in the message)."""
    if not members:
        raise ValueError(f"{owner}: `members` is empty; it needs at least one classifier")
    for k, member in enumerate(members):
        for attribute in attributes:
            if not hasattr(member, attribute):
                raise ValueError(f"{owner}: member {k} is a {type(member).__name__}, which has no "
                                 f"`{attribute}`: members must be {kind}")
    first = members[0]
    for k, member in enumerate(members[1:], start=1):
        if list(member.labels) != list(first.labels):
            raise ValueError(f"{owner}: member {k} has the labels {list(member.labels)}, member 0 "
                             f"{list(first.labels)}: the probabilities of different labels cannot be averaged")
        difference = tokenizer_difference(first.tokenizer, member.tokenizer)
        if difference:
            raise ValueError(f"{owner}: member {k}'s tokenizer differs from member 0's ({difference}): "
                             f"the members must read the same ids")
