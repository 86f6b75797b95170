"""Evaluation: language models on running text, translators by BLEU, taggers and classifiers by accuracy."""

import collections
import math

import numpy as np
import tensorflow as tf

from zoo.corpora import read_labelled_tsv
from zoo.text import UNK_ID, WordTokenizer


def running_text_ids(tokenizer, text):
    """A text as a language model reads it: (ids (N,) int32, unknown (N,) bool).

    A `WordTokenizer` reads each line's words followed by `<eos>` (Mikolov's PTB files hold one
    sentence a line, and Zaremba et al.'s reader turns every newline into `<eos>`); any other
    tokenizer (characters) reads the whole text, newlines included. `unknown` is True where a
    token outside the vocabulary became `<unk>`; a word written "<unk>" in the text (PTB's rare
    words) is a token of the vocabulary, not unknown.
    """
    if not isinstance(tokenizer, WordTokenizer):
        ids = tokenizer.tokenize_ragged(tf.constant([text]))[0].numpy()
        return ids, ids == UNK_ID
    lines = tokenizer.split(tf.constant(text.splitlines(), tf.string))  # (L, None) words
    ends = tf.RaggedTensor.from_tensor(tf.fill([lines.nrows(), 1], "<eos>"))  # (L, 1)
    words = tf.concat([lines, ends], axis=1).flat_values  # (N,)
    ids = tokenizer.lookup(words).numpy()
    return ids, (ids == UNK_ID) & (words.numpy() != b"<unk>")


def language_model_loss(model, ids, segment_length=1024):
    """Cross-entropy of a `RecurrentLanguageModel` on one running text, every token scored once.

    The text is read in segments with the recurrent state carried from one to the next, so
    token t+1 is predicted from all of ids[0..t] (as Zaremba et al. evaluate on PTB).

    Args:
        ids: 1-D int sequence of token ids (the first one is context only).
        segment_length: tokens per forward call; changes speed, not the result.

    Returns:
        dict with `nats` (mean nats/token), `bits` (bits/token), `perplexity`, `tokens` scored.
    """
    ids = np.asarray(ids, dtype="int32")
    if ids.ndim != 1 or len(ids) < 2:
        raise ValueError(f"language_model_loss needs a 1-D text of at least 2 tokens; got shape {ids.shape}")
    states, total = None, 0.0

    @tf.function(reduce_retracing=True)
    def segment_loss(inputs, targets, states):
        logits, states = model.encode(inputs[None, :], states)  # (1, T, V)
        losses = tf.nn.sparse_softmax_cross_entropy_with_logits(targets[None, :], logits)
        return tf.reduce_sum(losses), states

    for start in range(0, len(ids) - 1, segment_length):
        inputs = ids[start : start + segment_length]
        targets = ids[start + 1 : start + 1 + segment_length]
        inputs = inputs[: len(targets)]
        if states is None:
            states = model.initial_states(1)
        loss, states = segment_loss(tf.constant(inputs), tf.constant(targets), states)
        total += float(loss)
    tokens = len(ids) - 1
    nats = total / tokens
    return {"nats": nats, "bits": nats / math.log(2), "perplexity": math.exp(nats), "tokens": tokens}


def corpus_bleu(hypotheses, references):
    """BLEU of detokenized translations against one reference each, two ways:

    - `sacrebleu`: sacreBLEU's default (cased, its 13a tokenizer), the number to report;
    - `lowercased_bleu`: the same on lowercased text, comparable with tutorials that score
      lowercased tokens.
    """
    import sacrebleu

    if len(hypotheses) != len(references):
        raise ValueError(f"corpus_bleu: {len(hypotheses)} hypotheses for {len(references)} references")
    cased, lowercased = sacrebleu.BLEU(), sacrebleu.BLEU(lowercase=True)
    cased_score = cased.corpus_score(hypotheses, [references])
    return {
        "sacrebleu": round(cased_score.score, 2),
        "lowercased_bleu": round(lowercased.corpus_score(hypotheses, [references]).score, 2),
        "signature": str(cased.get_signature()),
        "sentences": len(hypotheses),
    }



def tagging_accuracy(model, sentences, batch_size=64):
    """Per-word accuracy of a `SequenceTagger` on gold-tokenized sentences.

    Args:
        sentences: `zoo.corpora.TaggedSentence`s (words, gold tags); a gold tag the model does
            not know counts as an error.

    Returns:
        dict with `accuracy`, `words`, `sentences`, and `unseen_accuracy` / `unseen_words` over
        the words outside the model's word vocabulary (read as `<unk>`: tagged from their spelling).
    """
    if not sentences:
        raise ValueError("tagging_accuracy: no sentences to evaluate")
    tag_ids = tf.function(model.tag_ids, input_signature=[tf.TensorSpec((None, None), tf.string)])
    index = {tag: i for i, tag in enumerate(model.tags)}
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i].words))  # similar lengths batch together
    correct = unseen_correct = unseen = words = 0
    for start in range(0, len(order), batch_size):
        batch = [sentences[i] for i in order[start : start + batch_size]]
        width = max(len(s.words) for s in batch)
        padded = tf.constant([list(s.words) + [""] * (width - len(s.words)) for s in batch])
        predicted, ids = tag_ids(padded).numpy(), model.word_tokenizer.lookup(padded).numpy()
        for row, sentence in enumerate(batch):
            n = len(sentence.words)
            gold = np.array([index.get(tag, -2) for tag in sentence.tags])
            right = predicted[row, :n] == gold
            is_unseen = ids[row, :n] == UNK_ID
            correct += int(right.sum())
            unseen_correct += int(right[is_unseen].sum())
            unseen += int(is_unseen.sum())
            words += n
    return {
        "accuracy": correct / words,
        "words": words,
        "sentences": len(sentences),
        "unseen_accuracy": unseen_correct / unseen if unseen else float("nan"),
        "unseen_words": unseen,
    }


def classification_accuracy(model, sentences, labels):
    """The share of `sentences` a `SequenceClassifier` labels as `labels` (ids): a dict with
    `accuracy`, `correct`, `count`."""
    _, probabilities = model.classify(sentences)
    correct = int((probabilities.argmax(axis=1) == np.asarray(labels)).sum())
    return {"accuracy": correct / len(labels), "correct": correct, "count": len(labels)}


def evaluate_tsv(model, path):
    """`classification_accuracy` of a `SequenceClassifier` on a `sentence<TAB>label` file (what `zoo evaluate --tsv`
    prints and the SST-2 recipe writes into the model card)."""
    sentences, labels = read_labelled_tsv(path, len(model.labels))
    return classification_accuracy(model, sentences, labels)


def tree_evaluation(model, trees, batch_size=64):
    """A `TreeClassifier` on labelled trees, with the gold trees and with the trees it builds itself
    from the same words:

    - `sst2_root`: root accuracy over the trees whose gold root is not neutral, positive when
      p_3 + p_4 > p_0 + p_1 (the SST-2 view);
    - `sst5_root`: five-label root accuracy over every tree;
    - `phrases`: five-label accuracy over every node of the gold trees; with the own trees, over the
      gold phrases that are also nodes of the own tree (`phrases_found` of `phrases_total` of them);
    - `bracket_f1`, `exact_trees`: the own trees' unlabeled brackets (spans of 2 .. n-1 words, micro
      F1 = precision = recall: both trees are binary) against the gold ones.

    Returns {"gold": {...}, "own": {...}, "trees": count, "sst2_trees": count}.
    """
    from zoo.trees import NEUTRAL, spans, tensors_to_trees, trees_to_tensors

    if not trees:
        raise ValueError("tree_evaluation: no trees to evaluate")
    node_logits = tf.function(model.node_logits, reduce_retracing=True)
    counts = {"gold": collections.Counter(), "own": collections.Counter()}
    order = sorted(range(len(trees)), key=lambda i: len(trees[i].words))
    for start in range(0, len(order), batch_size):
        batch = [trees[i] for i in order[start : start + batch_size]]
        longest = max(len(tree.words) for tree in batch)
        t = trees_to_tensors(batch, max_words=-(-longest // 8) * 8)  # widths in steps of 8: fewer traces
        words = tf.constant(t["words"])
        own_children, own_mask = model.parser(words)
        for kind, children, mask in (("gold", t["children"], t["node_mask"]), ("own", own_children, own_mask)):
            logits = node_logits(words, children, mask)  # (B, N, 5)
            positive = model.sst2_logits(logits, children, mask).numpy().argmax(-1) == 1  # (B,)
            own_trees = tensors_to_trees(children, mask, t["words"], labels=logits.numpy().argmax(-1))
            for gold, own, root_positive in zip(batch, own_trees, positive):
                _count_tree(counts[kind], gold, own, root_positive, NEUTRAL, spans)
    return {
        "trees": len(trees),
        "sst2_trees": counts["gold"]["sst2_total"],
        **{kind: _tree_rates(c) for kind, c in counts.items()},
    }


def _count_tree(counter, gold, own, root_positive, neutral, spans):
    """Adds one tree's right answers and totals to `counter` (see `tree_evaluation`); `own` holds the
    argmax label of every node, `root_positive` the SST-2 decision at its root."""
    gold_labels, own_labels = _labelled_spans(gold), _labelled_spans(own)
    counter["sst5_right"] += own.label == gold.label
    if gold.label != neutral:
        counter["sst2_total"] += 1
        counter["sst2_right"] += root_positive == (gold.label > neutral)
    shared = gold_labels.keys() & own_labels.keys()
    counter["phrases_found"] += len(shared)
    counter["phrases_total"] += len(gold_labels)
    counter["phrases_right"] += sum(gold_labels[span] == own_labels[span] for span in shared)
    n = len(gold.words)
    brackets = [{(i, j) for i, j in spans(tree) if 0 < j - i < n - 1} for tree in (gold, own)]
    counter["brackets_matched"] += len(brackets[0] & brackets[1])
    counter["brackets_total"] += len(brackets[0])
    counter["exact_trees"] += brackets[0] == brackets[1]
    counter["trees"] += 1


def _labelled_spans(tree):
    """{(first, last) word position: label} of every node of `tree`."""
    found, position = {}, 0

    def walk(node):
        nonlocal position
        if node.word is not None:
            first = last = position
            position += 1
        else:
            (first, _), (_, last) = walk(node.children[0]), walk(node.children[1])
        found[(first, last)] = node.label
        return first, last

    walk(tree)
    return found


def _tree_rates(c):
    return {
        "sst2_root": c["sst2_right"] / max(c["sst2_total"], 1),
        "sst5_root": c["sst5_right"] / c["trees"],
        "phrases": c["phrases_right"] / max(c["phrases_found"], 1),
        "phrases_found": c["phrases_found"],
        "phrases_total": c["phrases_total"],
        "bracket_f1": c["brackets_matched"] / max(c["brackets_total"], 1),
        "exact_trees": c["exact_trees"] / c["trees"],
    }
