"""The long-range tasks' data, generated from a seeded NumPy generator: the adding problem, copy memory,
counting a^n b^n."""

import math

import numpy as np


CELL_NAMES = {"rnn": "Elman RNN", "gru": "GRU", "lstm": "LSTM"}
TASKS = ("adding", "copy", "counting")
ADDING_BASELINE = 2.0 / 12.0  # MSE of predicting the mean: the variance of a sum of two U(0, 1)
ADDING_SOLVED = 0.01
COPY_SYMBOLS = 8  # data symbols 1..8; 0 is the blank, 9 the delimiter
COPY_LENGTH = 10
COPY_VOCABULARY = COPY_SYMBOLS + 2
COPY_SOLVED = 0.99


# --- data ------------------------------------------------------------------------------------


def adding_problem(count, length, rng):
    """x (count, length, 2) float32: values in U(0, 1) and the two markers; y (count, 1): the sum of
    the two marked values. One marker is in the first half, the other in the second."""
    if length < 2:
        raise ValueError(f"adding_problem: length must be at least 2, got {length}")
    values = rng.uniform(0.0, 1.0, size=(count, length))
    half = length // 2
    first = rng.integers(0, half, size=count)
    second = rng.integers(half, length, size=count)
    markers = np.zeros((count, length))
    rows = np.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values[rows, first] + values[rows, second])[:, None].astype("float32")
    return x, y


def copy_memory(count, gap, rng, symbols=COPY_SYMBOLS, length=COPY_LENGTH):
    """Token ids x, y of shape (count, gap + 2 * length): x holds `length` symbols from 1..symbols,
    gap - 1 blanks (0), the delimiter (symbols + 1) and `length` blanks; y is blank except its last
    `length` steps, which repeat the symbols."""
    if gap < 1:
        raise ValueError(f"copy_memory: gap must be at least 1, got {gap}")
    sequence = rng.integers(1, symbols + 1, size=(count, length))
    total = gap + 2 * length
    x = np.zeros((count, total), dtype="int32")
    x[:, :length] = sequence
    x[:, length + gap - 1] = symbols + 1
    y = np.zeros((count, total), dtype="int32")
    y[:, -length:] = sequence
    return x, y


def copy_baseline(gap, symbols=COPY_SYMBOLS, length=COPY_LENGTH):
    """Cross-entropy per step of outputting blanks, then a uniform guess over the symbols."""
    return length * math.log(symbols) / (gap + 2 * length)


def one_hot(ids, depth):
    return np.eye(depth, dtype="float32")[ids]


def counting_strings(ns, length=None):
    """a^n b^n for each n, one-hot (a = [1, 0], b = [0, 1]) and padded with zeros (masked) to
    `length` (default 2 max n). Returns x (B, L, 2) float32, y (B, L) float32 (1 exactly at the n-th
    b), mask (B, L) bool."""
    ns = np.asarray(ns, dtype="int64")
    if ns.min() < 1:
        raise ValueError("counting_strings: n must be at least 1")
    length = int(2 * ns.max()) if length is None else length
    if 2 * ns.max() > length:
        raise ValueError(f"counting_strings: a^n b^n with n = {ns.max()} does not fit in {length} steps")
    steps = np.arange(length)[None, :]
    n = ns[:, None]
    is_a = steps < n
    mask = steps < 2 * n
    is_b = mask & ~is_a
    x = np.stack([is_a, is_b], axis=-1).astype("float32")
    y = (steps == 2 * n - 1).astype("float32")
    return x, y, mask


def counting_task(count, max_n, rng, length=None):
    """`count` strings with n uniform in 1..max_n (see `counting_strings`)."""
    return counting_strings(rng.integers(1, max_n + 1, size=count), length=length or 2 * max_n)
