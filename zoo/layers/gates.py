"""Squashing a cell's gate blocks, shaped for XLA on CPU."""

import keras
import tensorflow as tf


def squashed_blocks(z, functions):
    """[f_1(z_1), ..., f_G(z_G)] for the G equal column blocks z_g (B, K) of z (B, G*K).

    Where every f_g is sigmoid or tanh, all blocks come from one tanh over the whole of z:

        sigma(x) = (1 + tanh(x / 2)) / 2

    XLA on CPU runs a transcendental function over a column slice of a tensor far slower than
    over a whole one: the LSTM loop of `bench/rnn_layers.py` at shape S (16 x 50 steps, 256 units)
    took 7.4 ms with a sigmoid or tanh per gate block and 2.9 ms with one tanh over all four.
    Other functions are applied block by block.
    """
    sigmoid, tanh = keras.activations.sigmoid, keras.activations.tanh
    if not all(f is sigmoid or f is tanh for f in functions):
        return [f(block) for f, block in zip(functions, tf.split(z, len(functions), axis=-1))]
    width = z.shape[-1] // len(functions)
    scale = tf.repeat(tf.constant([0.5 if f is sigmoid else 1.0 for f in functions], z.dtype), width)  # (G*K,)
    blocks = tf.split(tf.tanh(z * scale), len(functions), axis=-1)
    return [0.5 * block + 0.5 if f is sigmoid else block for f, block in zip(functions, blocks)]
