"""Labelled sentence files (`sentence<TAB>label`) and a classifier's accuracy on them."""

from pathlib import Path

import numpy as np

from zoo.corpora import read_text

HEADER_LABEL = "label"  # a first line `sentence<TAB>label` is a header


def read_labelled_tsv(path, num_labels=2):
    """(sentences, label ids) of a UTF-8 file of `sentence<TAB>label` lines (GLUE's SST-2 format).

    The label is an integer id in [0, num_labels). An optional first line `sentence<TAB>label` is a
    header; blank lines are skipped. Raises ValueError naming the file (and the line, or the byte
    offset of text that is not UTF-8) on a missing file, bad bytes, a line without exactly one tab,
    an empty sentence, a label outside the ids, or a file without examples.
    """
    path = Path(path)
    text = read_text(path)
    sentences, labels = [], []
    allowed = [str(i) for i in range(num_labels)]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 2:
            raise ValueError(f"{path}, line {number}: expected `sentence<TAB>label`, found {len(fields) - 1} tabs")
        sentence, label = fields[0].strip(), fields[1].strip()
        if number == 1 and label == HEADER_LABEL:
            continue
        if not sentence:
            raise ValueError(f"{path}, line {number}: the sentence is empty")
        if label not in allowed:
            raise ValueError(f"{path}, line {number}: label {label!r} is not one of {', '.join(allowed)}")
        sentences.append(sentence)
        labels.append(int(label))
    if not sentences:
        raise ValueError(f"{path} holds no `sentence<TAB>label` lines: nothing to evaluate")
    return sentences, labels


def accuracy(model, sentences, labels):
    """The share of `sentences` a `SequenceClassifier` labels as `labels` (ids): a dict with
    `accuracy`, `correct`, `count`."""
    _, probabilities = model.classify(sentences)
    correct = int((probabilities.argmax(axis=1) == np.asarray(labels)).sum())
    return {"accuracy": correct / len(labels), "correct": correct, "count": len(labels)}


def evaluate_tsv(model, path):
    """`accuracy` of a `SequenceClassifier` on a `sentence<TAB>label` file (what `zoo evaluate --tsv`
    prints and the SST-2 recipe writes into the model card)."""
    sentences, labels = read_labelled_tsv(path, len(model.labels))
    return accuracy(model, sentences, labels)
