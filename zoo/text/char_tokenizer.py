"""A character (Unicode code point) tokenizer as a Keras layer, usable in graphs and SavedModels."""

import keras
import tensorflow as tf
import tensorflow_text

from zoo.text.tokenizer import RESERVED, UNK_ID, ListedVocabularyTokenizer

REPLACEMENT_CHARACTER = "\ufffd"  # what <unk> (and any id outside the vocabulary) detokenizes to

# Splits UTF-8 strings into code points (and joins them back). Built from core TensorFlow ops
# (UnicodeDecode / UnicodeEncode), so graphs using it need no custom op to run. Stateless.
_SPLITTER = tensorflow_text.UnicodeCharTokenizer()


@keras.saving.register_keras_serializable(package="zoo")
class CharTokenizer(ListedVocabularyTokenizer):
    """Maps strings to character ids and back.

    Ids 0..3 are reserved (`RESERVED`: `<pad>`, `<unk>`, `<bos>`, `<eos>`); character
    `vocabulary[i]` has id `4 + i`. A character outside the vocabulary (and any byte that is
    not valid UTF-8) maps to `<unk>` (1).

    - `layer(strings)`: tf.string (B,) -> int32 (B, T), right-padded with 0, T = longest string
      (a scalar string gives (T,)). Works in `tf.function`s and exported SavedModels (the
      code point -> id table is a `tf.lookup.StaticHashTable` owned by the layer).
    - `tokenize_ragged(strings)`: the same ids as a `tf.RaggedTensor` (B, None).
    - `detokenize(ids)`: int ids (B, T), dense or ragged -> tf.string (B,): drops `<pad>` and
      `<bos>`, stops each row at its first `<eos>`, writes `<unk>` as U+FFFD.

    The vocabulary is in `get_config()` and also saved as the `vocabulary.json` asset of a
    `.keras` file (a JSON list of characters).

    Args:
        vocabulary: list of distinct single characters (e.g. `sorted(set(text))`, or use
            `CharTokenizer.from_text(text)`).
    """

    def __init__(self, vocabulary, **kwargs):
        super().__init__(**kwargs)
        self._set_vocabulary(vocabulary)

    @classmethod
    def from_text(cls, text, **kwargs):
        """A tokenizer whose vocabulary is the sorted set of the characters of `text`."""
        if not isinstance(text, str):
            raise ValueError(f"CharTokenizer.from_text expects a str, got {type(text).__name__}")
        return cls(sorted(set(text)), **kwargs)

    # Vocabulary.

    @property
    def vocabulary_size(self):
        """Number of ids: the 4 reserved ones plus one per character."""
        return len(RESERVED) + len(self._characters)

    def get_vocabulary(self):
        """The characters, in id order (id 4 first)."""
        return list(self._characters)

    def _set_vocabulary(self, vocabulary):
        vocabulary = self._checked_vocabulary(vocabulary)
        codepoints = [ord(c) for c in vocabulary]
        with tf.init_scope():  # the table is the layer's state, created eagerly even inside a trace
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(codepoints, dtype="int32"),
                    tf.range(len(RESERVED), len(RESERVED) + len(codepoints), dtype="int32"),
                ),
                default_value=UNK_ID,
            )
        # A str, not a list: attribute tracking leaves it alone (lists get wrapped).
        self._characters = "".join(vocabulary)

    def _checked_vocabulary(self, vocabulary):
        where = self._where()
        if isinstance(vocabulary, (str, bytes)):
            raise ValueError(
                f"{where}: `vocabulary` must be a list of single characters, got a {type(vocabulary).__name__} "
                f"({vocabulary[:20]!r}...); use list(...) or CharTokenizer.from_text(text)"
            )
        try:
            entries = list(vocabulary)
        except TypeError:
            raise ValueError(
                f"{where}: `vocabulary` must be a list of single characters, got {type(vocabulary).__name__}"
            ) from None
        if not entries:
            raise ValueError(f"{where}: `vocabulary` is empty; it needs at least one character")
        seen = {}
        for i, entry in enumerate(entries):
            if entry in RESERVED:
                raise ValueError(
                    f"{where}: vocabulary entry {i} is the reserved token {entry!r}; the reserved ids "
                    f"0-3 {RESERVED} are added by the tokenizer, the vocabulary lists characters only"
                )
            if not isinstance(entry, str) or len(entry) != 1:
                size = f"{len(entry)} characters" if isinstance(entry, str) else type(entry).__name__
                raise ValueError(
                    f"{where}: vocabulary entry {i} is {entry!r} ({size}); every entry must be a single "
                    f"character (a str of length 1, one Unicode code point)"
                )
            if 0xD800 <= ord(entry) <= 0xDFFF:
                raise ValueError(
                    f"{where}: vocabulary entry {i} is the lone surrogate {entry!r}, which is not a "
                    f"character UTF-8 text can hold"
                )
            if entry in seen:
                raise ValueError(
                    f"{where}: vocabulary entry {i} ({entry!r}) duplicates entry {seen[entry]}; "
                    f"characters must be distinct"
                )
            seen[entry] = i
        return [str(entry) for entry in entries]  # plain str (not numpy.str_), for JSON

    # Strings -> ids.

    def tokenize_ragged(self, strings):
        """tf.string (B,) -> int32 `tf.RaggedTensor` (B, None) (a scalar string gives a dense (T,))."""
        codepoints = _SPLITTER.tokenize(self._string_tensor(strings))
        if isinstance(codepoints, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, codepoints)
        return self._table.lookup(codepoints)

    # Ids -> strings: `detokenize` (Tokenizer) writes `<unk>` (and any id outside the vocabulary) as U+FFFD.

    def _ids_to_strings(self, ids):
        # id -> code point; the reserved ids become U+FFFD (only <unk> is left by detokenize).
        table = [ord(REPLACEMENT_CHARACTER)] * len(RESERVED) + [ord(c) for c in self._characters]
        return _SPLITTER.detokenize(tf.gather(tf.constant(table, "int32"), ids))
