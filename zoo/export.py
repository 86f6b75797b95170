"""SavedModels that serve zoo models without this package (plain `tf.saved_model.load`)."""

import tensorflow as tf

from zoo import decoding
from zoo.models import SequenceTagger
from zoo.models.sequence_classifier import TextClassifier
from zoo.text import EOS_ID


class _TextGenerator(tf.Module):
    """generate(prompt, length, temperature, seed) -> text, tokenization and the sampling loop in-graph."""

    def __init__(self, model):
        super().__init__()
        if getattr(model, "tokenizer", None) is None:
            raise ValueError("export: the model has no tokenizer saved with it, so it cannot take text")
        self.model = model
        self.tokenizer = model.tokenizer

    @tf.function(
        input_signature=[
            tf.TensorSpec((), tf.string, name="prompt"),
            tf.TensorSpec((), tf.int32, name="length"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int64, name="seed"),
        ]
    )
    def generate(self, prompt, length, temperature, seed):
        ids = self.tokenizer(prompt[None])  # (1, P)
        checks = [
            tf.debugging.assert_positive(tf.shape(ids)[1], message="generate: the prompt is empty"),
            tf.debugging.assert_non_negative(length, message="generate: `length` must be >= 0"),
            tf.debugging.assert_non_negative(temperature, message="generate: `temperature` must be >= 0 (0: greedy)"),
        ]
        with tf.control_dependencies(checks):
            capacity = tf.maximum(length, 1)

        def decode(strategy):
            return decoding.decode(self.model, ids, strategy, length, capacity).ids

        generated = tf.cond(
            temperature > 0, lambda: decode(decoding.Sample(temperature, seed=seed)), lambda: decode(decoding.Greedy())
        )
        return {"text": self.tokenizer.detokenize(generated[:, :length])[0]}


class _Translator(tf.Module):
    """translate(text) -> translation: subword tokenization, beam search and detokenization in-graph."""

    def __init__(self, model, beam_size=5, length_penalty=1.0):
        super().__init__()
        if getattr(model, "source_tokenizer", None) is None or getattr(model, "target_tokenizer", None) is None:
            raise ValueError("export: the model has no tokenizers saved with it, so it cannot take text")
        self.model = model
        self.source_tokenizer = model.source_tokenizer
        self.target_tokenizer = model.target_tokenizer
        self.beam_size = beam_size
        self.length_penalty = length_penalty

    @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="texts")])
    def translate_batch(self, texts):
        ids = self.source_tokenizer(texts)[:, : self.model.max_source_length]  # (B, S), truncated
        lengths = tf.reduce_sum(tf.cast(ids != 0, tf.int32), axis=1)  # (B,)
        check = tf.debugging.assert_positive(lengths, message="translate: a source text is empty")
        with tf.control_dependencies([check]):
            limits = decoding.default_max_lengths(lengths)
        beam = decoding.Beam(self.beam_size, self.length_penalty)
        best = decoding.decode(self.model, ids, beam, limits, eos_id=EOS_ID).ids[:, 0]  # (B, C), the best of K
        return {"translations": self.target_tokenizer.detokenize(best)}

    @tf.function(input_signature=[tf.TensorSpec((), tf.string, name="text")])
    def translate(self, text):
        return {"translation": self.translate_batch(text[None])["translations"][0]}


class _Classifier(tf.Module):
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


class _Tagger(tf.Module):
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


def export_saved_model(model, directory, beam_size=5):
    """Writes a SavedModel that serves `model` on text, for plain `tf.saved_model.load`:

    - a language model: a `generate` signature, (prompt: string, length: int32,
      temperature: float32 (0 = greedy), seed: int64) -> {"text": string};
    - a translator (`EncoderDecoder`): `translate` (text: string) -> {"translation": string}
      and `translate_batch` (texts: (B,) string) -> {"translations": (B,) string}, beam
      search of `beam_size` inside; sources longer than the model's max_source_length
      subwords are truncated;
    - a classifier (`SequenceClassifier`, `ClassifierEnsemble`): `classify` (text: string) -> {"label": string,
      "probabilities": (C,) float32} and `classify_batch` (texts: (B,) string) ->
      {"labels": (B,) string, "probabilities": (B, C) float32}; a text without words fails;
    - a tagger (`SequenceTagger`): `tag` (text: string) -> {"words": (T,) string, "tags": (T,)
      string}, the text split on whitespace; `tag_words` (words: (B, T) string, right-padded
      with "") -> {"tags": (B, T) string, "" at padding}.

    Load it in a process with only TensorFlow and tensorflow_text (keep a reference to the
    loaded object while calling it). Export on a CPU machine.
    """
    if isinstance(model, TextClassifier):
        module = _Classifier(model)
        signatures = {"classify": module.classify, "classify_batch": module.classify_batch}
    elif isinstance(model, SequenceTagger):
        module = _Tagger(model)
        signatures = {"tag": module.tag, "tag_words": module.tag_words}
    elif hasattr(model, "decode_step"):
        if not model.built:
            model.build()
        module = _Translator(model, beam_size=beam_size)
        signatures = {"translate": module.translate, "translate_batch": module.translate_batch}
    else:
        if not model.built:  # build the variables eagerly, not inside the traced function
            model.decoding_start(tf.ones((1, 1), tf.int32))
        module = _TextGenerator(model)
        signatures = {"generate": module.generate}
    tf.saved_model.save(module, str(directory), signatures=signatures)
    return directory
