"""What a kind of model is for, and everything the zoo does with a model by its kind."""

import numpy as np

from zoo.training.data import dataset_of


class Task:
    """A kind of model (language model, translator, tagger, classifier, ...).

    A model class declares its task by name (`task = "language_model"`); the `zoo` command's verb
    and `zoo evaluate`, `zoo export` and `zoo.dataset` ask the task, never the model's attributes.
    Adding a kind of model touches its own files (the model class, a `Task` subclass) and one
    registry, `zoo.tasks.TASKS`.

    Attributes:
        name: the registry key model classes declare.
        title: what a model of the kind is called in messages ("a language model").
        verb: the `zoo` command that runs a model of the kind on input ("generate").
        evaluation_flags: the `zoo evaluate` options (argparse dests) that give its evaluation data.
        evaluation_usage: how to give that data ("--text-file FILE").
    """

    name = title = verb = evaluation_usage = None
    evaluation_flags = ()

    def add_verb_arguments(self, parser):
        """Adds the verb's arguments (after the model name) to its argparse sub-parser."""
        raise NotImplementedError

    def run(self, model, args):
        """Runs the verb on the parsed arguments and prints its answer."""
        raise NotImplementedError

    def add_evaluation_arguments(self, group):
        """Adds this kind's `zoo evaluate` options to an argparse group."""
        raise NotImplementedError

    def evaluate(self, model, args):
        """Scores `model` on the data the options name and prints the report."""
        raise NotImplementedError

    def export_module(self, model, **options):
        """(a tf.Module that serves `model` without the zoo, {signature name: its tf.function})."""
        raise NotImplementedError

    def dataset(self, model, data, batch_size=32, **options):
        """A user's own data as a `tf.data.Dataset` of (inputs, targets) batches that `model.fit` takes."""
        raise NotImplementedError

    def evaluation_given(self, args):
        """Whether any of this kind's evaluation options is set in `args`."""
        return any(getattr(args, flag, None) for flag in self.evaluation_flags)


def first_examples(examples, args):
    """The examples `zoo evaluate` scores: all of them, or the first `--first` N."""
    return examples if args.first is None else examples[: args.first]


def shuffled_batches(examples, batch_size, shuffle, seed, make_batch, signature):
    """A known-length `tf.data.Dataset` of `make_batch(a slice of examples)`, the examples in a random
    order (from `seed`) unless `shuffle=False`; each batch padded to its own longest example."""
    order = np.random.default_rng(seed).permutation(len(examples)) if shuffle else np.arange(len(examples))
    batches = [make_batch([examples[i] for i in order[start : start + batch_size]])
               for start in range(0, len(order), batch_size)]
    return dataset_of(batches, signature)
