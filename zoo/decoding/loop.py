"""`decode`: one compiled loop over the decoding protocol, for every model and strategy.

The protocol (implemented by `RecurrentLanguageModel` and `EncoderDecoder`):

    model.decoding_start(inputs) -> (Step, context)
        inputs: (B, ...) what the model starts from (a right-padded prompt, a source);
        context: a nest of (B, ...) tensors that every step reads and none changes (the
        encoded source; () for a language model).
    model.decoding_step(token (B,), state, context) -> Step
    Step(logits (B, V), state, record)
        logits: for the next token; state: a list of (B, ...) tensors (reordered with the
        hypotheses of a beam search); record: a (B, ...) tensor kept per output token (the
        attention weights), or None.

The loop, inside one `tf.function` and `tf.while_loop` (no Python per token):

    step_0 = start(inputs); for t = 0, 1, ...:
        z = float32 logits of step_t, reserved ids (pad, unk, bos) at -inf; log p = log_softmax(z)
        origin, y_t, s = strategy.select(z, log p, t, finished, s)     (see zoo.decoding.strategies)
        a hypothesis that had finished emits pad (its record 0); lengths count the others
        finished |= (y_t == eos) | (t + 1 >= max_length)
        stop when t + 1 == capacity or every hypothesis has finished; else step_{t+1} = step(y_t, ...)

Histories are time-major buffers (C, N) and (C, N, ...), updated in place under XLA and
reordered by `origin` in a beam search. Under XLA (`jit_compile=True`, the default) shapes are
compile-time constants: the front ends round the capacity up (`generation.bucket`). The
compiled functions are cached per model (weakly), strategy key, input shape rank and compile mode.

The one stepwise reference (`stepwise=True`): the same start and step as two `tf.function`s called
from a Python loop, one call per token (TensorFlow's text-generation tutorial); the baseline of
bench/generate.py and bench/decode.py.
"""

import collections
import functools
import weakref

import numpy as np
import tensorflow as tf

from zoo.text import BOS_ID, PAD_ID, UNK_ID

RESERVED_IDS = (PAD_ID, UNK_ID, BOS_ID)  # never produced

# The whole loop under XLA. bench/generate.py on CPU (2 cores, busy machine), 2-layer
# LSTM of 512 units: batch 1, 0.28 ms per token under XLA vs 0.78 ms in the graph executor
# (which runs the step's ~50 small ops one by one); batch 64, 7.4 ms vs 7.4 ms (the
# matmuls dominate). 32 units: XLA ahead at both batch sizes.
XLA_DEFAULT = True

Step = collections.namedtuple("Step", ["logits", "state", "record"])
Decoded = collections.namedtuple("Decoded", ["ids", "lengths", "log_probs", "scores", "records"])
Decoded.__doc__ = """What `decode` returns, as tensors. Greedy / Sample: ids (B, C) int32 (pad 0 after
a row's end), lengths (B,) int32 (output tokens, eos included), log_probs (B,) float32 (summed log p
of the output, reserved ids masked, temperature 1, unfiltered), scores (= log_probs), records
(B, C, ...) float32 (0 after the end; None for a model without records). Beam: the same with a
hypothesis axis K after B, best first, and scores the length-normalised ones."""
_Hypotheses = collections.namedtuple("_Hypotheses", ["token", "finished", "lengths", "log_prob"])

# model -> {(what, key, rank, jit_compile): tf.function}; weak, so a cached function does not
# keep its model alive (the functions reach the model through a weak reference too).
_FUNCTIONS = weakref.WeakKeyDictionary()


def decode(model, inputs, strategy, max_lengths, capacity=None, eos_id=None, jit_compile=None, stepwise=False):
    """Decodes a batch with `strategy`, in one compiled loop; also inside a `tf.function`.

    Args:
        model: implements the decoding protocol (module docstring).
        inputs: (B, ...) tensor for `model.decoding_start`.
        strategy: `Greedy()`, `Sample(...)` or `Beam(...)` (zoo.decoding.strategies).
        max_lengths: (B,) int: most output tokens per row, eos included (0: nothing to decode), or
            one int for every row.
        capacity: length C of the output buffers, >= max(max_lengths) (None: that maximum); under
            XLA a compile-time constant.
        eos_id: the id that ends a row (None: rows end at their max_length only).
        jit_compile: compile the loop with XLA (None: `XLA_DEFAULT`, False when stepwise); ignored
            inside a tf.function, where the loop joins the caller's graph.
        stepwise: run the stepwise reference instead (eager only).

    Returns a `Decoded` of tensors. The caller checks the arguments (the front ends `generate`,
    `greedy`, `sample`, `beam_search` do).
    """
    limits = tf.broadcast_to(tf.cast(max_lengths, tf.int32), tf.shape(inputs)[:1])
    capacity = tf.reduce_max(limits) if capacity is None else tf.cast(capacity, tf.int32)
    eos_id = tf.cast(-1 if eos_id is None else eos_id, tf.int32)
    arguments = (tf.convert_to_tensor(inputs), limits, capacity, eos_id, *strategy.parameters())
    if tf.inside_function():
        return strategy.finish(_loop(model, strategy, *arguments))
    if not model.built:  # build the variables eagerly, not inside a traced function
        model.decoding_start(arguments[0][:1])
    jit_compile = compiles(jit_compile, stepwise, strategy)
    if stepwise:
        return strategy.finish(_stepwise(model, strategy, jit_compile, *arguments))
    return strategy.finish(_function(model, "loop", strategy, arguments[0], jit_compile)(*arguments))


def compiles(jit_compile, stepwise, strategy=None):
    """Whether to compile with XLA: `jit_compile`, or by default `XLA_DEFAULT` for the greedy and
    sampling loops and False for the stepwise reference (as TensorFlow's tutorial) and for beam
    search. Known issue: the XLA-compiled beam loop over more than one row does not return on
    TensorFlow 2.21's CPU backend (tests/test_translation.py's 4-sentence batch of a tiny model ran
    for minutes); the graph executor runs it in about the time the earlier XLA beam loop took
    (bench/decode.py, batch 1: 93 ms against 103 ms)."""
    if jit_compile is not None:
        return bool(jit_compile)
    return XLA_DEFAULT and not stepwise and getattr(strategy, "width", 1) == 1


# --- the loop ----------------------------------------------------------------------------


def _begin(model, strategy, inputs, limits, eos_id, parameters):
    """Starts the model (tiled K times for a beam) and chooses the first tokens."""
    first, context = model.decoding_start(inputs)
    if strategy.width > 1:
        tile = functools.partial(tf.repeat, repeats=strategy.width, axis=0)
        record = None if first.record is None else tile(first.record)
        first = Step(tile(first.logits), [tile(s) for s in first.state], record)
        context, limits = tf.nest.map_structure(tile, context), tile(limits)
    n = tf.shape(limits)[0]
    no_token = tf.fill([n], tf.constant(PAD_ID, tf.int32))
    hypotheses = _Hypotheses(no_token, limits <= 0, tf.zeros([n], tf.int32), strategy.initial_log_prob(n))
    # no history to reorder yet: the origin of a first beam step is of no use
    _, hypotheses, state, record = _advance(strategy, first, 0, hypotheses, limits, eos_id, parameters)
    return context, limits, hypotheses, state, record


def _advance(strategy, step, t, hypotheses, limits, eos_id, parameters):
    """One choice of the next tokens from a `Step` -> (origin or None, hypotheses, state, record)."""
    logits = tf.cast(step.logits, tf.float32) + _reserved_mask(step.logits.shape[-1])  # (N, V)
    log_p = tf.nn.log_softmax(logits, axis=-1)
    origin, token, log_prob = strategy.select(logits, log_p, t, hypotheses.finished, hypotheses.log_prob, parameters)
    ended, lengths, state, record = hypotheses.finished, hypotheses.lengths, list(step.state), step.record
    if origin is not None:  # a beam step: everything follows the hypothesis it extends
        ended, lengths = tf.gather(ended, origin), tf.gather(lengths, origin)
        state = [tf.gather(s, origin) for s in state]
    token = tf.where(ended, tf.constant(PAD_ID, tf.int32), token)
    if record is not None:
        record = tf.cast(record if origin is None else tf.gather(record, origin), tf.float32)
        record = tf.where(tf.reshape(ended, [-1] + [1] * (len(record.shape) - 1)), 0.0, record)
    finished = ended | tf.equal(token, eos_id) | (t + 1 >= limits)
    return origin, _Hypotheses(token, finished, lengths + tf.cast(~ended, tf.int32), log_prob), state, record


def _loop(model, strategy, inputs, limits, capacity, eos_id, *parameters):
    """The whole decoding in one while_loop -> `Decoded` of the flat (N = B K) batch."""
    context, limits, hypotheses, state, record = _begin(model, strategy, inputs, limits, eos_id, parameters)
    histories = _write(_empty_histories(capacity, hypotheses.token, record), 0, None, hypotheses.token, record)

    def body(t, hypotheses, state, histories):
        step = model.decoding_step(hypotheses.token, state, context)
        origin, hypotheses, state, record = _advance(strategy, step, t, hypotheses, limits, eos_id, parameters)
        return t + 1, hypotheses, state, _write(histories, t, origin, hypotheses.token, record)

    def more(t, hypotheses, *_):
        return (t < capacity) & ~tf.reduce_all(hypotheses.finished)

    _, hypotheses, _, (ids, *records) = tf.while_loop(more, body, (tf.constant(1), hypotheses, state, histories))
    records = [tf.transpose(r, [1, 0, *range(2, len(r.shape))]) for r in records]  # (N, C, ...)
    lengths, log_prob = hypotheses.lengths, hypotheses.log_prob
    return Decoded(tf.transpose(ids), lengths, log_prob, log_prob, records[0] if records else None)


def _empty_histories(capacity, token, record):
    """Time-major buffers: ids (C, N) and, if the model records, records (C, N, ...)."""
    ids = tf.zeros(tf.stack([capacity, tf.shape(token)[0]]), tf.int32)
    return (ids,) if record is None else (ids, tf.zeros(tf.concat([[capacity], tf.shape(record)], 0)))


def _write(histories, t, origin, token, record):
    """Reorders the histories by `origin` (a beam step) and writes step t's tokens and record."""
    if origin is not None:
        histories = tuple(tf.gather(h, origin, axis=1) for h in histories)
    at = tf.reshape(t, (1, 1))
    return tuple(tf.tensor_scatter_nd_update(h, at, x[None]) for h, x in zip(histories, (token, record)))


def _reserved_mask(vocabulary_size):
    """(V,) float32: -inf at the reserved ids, 0 elsewhere."""
    mask = np.zeros(vocabulary_size, np.float32)
    mask[list(RESERVED_IDS)] = -np.inf
    return tf.constant(mask)


# --- the stepwise reference -----------------------------------------------------------------


def _first(model, strategy, inputs, limits, capacity, eos_id, *parameters):
    return _begin(model, strategy, inputs, limits, eos_id, parameters)


def _next(model, strategy, t, context, limits, hypotheses, state, eos_id, *parameters):
    step = model.decoding_step(hypotheses.token, state, context)
    origin, hypotheses, state, record = _advance(strategy, step, t, hypotheses, limits, eos_id, parameters)
    return tf.range(tf.shape(limits)[0]) if origin is None else origin, hypotheses, state, record


def _stepwise(model, strategy, jit_compile, inputs, limits, capacity, eos_id, *parameters):
    """A Python loop over tokens, one `tf.function` call each; stops early (one host sync per token)
    only when there is an eos id. The histories are rebuilt at the end by following the origins back."""
    first = _function(model, "first", strategy, inputs, jit_compile)
    following = _function(model, "next", strategy, inputs, jit_compile)
    context, limits, hypotheses, state, record = first(inputs, limits, capacity, eos_id, *parameters)
    tokens, records, origins = [hypotheses.token.numpy()], [record], []
    for t in range(1, int(capacity)):
        if int(eos_id) >= 0 and bool(tf.reduce_all(hypotheses.finished)):
            break
        origin, hypotheses, state, record = following(
            tf.constant(t), context, limits, hypotheses, state, eos_id, *parameters
        )
        tokens.append(hypotheses.token.numpy())
        records.append(record)
        origins.append(origin.numpy())
    ids, history = _follow_back(tokens, records, origins, int(capacity))
    return Decoded(ids, hypotheses.lengths, hypotheses.log_prob, hypotheses.log_prob, history)


def _follow_back(tokens, records, origins, capacity):
    """Per-step tokens (N,), records (N, ...) or None and origins (N,) of steps 1.. -> the histories
    (N, C) and (N, C, ...) of the final hypotheses, each followed back to t = 0."""
    row = np.arange(len(tokens[0]))
    ids = np.zeros((len(row), capacity), np.int32)
    history = None if records[0] is None else np.zeros((len(row), capacity, *records[0].shape[1:]), np.float32)
    for t in reversed(range(len(tokens))):
        ids[:, t] = tokens[t][row]
        if history is not None:
            history[:, t] = records[t].numpy()[row]
        row = origins[t - 1][row] if t > 0 else row
    return tf.constant(ids), None if history is None else tf.constant(history)


# --- the function cache ------------------------------------------------------------------


def _function(model, what, strategy, inputs, jit_compile):
    """The tf.function `what` ("loop", "first", "next") of `model` for `strategy.key`, traced once
    (new lengths, temperatures, filters, seeds and eos ids are tensors)."""
    functions = _FUNCTIONS.setdefault(model, {})
    key = (what, strategy.key, inputs.shape.rank, jit_compile)
    if key not in functions:
        head = (
            tf.TensorSpec([None] * inputs.shape.rank, inputs.dtype, name="inputs"),
            tf.TensorSpec((None,), tf.int32, name="max_lengths"),
            tf.TensorSpec((), tf.int32, name="capacity"),
            tf.TensorSpec((), tf.int32, name="eos_id"),
        )
        body, signature = {
            "loop": (_loop, (*head, *strategy.signature())),
            "first": (_first, (*head, *strategy.signature())),
            "next": (_next, None),
        }[what]
        python_function = functools.partial(_call_with_model, body, weakref.ref(model), strategy)
        functions[key] = tf.function(
            python_function, input_signature=signature, jit_compile=jit_compile, autograph=False, reduce_retracing=True
        )
    return functions[key]


def _call_with_model(body, model_ref, strategy, *args):
    return body(model_ref(), strategy, *args)
