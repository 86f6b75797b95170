"""Decoding strategies: how the loop of `zoo.decoding.decode` picks the next tokens from the logits.

At every step the loop hands a strategy the float32 logits z (N, V) with the reserved ids pad 0,
unk 1 and bos 2 at -inf, their log-probabilities log p = log_softmax(z), and each hypothesis'
summed log-probability s (N,) so far:

    Greedy   y = argmax_v log p(v)
    Sample   y ~ Categorical(softmax(z' / temperature)), z' = z restricted to the top k ids (k > 0)
             and to the nucleus: the smallest set of the likeliest ids whose probability (after
             temperature and top-k) reaches top_p; stateless draws, the seed folded with the step t
    Beam     K hypotheses per input row on a flat (B K) batch: every live hypothesis h proposes
             s_h + log p(v | h) for every v, a finished one only itself extended by pad at zero
             cost; the K best proposals of each row become the new hypotheses (`origin`: the
             flat hypothesis each extends). Finally ranked by s / length ** length_penalty.

A strategy holds Python settings (`key`: what the compiled loop is traced for) and tensors
(`parameters()`: what it is called with, so new temperatures or seeds need no new trace).
"""

import math

import numpy as np
import tensorflow as tf

from zoo.decoding.arguments import integer_argument, real_argument, sampling_arguments
from zoo.text import PAD_ID


class Greedy:
    """y_t = argmax_v log p(v | y_<t): the likeliest id at every step."""

    width = 1  # hypotheses per input row

    @property
    def key(self):
        return ("greedy",)

    def parameters(self):
        return ()

    def initial_log_prob(self, n):
        return tf.zeros([n])

    def signature(self):
        return ()

    def select(self, logits, log_p, t, finished, log_prob, parameters):
        """(N, V) masked logits and log-probabilities -> (origin None, token (N,), log_prob (N,))."""
        token = tf.argmax(log_p, axis=-1, output_type=tf.int32)
        return None, token, _add(log_prob, log_p, token, finished)

    def finish(self, decoded):
        return decoded


class Sample(Greedy):
    """y_t ~ softmax(logits / temperature), within the top k ids and the nucleus of mass top_p.

    Args:
        temperature: > 0 (use `Greedy` for 0); a float or a scalar float32 tensor.
        top_k: sample among the k likeliest ids only (0: all).
        top_p: in (0, 1]; sample within the nucleus of mass p (1: all).
        seed: int or scalar int64 tensor; None draws one from TensorFlow's global generator at
            each call.
    Python numbers are checked here (ValueError); tensors are taken as they are.
    """

    def __init__(self, temperature=1.0, top_k=0, top_p=1.0, seed=None):
        if not any(tf.is_tensor(v) for v in (temperature, top_k, top_p, seed)):
            temperature, top_k, top_p, seed, _ = sampling_arguments("Sample", temperature, top_k, top_p, seed)
            if temperature == 0.0:
                raise ValueError("Sample: `temperature` must be > 0; use Greedy() for temperature 0")
        self.temperature, self.top_k, self.top_p, self.seed = temperature, top_k, top_p, seed
        self.filtered = tf.is_tensor(top_k) or tf.is_tensor(top_p) or top_k > 0 or top_p < 1.0

    @property
    def key(self):
        return ("sample", self.filtered)

    def parameters(self):
        if self.seed is None:
            seed = tf.random.uniform((2,), maxval=tf.int64.max, dtype=tf.int64)
        else:
            seed = tf.stack([tf.cast(self.seed, tf.int64), tf.constant(0, tf.int64)])
        return (
            tf.cast(self.temperature, tf.float32), tf.cast(self.top_k, tf.int32), tf.cast(self.top_p, tf.float32),
            seed,
        )

    def signature(self):
        return (
            tf.TensorSpec((), tf.float32, name="temperature"), tf.TensorSpec((), tf.int32, name="top_k"),
            tf.TensorSpec((), tf.float32, name="top_p"), tf.TensorSpec((2,), tf.int64, name="seed"),
        )

    def select(self, logits, log_p, t, finished, log_prob, parameters):
        temperature, top_k, top_p, seed = parameters
        logits = logits / temperature
        if self.filtered:
            logits = filter_top_k_top_p(logits, top_k, top_p)
        # an int32 step makes an int32 seed: XLA's StatelessMultinomial takes no int64 seed
        step_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(t, tf.int32))
        token = tf.random.stateless_categorical(logits, 1, seed=step_seed, dtype=tf.int32)[:, 0]
        return None, token, _add(log_prob, log_p, token, finished)


class Beam(Greedy):
    """Beam search of `beam_size` hypotheses per row, ranked at the end by
    log p(y | x) / length ** length_penalty (length: output tokens, eos included)."""

    def __init__(self, beam_size=5, length_penalty=1.0):
        self.width = integer_argument("Beam", "beam_size", beam_size)
        if self.width < 1:
            raise ValueError(f"Beam: `beam_size` must be >= 1, got {self.width}")
        self.length_penalty = real_argument("Beam", "length_penalty", length_penalty)
        if not self.length_penalty >= 0.0 or math.isinf(self.length_penalty):
            raise ValueError(f"Beam: `length_penalty` must be finite and >= 0, got {self.length_penalty}")

    @property
    def key(self):
        return ("beam", self.width)

    def initial_log_prob(self, n):
        """(N,): the K beams of a row start as one, the others at -inf."""
        first = np.full(self.width, -np.inf, np.float32)
        first[0] = 0.0
        return tf.tile(tf.constant(first), [n // self.width])

    def select(self, logits, log_p, t, finished, log_prob, parameters):
        vocabulary_size = log_p.shape[-1]
        pad_only = tf.constant(np.where(np.arange(vocabulary_size) == PAD_ID, 0.0, -np.inf).astype(np.float32))
        proposals = log_prob[:, None] + tf.where(finished[:, None], pad_only[None, :], log_p)  # (N, V)
        proposals = tf.reshape(proposals, [-1, self.width * vocabulary_size])  # (B, K V)
        best, index = tf.math.top_k(proposals, k=self.width)  # (B, K), sorted
        rows = tf.shape(proposals)[0]
        origin = tf.reshape(index // vocabulary_size + tf.range(rows)[:, None] * self.width, [-1])  # (N,)
        return origin, tf.reshape(index % vocabulary_size, [-1]), tf.reshape(best, [-1])

    def finish(self, decoded):
        """Flat (B K, ...) results -> (B, K, ...), the hypotheses of each row best first by score."""
        by_row = [None if x is None else tf.reshape(x, tf.concat([[-1, self.width], tf.shape(x)[1:]], 0))
                  for x in decoded]
        scores = length_normalised(by_row[2], by_row[1], self.length_penalty)  # (B, K)
        order = tf.argsort(-scores, axis=1, stable=True)  # best first; -inf last
        by_row[3] = scores
        return type(decoded)(*(None if x is None else tf.gather(x, order, axis=1, batch_dims=1) for x in by_row))


def sampling_strategy(caller, temperature=1.0, top_k=0, top_p=1.0, seed=None, allow_bool=False):
    """`Greedy()` for temperature 0, else `Sample(...)`; ValueErrors name `caller`."""
    temperature, top_k, top_p, seed, mode = sampling_arguments(caller, temperature, top_k, top_p, seed, allow_bool)
    return Greedy() if mode == "greedy" else Sample(temperature, top_k, top_p, seed)


def length_normalised(log_prob, lengths, length_penalty):
    """The final ranking score of beam hypotheses, log p / length ** alpha, as a float32 tensor."""
    lengths = tf.cast(tf.maximum(lengths, 1), tf.float32)
    return tf.cast(log_prob, tf.float32) / lengths ** tf.constant(length_penalty, tf.float32)


def filter_top_k_top_p(logits, top_k, top_p):
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


def _add(log_prob, log_p, token, finished):
    """log_prob + log p(token) for the rows not yet finished."""
    return log_prob + tf.where(finished, 0.0, tf.gather(log_p, token, axis=1, batch_dims=1))
