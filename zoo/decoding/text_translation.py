"""Translating text with an `EncoderDecoder`: `translate` on strings, on top of `zoo.decoding`.

    sentences --(source_tokenizer, truncated to max_source_length)--> source ids per sentence
              --(sorted by length, chunks of batch_size)--> `zoo.decoding` greedy / sample / beam_search
              --(target_tokenizer)--> strings, in the input order

The id-level functions (`greedy`, `sample`, `beam_search`, `Translation`) live in `zoo.decoding`.
"""

import warnings

import keras
import numpy as np
import tensorflow as tf

from zoo.decoding.sequence_to_sequence import beam_search, greedy, sample
from zoo.decoding.arguments import integer_argument
from zoo.text import PAD_ID

BATCH_SIZE = 64  # sentences per call of the decoder in `translate`
METHODS = ("beam", "greedy", "sample")


def translate(
    model,
    sentences,
    method="beam",
    beam_size=5,
    length_penalty=1.0,
    max_length=None,
    temperature=1.0,
    top_k=0,
    top_p=1.0,
    seed=None,
    batch_size=BATCH_SIZE,
    return_attention=False,
    jit_compile=None,
    progress=False,
):
    """Translates a list of strings with `model.source_tokenizer` / `model.target_tokenizer`.

    Args:
        model: an `EncoderDecoder` with both tokenizers.
        sentences: list of non-empty str.
        method: "beam" (`zoo.decoding.beam_search`), "greedy" or "sample"; the arguments of that
            method (beam_size, length_penalty; temperature, top_k, top_p, seed; max_length,
            jit_compile) are passed on. With "sample", chunk c (of the sentences sorted by
            length) is sampled with seed + c * batch_size.
        batch_size: sentences per decoder call. Sentences are decoded in order of length
            (less padding); the result keeps the input order.
        return_attention: also return the attention of each translation.
        progress: show a progress bar (sentences done) on stdout.

    A sentence of more than `model.max_source_length` source ids is truncated to that many,
    with a warning naming the sentence and both lengths. An empty or whitespace-only sentence
    is refused (ValueError naming its index).

    Returns a list of str; with `return_attention`, a list of (str, attention) pairs where
    attention is a float32 (output tokens, source ids) array: a row per output id (eos
    included), a column per source id of the (possibly truncated) sentence.
    """
    if method not in METHODS:
        raise ValueError(f"translate: `method` must be 'beam', 'greedy' or 'sample', got {method!r}")
    _check_tokenizers(model)
    sentences = _checked_sentences(sentences)
    batch_size = integer_argument("translate", "batch_size", batch_size)
    if batch_size < 1:
        raise ValueError(f"translate: `batch_size` must be >= 1, got {batch_size}")
    rows = _source_rows(model, sentences, batch_size)
    options = {"beam_size": beam_size, "length_penalty": length_penalty, "max_length": max_length,
               "temperature": temperature, "top_k": top_k, "top_p": top_p, "seed": seed, "jit_compile": jit_compile}
    results = [None] * len(rows)
    bar = keras.utils.Progbar(len(rows), unit_name="sentence") if progress else None
    for start, chunk in _chunks_by_length(rows, batch_size):
        source = keras.utils.pad_sequences([rows[i] for i in chunk], padding="post", dtype="int32")  # (B, S)
        out = _decode_chunk(model, source, method, start, options)
        for r, (i, text) in enumerate(zip(chunk, _detokenize(model.target_tokenizer, out.ids))):
            results[i] = (text, out.attention[r, : out.lengths[r], : len(rows[i])]) if return_attention else text
        if bar is not None:
            bar.add(len(chunk))
    return results


def _source_rows(model, sentences, batch_size=BATCH_SIZE):
    """Sentences -> their source ids (one int32 array each, no padding), tokenized `batch_size` at a
    time, each truncated to `model.max_source_length` with a warning."""
    limit = getattr(model, "max_source_length", None)
    rows = []
    for start in range(0, len(sentences), batch_size):
        ids = np.asarray(model.source_tokenizer(sentences[start : start + batch_size]))
        for i, row in enumerate(ids, start):
            row = row[row != PAD_ID]
            if row.size == 0:
                raise ValueError(f"translate: sentence {i} ({sentences[i]!r}) has no source ids after tokenization")
            if limit is not None and row.size > limit:
                warnings.warn(
                    f"translate: sentence {i} has {row.size} source ids, more than the model's "
                    f"max_source_length {limit}; truncated to its first {limit}",
                    stacklevel=3,
                )
                row = row[:limit]
            rows.append(row.astype(np.int32))
    return rows


def _detokenize(tokenizer, ids):
    """(B, L) output ids -> B str (pads and eos dropped by the tokenizer)."""
    texts = np.asarray(tokenizer.detokenize(tf.constant(ids)))
    return [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in texts]


def _check_tokenizers(model):
    missing = [name for name in ("source_tokenizer", "target_tokenizer") if getattr(model, name, None) is None]
    if missing:
        raise ValueError(
            f"translate: the model has no {' and no '.join(missing)}; build the EncoderDecoder with "
            "source_tokenizer= and target_tokenizer=, or tokenize yourself and call zoo.decoding's greedy / "
            "beam_search / sample on ids"
        )


def _checked_sentences(sentences):
    """A list of non-blank str, or a ValueError naming the first bad sentence."""
    if isinstance(sentences, (str, bytes)):
        raise ValueError("translate: `sentences` must be a list of str, got a single string; wrap it in a list")
    try:
        sentences = list(sentences)
    except TypeError:
        raise ValueError(f"translate: `sentences` must be a list of str, got {type(sentences).__name__}") from None
    for i, sentence in enumerate(sentences):
        if not isinstance(sentence, str):
            raise ValueError(f"translate: sentence {i} is a {type(sentence).__name__}, not a str")
        if not sentence.strip():
            raise ValueError(f"translate: sentence {i} is empty or whitespace only ({sentence!r})")
    return sentences


def _chunks_by_length(rows, batch_size):
    """(start, indices) of `batch_size` rows at a time, shortest first: little padding per chunk."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    return [(start, order[start : start + batch_size]) for start in range(0, len(order), batch_size)]


def _decode_chunk(model, source, method, start, options):
    """One chunk of source ids (B, S) -> its `Translation` by `method`."""
    o = options
    if method == "beam":
        return beam_search(model, source, beam_size=o["beam_size"], length_penalty=o["length_penalty"],
                           max_length=o["max_length"], jit_compile=o["jit_compile"])
    if method == "greedy":
        return greedy(model, source, max_length=o["max_length"], jit_compile=o["jit_compile"])
    seed = None if o["seed"] is None else o["seed"] + start  # one seed per chunk
    return sample(model, source, temperature=o["temperature"], top_k=o["top_k"], top_p=o["top_p"], seed=seed,
                  max_length=o["max_length"], jit_compile=o["jit_compile"])
