"""Argument checks of the `zoo.decoding` front ends (`generate`, `greedy`, `sample`, `beam_search`).

Each raises ValueError with a message that starts with the calling function's name
(`caller`, e.g. "generate" or "beam_search") and names the offending argument.
"""

import math

import numpy as np
import tensorflow as tf

from zoo.text import PAD_ID


def integer_argument(caller, argument, value):
    """`value` as an int: a Python or NumPy integer, or a scalar integer array / tensor (not a bool)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if not (hasattr(value, "shape") and tuple(value.shape) == () and np.asarray(value).dtype.kind in "iu"):
            raise ValueError(f"{caller}: `{argument}` must be an integer, got {value!r}")
    return int(value)


def real_argument(caller, argument, value, allow_bool=False):
    """`value` as a float: anything `float()` takes; a bool only with `allow_bool`."""
    if not allow_bool and isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{caller}: `{argument}` must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{caller}: `{argument}` must be a number, got {value!r}") from None


def sampling_arguments(caller, temperature, top_k, top_p, seed, allow_bool=False):
    """Checks the sampling arguments of `generate` / `sample` (`allow_bool`: temperature and top_p
    may be bools, as `generate` has always allowed).

    Returns (temperature, top_k, top_p, seed, mode) as float, int, float, int or None, and the
    sampling mode: "greedy" (temperature 0), "filtered" (a top-k or top-p filter) or "sample".
    """
    temperature = real_argument(caller, "temperature", temperature, allow_bool)
    if not temperature >= 0.0 or math.isinf(temperature):
        raise ValueError(f"{caller}: `temperature` must be finite and >= 0 (0: greedy), got {temperature}")
    top_k = integer_argument(caller, "top_k", top_k)
    if top_k < 0:
        raise ValueError(f"{caller}: `top_k` must be >= 0 (0: no top-k filter), got {top_k}")
    top_p = real_argument(caller, "top_p", top_p, allow_bool)
    if not 0.0 < top_p <= 1.0:
        raise ValueError(f"{caller}: `top_p` must be in (0, 1] (1: no nucleus filter), got {top_p}")
    if seed is not None:
        seed = integer_argument(caller, "seed", seed)
        if not -(2**63) <= seed < 2**63:
            raise ValueError(f"{caller}: `seed` must fit in 64 bits, got {seed}")
    if temperature == 0.0:
        mode = "greedy"
    elif top_k > 0 or top_p < 1.0:
        mode = "filtered"
    else:
        mode = "sample"
    return temperature, top_k, top_p, seed, mode


def right_padded_ids(caller, argument, ids, vocabulary_size, what, unit):
    """Checks a right-padded (B, L) batch of ids; returns it as an int32 NumPy array.

    Args:
        caller: the public function, for the messages ("generate", "greedy", ...).
        argument: the argument's name ("prompt_ids", "source_ids").
        ids: array, tensor or `tf.RaggedTensor` (padded with `PAD_ID` here).
        vocabulary_size: every id must be in [0, vocabulary_size).
        what: what a row holds, for the messages ("prompt", "source").
        unit: what a row is made of, for the messages ("token", "id").

    Each row must be a non-empty run of non-pad ids followed only by pads (its non-zero prefix).
    """
    if isinstance(ids, tf.RaggedTensor):
        ids = ids.to_tensor(PAD_ID)
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise ValueError(f"{caller}: `{argument}` must be integer ids, got dtype {ids.dtype}")
    if ids.ndim != 2:
        raise ValueError(
            f"{caller}: `{argument}` must have shape (batch, {what}_length), right-padded with {PAD_ID}; "
            f"got shape {ids.shape}"
        )
    if ids.shape[0] == 0:
        raise ValueError(f"{caller}: `{argument}` holds no {what} (batch size 0)")
    if ids.shape[1] == 0 or np.any(ids[:, 0] == PAD_ID):
        rows = np.arange(ids.shape[0]) if ids.shape[1] == 0 else np.flatnonzero(ids[:, 0] == PAD_ID)
        raise ValueError(
            f"{caller}: empty {what} in row(s) {rows[:10].tolist()}: every row needs at least one "
            f"non-pad {unit} ({what}s are right-padded with {PAD_ID})"
        )
    if ids.min() < 0 or ids.max() >= vocabulary_size:
        raise ValueError(
            f"{caller}: `{argument}` must be ids in [0, {vocabulary_size}), got values in "
            f"[{ids.min()}, {ids.max()}]"
        )
    real = ids != PAD_ID
    not_right_padded = np.flatnonzero(np.any(real[:, 1:] & ~real[:, :-1], axis=1))
    if not_right_padded.size:
        raise ValueError(
            f"{caller}: {what} row(s) {not_right_padded[:10].tolist()} have {unit}s after a pad {PAD_ID}: "
            f"{what}s must be right-padded (each row's {what} is its non-zero prefix)"
        )
    return ids.astype(np.int32)
