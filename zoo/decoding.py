"""Text generation with a `RecurrentLanguageModel`, as one compiled loop.

`generate` runs the prompt through `model.encode` (the whole prompt at once) and then
`length` tokens through `model.step` inside one `tf.function` with a `tf.while_loop`:
no Python runs per token. Every sampling choice lives in the graph:

    logits = step logits, float32; reserved ids (pad 0, unk 1, bos 2) -> -inf
    temperature == 0:  next = argmax(logits)                      (greedy)
    otherwise:         z = logits / temperature
                       top-k (k > 0):   z_i -> -inf unless z_i is among the k largest
                       top-p (p < 1):   z_i -> -inf outside the smallest set of the largest
                                        logits whose softmax mass reaches p (nucleus)
                       next ~ Categorical(softmax(z)), stateless RNG, seed folded with t

Prompts come as a right-padded (B, P) batch: each row's prompt is its non-zero prefix.
Under the padding mask that `encode` is given, the recurrent layers keep their states on
the padded steps, so the final states of `encode` are those of each row's last real token; the first
sampled token reads the logits at that position.

`generate_stepwise` is the reference: the approach of TensorFlow's text-generation
tutorial, a Python loop over tokens that calls a `tf.function` one-step function, with
the same sampling (and, run in the graph executor, the same random draws for a seed).

Speed: `bench/generate.py`. The compiled loop is XLA-compiled (`jit_compile=True`) by
default: on CPU it ran the same while_loop 2.8x faster than TensorFlow's graph executor at
batch 1 and as fast at batch 64 (see `XLA_DEFAULT` below). For one seed, XLA and the graph
executor draw different samples (their categorical samplers differ); greedy output agrees.

Under XLA the shapes are compile-time constants: a new batch size compiles anew, and the
prompt length and the output length are rounded up to powers of two (prompts by right
padding, which the mask makes a no-op; outputs by a larger buffer, sliced afterwards) so
that new prompts and lengths seldom do. The tf.functions themselves are traced once per
model, sampling mode (greedy, sample, filtered) and compile mode: length, temperature,
top-k, top-p, seed and eos id are tensors.
"""

import functools
import weakref

import numpy as np
import tensorflow as tf

from zoo.checks import integer_argument, right_padded_ids, sampling_arguments

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
RESERVED_IDS = (PAD_ID, UNK_ID, BOS_ID)  # never sampled

# The whole loop under XLA. bench/generate.py on CPU (2 cores, busy machine), 2-layer
# LSTM of 512 units: batch 1, 0.28 ms per token under XLA vs 0.78 ms in the graph executor
# (which runs the step's ~50 small ops one by one); batch 64, 7.4 ms vs 7.4 ms (the
# matmuls dominate). 32 units: XLA ahead at both batch sizes.
XLA_DEFAULT = True

_SIGNATURE = (
    tf.TensorSpec((None, None), tf.int32, name="prompt_ids"),
    tf.TensorSpec((), tf.int32, name="length"),
    tf.TensorSpec((), tf.int32, name="capacity"),
    tf.TensorSpec((), tf.float32, name="temperature"),
    tf.TensorSpec((), tf.int32, name="top_k"),
    tf.TensorSpec((), tf.float32, name="top_p"),
    tf.TensorSpec((2,), tf.int64, name="seed"),
    tf.TensorSpec((), tf.int32, name="eos_id"),
)

# model -> {(what, mode, jit_compile): tf.function}; weak, so a cached function does not
# keep its model alive (the functions reach the model through a weak reference too).
_FUNCTIONS = weakref.WeakKeyDictionary()


# --- public API ------------------------------------------------------------------------


def generate(
    model, prompt_ids, length, temperature=1.0, top_k=0, top_p=1.0, seed=None, eos_id=None, jit_compile=None
):
    """Continues each prompt by `length` tokens, in one compiled loop.

    Args:
        model: a `RecurrentLanguageModel` (anything with `encode`, `step` and
            `vocabulary_size`).
        prompt_ids: (B, P) int ids (array, tensor or `tf.RaggedTensor`), right-padded
            with 0: each row's prompt is its non-zero prefix, of at least one token.
        length: how many tokens to generate, >= 0.
        temperature: 0 for greedy decoding (argmax); otherwise the logits are divided
            by it before sampling.
        top_k: sample among the k likeliest ids only (0: all).
        top_p: nucleus sampling, sample among the likeliest ids whose probabilities
            (after temperature and top-k) add up to p; 1: all. In (0, 1].
        seed: int; the same seed gives the same output (for one model, batch and
            compile mode). None draws a seed from TensorFlow's global generator.
        eos_id: optional end-of-sequence id. A row that produced it emits pad 0
            afterwards; the loop stops once every row has.
        jit_compile: compile the loop with XLA (None: `XLA_DEFAULT`).

    Returns:
        (B, length) int32 tensor of the generated ids only (not the prompt). Reserved
        ids 0 (pad), 1 (unk) and 2 (bos) are never sampled; 0 appears only after eos.
    """
    args = _prepare(model, prompt_ids, length, temperature, top_k, top_p, seed, eos_id)
    prompt, length = args["prompt"], args["length"]
    if length == 0:
        return tf.zeros((prompt.shape[0], 0), tf.int32)
    jit_compile = XLA_DEFAULT if jit_compile is None else bool(jit_compile)
    capacity = length
    if jit_compile:  # shapes are compile-time constants under XLA: round them up
        prompt = _pad_columns(prompt, _bucket(prompt.shape[1]))
        capacity = _bucket(length)
    function = _function(model, "loop", args["mode"], jit_compile)
    ids = function(
        tf.constant(prompt), tf.constant(length, tf.int32), tf.constant(capacity, tf.int32), *args["sampling"]
    )
    return ids[:, :length] if capacity != length else ids


def generate_stepwise(
    model, prompt_ids, length, temperature=1.0, top_k=0, top_p=1.0, seed=None, eos_id=None, jit_compile=False
):
    """The reference `generate`: a Python loop over tokens, one `tf.function` call per token.

    As in TensorFlow's text-generation tutorial: a first call runs the prompt and samples
    a token, then each call steps the model on the last token and samples the next. Same
    arguments, checks, sampling and result as `generate`; with `jit_compile=False` (the
    default, as in the tutorial) the random draws for a seed equal those of
    `generate(..., jit_compile=False)`. Stops early (one host sync per token) only when
    `eos_id` is given.
    """
    args = _prepare(model, prompt_ids, length, temperature, top_k, top_p, seed, eos_id)
    prompt, length = args["prompt"], args["length"]
    if length == 0:
        return tf.zeros((prompt.shape[0], 0), tf.int32)
    first = _function(model, "first", args["mode"], bool(jit_compile))
    step = _function(model, "step", args["mode"], bool(jit_compile))
    sampling = args["sampling"]
    token, finished, states = first(tf.constant(prompt), *sampling)
    tokens = [token]
    for t in range(1, length):
        if eos_id is not None and bool(tf.reduce_all(finished)):
            break
        token, finished, states = step(token, finished, states, tf.constant(t, tf.int32), *sampling)
        tokens.append(token)
    ids = tf.stack(tokens, axis=1)
    return tf.pad(ids, [[0, 0], [0, length - len(tokens)]])


def detokenize_lines(tokenizer, ids):
    """Generated ids (B, L) -> B strings in which each `<eos>` is a line break (a word model trained
    on one sentence a line, as on PTB, goes on across sentence ends). `tokenizer.detokenize` writes
    each line; it drops pads."""
    texts = []
    for row in np.asarray(ids):
        lines = np.split(row, np.flatnonzero(row == EOS_ID))  # every line but the first starts with its <eos>
        lines = tf.ragged.constant([line[line != EOS_ID] for line in lines], dtype=tf.int32, ragged_rank=1)
        texts.append("\n".join(line.decode("utf-8") for line in tokenizer.detokenize(lines).numpy()))
    return texts


# --- checks ------------------------------------------------------------------------------


def _prepare(model, prompt_ids, length, temperature, top_k, top_p, seed, eos_id):
    """Checks the arguments; returns the prompt (numpy), length, mode and sampling tensors."""
    vocabulary_size = int(model.vocabulary_size)
    if vocabulary_size <= len(RESERVED_IDS):
        raise ValueError(
            f"generate: the model's vocabulary ({vocabulary_size} ids) has no id to sample besides the "
            f"reserved {list(RESERVED_IDS)}"
        )
    length = integer_argument("generate", "length", length)
    if length < 0:
        raise ValueError(f"generate: `length` must be >= 0, got {length}")
    temperature, top_k, top_p, seed, mode = sampling_arguments(
        "generate", temperature, top_k, top_p, seed, allow_bool=True
    )
    if eos_id is not None:
        eos_id = integer_argument("generate", "eos_id", eos_id)
        if not 0 <= eos_id < vocabulary_size or eos_id in RESERVED_IDS:
            raise ValueError(
                f"generate: `eos_id` must be an id of the vocabulary (< {vocabulary_size}) other than the "
                f"reserved {list(RESERVED_IDS)}; got {eos_id}"
            )
    prompt = right_padded_ids("generate", "prompt_ids", prompt_ids, vocabulary_size, "prompt", "token")
    _ensure_built(model)

    sampling = (
        tf.constant(temperature if temperature > 0 else 1.0, tf.float32),
        tf.constant(top_k, tf.int32),
        tf.constant(top_p, tf.float32),
        _seed_tensor(seed),
        tf.constant(-1 if eos_id is None else eos_id, tf.int32),
    )
    return {"prompt": prompt, "length": length, "mode": mode, "sampling": sampling}


def _seed_tensor(seed):
    """The (2,) int64 seed of the stateless sampler: [seed, 0], or drawn from TensorFlow's global
    generator for None."""
    if seed is None:
        return tf.random.uniform((2,), maxval=tf.int64.max, dtype=tf.int64)
    return tf.constant([seed, 0], tf.int64)


def _ensure_built(model):
    if not model.built:  # build the variables eagerly, not inside a traced function
        model(tf.ones((1, 1), tf.int32))


def _bucket(n):
    """The next power of two >= n, at least 8."""
    return max(8, 1 << (int(n) - 1).bit_length())


def _pad_columns(prompt, width):
    return np.pad(prompt, [(0, 0), (0, width - prompt.shape[1])]) if width > prompt.shape[1] else prompt


# --- the graph pieces -------------------------------------------------------------------


def _function(model, what, mode, jit_compile):
    """One tf.function per model, piece, sampling mode and compile mode (no retracing for
    new lengths, temperatures, top-k, top-p, seeds or eos ids: they are tensors)."""

    def make():
        body = {"loop": _loop, "first": _first, "step": _step}[what]
        if what == "loop":
            return body, _SIGNATURE
        if what == "first":
            return body, (_SIGNATURE[0], *_SIGNATURE[3:])
        states = [tf.TensorSpec((None, size), tf.float32) for size in model.recurrent.state_size]
        return body, (
            tf.TensorSpec((None,), tf.int32), tf.TensorSpec((None,), tf.bool), states,
            tf.TensorSpec((), tf.int32), *_SIGNATURE[3:],
        )

    return _cached_function(_FUNCTIONS, model, what, mode, jit_compile, make)


def _cached_function(cache, model, what, mode, jit_compile, make):
    """The tf.function `cache[model][(what, mode, jit_compile)]`, made on first use from
    `make() -> (body, input_signature)`: it calls `body(model, mode, *args)`. `cache` is a
    WeakKeyDictionary and the function reaches the model through a weak reference, so a cached
    function does not keep its model alive. (zoo.translation caches its pieces the same way.)"""
    functions = cache.setdefault(model, {})
    key = (what, mode, jit_compile)
    if key not in functions:
        body, signature = make()
        python_function = functools.partial(_call_with_model, body, weakref.ref(model), mode)
        functions[key] = tf.function(
            python_function, input_signature=signature, jit_compile=jit_compile, autograph=False, reduce_retracing=True
        )
    return functions[key]


def _call_with_model(body, model_ref, mode, *args):
    return body(model_ref(), mode, *args)


def _reserved_mask(vocabulary_size):
    """(V,) float32: -inf at the reserved ids, 0 elsewhere."""
    mask = np.zeros(vocabulary_size, np.float32)
    mask[list(RESERVED_IDS)] = -np.inf
    return tf.constant(mask)


def _sample(logits, t, mode, temperature, top_k, top_p, seed):
    """(B, V) logits -> (B,) int32 ids; see the module docstring."""
    logits = tf.cast(logits, tf.float32) + _reserved_mask(logits.shape[-1])
    if mode == "greedy":
        return tf.argmax(logits, axis=-1, output_type=tf.int32)
    logits = logits / temperature
    if mode == "filtered":
        logits = _filter_top_k_top_p(logits, top_k, top_p)
    # an int32 step makes an int32 seed: XLA's StatelessMultinomial takes no int64 seed
    step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int32))
    return tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int32)[:, 0]


def _filter_top_k_top_p(logits, top_k, top_p):
    """Sets to -inf the logits outside the top k (k > 0) and outside the nucleus of mass p.

    One sort serves both: the kept ids are a prefix of the sorted logits, of length
    min(k, n_p), where n_p counts the sorted ids whose preceding mass (within the top k)
    is < p; the first id always stays. Ties with the last kept logit stay too.
    """
    vocabulary_size = logits.shape[-1]
    ordered = tf.sort(logits, axis=-1, direction="DESCENDING")  # (B, V)
    k = tf.where(top_k > 0, tf.minimum(top_k, vocabulary_size), vocabulary_size)
    in_top_k = tf.range(vocabulary_size)[None, :] < k  # (1, V)
    probabilities = tf.nn.softmax(tf.where(in_top_k, ordered, -np.inf), axis=-1)
    mass_before = tf.cumsum(probabilities, axis=-1, exclusive=True)
    kept = tf.reduce_sum(tf.cast(in_top_k & (mass_before < top_p), tf.int32), axis=-1)  # (B,), >= 1
    threshold = tf.gather(ordered, tf.maximum(kept, 1) - 1, axis=1, batch_dims=1)  # (B,)
    return tf.where(logits < threshold[:, None], tf.constant(-np.inf, logits.dtype), logits)


def _prompt_logits(model, prompt):
    """Encodes the right-padded prompt: (next-token logits at each row's last real token, states)."""
    logits, states = model.encode(prompt, mask=prompt != PAD_ID)  # (B, P, V)
    last = tf.reduce_sum(tf.cast(prompt != PAD_ID, tf.int32), axis=1) - 1  # (B,)
    return tf.gather(logits, last, axis=1, batch_dims=1), list(states)


def _emit(token, finished, eos_id):
    """Rows that ended emit pad; a row ends once it has emitted eos."""
    token = tf.where(finished, tf.constant(PAD_ID, tf.int32), token)
    return token, finished | tf.equal(token, eos_id)


def _loop(model, mode, prompt, length, capacity, temperature, top_k, top_p, seed, eos_id):
    """The whole generation: prompt, then length - 1 steps, in one while_loop."""
    sampling = (mode, temperature, top_k, top_p, seed)
    batch_size = tf.shape(prompt)[0]
    logits, states = _prompt_logits(model, prompt)
    token, finished = _emit(_sample(logits, 0, *sampling), tf.zeros((batch_size,), tf.bool), eos_id)
    # A (capacity, B) buffer updated in place (under XLA) rather than a TensorArray: rows of
    # an early stop stay pad, and its shape is static once `capacity` is.
    ids = tf.zeros(tf.stack([capacity, batch_size]), tf.int32)
    ids = tf.tensor_scatter_nd_update(ids, [[0]], token[None])

    def body(t, token, finished, states, ids):
        logits, states = model.step(token, states)
        token, finished = _emit(_sample(logits, t, *sampling), finished, eos_id)
        ids = tf.tensor_scatter_nd_update(ids, tf.reshape(t, (1, 1)), token[None])
        return t + 1, token, finished, list(states), ids

    def more(t, token, finished, states, ids):
        return (t < length) & ~tf.reduce_all(finished)

    _, _, _, _, ids = tf.while_loop(more, body, (tf.constant(1), token, finished, states, ids))
    return tf.transpose(ids)  # (B, capacity)


def _first(model, mode, prompt, temperature, top_k, top_p, seed, eos_id):
    """Reference, first call: the prompt and the first token."""
    logits, states = _prompt_logits(model, prompt)
    finished = tf.zeros(tf.shape(prompt)[:1], tf.bool)
    token, finished = _emit(_sample(logits, 0, mode, temperature, top_k, top_p, seed), finished, eos_id)
    return token, finished, states


def _step(model, mode, token, finished, states, t, temperature, top_k, top_p, seed, eos_id):
    """Reference, every later call: one step on the last token and the next token."""
    logits, states = model.step(token, states)
    token, finished = _emit(_sample(logits, t, mode, temperature, top_k, top_p, seed), finished, eos_id)
    return token, finished, list(states)
