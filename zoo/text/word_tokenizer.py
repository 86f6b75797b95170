"""A word tokenizer (whitespace split, fixed vocabulary) as a Keras layer, usable in graphs and SavedModels."""

import collections

import keras
import tensorflow as tf
import tensorflow_text

from zoo.text.tokenizer import BOS_ID, EOS_ID, RESERVED, UNK_ID, ListedVocabularyTokenizer

# Reserved tokens that may appear as words in text and map to their own ids: PTB writes every
# rare word as "<unk>"; a language model's text may mark sentence ends with "<eos>".
WORDS_WITH_RESERVED_IDS = {"<unk>": UNK_ID, "<bos>": BOS_ID, "<eos>": EOS_ID}

_SPLITTER = tensorflow_text.WhitespaceTokenizer()  # stateless; core TF ops, no custom op in a SavedModel


@keras.saving.register_keras_serializable(package="zoo")
class WordTokenizer(ListedVocabularyTokenizer):
    """Maps strings to word ids and back: words are the whitespace-separated pieces of a string.

    Ids 0..3 are reserved (`RESERVED`); word `vocabulary[i]` has id `4 + i`. A word outside the
    vocabulary maps to `<unk>` (1); the words "<unk>", "<bos>" and "<eos>" in text map to their
    reserved ids.

    - `layer(strings)`: tf.string (B,) -> int32 (B, T), right-padded with 0 (a scalar gives (T,)).
    - `split(strings)`: the words themselves, tf.string ragged (B, None) (a scalar gives (T,)).
    - `lookup(words)`: tf.string words of any shape (dense or ragged) -> int32 ids of that shape;
      for text that is already tokenized (the empty string maps to `<pad>`, 0).
    - `detokenize(ids)`: -> tf.string (B,), words joined by single spaces (see `Tokenizer`).

    Args:
        vocabulary: list of distinct words (non-empty, no whitespace, not a reserved token).
            `WordTokenizer.from_texts` counts them from training text.
        lowercase: lowercase (UTF-8) every word before the lookup (the vocabulary must then be
            lowercase too).
    """

    def __init__(self, vocabulary, lowercase=False, **kwargs):
        super().__init__(**kwargs)
        self.lowercase = bool(lowercase)
        self._set_vocabulary(vocabulary)

    @classmethod
    def from_texts(cls, texts, min_count=1, max_size=None, lowercase=False, **kwargs):
        """A tokenizer of the words of `texts` (an iterable of str) seen at least `min_count` times,
        the most frequent first (ties in first-seen order), at most `max_size` of them."""
        counts = collections.Counter()
        for text in texts:
            if not isinstance(text, str):
                raise ValueError(f"WordTokenizer.from_texts expects str texts, got {type(text).__name__}")
            counts.update(text.lower().split() if lowercase else text.split())
        words = [w for w, n in counts.most_common() if n >= min_count and w not in RESERVED]
        if not words:
            raise ValueError(f"WordTokenizer.from_texts: no word occurs {min_count} or more times in the texts")
        return cls(words[:max_size], lowercase=lowercase, **kwargs)

    # Vocabulary.

    @property
    def vocabulary_size(self):
        """Number of ids: the 4 reserved ones plus one per word."""
        return len(RESERVED) + len(self._words)

    def get_vocabulary(self):
        """The words, in id order (id 4 first)."""
        return list(self._words)

    def _set_vocabulary(self, vocabulary):
        words = self._checked_vocabulary(vocabulary)
        keys = words + list(WORDS_WITH_RESERVED_IDS) + [""]
        values = list(range(len(RESERVED), len(RESERVED) + len(words))) + list(WORDS_WITH_RESERVED_IDS.values()) + [0]
        with tf.init_scope():  # the table is the layer's state, created eagerly even inside a trace
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(keys), tf.constant(values, "int32")),
                default_value=UNK_ID,
            )
        self._words = tuple(words)

    def _checked_vocabulary(self, vocabulary):
        where = self._where()
        if isinstance(vocabulary, (str, bytes)):
            raise ValueError(f"{where}: `vocabulary` must be a list of words, got a {type(vocabulary).__name__}")
        try:
            entries = list(vocabulary)
        except TypeError:
            raise ValueError(f"{where}: `vocabulary` must be a list of words, got {type(vocabulary).__name__}") from None
        if not entries:
            raise ValueError(f"{where}: `vocabulary` is empty; it needs at least one word")
        seen = {}
        for i, entry in enumerate(entries):
            if not isinstance(entry, str) or not entry or entry.split() != [entry]:
                raise ValueError(
                    f"{where}: vocabulary entry {i} is {entry!r}; every entry must be a non-empty str "
                    f"without whitespace"
                )
            if entry in RESERVED:
                raise ValueError(
                    f"{where}: vocabulary entry {i} is the reserved token {entry!r}; the reserved ids 0-3 "
                    f"{RESERVED} are added by the tokenizer"
                )
            if self.lowercase and entry != entry.lower():
                raise ValueError(
                    f"{where}: vocabulary entry {i} ({entry!r}) is not lowercase, but the tokenizer lowercases "
                    f"its input (lowercase=True), so it could never match"
                )
            if entry in seen:
                raise ValueError(f"{where}: vocabulary entry {i} ({entry!r}) duplicates entry {seen[entry]}")
            seen[entry] = i
        return [str(entry) for entry in entries]

    # Strings -> ids.

    def split(self, strings):
        """tf.string (B,) -> the words, tf.string ragged (B, None) (a scalar string gives (T,))."""
        return _SPLITTER.tokenize(self._string_tensor(strings))

    def lookup(self, words):
        """tf.string words, any shape, dense or ragged -> int32 ids of the same shape ("" -> 0)."""
        words = self._string_tensor(words)
        if self.lowercase:
            lower = lambda w: tf.strings.lower(w, encoding="utf-8")  # noqa: E731
            words = tf.ragged.map_flat_values(lower, words) if isinstance(words, tf.RaggedTensor) else lower(words)
        if isinstance(words, tf.RaggedTensor):
            return tf.ragged.map_flat_values(self._table.lookup, words)
        return self._table.lookup(words)

    def tokenize_ragged(self, strings):
        """tf.string (B,) -> int32 `tf.RaggedTensor` (B, None) (a scalar string gives a dense (T,))."""
        return self.lookup(self.split(strings))

    # Ids -> strings.

    def _ids_to_strings(self, ids):
        table = tf.constant(list(RESERVED) + list(self._words))
        return tf.strings.reduce_join(tf.gather(table, ids), axis=-1, separator=" ")

    def get_config(self):
        return {**super().get_config(), "lowercase": self.lowercase}
