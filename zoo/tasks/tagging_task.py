"""Sequence taggers: tag a sentence, score CoNLL-U, serve `tag`, fine-tune on tagged sentences."""

import numpy as np
import tensorflow as tf

from zoo.corpora import TaggedSentence, read_conllu
from zoo.evaluation import tagging_accuracy
from zoo.tasks.task import Task, first_examples, shuffled_batches


class TaggingTask(Task):
    """One tag per word (`SequenceTagger`: universal POS tags)."""

    name, title, verb = "tagging", "a tagger", "tag"
    evaluation_flags, evaluation_usage = ("conllu",), "--conllu FILE"

    def add_verb_arguments(self, parser):
        parser.add_argument("text")

    def run(self, model, args):
        """Prints each word of a sentence (split on whitespace) and its tag."""
        for word, tag in model.tag([args.text])[0]:
            print(f"{word}\t{tag}")

    def add_evaluation_arguments(self, group):
        group.add_argument("--conllu", help="a CoNLL-U file, for a tagger (UPOS accuracy, gold tokenization)")

    def evaluate(self, model, args):
        """UPOS accuracy on a CoNLL-U file, with its gold tokenization."""
        result = tagging_accuracy(model, first_examples(read_conllu(args.conllu), args))
        print(f"{args.name} on {args.conllu} ({result['words']:,} words, {result['sentences']:,} sentences, "
              f"gold tokenization)")
        print(f"  UPOS accuracy         {result['accuracy']:.2%}")
        print(f"  unseen-word accuracy  {result['unseen_accuracy']:.2%}   ({result['unseen_words']:,} words outside "
              f"the word vocabulary)")

    def export_module(self, model, **options):
        module = TaggerModule(model)
        return module, {"tag": module.tag, "tag_words": module.tag_words}

    def dataset(self, model, data, batch_size=32, shuffle=True, seed=None):
        """(words (B, T) string padded with "", tag ids (B, T) int32, 0 at padding: the model masks it)
        from a CoNLL-U file (path; its UPOS column) or a list of (words, tags) sentences; every tag
        must be one of `model.tags`."""
        if isinstance(data, (list, tuple)):
            sentences = [TaggedSentence(*_sentence(number, pair)) for number, pair in enumerate(data)]
        else:
            sentences = read_conllu(data)
        if not sentences:
            raise ValueError("dataset: no sentences")
        index = {tag: i for i, tag in enumerate(model.tags)}
        unknown = sorted({t for s in sentences for t in s.tags} - set(index))
        if unknown:
            raise ValueError(f"dataset: tags the model does not have: {', '.join(unknown)} (its tags: "
                             f"{', '.join(model.tags)})")
        signature = (tf.TensorSpec((None, None), tf.string), tf.TensorSpec((None, None), tf.int32))
        return shuffled_batches(sentences, batch_size, shuffle, seed, lambda b: padded_batch(b, index), signature)


def padded_batch(sentences, tag_index):
    """(words (B, T) str padded with "", tag ids (B, T) int32 padded with 0: masked by the model)."""
    width = max(len(s.words) for s in sentences)
    words = np.array([list(s.words) + [""] * (width - len(s.words)) for s in sentences], dtype=object)
    tags = np.array([[tag_index[t] for t in s.tags] + [0] * (width - len(s.tags)) for s in sentences], np.int32)
    return words, tags


def _sentence(number, pair):
    if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
        raise ValueError(f"dataset: sentence {number} is {pair!r}, not a (words, tags) pair")
    words, tags = (tuple(part.split()) if isinstance(part, str) else tuple(part) for part in pair)
    if not words or len(words) != len(tags):
        raise ValueError(f"dataset: sentence {number} has {len(words)} words and {len(tags)} tags: give one tag a word")
    return words, tags


class TaggerModule(tf.Module):
    """tag(text) -> words and tags (whitespace tokenization in-graph); tag_words(words) -> tags."""

    def __init__(self, model):
        super().__init__()
        model.build()
        self.model = model

    @tf.function(input_signature=[tf.TensorSpec((None, None), tf.string, name="words")])
    def tag_words(self, words):
        return {"tags": self.model.tag_words(words)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="text")])
    def tag(self, text):
        words = self.model.split(text[None])  # (1, T)
        check = tf.debugging.assert_positive(tf.shape(words)[1], message="tag: the text has no words")
        with tf.control_dependencies([check]):
            tags = self.model.tag_words(words)
        return {"words": words[0], "tags": tags[0]}
