"""Decoding for an `EncoderDecoder`: greedy, beam search and sampling, each as one compiled loop.

Every decoder runs `model.encode` on the whole (B, S) source batch and then every output
step through `model.decode_step` inside one `tf.function` with a `tf.while_loop`: no Python
runs per token. At each step the logits are cast to float32 and the reserved ids pad 0,
unk 1 and bos 2 are set to -inf, so none of them is ever produced (no `<unk>` in the output);
the log-probabilities are log_softmax of those masked logits.

    greedy       y_t = argmax_v log p(v | y_<t, x)
    beam_search  K hypotheses per source row, on a flat (B*K) batch (the SourceMemory and the
                 decoder states tiled K times). Each step every live hypothesis h of score s_h
                 (its summed log-probability) proposes s_h + log p(v | h) for every v; a
                 finished one proposes only itself extended by pad, at zero cost. The K best
                 proposals of each row (by summed log-probability) become the new beams; the
                 states, lengths and the histories of ids and attention weights are reordered
                 by the beam each came from. The loop ends when every hypothesis of every row
                 has ended (eos, or its row's max_length). The final hypotheses are then ranked by

                     score = log p(y | x) / length ** length_penalty

                 (length counts the output tokens, eos included; length_penalty 0: no
                 normalisation, 1: the mean per-token log-probability). With beam_size 1 this
                 is exactly greedy.
    sample       y_t ~ softmax(logits / temperature), optionally restricted to the top k
                 ids and/or the nucleus of mass top_p (the filters of `zoo.decoding`);
                 stateless random draws, the seed folded with the step.

Each returns a `Translation` of NumPy arrays:

    ids        (B, L) int32: the output ids, eos included when produced, pad 0 after it; L is
               the longest output of the batch. A row that reached its max_length without eos
               ends there without eos.
    lengths    (B,) int32: output tokens per row, eos included.
    scores     (B,) float32: for beam_search the length-normalised score above; for greedy
               and sample the summed log-probability (no normalisation).
    log_probs  (B,) float32: the summed log-probability log p(y | x) of each output under the
               model (temperature 1, no top-k / top-p filter, reserved ids masked as above).
    attention  (B, L, S) float32: at each output step, the attention weights over the source
               (the a_t that `decode_step` returned when it produced that token); zero after a
               row's end and at padded source positions. S is the width of `source_ids`.

`beam_search(..., return_all=True)` returns all K hypotheses of each row, best first: ids
(B, K, L), lengths, scores and log_probs (B, K), attention (B, K, L, S).

`max_length` caps the output tokens of each row (eos included); by default it is
2 * (that row's source length) + 10. Sources are right-padded (B, S) batches (0 = pad), every
row with at least one id and at most `model.max_source_length` ids (longer ones are refused
here; `translate` truncates them with a warning).

`translate` works on strings, through the model's `source_tokenizer` and `target_tokenizer`.

`greedy_stepwise` and `beam_search_stepwise` are the references for `bench/decode.py`: the
same step, one `tf.function` call per output token from a Python loop.

Under XLA (`jit_compile=True`, `zoo.decoding.XLA_DEFAULT`) shapes are compile-time constants:
the batch is padded to a power of two (with one-token rows that end at once), the source
width and the output buffer to powers of two >= 8, so new batches seldom compile anew. The
tf.functions are cached per model (weakly), method, beam size and compile mode.
"""

import collections
import math
import warnings
import weakref

import keras
import numpy as np
import tensorflow as tf

from zoo.checks import integer_argument, real_argument, right_padded_ids, sampling_arguments
from zoo.decoding import XLA_DEFAULT, _bucket, _cached_function, _reserved_mask, _sample, _seed_tensor
from zoo.layers.attention_decoder import SourceMemory

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
RESERVED_IDS = (PAD_ID, UNK_ID, BOS_ID)  # never produced
BATCH_SIZE = 64  # sentences per call of the decoder in `translate`

Translation = collections.namedtuple("Translation", ["ids", "lengths", "scores", "log_probs", "attention"])

# model -> {(what, mode, jit_compile): tf.function}; weak both ways, as in zoo.decoding.
_FUNCTIONS = weakref.WeakKeyDictionary()

_SOURCE = tf.TensorSpec((None, None), tf.int32, name="source_ids")
_LIMITS = tf.TensorSpec((None,), tf.int32, name="max_lengths")
_CAPACITY = tf.TensorSpec((), tf.int32, name="capacity")
_SAMPLING = (
    tf.TensorSpec((), tf.float32, name="temperature"),
    tf.TensorSpec((), tf.int32, name="top_k"),
    tf.TensorSpec((), tf.float32, name="top_p"),
    tf.TensorSpec((2,), tf.int64, name="seed"),
)


# --- public API ------------------------------------------------------------------------


def greedy(model, source_ids, max_length=None, jit_compile=None):
    """Greedy decoding of a (B, S) right-padded batch of source ids, in one compiled loop.

    Args:
        model: an `EncoderDecoder` (anything with `encode`, `decode_step`,
            `source_vocabulary_size` and `target_vocabulary_size`).
        source_ids: (B, S) int ids (array, tensor or `tf.RaggedTensor`), right-padded with 0.
        max_length: most output tokens per row, eos included (None: 2 * source length + 10).
        jit_compile: compile the loop with XLA (None: `zoo.decoding.XLA_DEFAULT`).

    Returns a `Translation` (see the module docstring); scores are summed log-probabilities.
    """
    run = _prepare("greedy", model, source_ids, max_length, jit_compile)
    function = _function(model, "tokens", "greedy", run.jit)
    outputs = function(run.source, run.limits, run.capacity, *_sampling_tensors(1.0, 0, 1.0, 0))
    return _token_result(run, *outputs)


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
    run = _prepare("sample", model, source_ids, max_length, jit_compile)
    temperature, top_k, top_p, seed, mode = sampling_arguments("sample", temperature, top_k, top_p, seed)
    function = _function(model, "tokens", mode, run.jit)
    sampling = _sampling_tensors(temperature if temperature > 0 else 1.0, top_k, top_p, seed)
    outputs = function(run.source, run.limits, run.capacity, *sampling)
    return _token_result(run, *outputs)


def beam_search(
    model, source_ids, beam_size=5, length_penalty=1.0, max_length=None, return_all=False, jit_compile=None
):
    """Beam search over a (B, S) right-padded batch of source ids, in one compiled loop.

    Args:
        model, source_ids, max_length, jit_compile: as in `greedy`.
        beam_size: K, hypotheses kept per row; 1 <= K <= target vocabulary size - 3 (the ids
            other than pad, unk and bos).
        length_penalty: alpha >= 0 of the final ranking, log p(y | x) / length ** alpha.
        return_all: return all K hypotheses of each row (best first), not only the best.

    Returns a `Translation`: the best hypothesis of each row, or with `return_all` all of them
    (ids (B, K, L), lengths / scores / log_probs (B, K), attention (B, K, L, S)); scores are
    the length-normalised ones.
    """
    run = _prepare("beam_search", model, source_ids, max_length, jit_compile)
    beam_size, length_penalty = _beam_arguments(model, beam_size, length_penalty, return_all)
    function = _function(model, "beams", beam_size, run.jit)
    outputs = function(run.source, run.limits, run.capacity)
    return _beam_result(run, beam_size, length_penalty, return_all, *outputs)


def greedy_stepwise(model, source_ids, max_length=None, jit_compile=False):
    """The reference `greedy`: a Python loop with one `tf.function` call per output token
    (and one host sync per token, to stop once every row has ended). Same result."""
    run = _prepare("greedy_stepwise", model, source_ids, max_length, jit_compile, bucket=False)
    first = _function(model, "tokens_first", None, run.jit)
    step = _function(model, "tokens_step", "greedy", run.jit)
    sampling = _sampling_tensors(1.0, 0, 1.0, 0)
    source, states, token, finished, log_prob, lengths = first(run.source, run.limits)
    tokens, weights = [], []
    for t in range(run.capacity):
        if bool(tf.reduce_all(finished)):
            break
        token, finished, states, log_prob, lengths, attention = step(
            source, run.limits, tf.constant(t), token, finished, states, log_prob, lengths, *sampling
        )
        tokens.append(token)
        weights.append(attention)
    ids = tf.stack(tokens, axis=1)
    attention = tf.stack(weights, axis=1)
    return _token_result(run, ids, log_prob, lengths, attention)


def beam_search_stepwise(
    model, source_ids, beam_size=5, length_penalty=1.0, max_length=None, return_all=False, jit_compile=False
):
    """The reference `beam_search`: a Python loop with one `tf.function` call per output
    token, which also reorders the histories of ids and attention. Same result."""
    run = _prepare("beam_search_stepwise", model, source_ids, max_length, jit_compile, bucket=False)
    beam_size, length_penalty = _beam_arguments(model, beam_size, length_penalty, return_all)
    first = _function(model, "beams_first", beam_size, run.jit)
    step = _function(model, "beams_step", beam_size, run.jit)
    carry = first(run.source, run.limits)
    for t in range(run.capacity):
        if bool(tf.reduce_all(carry[3])):  # finished
            break
        carry = step(tf.constant(t), *carry)
    _, _, _, _, _, score, lengths, ids, attention = carry
    return _beam_result(run, beam_size, length_penalty, return_all, ids, score, lengths, attention)


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
        method: "beam" (`beam_search`), "greedy" or "sample"; the arguments of that method
            (beam_size, length_penalty; temperature, top_k, top_p, seed; max_length,
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
    if method not in ("beam", "greedy", "sample"):
        raise ValueError(f"translate: `method` must be 'beam', 'greedy' or 'sample', got {method!r}")
    source_tokenizer = getattr(model, "source_tokenizer", None)
    target_tokenizer = getattr(model, "target_tokenizer", None)
    if source_tokenizer is None or target_tokenizer is None:
        missing = [n for n, t in (("source_tokenizer", source_tokenizer), ("target_tokenizer", target_tokenizer))
                   if t is None]
        raise ValueError(
            f"translate: the model has no {' and no '.join(missing)}; build the EncoderDecoder with "
            "source_tokenizer= and target_tokenizer=, or tokenize yourself and call greedy / beam_search / "
            "sample on ids"
        )
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
    batch_size = integer_argument("translate", "batch_size", batch_size)
    if batch_size < 1:
        raise ValueError(f"translate: `batch_size` must be >= 1, got {batch_size}")
    if not sentences:
        return []

    # Tokenize everything first (one pass): the lengths order the batches.
    limit = getattr(model, "max_source_length", None)
    rows = []
    for start in range(0, len(sentences), batch_size):
        ids = np.asarray(source_tokenizer(sentences[start : start + batch_size]))
        for offset, row in enumerate(ids):
            i = start + offset
            row = row[row != PAD_ID]
            if row.size == 0:
                raise ValueError(f"translate: sentence {i} ({sentences[i]!r}) has no source ids after tokenization")
            if limit is not None and row.size > limit:
                warnings.warn(
                    f"translate: sentence {i} has {row.size} source ids, more than the model's "
                    f"max_source_length {limit}; truncated to its first {limit}",
                    stacklevel=2,
                )
                row = row[:limit]
            rows.append(row.astype(np.int32))

    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    results = [None] * len(rows)
    bar = keras.utils.Progbar(len(rows), unit_name="sentence") if progress else None
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        source = keras.utils.pad_sequences([rows[i] for i in chunk], padding="post", dtype="int32")  # (B, S)
        if method == "beam":
            out = beam_search(model, source, beam_size=beam_size, length_penalty=length_penalty,
                              max_length=max_length, jit_compile=jit_compile)
        elif method == "greedy":
            out = greedy(model, source, max_length=max_length, jit_compile=jit_compile)
        else:
            out = sample(model, source, temperature=temperature, top_k=top_k, top_p=top_p,
                         seed=None if seed is None else seed + start,  # one seed per chunk
                         max_length=max_length,
                         jit_compile=jit_compile)
        texts = target_tokenizer.detokenize(tf.constant(out.ids))
        texts = [t.decode("utf-8", errors="replace") if isinstance(t, bytes) else str(t) for t in np.asarray(texts)]
        for r, i in enumerate(chunk):
            if return_attention:
                attention = out.attention[r, : out.lengths[r], : len(rows[i])]
                results[i] = (texts[r], attention)
            else:
                results[i] = texts[r]
        if bar is not None:
            bar.add(len(chunk))
    return results


# --- checks ------------------------------------------------------------------------------

_Run = collections.namedtuple("_Run", ["source", "limits", "capacity", "jit", "batch", "width"])


def _prepare(name, model, source_ids, max_length, jit_compile, bucket=True):
    """Checks the model, source and max_length; returns the (possibly bucketed) graph inputs."""
    for attribute in ("encode", "decode_step", "source_vocabulary_size", "target_vocabulary_size"):
        if not hasattr(model, attribute):
            raise ValueError(f"{name}: `model` must be an EncoderDecoder; {type(model).__name__} has no `{attribute}`")
    target_vocabulary = int(model.target_vocabulary_size)
    if target_vocabulary <= EOS_ID:
        raise ValueError(
            f"{name}: the target vocabulary ({target_vocabulary} ids) has no id to produce besides the "
            f"reserved {list(RESERVED_IDS)}"
        )
    source = _check_source(name, source_ids, int(model.source_vocabulary_size), getattr(model, "max_source_length", None))
    source_lengths = np.sum(source != PAD_ID, axis=1)
    if max_length is None:
        limits = default_max_lengths(source_lengths)
    else:
        max_length = integer_argument(name, "max_length", max_length)
        if max_length < 1:
            raise ValueError(f"{name}: `max_length` must be >= 1 (output tokens, eos included), got {max_length}")
        limits = np.full(source.shape[0], max_length)
    limits = limits.astype(np.int32)
    if not model.built:  # build the variables eagerly, not inside a traced function
        model.build()
    jit = XLA_DEFAULT if jit_compile is None else bool(jit_compile)
    batch, width = source.shape
    capacity = int(limits.max())
    if jit and bucket:  # XLA: compile-time shapes, rounded up
        padded_batch = 1 << (batch - 1).bit_length()
        source = np.pad(source, [(0, padded_batch - batch), (0, _bucket(width) - width)])
        source[batch:, 0] = EOS_ID  # filler rows: one id each, and nothing to decode (limit 0)
        limits = np.pad(limits, [(0, padded_batch - batch)])
        capacity = _bucket(capacity)
    return _Run(tf.constant(source), tf.constant(limits), capacity, jit, batch, width)


def _check_source(name, source_ids, vocabulary_size, max_source_length):
    source = right_padded_ids(name, "source_ids", source_ids, vocabulary_size, "source", "id")
    real = source != PAD_ID
    if max_source_length is not None:
        too_long = np.flatnonzero(real.sum(axis=1) > max_source_length)
        if too_long.size:
            raise ValueError(
                f"{name}: source row(s) {too_long[:10].tolist()} have more than the model's max_source_length "
                f"{max_source_length} ids (translate() truncates them; here truncate them yourself)"
            )
    return source


def _beam_arguments(model, beam_size, length_penalty, return_all):
    beam_size = integer_argument("beam_search", "beam_size", beam_size)
    producible = int(model.target_vocabulary_size) - len(RESERVED_IDS)
    if not 1 <= beam_size <= producible:
        raise ValueError(
            f"beam_search: `beam_size` must be in [1, {producible}] (the target ids other than pad, unk and "
            f"bos), got {beam_size}"
        )
    length_penalty = real_argument("beam_search", "length_penalty", length_penalty)
    if not length_penalty >= 0.0 or math.isinf(length_penalty):
        raise ValueError(f"beam_search: `length_penalty` must be finite and >= 0, got {length_penalty}")
    if not isinstance(return_all, (bool, np.bool_)):
        raise ValueError(f"beam_search: `return_all` must be a bool, got {return_all!r}")
    return beam_size, length_penalty


def _sampling_tensors(temperature, top_k, top_p, seed):
    return (
        tf.constant(temperature, tf.float32), tf.constant(top_k, tf.int32), tf.constant(top_p, tf.float32),
        _seed_tensor(seed),
    )


# --- results -----------------------------------------------------------------------------


def _token_result(run, ids, log_prob, lengths, attention):
    """Graph outputs (B', C), (B',), (B',), (B', C, S') -> a `Translation` of the real rows."""
    batch, width = run.batch, run.width
    lengths = lengths.numpy()[:batch].astype(np.int32)
    longest = int(lengths.max())
    log_prob = log_prob.numpy()[:batch].astype(np.float32)
    return Translation(
        ids=ids.numpy()[:batch, :longest].astype(np.int32),
        lengths=lengths,
        scores=log_prob,
        log_probs=log_prob.copy(),
        attention=attention.numpy()[:batch, :longest, :width].astype(np.float32),
    )


def _beam_result(run, beam_size, length_penalty, return_all, ids, log_prob, lengths, attention):
    """Graph outputs on the flat (B' K) batch -> a `Translation`, hypotheses ranked by score."""
    batch, width, k = run.batch, run.width, beam_size
    ids = ids.numpy()[: batch * k].reshape(batch, k, -1)
    attention = attention.numpy()[: batch * k].reshape(batch, k, ids.shape[-1], -1)[..., :width]
    lengths = lengths.numpy()[: batch * k].reshape(batch, k).astype(np.int32)
    log_prob = log_prob.numpy()[: batch * k].reshape(batch, k).astype(np.float32)
    scores = length_normalised(log_prob, lengths, length_penalty).numpy()
    order = np.argsort(-scores, axis=1, kind="stable")  # best first; -inf last
    ids = np.take_along_axis(ids, order[:, :, None], axis=1)
    attention = np.take_along_axis(attention, order[:, :, None, None], axis=1)
    lengths, scores, log_prob = (np.take_along_axis(a, order, axis=1) for a in (lengths, scores, log_prob))
    if not return_all:
        ids, attention, lengths, scores, log_prob = (a[:, 0] for a in (ids, attention, lengths, scores, log_prob))
    longest = int(lengths.max())
    return Translation(
        ids=np.ascontiguousarray(ids[..., :longest]).astype(np.int32),
        lengths=lengths,
        scores=scores,
        log_probs=log_prob,
        attention=np.ascontiguousarray(attention[..., :longest, :]).astype(np.float32),
    )


def default_max_lengths(source_lengths):
    """Most output tokens per row when none is given: 2 * source length + 10 (arrays or tensors)."""
    return 2 * source_lengths + 10


def length_normalised(log_prob, lengths, length_penalty):
    """The final ranking score of beam hypotheses, log p / length ** alpha, as a float32 tensor."""
    lengths = tf.cast(tf.maximum(lengths, 1), tf.float32)
    return tf.cast(log_prob, tf.float32) / lengths ** tf.constant(length_penalty, tf.float32)


# --- the graph pieces -------------------------------------------------------------------


def _function(model, what, mode, jit_compile):
    """One tf.function per model, piece, mode (sampling mode or beam size) and compile mode."""

    def make():
        return {
            "tokens": (_token_loop, (_SOURCE, _LIMITS, _CAPACITY, *_SAMPLING)),
            "beams": (_beam_loop, (_SOURCE, _LIMITS, _CAPACITY)),
            "tokens_first": (_token_first, (_SOURCE, _LIMITS)),
            "tokens_step": (_token_step, None),
            "beams_first": (_beam_first, (_SOURCE, _LIMITS)),
            "beams_step": (_beam_step_with_history, None),
        }[what]

    return _cached_function(_FUNCTIONS, model, what, mode, jit_compile, make)


def _log_probabilities(logits):
    """(N, V) logits -> float32 log-probabilities with the reserved ids at -inf."""
    return tf.nn.log_softmax(tf.cast(logits, tf.float32) + _reserved_mask(logits.shape[-1]), axis=-1)


# greedy and sampling: one output per row


def _token_first(model, mode, source_ids, limits):
    source, states = model.encode(source_ids)
    batch_size = tf.shape(source_ids)[0]
    token = tf.fill([batch_size], tf.constant(BOS_ID, tf.int32))
    finished = limits <= 0  # the filler rows of a bucketed batch
    return source, list(states), token, finished, tf.zeros([batch_size]), tf.zeros([batch_size], tf.int32)


def _token_step(model, mode, source, limits, t, token, finished, states, log_prob, lengths, *sampling):
    """One output token per row: returns (token, finished, states, log_prob, lengths, weights)."""
    logits, states, weights = model.decode_step(token, states, source)
    log_p = _log_probabilities(logits)  # (B, V)
    if mode == "greedy":
        token = tf.argmax(log_p, axis=-1, output_type=tf.int32)
    else:
        token = _sample(logits, t, mode, *sampling)
    live = ~finished
    token = tf.where(live, token, PAD_ID)
    log_prob += tf.where(live, tf.gather(log_p, token, axis=1, batch_dims=1), 0.0)
    lengths += tf.cast(live, tf.int32)
    weights = tf.where(live[:, None], tf.cast(weights, tf.float32), 0.0)
    finished = finished | tf.equal(token, EOS_ID) | (t + 1 >= limits)
    return token, finished, list(states), log_prob, lengths, weights


def _token_loop(model, mode, source_ids, limits, capacity, *sampling):
    """Greedy or sampled decoding of the whole batch in one while_loop."""
    source, states, token, finished, log_prob, lengths = _token_first(model, mode, source_ids, limits)

    def step(t, token, finished, carry):
        token, finished, *carry, weights = _token_step(
            model, mode, source, limits, t, token, finished, *carry, *sampling
        )
        return None, token, finished, tuple(carry), weights

    carry = (states, log_prob, lengths)
    (_, log_prob, lengths), ids, attention = _decode_loop(step, capacity, source_ids, token, finished, carry)
    return ids, log_prob, lengths, attention


def _decode_loop(step, capacity, source_ids, token, finished, carry):
    """The while_loop of `_token_loop` and `_beam_loop`: calls
    `step(t, token, finished, carry) -> (origin, token, finished, carry, weights)` for t = 0, 1, ...
    until t reaches `capacity` or every row has finished, and records each step's tokens (N,) and
    attention weights (N, S). The histories are time-major buffers (C, N) and (C, N, S), updated in
    place under XLA (rows of an early stop stay 0); a beam step's `origin` (N,) first reorders them
    (None: no reordering). Returns (carry, ids (N, C), attention (N, C, S))."""
    n, width = tf.shape(token)[0], tf.shape(source_ids)[1]
    ids = tf.zeros(tf.stack([capacity, n]), tf.int32)
    attention = tf.zeros(tf.stack([capacity, n, width]), tf.float32)

    def body(t, token, finished, carry, ids, attention):
        origin, token, finished, carry, weights = step(t, token, finished, carry)
        if origin is not None:
            ids, attention = tf.gather(ids, origin, axis=1), tf.gather(attention, origin, axis=1)
        at = tf.reshape(t, (1, 1))
        ids = tf.tensor_scatter_nd_update(ids, at, token[None])
        attention = tf.tensor_scatter_nd_update(attention, at, weights[None])
        return t + 1, token, finished, carry, ids, attention

    def more(t, token, finished, *_):
        return (t < capacity) & ~tf.reduce_all(finished)

    loop = (tf.constant(0), token, finished, carry, ids, attention)
    _, _, _, carry, ids, attention = tf.while_loop(more, body, loop)
    return carry, tf.transpose(ids), tf.transpose(attention, (1, 0, 2))


# beam search: K hypotheses per row on a flat (B * K) batch, beam k of row b at b * K + k


def _beam_first(model, beam_size, source_ids, limits):
    """Encodes, tiles everything K times; the K beams start as one (the others at -inf)."""
    source, states = model.encode(source_ids)
    source = SourceMemory(*(tf.repeat(x, beam_size, axis=0) for x in source))
    states = [tf.repeat(s, beam_size, axis=0) for s in states]
    limits = tf.repeat(limits, beam_size)
    n = tf.shape(limits)[0]
    token = tf.fill([n], tf.constant(BOS_ID, tf.int32))
    finished = limits <= 0
    first = np.full(beam_size, -np.inf, np.float32)
    first[0] = 0.0
    score = tf.tile(tf.constant(first), [n // beam_size])
    lengths = tf.zeros([n], tf.int32)
    ids = tf.zeros([n, 0], tf.int32)
    attention = tf.zeros(tf.stack([n, 0, tf.shape(source_ids)[1]]), tf.float32)
    return source, limits, token, finished, states, score, lengths, ids, attention


def _beam_step(model, beam_size, source, limits, t, token, finished, states, score, lengths):
    """One step of all beams. Returns (origin (N,): the flat beam each new beam extends,
    token, finished, states, score, lengths, weights), all already reordered by origin."""
    logits, states, weights = model.decode_step(token, states, source)
    log_p = _log_probabilities(logits)  # (N, V)
    vocabulary_size = log_p.shape[-1]
    pad_only = tf.constant(np.where(np.arange(vocabulary_size) == PAD_ID, 0.0, -np.inf).astype(np.float32))
    proposals = score[:, None] + tf.where(finished[:, None], pad_only[None, :], log_p)  # (N, V)
    proposals = tf.reshape(proposals, [-1, beam_size * vocabulary_size])  # (B, K V)
    best, index = tf.math.top_k(proposals, k=beam_size)  # (B, K), sorted
    rows = tf.shape(proposals)[0]
    origin = tf.reshape(index // vocabulary_size + tf.range(rows)[:, None] * beam_size, [-1])  # (N,)
    token = tf.reshape(index % vocabulary_size, [-1])
    was_finished = tf.gather(finished, origin)
    token = tf.where(was_finished, PAD_ID, token)
    lengths = tf.gather(lengths, origin) + tf.cast(~was_finished, tf.int32)
    states = [tf.gather(s, origin) for s in states]
    weights = tf.where(was_finished[:, None], 0.0, tf.gather(tf.cast(weights, tf.float32), origin))
    finished = was_finished | tf.equal(token, EOS_ID) | (t + 1 >= limits)
    return origin, token, finished, states, tf.reshape(best, [-1]), lengths, weights


def _beam_loop(model, beam_size, source_ids, limits, capacity):
    """Beam search over the whole batch in one while_loop (`_decode_loop`); the histories are
    reordered by the origins every step."""
    source, limits, token, finished, states, score, lengths, _, _ = _beam_first(model, beam_size, source_ids, limits)

    def step(t, token, finished, carry):
        origin, token, finished, *carry, weights = _beam_step(
            model, beam_size, source, limits, t, token, finished, *carry
        )
        return origin, token, finished, tuple(carry), weights

    carry = (states, score, lengths)
    (_, score, lengths), ids, attention = _decode_loop(step, capacity, source_ids, token, finished, carry)
    return ids, score, lengths, attention


def _beam_step_with_history(model, beam_size, t, source, limits, token, finished, states, score, lengths, ids,
                            attention):
    """Reference: one beam step, reordering and extending batch-major histories (N, t), (N, t, S)."""
    origin, token, finished, states, score, lengths, weights = _beam_step(
        model, beam_size, source, limits, t, token, finished, states, score, lengths
    )
    ids = tf.concat([tf.gather(ids, origin), token[:, None]], axis=1)
    attention = tf.concat([tf.gather(attention, origin), weights[:, None]], axis=1)
    return source, limits, token, finished, states, score, lengths, ids, attention

