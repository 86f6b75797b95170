"""Decoding an `EncoderDecoder` on ids: `greedy`, `sample` and `beam_search`, each one compiled loop.

Each runs `zoo.decoding.decode` (the model's `decoding_start` encodes the (B, S) source batch
and reads `<bos>`; every later token is one `decoding_step`) with the strategy of its name
(zoo.decoding.strategies: reserved ids never produced, log-probabilities from the masked
logits). With beam_size 1 beam search is exactly greedy.

Each returns a `Translation` of NumPy arrays:

    ids        (B, L) int32: the output ids, eos included when produced, pad 0 after it; L is
               the longest output of the batch. A row that reached its max_length without eos
               ends there without eos.
    lengths    (B,) int32: output tokens per row, eos included.
    scores     (B,) float32: for beam_search log p(y | x) / length ** length_penalty; for
               greedy and sample the summed log-probability (no normalisation).
    log_probs  (B,) float32: the summed log-probability log p(y | x) of each output under the
               model (temperature 1, no top-k / top-p filter, reserved ids masked).
    attention  (B, L, S) float32: at each output step, the attention weights over the source
               (the a_t of the step that produced that token); zero after a row's end and at
               padded source positions. S is the width of `source_ids`.

`beam_search(..., return_all=True)` returns all K hypotheses of each row, best first: ids
(B, K, L), lengths, scores and log_probs (B, K), attention (B, K, L, S).

`max_length` caps the output tokens of each row (eos included); by default it is
2 * (that row's source length) + 10. Sources are right-padded (B, S) batches (0 = pad), every
row with at least one id and at most `model.max_source_length` ids (longer ones are refused
here; `zoo.decoding.translate` truncates them with a warning).

Under XLA (`jit_compile=True`, the default) shapes are compile-time constants: the batch is
padded to a power of two (with one-id rows of max_length 0: nothing decoded), the source width
and the output buffer to powers of two >= 8 (`bucket`), so new batches seldom compile anew.
"""

import collections

import numpy as np
import tensorflow as tf

from zoo.decoding.arguments import integer_argument, right_padded_ids
from zoo.decoding.generation import bucket
from zoo.decoding.loop import RESERVED_IDS, compiles, decode
from zoo.decoding.strategies import Beam, Greedy, sampling_strategy
from zoo.text import EOS_ID, PAD_ID

Translation = collections.namedtuple("Translation", ["ids", "lengths", "scores", "log_probs", "attention"])

_Batch = collections.namedtuple("_Batch", ["source", "limits", "capacity", "jit", "size", "width"])


def greedy(model, source_ids, max_length=None, jit_compile=None, stepwise=False):
    """Greedy decoding of a (B, S) right-padded batch of source ids, in one compiled loop.

    Args:
        model: an `EncoderDecoder` (the decoding protocol, `source_vocabulary_size`,
            `target_vocabulary_size`).
        source_ids: (B, S) int ids (array, tensor or `tf.RaggedTensor`), right-padded with 0.
        max_length: most output tokens per row, eos included (None: 2 * source length + 10).
        jit_compile: compile the loop with XLA (None: `zoo.decoding.XLA_DEFAULT`; False when stepwise).
        stepwise: run the stepwise reference (one tf.function call per token) instead.

    Returns a `Translation` (see the module docstring); scores are summed log-probabilities.
    """
    return _run("greedy", model, source_ids, Greedy(), max_length, jit_compile, stepwise)


def sample(model, source_ids, temperature=1.0, top_k=0, top_p=1.0, seed=None, max_length=None, jit_compile=None):
    """Samples one output per source row, in one compiled loop.

    Args:
        model, source_ids, max_length, jit_compile: as in `greedy`.
        temperature: the logits are divided by it before sampling; 0 is greedy.
        top_k: sample among the k likeliest ids only (0: all).
        top_p: sample within the nucleus of mass p (after temperature and top-k); in (0, 1].
        seed: int; the same seed gives the same samples (for one model, batch and compile
            mode). None draws one from TensorFlow's global generator.

    Returns a `Translation`; scores and log_probs are the model's summed log-probabilities of
    the sampled outputs (at temperature 1, unfiltered).
    """
    _check_model("sample", model)
    strategy = sampling_strategy("sample", temperature, top_k, top_p, seed)
    return _run("sample", model, source_ids, strategy, max_length, jit_compile)


def beam_search(
    model, source_ids, beam_size=5, length_penalty=1.0, max_length=None, return_all=False, jit_compile=None,
    stepwise=False,
):
    """Beam search over a (B, S) right-padded batch of source ids, in one compiled loop.

    Args:
        model, source_ids, max_length, jit_compile, stepwise: as in `greedy`.
        beam_size: K, hypotheses kept per row; 1 <= K <= target vocabulary size - 3 (the ids
            other than pad, unk and bos).
        length_penalty: alpha >= 0 of the final ranking, log p(y | x) / length ** alpha.
        return_all: return all K hypotheses of each row (best first), not only the best.

    Returns a `Translation`: the best hypothesis of each row, or with `return_all` all of them
    (ids (B, K, L), lengths / scores / log_probs (B, K), attention (B, K, L, S)); scores are
    the length-normalised ones.
    """
    _check_model("beam_search", model)
    beam_size = integer_argument("beam_search", "beam_size", beam_size)
    producible = int(model.target_vocabulary_size) - len(RESERVED_IDS)
    if not 1 <= beam_size <= producible:
        raise ValueError(
            f"beam_search: `beam_size` must be in [1, {producible}] (the target ids other than pad, unk and "
            f"bos), got {beam_size}"
        )
    if not isinstance(return_all, (bool, np.bool_)):
        raise ValueError(f"beam_search: `return_all` must be a bool, got {return_all!r}")
    result = _run("beam_search", model, source_ids, Beam(beam_size, length_penalty), max_length, jit_compile, stepwise)
    return result if return_all else _longest(Translation(*(x[:, 0] for x in result)))


def default_max_lengths(source_lengths):
    """Most output tokens per row when none is given: 2 * source length + 10 (arrays or tensors)."""
    return 2 * source_lengths + 10


# --- checks and results -------------------------------------------------------------------


def _check_model(name, model):
    for attribute in ("decoding_start", "decoding_step", "source_vocabulary_size", "target_vocabulary_size"):
        if not hasattr(model, attribute):
            raise ValueError(f"{name}: `model` must be an EncoderDecoder; {type(model).__name__} has no `{attribute}`")
    if int(model.target_vocabulary_size) <= EOS_ID:
        raise ValueError(
            f"{name}: the target vocabulary ({int(model.target_vocabulary_size)} ids) has no id to produce "
            f"besides the reserved {list(RESERVED_IDS)}"
        )


def _run(name, model, source_ids, strategy, max_length, jit_compile, stepwise=False):
    """Checks, decodes and returns the `Translation` of the real rows (for a beam: all K each)."""
    _check_model(name, model)
    batch = _batch(name, model, source_ids, max_length, compiles(jit_compile, stepwise, strategy),
                   bucketed=not stepwise)
    decoded = decode(model, batch.source, strategy, batch.limits, batch.capacity, EOS_ID, batch.jit, stepwise)
    ids, lengths, log_probs, scores, attention = (x.numpy()[: batch.size] for x in decoded)
    return _longest(Translation(
        ids.astype(np.int32), lengths.astype(np.int32), scores.astype(np.float32), log_probs.astype(np.float32),
        attention[..., : batch.width].astype(np.float32),
    ))


def _longest(result):
    """Cuts ids (..., C) and attention (..., C, S) after the longest output."""
    longest = int(result.lengths.max())
    return result._replace(
        ids=np.ascontiguousarray(result.ids[..., :longest]),
        attention=np.ascontiguousarray(result.attention[..., :longest, :]),
    )


def _batch(name, model, source_ids, max_length, jit, bucketed):
    """Checks the source and max_length; returns the (possibly bucketed) `_Batch` to decode."""
    max_source_length = getattr(model, "max_source_length", None)
    source = _check_source(name, source_ids, int(model.source_vocabulary_size), max_source_length)
    if max_length is None:
        limits = default_max_lengths(np.sum(source != PAD_ID, axis=1))
    else:
        max_length = integer_argument(name, "max_length", max_length)
        if max_length < 1:
            raise ValueError(f"{name}: `max_length` must be >= 1 (output tokens, eos included), got {max_length}")
        limits = np.full(source.shape[0], max_length)
    limits = limits.astype(np.int32)
    size, width = source.shape
    capacity = int(limits.max())
    if jit and bucketed:  # XLA: compile-time shapes, rounded up
        padded_size = 1 << (size - 1).bit_length()
        source = np.pad(source, [(0, padded_size - size), (0, bucket(width) - width)])
        source[size:, 0] = EOS_ID  # filler rows: one id each, and nothing to decode (limit 0)
        limits = np.pad(limits, [(0, padded_size - size)])
        capacity = bucket(capacity)
    return _Batch(tf.constant(source), tf.constant(limits), capacity, jit, size, width)


def _check_source(name, source_ids, vocabulary_size, max_source_length):
    source = right_padded_ids(name, "source_ids", source_ids, vocabulary_size, "source", "id")
    if max_source_length is not None:
        too_long = np.flatnonzero((source != PAD_ID).sum(axis=1) > max_source_length)
        if too_long.size:
            raise ValueError(
                f"{name}: source row(s) {too_long[:10].tolist()} have more than the model's max_source_length "
                f"{max_source_length} ids (translate() truncates them; here truncate them yourself)"
            )
    return source
