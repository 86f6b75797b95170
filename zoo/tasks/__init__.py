"""Tasks: what each kind of model is for (see `Task`), and the one registry of them.

    model class (declares `task = NAME`)  ->  TASKS[NAME]  ->  its CLI verb, evaluation,
                                                              SavedModel signatures, fit data
"""

from zoo.tasks.classification_task import ClassificationTask
from zoo.tasks.image_model_task import ImageModelTask
from zoo.tasks.language_model_task import LanguageModelTask
from zoo.tasks.tagging_task import TaggingTask
from zoo.tasks.task import Task
from zoo.tasks.translation_task import TranslationTask

# The one registry: a model class's `task` names one of these.
TASKS = {task.name: task for task in (LanguageModelTask(), TranslationTask(), TaggingTask(), ClassificationTask(),
                                           ImageModelTask())}


def task_of(model):
    """The `Task` that `model`'s class declares; a ValueError for a model that declares none."""
    name = getattr(type(model), "task", None)
    if name not in TASKS:
        raise ValueError(f"{type(model).__name__} declares no zoo task (a `task` class attribute naming one of "
                         f"{', '.join(TASKS)}): the zoo does not know what it is for")
    return TASKS[name]


def require_task(model, task, name):
    """`task` if `model` (loaded as `name`) is of that kind, else a ValueError naming both kinds."""
    actual = task_of(model)
    if actual is not task:
        raise ValueError(f"{name} is {actual.title} ({type(model).__name__}), not {task.title}: "
                         f"use `zoo {actual.verb}` and `zoo evaluate {name} {actual.evaluation_usage}`")
    return task


def dataset(model, data, batch_size=32, **options):
    """A user's own data as batches that `model.fit` takes, the one way for each kind of model:

    - a language model: a text file (path) or a list of texts -> (ids (B, T), next ids (B, T))
      windows of `sequence_length` tokens (default 128), shuffled;
    - a translator: a pair of line-aligned files (source path, target path) or a list of
      (source, target) sentence pairs -> ((source ids, <bos> target ids), target ids <eos>);
    - a tagger: a CoNLL-U file (path) or a list of (words, tags) sentences -> (words, tag ids);
    - a classifier: a `sentence<TAB>label` file (path) or a list of (sentence, label) pairs,
      labels given by name or id -> (sentences, label ids);
    - an image model: an image file (path) or an array of 0-255 images (N, R, C) -> (binary images,
      binary images), binarized once.

    Every batch is read with the model's own tokenizers and vocabularies, so `model.fit(zoo.dataset(
    model, data), epochs=...)` fine-tunes a model from `zoo.load(name)`.
    """
    return task_of(model).dataset(model, data, batch_size=batch_size, **options)


__all__ = ["Task", "TASKS", "task_of", "require_task", "dataset", "LanguageModelTask", "TranslationTask", "TaggingTask",
           "ClassificationTask", "ImageModelTask"]
