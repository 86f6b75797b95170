"""SavedModels that serve zoo models without this package (plain `tf.saved_model.load`)."""

import tensorflow as tf

from zoo.tasks import task_of


def export_saved_model(model, directory, **options):
    """Writes a SavedModel that serves `model` on raw input, for plain `tf.saved_model.load`; the
    model's task (`zoo.tasks`) decides its signatures:

    - a language model: `generate` (prompt: string, length: int32, temperature: float32 (0 =
      greedy), seed: int64) -> {"text": string};
    - a translator: `translate` (text: string) -> {"translation": string} and `translate_batch`
      (texts: (B,) string) -> {"translations": (B,) string}, beam search of `beam_size` (an
      option, default 5) inside; sources longer than the model's max_source_length subwords are
      truncated;
    - a classifier: `classify` (text: string) -> {"label": string, "probabilities": (C,) float32}
      and `classify_batch` (texts: (B,) string) -> {"labels": (B,) string, "probabilities": (B, C)
      float32}; a text without words fails;
    - a tagger: `tag` (text: string) -> {"words": (T,) string, "tags": (T,) string}, the text
      split on whitespace; `tag_words` (words: (B, T) string, right-padded with "") -> {"tags":
      (B, T) string, "" at padding}.
    - an image model: `sample` (count: int32, seed: int64) -> {"images": (count, R, C) uint8, 0 or
      255}, drawn pixel by pixel in the graph; `log_likelihood` (images: (B, R, C) uint8, read as
      binary: value > 0) -> {"nats": (B,) float32, -log p(x)}.

    Load it in a process with only TensorFlow and tensorflow_text (keep a reference to the
    loaded object while calling it). Export on a CPU machine.
    """
    module, signatures = task_of(model).export_module(model, **options)
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory
