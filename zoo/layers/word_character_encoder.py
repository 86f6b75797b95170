"""A word's vector from its characters: a bidirectional LSTM over the characters of each word."""

import keras
import tensorflow as tf

from zoo.layers.bidirectional import Bidirectional
from zoo.layers.lstm import LSTM


@keras.saving.register_keras_serializable(package="zoo")
class WordCharacterEncoder(keras.layers.Layer):
    """Encodes each word (a string) from its characters (Ling et al. 2015; Plank et al. 2016):

        c_1 .. c_n = characters of w (at most `max_word_length`)
        v(w) = [h->_n ; h<-_1] of BiLSTM(E_c[c_1] .. E_c[c_n])        (2U,)

    so a word never seen in training still gets a vector from its spelling (suffixes, capitals,
    digits, hyphens). Each distinct word of a batch is encoded once (`tf.unique`), then
    gathered back into place. The empty string (padding) encodes to zeros.

    Args:
        char_tokenizer: a `zoo.text.CharTokenizer` (saved in the config).
        embedding_dim: E, of the character embeddings.
        units: U, per direction.
        max_word_length: characters read per word (longer words are cut).

    Call: words tf.string (...) -> float32 (..., 2U).
    """

    def __init__(self, char_tokenizer, embedding_dim=32, units=64, max_word_length=24, **kwargs):
        super().__init__(**kwargs)
        if isinstance(char_tokenizer, dict):
            char_tokenizer = keras.saving.deserialize_keras_object(char_tokenizer)
        self._convert_input_args = False  # strings
        self.char_tokenizer = char_tokenizer
        self.embedding_dim = embedding_dim
        self.units = units
        self.max_word_length = max_word_length
        self.embedding = keras.layers.Embedding(char_tokenizer.vocabulary_size, embedding_dim, name="char_embedding")
        # The batch of distinct words changes size every batch: XLA would compile each size anew,
        # so the character loop runs in TensorFlow's graph executor.
        self.encoder = Bidirectional(LSTM(units, jit_compile=False, name="char_lstm"), name="char_bilstm")

    def build(self, input_shape):
        self.embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))

    def call(self, words):
        shape = tf.shape(words)
        unique, position = tf.unique(tf.reshape(words, [-1]))  # (U,), (N,)
        chars = self.char_tokenizer.tokenize_ragged(unique)[:, : self.max_word_length].to_tensor()  # (U, C)
        chars = tf.pad(chars, [[0, 0], [0, tf.maximum(1 - tf.shape(chars)[1], 0)]])  # C >= 1, for all-empty batches
        encoded = self.encoder(self.embedding(chars), mask=chars != 0)  # (U, 2U)
        vectors = tf.reshape(tf.gather(encoded, position), tf.concat([shape, [2 * self.units]], axis=0))
        vectors.set_shape(words.shape.concatenate([2 * self.units]))
        return vectors  # (..., 2U)

    def compute_output_spec(self, words):
        return keras.KerasTensor(tuple(words.shape) + (2 * self.units,), dtype=self.compute_dtype)

    def get_config(self):
        return {
            **super().get_config(),
            "char_tokenizer": keras.saving.serialize_keras_object(self.char_tokenizer),
            "embedding_dim": self.embedding_dim,
            "units": self.units,
            "max_word_length": self.max_word_length,
        }
