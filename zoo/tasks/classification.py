"""Text classifiers: label a text, score labelled sentences, serve `classify`, fine-tune on pairs."""

import numpy as np
import tensorflow as tf

from zoo.tasks.task import Task


class Classification(Task):
    """p(label | text) (`SequenceClassifier`, `ClassifierEnsemble`)."""

    name, title, verb = "classification", "a classifier", "classify"
    evaluation_flags, evaluation_usage = ("tsv",), "--tsv FILE"

    def add_verb_arguments(self, parser):
        parser.add_argument("text")

    def run(self, model, args):
        """Prints the label of a text and its probability."""
        label, probabilities = model.classify(args.text)
        print(f"{label}\t{probabilities.max():.4f}")

    def add_evaluation_arguments(self, group):
        group.add_argument("--tsv", help="`sentence<TAB>label` lines (an optional header), for a classifier")

    def evaluate(self, model, args):
        """Accuracy on `sentence<TAB>label` lines."""
        from zoo.evaluation import evaluate_tsv

        result = evaluate_tsv(model, args.tsv)
        print(f"{args.name} on {args.tsv} ({result['count']:,} sentences)")
        print(f"  accuracy {result['accuracy']:.2%} ({result['correct']:,} of {result['count']:,})")

    def export_module(self, model, **options):
        module = TextClassifierModule(model)
        return module, {"classify": module.classify, "classify_batch": module.classify_batch}

    def dataset(self, model, data, batch_size=32, shuffle=True, seed=None):
        """(sentences (B,) string, label ids (B,) int32) from a `sentence<TAB>label` file (path; label
        ids) or a list of (sentence, label) pairs, each label a name of `model.labels` or its id."""
        from zoo.corpora import read_labelled_tsv

        if isinstance(data, (list, tuple)):
            sentences, labels = _pairs(model.labels, data)
        else:
            sentences, labels = read_labelled_tsv(data, len(model.labels))
        examples = tf.data.Dataset.from_tensor_slices((tf.constant(sentences), np.asarray(labels, np.int32)))
        if shuffle:
            examples = examples.shuffle(len(sentences), seed=seed)
        return examples.batch(batch_size)


def _pairs(names, pairs):
    """(sentences, label ids) of (sentence, label name or id) pairs, with errors naming the pair."""
    sentences, labels = [], []
    for number, pair in enumerate(pairs):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)):
            raise ValueError(f"dataset: example {number} is {pair!r}, not a (sentence, label) pair")
        sentence, label = pair
        if not sentence.strip():
            raise ValueError(f"dataset: example {number} has an empty sentence")
        if label in names:
            label = names.index(label)
        if not (isinstance(label, (int, np.integer)) and 0 <= label < len(names)):
            raise ValueError(f"dataset: example {number} has the label {label!r}, not one of {names} or their ids")
        sentences.append(sentence)
        labels.append(int(label))
    if not sentences:
        raise ValueError("dataset: no examples")
    return sentences, labels


class TextClassifierModule(tf.Module):
    """classify(text) -> label and probabilities: tokenization, encoder and softmax in-graph."""

    def __init__(self, model):
        super().__init__()
        model.build()
        self.model = model
        self.tokenizer = model.tokenizer
        self.labels = tf.constant(model.labels)

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
    def classify_batch(self, texts):
        ids = self.tokenizer(texts)  # (B, T)
        words = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)  # (B,)
        check = tf.debugging.assert_positive(words, message="classify: a text has no words")
        with tf.control_dependencies([check]):
            probabilities = tf.nn.softmax(self.model.classify_ids(ids))  # (B, C)
        return {"labels": tf.gather(self.labels, tf.argmax(probabilities, axis=1)), "probabilities": probabilities}

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="text")])
    def classify(self, text):
        result = self.classify_batch(text[None])
        return {"label": result["labels"][0], "probabilities": result["probabilities"][0]}
