"""An ensemble of tree classifiers: the mean of their probabilities at every node of one tree."""

import keras

from zoo import _compat
from zoo.models.classifier_ensemble import EnsembleMembers, check_members, mean_of_probabilities
from zoo.models.tree_text_classifier import TreeTextClassifier


@keras.saving.register_keras_serializable(package="zoo")
class TreeEnsemble(EnsembleMembers, TreeTextClassifier):
    """p(y | node) = (1/K) sum_k p_k(y | node) over K `TreeClassifier`s, on one tree per sentence:

        children, m = parser(words)                    (B, N, 2), (B, N): built once, for all members
        log p_k = log_softmax(member_k.node_logits)    (B, N, 5) each
        node_logits = logsumexp_k(log p_k) - log K     (B, N, 5), so softmax = mean_k p_k

    and SST-2 from the root's mean probabilities (`TreeTextClassifier`). Members trained from other
    seeds err on different sentences, so their mean is right more often than a typical member.

    Args:
        members: K >= 1 tree classifiers with the same labels and tokenizer; they are kept without their
            own parsers (`TreeClassifier.without_parser`).
        parser: the `TreeParser` that builds the trees (default: member 0's), saved once.
    """

    def __init__(self, members, parser=None, **kwargs):
        super().__init__(**kwargs)
        members = [keras.saving.deserialize_keras_object(m) if isinstance(m, dict) else m for m in members]
        check_members("TreeEnsemble", members, ("node_logits", "without_parser", "tokenizer", "labels"),
                      "tree classifiers such as TreeClassifier")
        parser = keras.saving.deserialize_keras_object(parser) if isinstance(parser, dict) else parser
        self.parser = members[0].parser if parser is None else parser
        if self.parser is None:
            raise ValueError("TreeEnsemble: no parser given and member 0 has none: it could not read plain text")
        self.parser.trainable = False
        self.members = [m if m.parser is None else m.without_parser() for m in members]  # one parser, saved once
        self.supports_jit = False  # the tokenizer's string ops cannot run under XLA

    def build(self, input_shape=None):
        self.parser.build()
        super().build()

    def node_logits(self, words, children, node_mask, training=False):
        """The log of the members' mean probabilities at every node (B, N, 5), masked at padding."""
        logits = mean_of_probabilities([m.node_logits(words, children, node_mask, training=training) for m in self.members])
        return _compat.set_keras_mask(logits, node_mask)

    def get_config(self):
        return {**super().get_config(), "parser": keras.saving.serialize_keras_object(self.parser)}
