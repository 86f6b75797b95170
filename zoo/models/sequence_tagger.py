"""A sequence tagger: one label per word from a bidirectional recurrent encoder (e.g. UPOS tags)."""

import keras
import tensorflow as tf

from zoo import _compat, layers
from zoo.text import unknown_word_dropout

PADDING_WORD = ""  # pads a batch of tokenized sentences; never tagged


@keras.saving.register_keras_serializable(package="zoo")
class SequenceTagger(keras.Model):
    """p(y_t | w_1..w_T) = softmax(W_o h_t + b_o), with h_t reading the whole sentence:

        x_t = [E_w[lookup(w_t)] ; v(w_t)]             (B, T, W + 2C), v = WordCharacterEncoder
        h = BiLSTM^L(dropout(x))                        (B, T, 2H), dropout between layers
        logits_t = dropout(h_t) W_o + b_o               (B, T, K)

    The word embedding knows the training vocabulary (`word_tokenizer`, lowercased words);
    the character encoder reads every word's spelling, so unseen words are tagged from their
    shape. During training, word dropout replaces a known word's id with `<unk>` with
    probability `word_dropout`, so the `<unk>` embedding is trained for the words it stands in
    for at test time.

    `model(words)`: words tf.string (B, T), right-padded with "" -> logits (B, T, K); the
    output carries the mask (words != ""), so Keras losses and metrics skip the padding.
    `tag(sentences)` tags whitespace-tokenized strings; `tag_words(words)` pre-tokenized ones.

    Args:
        tags: the K tag names; tag id k is `tags[k]`.
        word_tokenizer: a `zoo.text.WordTokenizer` (its `lookup` maps words to ids).
        char_tokenizer: a `zoo.text.CharTokenizer` for the character encoder.
        word_dim: W. char_dim, char_units: the character encoder's E and U (C = char_units).
        units: H per direction; num_layers: L.
        dropout: on x, between layers, and on h.
        word_dropout: probability of reading a known word as `<unk>` in training.
        max_word_length: characters the encoder reads per word.
    """

    task = "tagging"  # zoo.tasks.TASKS

    def __init__(
        self,
        tags,
        word_tokenizer,
        char_tokenizer,
        word_dim=100,
        char_dim=32,
        char_units=64,
        units=200,
        num_layers=2,
        dropout=0.33,
        word_dropout=0.1,
        max_word_length=24,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        word_tokenizer, char_tokenizer = (
            keras.saving.deserialize_keras_object(t) if isinstance(t, dict) else t
            for t in (word_tokenizer, char_tokenizer)
        )
        if len(tags) < 2 or len(set(tags)) != len(tags):
            raise ValueError(f"SequenceTagger: `tags` must be at least 2 distinct names, got {tags!r}")
        if not 0.0 <= word_dropout < 1.0:
            raise ValueError(f"SequenceTagger: `word_dropout` must be in [0, 1), got {word_dropout}")
        self._convert_input_args = False  # strings
        self.tags = list(tags)
        self.word_tokenizer = word_tokenizer
        self.char_tokenizer = char_tokenizer
        self.word_dim = word_dim
        self.char_dim = char_dim
        self.char_units = char_units
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.word_dropout = word_dropout
        self.max_word_length = max_word_length
        self.seed = seed
        self.word_embedding = keras.layers.Embedding(word_tokenizer.vocabulary_size, word_dim, name="word_embedding")
        self.char_encoder = layers.WordCharacterEncoder(
            char_tokenizer, char_dim, char_units, max_word_length, name="char_encoder"
        )
        self.input_drop = keras.layers.Dropout(dropout, seed=seed, name="input_dropout")
        # Sentences come in every length, and XLA compiles a loop anew for each shape: the graph
        # executor runs the loops (measured 12x faster per step over the first epoch of EWT).
        self.encoder = layers.Stacked(
            [layers.Bidirectional(layers.LSTM(units, jit_compile=False, name=f"lstm_{i}")) for i in range(num_layers)],
            dropout=dropout, return_sequences=True, seed=seed, name="encoder",
        )
        self.output_drop = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")
        self.logits = keras.layers.Dense(len(self.tags), name="logits")
        self.word_dropout_seed = keras.random.SeedGenerator(seed)

    def build(self, input_shape=(None, None)):
        if self.built:
            return
        self.word_embedding.build((None, None))
        self.char_encoder.build((None, None))
        self.encoder.build((None, None, self.word_dim + 2 * self.char_units))
        self.logits.build((None, None, 2 * self.units))
        self.built = True

    def call(self, words, training=False):
        words = tf.convert_to_tensor(words)
        if words.dtype != tf.string or words.shape.rank != 2:
            raise ValueError(
                f"SequenceTagger expects words as tf.string of shape (batch, words), padded with "
                f"{PADDING_WORD!r}; got {words.dtype.name} of shape {tuple(words.shape)}"
            )
        mask = words != PADDING_WORD  # (B, T)
        ids = self.word_tokenizer.lookup(words)  # (B, T)
        if training and self.word_dropout:
            ids = unknown_word_dropout(ids, self.word_dropout, self.word_dropout_seed)
        x = tf.concat([self.word_embedding(ids), self.char_encoder(words)], axis=-1)  # (B, T, W + 2C)
        h = self.encoder(self.input_drop(x, training=training), mask=mask, training=training)  # (B, T, 2H)
        logits = self.logits(self.output_drop(h, training=training))  # (B, T, K)
        return _compat.set_keras_mask(logits, mask)  # losses and metrics in fit/evaluate skip the padding

    def compute_output_spec(self, words):
        return keras.KerasTensor(tuple(words.shape) + (len(self.tags),), dtype=self.compute_dtype)

    # Tagging text.

    def tag_ids(self, words):
        """words tf.string (B, T) padded with "" -> int32 tag ids (B, T) (-1 at padding)."""
        words = tf.convert_to_tensor(words)
        best = tf.argmax(self(words), axis=-1, output_type=tf.int32)
        return tf.where(words != PADDING_WORD, best, -1)

    def tag_words(self, words):
        """words tf.string (B, T) padded with "" -> tag names tf.string (B, T) ("" at padding)."""
        names = tf.constant([PADDING_WORD] + self.tags)
        return tf.gather(names, self.tag_ids(words) + 1)

    def split(self, sentences):
        """Whitespace tokenization: tf.string (B,) -> words tf.string (B, T) padded with ""."""
        return self.word_tokenizer.split(sentences).to_tensor(default_value=PADDING_WORD)

    def tag(self, sentences):
        """Tags whitespace-tokenized sentences (a list of str): a list of [(word, tag), ...]."""
        if isinstance(sentences, str):
            raise ValueError("SequenceTagger.tag expects a list of sentences; wrap a single one in a list")
        for i, sentence in enumerate(sentences):
            if not isinstance(sentence, str) or not sentence.split():
                raise ValueError(f"SequenceTagger.tag: sentence {i} is empty ({sentence!r}): nothing to tag")
        words = self.split(tf.constant(sentences))
        tags = self.tag_words(words).numpy()
        return [
            [(w.decode(), t.decode()) for w, t in zip(row_words, row_tags) if w]
            for row_words, row_tags in zip(words.numpy(), tags)
        ]

    def get_config(self):
        return {
            **super().get_config(),
            "tags": self.tags,
            "word_tokenizer": keras.saving.serialize_keras_object(self.word_tokenizer),
            "char_tokenizer": keras.saving.serialize_keras_object(self.char_tokenizer),
            "word_dim": self.word_dim,
            "char_dim": self.char_dim,
            "char_units": self.char_units,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "word_dropout": self.word_dropout,
            "max_word_length": self.max_word_length,
            "seed": self.seed,
        }
