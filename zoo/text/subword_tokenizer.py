"""A subword (SentencePiece) tokenizer as a Keras layer, usable in graphs and SavedModels."""

import base64
import binascii
import hashlib
import io
import os
import re

import keras
import tensorflow as tf
import tensorflow_text
from tensorflow_text.python.ops.sentencepiece_tokenizer import gen_sentencepiece_tokenizer

from zoo.text.tokenizer import BOS_ID, EOS_ID, PAD_ID, RESERVED, UNK_ID, Tokenizer

MODEL_ASSET = "sentencepiece.model"
MODEL_TYPES = ("unigram", "bpe", "char", "word")
UNKNOWN_SURFACE = " \u2047 "  # what <unk> detokenizes to (sentencepiece's default, " ⁇ ")
TRAINING_SEED = 0
# Set by `SubwordTokenizer.train` (the reserved ids and their pieces); not to be overridden.
_RESERVED_OPTIONS = {
    "pad_id": PAD_ID, "unk_id": UNK_ID, "bos_id": BOS_ID, "eos_id": EOS_ID,
    "pad_piece": RESERVED[PAD_ID], "unk_piece": RESERVED[UNK_ID],
    "bos_piece": RESERVED[BOS_ID], "eos_piece": RESERVED[EOS_ID],
}
_TRAINING_IO_OPTIONS = ("input", "sentence_iterator", "model_prefix", "model_writer", "vocab_size", "model_type")


@keras.saving.register_keras_serializable(package="zoo")
class SubwordTokenizer(Tokenizer):
    """Maps strings to SentencePiece subword ids and back.

    Ids 0..3 are reserved (`RESERVED`: `<pad>`, `<unk>`, `<bos>`, `<eos>`), as in
    `CharTokenizer`; the pieces take ids 4 and up. A character the model has not seen maps to
    `<unk>` (1) (a run of them to one `<unk>`). Learn a model with
    `SubwordTokenizer.train(lines, vocabulary_size)`.

    - `layer(strings)`: tf.string (B,) -> int32 (B, T), right-padded with 0, T = longest row
      (a scalar string gives (T,)). With `add_bos` / `add_eos` every row starts with `<bos>` (2)
      / ends with `<eos>` (3); with `max_length` a row keeps at most that many ids, `<bos>` and
      `<eos>` included (the pieces are cut, `<eos>` stays last). Works in `tf.function`s and
      exported SavedModels (the tokenizer is a `tensorflow_text.SentencepieceTokenizer` owned by
      the layer; serving needs `import tensorflow_text`, not `zoo`). The model resource survives
      `keras.utils.set_random_seed` and `keras.backend.clear_session` (see `_SharedModelResource`).
    - `tokenize_ragged(strings)`: the same ids as a `tf.RaggedTensor` (B, None).
    - `detokenize(ids)`: int ids (B, T), dense or ragged -> tf.string (B,): drops `<pad>` and
      `<bos>`, stops each row at its first `<eos>`, writes `<unk>` (and any id outside
      `[0, vocabulary_size)`) as " ⁇ " (sentencepiece's `unk_surface`, U+2047 with a space on
      each side).

    Text comes back normalised, as sentencepiece normalises it before splitting (with the
    default `nmt_nfkc` rule: NFKC, whitespace runs and newlines become one space, leading and
    trailing whitespace is dropped).

    The model (a serialized sentencepiece `ModelProto`) is in `get_config()` (base64) and also
    saved as the `sentencepiece.model` asset of a `.keras` file (the bytes, as `spm_train`
    writes them).

    Args:
        model: the serialized sentencepiece model, bytes (e.g. `open("m.model", "rb").read()`),
            trained with `pad_id=0, unk_id=1, bos_id=2, eos_id=3` (`SubwordTokenizer.train`
            does that).
        add_bos: start every row with `<bos>` (2).
        add_eos: end every row with `<eos>` (3).
        max_length: keep at most this many ids per row (`<bos>` and `<eos>` included), or None.
    """

    def __init__(self, model, add_bos=False, add_eos=False, max_length=None, **kwargs):
        super().__init__(**kwargs)
        self.add_bos = self._checked_flag("add_bos", add_bos)
        self.add_eos = self._checked_flag("add_eos", add_eos)
        self.max_length = self._checked_max_length(max_length)
        self._set_model(model)

    @classmethod
    def train(cls, lines, vocabulary_size, model_type="unigram", trainer_options=None, **kwargs):
        """A tokenizer whose sentencepiece model is learnt from `lines` (in memory, no files).

        Needs the `sentencepiece` package (only here: the layer itself runs on
        `tensorflow_text`). Training is deterministic (seeded, every line is used) and quiet.

        Args:
            lines: an iterable of str, one sentence (or line) each. Lines longer than
                sentencepiece's `max_sentence_length` (4192 bytes by default) are skipped.
            vocabulary_size: number of ids, the 4 reserved ones included.
            model_type: "unigram", "bpe", "char" or "word".
            trainer_options: dict of further `sentencepiece.SentencePieceTrainer.train` options
                (e.g. `{"user_defined_symbols": ["<sep>"]}`); the reserved ids are fixed.
            **kwargs: passed to the constructor (`add_bos`, `add_eos`, `max_length`, `name`...).
        """
        try:
            import sentencepiece
        except ImportError:
            raise ImportError(
                "SubwordTokenizer.train needs the `sentencepiece` package (pip install sentencepiece==0.2.1); "
                "loading and running a trained SubwordTokenizer does not"
            ) from None
        where = "SubwordTokenizer.train"
        if isinstance(lines, (str, bytes)):
            raise ValueError(
                f"{where}: `lines` must be an iterable of str lines, got a {type(lines).__name__} "
                f"({lines[:20]!r}...); use text.splitlines()"
            )
        try:
            lines = list(lines)
        except TypeError:
            raise ValueError(f"{where}: `lines` must be an iterable of str lines, got {type(lines).__name__}") from None
        for i, line in enumerate(lines):
            if not isinstance(line, str):
                raise ValueError(f"{where}: line {i} is {type(line).__name__} ({line!r:.40}); every line must be a str")
        if not any(line.strip() for line in lines):
            raise ValueError(f"{where}: `lines` is empty (or whitespace only); it needs some text to learn from")
        size_ok = isinstance(vocabulary_size, int) and not isinstance(vocabulary_size, bool)
        if not size_ok or vocabulary_size <= len(RESERVED):
            raise ValueError(
                f"{where}: `vocabulary_size` must be an int > {len(RESERVED)} (the reserved ids {RESERVED} "
                f"count), got {vocabulary_size!r}"
            )
        if model_type not in MODEL_TYPES:
            raise ValueError(f"{where}: `model_type` must be one of {MODEL_TYPES}, got {model_type!r}")
        options = dict(trainer_options or {})
        for key in (*_RESERVED_OPTIONS, *_TRAINING_IO_OPTIONS):
            if key in options:
                raise ValueError(
                    f"{where}: trainer option {key!r} is set by SubwordTokenizer.train (the reserved ids are "
                    f"pad=0, unk=1, bos=2, eos=3; pass vocabulary_size and model_type as arguments)"
                )
        options = {"character_coverage": 1.0, "minloglevel": 2, **options, **_RESERVED_OPTIONS}
        writer = io.BytesIO()
        sentencepiece.set_random_generator_seed(TRAINING_SEED)
        try:
            sentencepiece.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=writer, vocab_size=vocabulary_size,
                model_type=model_type, **options,
            )
        except (RuntimeError, OSError) as error:
            raise ValueError(cls._training_error(where, vocabulary_size, str(error))) from None
        return cls(writer.getvalue(), **kwargs)

    @staticmethod
    def _training_error(where, vocabulary_size, message):
        too_high = re.search(r"Vocabulary size too high .*value <= (\d+)", message)
        if too_high:
            return (
                f"{where}: vocabulary_size={vocabulary_size} is too large for this text: sentencepiece can "
                f"make at most {too_high.group(1)} ids from it (the 4 reserved ones included); use a smaller "
                f"vocabulary_size or more text"
            )
        too_low = re.search(r"smaller than required_chars\. (\d+) vs (\d+)", message)
        if too_low:
            return (
                f"{where}: vocabulary_size={vocabulary_size} is too small for this text: its characters and "
                f"the reserved ids need {too_low.group(2)} ids (character_coverage=1.0 keeps every character); "
                f"use a larger vocabulary_size"
            )
        if "sentences_.empty()" in message:
            return (
                f"{where}: sentencepiece found no usable line (lines longer than max_sentence_length, "
                f"4192 bytes by default, are skipped); split the text into shorter lines"
            )
        return f"{where}: sentencepiece training failed: {message.strip()}"

    # Vocabulary.

    @property
    def vocabulary_size(self):
        """Number of ids: the 4 reserved ones plus one per piece."""
        return self._vocabulary_size

    @property
    def model(self):
        """The serialized sentencepiece model (bytes), as passed to the constructor."""
        return self._model

    def get_vocabulary(self):
        """The pieces, in id order (ids 0..3 are the reserved pieces; `▁` marks a word start)."""
        return _parse_model(self._model)[0]

    def _set_model(self, model):
        model, pieces = self._checked_model(model)
        with tf.init_scope():  # the tokenizer is the layer's state, created eagerly even inside a trace
            try:
                sentencepiece = tensorflow_text.SentencepieceTokenizer(model, out_type=tf.int32)
                sentencepiece._model_resource = _SharedModelResource(model)  # see _SharedModelResource
            except tf.errors.OpError as error:
                raise ValueError(
                    f"{self._where()}: `model` is not a sentencepiece model that "
                    f"tensorflow_text can load: {error.message.strip()}"
                ) from None
        self._sentencepiece = sentencepiece
        self._model = model
        self._vocabulary_size = len(pieces)

    def _checked_model(self, model):
        where = self._where()
        if isinstance(model, str):
            raise ValueError(
                f"{where}: `model` must be the serialized sentencepiece model (bytes), got a str "
                f"({model[:20]!r}...); read a .model file with open(path, 'rb').read()"
            )
        if not isinstance(model, (bytes, bytearray, memoryview)):
            raise ValueError(
                f"{where}: `model` must be the serialized sentencepiece model (bytes), got {type(model).__name__}"
            )
        model = bytes(model)
        try:
            pieces, types, ids = _parse_model(model)
        except ValueError as error:
            raise ValueError(f"{where}: `model` is not a sentencepiece model ({error})") from None
        if len(pieces) <= len(RESERVED):
            raise ValueError(
                f"{where}: `model` is not a sentencepiece model (it has {len(pieces)} pieces; a model has "
                f"the {len(RESERVED)} reserved ones and more)"
            )
        expected = {"pad_id": PAD_ID, "unk_id": UNK_ID, "bos_id": BOS_ID, "eos_id": EOS_ID}
        expected_types = [_CONTROL, _UNKNOWN, _CONTROL, _CONTROL]
        if ids != expected or types[: len(RESERVED)] != expected_types:
            found = ", ".join(f"{key}={value}" for key, value in ids.items())
            raise ValueError(
                f"{where}: the sentencepiece model has {found} (pieces 0-3: {pieces[:len(RESERVED)]}); "
                f"SubwordTokenizer needs the reserved ids {RESERVED} at 0-3, i.e. a model trained with "
                f"pad_id=0, unk_id=1, bos_id=2, eos_id=3 (SubwordTokenizer.train does that)"
            )
        return model, pieces

    def _checked_flag(self, argument, value):
        if not isinstance(value, bool):
            raise ValueError(
                f"{self._where()}: `{argument}` must be True or False, got {value!r}"
            )
        return value

    def _checked_max_length(self, max_length):
        if max_length is None:
            return None
        reserved = int(self.add_bos) + int(self.add_eos)
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length <= reserved:
            raise ValueError(
                f"{self._where()}: `max_length` must be None or an int > {reserved} "
                f"(room for <bos>/<eos> and at least one piece), got {max_length!r}"
            )
        return int(max_length)

    # Strings -> ids.

    def tokenize_ragged(self, strings):
        """tf.string (B,) -> int32 `tf.RaggedTensor` (B, None) (a scalar string gives a dense (T,))."""
        strings = self._string_tensor(strings)
        if isinstance(strings, tf.RaggedTensor):
            return strings.with_flat_values(self.tokenize_ragged(strings.flat_values))
        rank = strings.shape.rank
        if rank is None:
            raise ValueError(
                f"{self._where()} expects strings of known rank (e.g. a "
                f"tf.TensorSpec((None,), tf.string)); got a tensor of unknown rank"
            )
        rows = self._with_reserved(self._sentencepiece.tokenize(tf.reshape(strings, [-1])))
        if rank == 0:
            return rows[0]
        shape = tf.shape(strings, out_type="int64")
        for axis in range(rank - 1, 0, -1):  # (N, None) -> (B, ..., None)
            rows = tf.RaggedTensor.from_uniform_row_length(rows, shape[axis])
        return rows

    def _with_reserved(self, rows):
        """Rows of piece ids (N, None) -> the same with <bos>/<eos> added and cut to max_length."""
        if self.max_length is not None:
            rows = rows[:, : self.max_length - int(self.add_bos) - int(self.add_eos)]
        if not (self.add_bos or self.add_eos):
            return rows
        column = tf.ones(tf.stack([rows.nrows(out_type="int32"), 1]), dtype="int32")  # (N, 1)
        parts = [column * BOS_ID] if self.add_bos else []
        parts += [rows, column * EOS_ID] if self.add_eos else [rows]
        return tf.concat(parts, axis=1)

    # Ids -> strings: `detokenize` (Tokenizer) writes `<unk>` (and any id outside the vocabulary)
    # as " ⁇ " (`UNKNOWN_SURFACE`).

    def _ids_to_strings(self, ids):
        return self._sentencepiece.detokenize(ids)

    # Saving.

    def get_config(self):
        return {
            **super().get_config(),
            "model": base64.b64encode(self._model).decode("ascii"),
            "add_bos": self.add_bos,
            "add_eos": self.add_eos,
            "max_length": self.max_length,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("model"), str):
            try:
                config["model"] = base64.b64decode(config["model"], validate=True)
            except binascii.Error as error:
                raise ValueError(
                    f"SubwordTokenizer.from_config: `model` must be the base64 of a sentencepiece model ({error})"
                ) from None
        return super().from_config(config)

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, MODEL_ASSET), "wb") as f:
            f.write(self._model)

    def load_assets(self, dir_path):
        with open(os.path.join(dir_path, MODEL_ASSET), "rb") as f:
            model = f.read()
        if model != self._model:
            self._set_model(model)


class _SharedModelResource(tf.saved_model.experimental.TrackableResource):
    """The sentencepiece model resource, shared by name so that it outlives TensorFlow's kernel cache.

    `tensorflow_text.SentencepieceTokenizer` makes its model resource private to the kernel that
    creates it, and TensorFlow drops its cached eager kernels on `tf.random.set_seed` (so on
    `keras.utils.set_random_seed`) and `keras.backend.clear_session`: every tokenizer made before
    then fails with "Resource localhost/_0_SentencepieceOp/... does not exist"
    (tensorflow/text#570). This resource has a shared name, so the resource manager keeps it;
    the name is the hash of the model, so equal models share one resource and different models
    never do (in this process, and in one that loads an exported SavedModel).
    """

    def __init__(self, model):
        super().__init__()
        self._model = model
        self._shared_name = "zoo_sentencepiece_" + hashlib.sha256(model).hexdigest()
        _ = self.resource_handle  # creates the resource

    def _create_resource(self):
        return gen_sentencepiece_tokenizer.sentencepiece_op(model=self._model, shared_name=self._shared_name)


# The few fields of sentencepiece's ModelProto (sentencepiece_model.proto) the layer checks,
# read from the protobuf wire format so that no sentencepiece package is needed to load a model.
_PIECES, _TRAINER_SPEC = 1, 2  # ModelProto fields
_PIECE, _PIECE_TYPE = 1, 3  # ModelProto.SentencePiece fields
_NORMAL, _UNKNOWN, _CONTROL = 1, 2, 3  # ModelProto.SentencePiece.Type
_SPECIAL_IDS = {40: ("unk_id", 0), 41: ("bos_id", 1), 42: ("eos_id", 2), 43: ("pad_id", -1)}  # TrainerSpec


def _parse_model(model):
    """Serialized ModelProto -> (pieces, their types, {pad_id, unk_id, bos_id, eos_id}); ValueError if malformed."""
    pieces, types = [], []
    ids = {name: default for name, default in _SPECIAL_IDS.values()}
    for number, value in _fields(model):
        if number == _PIECES:
            piece, piece_type = "", _NORMAL
            for field, field_value in _fields(_as_bytes(value)):
                if field == _PIECE:
                    try:
                        piece = _as_bytes(field_value).decode("utf-8")
                    except UnicodeDecodeError:
                        raise ValueError(f"piece {len(pieces)} is not UTF-8") from None
                elif field == _PIECE_TYPE:
                    piece_type = _as_int(field_value)
            pieces.append(piece)
            types.append(piece_type)
        elif number == _TRAINER_SPEC:
            for field, field_value in _fields(_as_bytes(value)):
                if field in _SPECIAL_IDS:
                    found = _as_int(field_value)
                    ids[_SPECIAL_IDS[field][0]] = found - (1 << 64) if found >= 1 << 63 else found  # int32
    ids = {name: ids[name] for name in ("pad_id", "unk_id", "bos_id", "eos_id")}
    return pieces, types, ids


def _fields(data):
    """(field number, value) of a serialized protobuf message: an int (varint, fixed) or bytes."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire_type == 0:
            value, position = _varint(data, position)
        elif wire_type in (1, 5):  # fixed64, fixed32
            size = 8 if wire_type == 1 else 4
            if position + size > len(data):
                raise ValueError("truncated")
            value, position = int.from_bytes(data[position : position + size], "little"), position + size
        elif wire_type == 2:  # length-delimited
            size, position = _varint(data, position)
            if position + size > len(data):
                raise ValueError("truncated")
            value, position = bytes(data[position : position + size]), position + size
        else:
            raise ValueError(f"unsupported wire type {wire_type}")
        yield number, value


def _varint(data, position):
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise ValueError("truncated or malformed varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, position


def _as_bytes(value):
    if not isinstance(value, bytes):
        raise ValueError("a message field has the wrong wire type")
    return value


def _as_int(value):
    if not isinstance(value, int):
        raise ValueError("an integer field has the wrong wire type")
    return value
