"""What every tree classifier offers: plain text in, its own tree, SST-2 from the root."""

import keras
import tensorflow as tf

from zoo import layers
from zoo.models.sequence_classifier import TextClassifier
from zoo.trees import polarity_logits

FINE_LABELS = ("very negative", "negative", "neutral", "positive", "very positive")  # SST's 0-4


class TreeTextClassifier(TextClassifier):
    """A `TextClassifier` over binary trees, for subclasses with `tokenizer`, `parser` and
    `node_logits(words, children, node_mask, training) -> (B, N, 5)`:

        words = tokenizer.split(texts)          (B, T) treebank tokens
        children, m = parser(words)             (B, N, 2), (B, N): the model's own trees
        logits = polarity_logits(root logits)   (B, 2) log p(negative), log p(positive), neutral left out

    `model(texts)` maps tf.string (B,) to those two SST-2 logits, so `classify`, `zoo classify`, `zoo
    evaluate --tsv` and the exported `classify(text)` read plain sentences; `model({"words",
    "children", "node_mask"})` gives the node logits (B, N, 5), masked at padding, which `fit` trains
    against every node's label.
    """

    fine_labels = list(FINE_LABELS)

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            return self.node_logits(inputs["words"], inputs["children"], inputs["node_mask"], training=training)
        words, children, node_mask = self.parse(inputs)
        return self.sst2_logits(self.node_logits(words, children, node_mask, training=training), children, node_mask)

    def parse(self, texts):
        """tf.string (B,) plain sentences -> (words (B, T) string, children (B, N, 2), node_mask (B, N))."""
        if self.parser is None:
            raise ValueError(f"{type(self).__name__} {self.name!r} has no parser: it reads trees "
                             f"(model({{'words', 'children', 'node_mask'}})), not plain text")
        words = self.tokenizer.split(texts).to_tensor("")  # (B, T)
        children, node_mask = self.parser(words)
        return words, children, node_mask

    def sst2_logits(self, node_logits, children, node_mask):
        """(B, 2): log p(negative), log p(positive) of the root, the neutral label left out."""
        return polarity_logits(tf.gather(node_logits, layers.tree_roots(children, node_mask), batch_dims=1))

    def compute_output_spec(self, inputs, training=False):
        if isinstance(inputs, dict):
            shape = tuple(inputs["children"].shape[:2]) + (len(FINE_LABELS),)
        else:
            shape = (inputs.shape[0], len(self.labels))
        return keras.KerasTensor(shape, dtype=self.compute_dtype)
