"""Text generation with a `RecurrentLanguageModel`: `generate` on ids, `detokenize_lines` to text.

`generate` continues right-padded prompts through `zoo.decoding.decode`: the prompt runs through
`model.encode` at once (its padding masked, so each row's states are those of its last real
token), then `length` tokens are chosen one step at a time inside one compiled loop:

    temperature == 0:  next = argmax(logits), reserved ids (pad 0, unk 1, bos 2) excluded
    otherwise:         `Sample(temperature, top_k, top_p, seed)` (zoo.decoding.strategies)

Speed: `bench/generate.py`. The loop is XLA-compiled (`jit_compile=True`) by default: on CPU it
ran 2.8x faster than TensorFlow's graph executor at batch 1 and as fast at batch 64. For one
seed, XLA and the graph executor draw different samples (their categorical samplers differ);
greedy output agrees. Under XLA the prompt width and the output buffer are rounded up to
powers of two (`bucket`), so that new prompts and lengths seldom compile anew; a new batch
size does.
"""

import numpy as np
import tensorflow as tf

from zoo.decoding.arguments import integer_argument, right_padded_ids
from zoo.decoding.loop import RESERVED_IDS, compiles, decode
from zoo.decoding.strategies import sampling_strategy
from zoo.text import EOS_ID


def generate(
    model, prompt_ids, length, temperature=1.0, top_k=0, top_p=1.0, seed=None, eos_id=None, jit_compile=None,
    stepwise=False,
):
    """Continues each prompt by `length` tokens, in one compiled loop.

    Args:
        model: a `RecurrentLanguageModel` (the decoding protocol and `vocabulary_size`).
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
        jit_compile: compile the loop with XLA (None: `zoo.decoding.XLA_DEFAULT`; False when stepwise).
        stepwise: run the stepwise reference (a Python loop, one tf.function call per token;
            in the graph executor, the same draws as the loop for a seed).

    Returns:
        (B, length) int32 tensor of the generated ids only (not the prompt). Reserved
        ids 0 (pad), 1 (unk) and 2 (bos) are never sampled; 0 appears only after eos.
    """
    prompt, length, strategy, eos_id = _checked(model, prompt_ids, length, temperature, top_k, top_p, seed, eos_id)
    if length == 0:
        return tf.zeros((prompt.shape[0], 0), tf.int32)
    jit_compile = compiles(jit_compile, stepwise)
    capacity = length
    if jit_compile and not stepwise:  # shapes are compile-time constants under XLA: round them up
        prompt = np.pad(prompt, [(0, 0), (0, bucket(prompt.shape[1]) - prompt.shape[1])])
        capacity = bucket(length)
    ids = decode(model, prompt, strategy, length, capacity, eos_id, jit_compile, stepwise).ids
    return ids[:, :length] if capacity != length else ids


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


def bucket(n):
    """The next power of two >= n, at least 8: the shapes XLA compiles for."""
    return max(8, 1 << (int(n) - 1).bit_length())


def _checked(model, prompt_ids, length, temperature, top_k, top_p, seed, eos_id):
    """Checks the arguments; returns the prompt (NumPy), length, strategy and eos id."""
    vocabulary_size = int(model.vocabulary_size)
    if vocabulary_size <= len(RESERVED_IDS):
        raise ValueError(
            f"generate: the model's vocabulary ({vocabulary_size} ids) has no id to sample besides the "
            f"reserved {list(RESERVED_IDS)}"
        )
    length = integer_argument("generate", "length", length)
    if length < 0:
        raise ValueError(f"generate: `length` must be >= 0, got {length}")
    strategy = sampling_strategy("generate", temperature, top_k, top_p, seed, allow_bool=True)
    if eos_id is not None:
        eos_id = integer_argument("generate", "eos_id", eos_id)
        if not 0 <= eos_id < vocabulary_size or eos_id in RESERVED_IDS:
            raise ValueError(
                f"generate: `eos_id` must be an id of the vocabulary (< {vocabulary_size}) other than the "
                f"reserved {list(RESERVED_IDS)}; got {eos_id}"
            )
    prompt = right_padded_ids("generate", "prompt_ids", prompt_ids, vocabulary_size, "prompt", "token")
    return prompt, length, strategy, eos_id
