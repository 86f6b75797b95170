"""What the tokenizer layers share: the reserved ids, string input checks, padding and detokenize."""

import json
import os

import keras
import tensorflow as tf

RESERVED = ("<pad>", "<unk>", "<bos>", "<eos>")  # ids 0..3; a tokenizer's own tokens start at 4
PAD_ID, UNK_ID, BOS_ID, EOS_ID = range(len(RESERVED))


class Tokenizer(keras.layers.Layer):
    """Base of `CharTokenizer` and `SubwordTokenizer`: a weightless layer from strings to ids.

    A subclass provides `vocabulary_size`, `tokenize_ragged(strings)` and
    `_ids_to_strings(ids)`; this class gives it
    - `layer(strings)`: the ids of `tokenize_ragged`, right-padded with `<pad>` (0);
    - `detokenize(ids)`: drops `<pad>` and `<bos>`, stops each row at its first `<eos>`, maps
      ids outside `[0, vocabulary_size)` to `<unk>`, then joins each row with `_ids_to_strings`;
    - the checks on string inputs (eager, graph and symbolic), with messages naming the layer
      and its class.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._convert_input_args = False  # strings, not floats
        self._allow_non_tensor_positional_args = True  # python strings and lists are fine
        self.supports_masking = False
        self.built = True  # no weights

    def _where(self):
        """How messages name this layer: "Layer 'name' (ClassName)"."""
        return f"Layer '{self.name}' ({type(self).__name__})"

    # Strings -> ids.

    def call(self, strings):
        ids = self.tokenize_ragged(strings)
        if isinstance(ids, tf.RaggedTensor):
            return ids.to_tensor(default_value=PAD_ID)
        return ids  # a scalar string: (T,) already dense

    def tokenize_ragged(self, strings):
        """tf.string (B,) -> int32 `tf.RaggedTensor` (B, None) (a scalar string gives a dense (T,))."""
        raise NotImplementedError

    def _string_tensor(self, strings):
        if not isinstance(strings, (tf.Tensor, tf.RaggedTensor, tf.Variable)):
            try:
                strings = tf.convert_to_tensor(strings)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{self._where()} expects strings (a tf.string tensor, a str or a list of str); could not "
                    f"convert the input of type {type(strings).__name__}: {error}"
                ) from None
        if strings.dtype != tf.string:
            raise ValueError(
                f"{self._where()} expects strings (a tf.string tensor, a str or a list of str); got dtype "
                f"{strings.dtype.name}. To turn ids back into text use detokenize()."
            )
        return strings

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (None,)

    def compute_output_spec(self, strings):
        if strings.dtype != "string":
            raise ValueError(
                f"{self._where()} expects strings (dtype string, e.g. keras.Input(shape=(), dtype='string')); "
                f"got dtype {strings.dtype}"
            )
        return keras.KerasTensor(self.compute_output_shape(strings.shape), dtype="int32")

    # Ids -> strings.

    def detokenize(self, ids):
        """Int ids (B, T), dense or ragged -> tf.string (B,); a single row (T,) gives a scalar.

        Per row: everything from the first `<eos>` on is cut, `<pad>` and `<bos>` are dropped,
        `<unk>` and any id >= `vocabulary_size` or < 0 are written as the tokenizer writes `<unk>`.
        """
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_tensor(default_value=PAD_ID)  # pads are dropped below
        elif not isinstance(ids, tf.Tensor):
            ids = tf.convert_to_tensor(ids)
        if not ids.dtype.is_integer:
            raise ValueError(f"{self._where()}.detokenize expects integer ids; got dtype {ids.dtype.name}")
        if ids.shape.rank == 0:
            raise ValueError(f"{self._where()}.detokenize expects ids of rank >= 1, got a scalar")
        known = (ids >= 0) & (ids < self.vocabulary_size)  # before the cast: int64 ids may not fit int32
        ids = tf.where(known, tf.cast(ids, "int32"), UNK_ID)
        before_eos = tf.math.cumsum(tf.cast(ids == EOS_ID, "int32"), axis=-1) == 0
        keep = before_eos & (ids != PAD_ID) & (ids != BOS_ID)
        if ids.shape.rank == 1:
            return self._ids_to_strings(tf.boolean_mask(ids, keep))
        return self._ids_to_strings(tf.ragged.boolean_mask(ids, keep))

    def _ids_to_strings(self, ids):
        """int32 ids in [0, vocabulary_size), no pad, bos or eos: (T,) -> scalar, ragged (B, None) -> (B,)."""
        raise NotImplementedError


def unknown_word_dropout(ids, rate, seed_generator):
    """Word dropout to `<unk>`: each word id (>= 4, not a reserved id) becomes `<unk>` with
    probability `rate`. ids (B, T) -> (B, T); padding stays padding."""
    dropped = keras.random.uniform(tf.shape(ids), seed=seed_generator) < rate
    return tf.where(dropped & (ids >= len(RESERVED)), UNK_ID, ids)


VOCABULARY_ASSET = "vocabulary.json"


class ListedVocabularyTokenizer(Tokenizer):
    """Base of the tokenizers whose vocabulary is a plain list of tokens (`CharTokenizer`,
    `WordTokenizer`): the list is in `get_config()` and in the `vocabulary.json` asset of a saved
    model. A subclass provides `get_vocabulary()` and `_set_vocabulary(vocabulary)`."""

    def get_config(self):
        return {**super().get_config(), "vocabulary": self.get_vocabulary()}

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, VOCABULARY_ASSET), "w", encoding="utf-8") as f:
            json.dump(self.get_vocabulary(), f, ensure_ascii=False)

    def load_assets(self, dir_path):
        if dir_path is None:  # a tokenizer shared by several layers has its assets saved once, with the first
            return  # (the vocabulary of the config stands)
        with open(os.path.join(dir_path, VOCABULARY_ASSET), encoding="utf-8") as f:
            vocabulary = json.load(f)
        if vocabulary != self.get_vocabulary():
            self._set_vocabulary(vocabulary)
