"""Elman's recurrent network."""

import keras

from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.rnn import RNN


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNNCell(RecurrentCell):
    """Elman (vanilla) RNN cell:

        h_t = tanh(W x_t + U h_{t-1} + b)

    Args: see `RecurrentCell`.
    """

    gate_count = 1

    def transition(self, zx, zh, states):
        h = self.activation(zx + zh)  # (B, H)
        return h, [h]


@keras.saving.register_keras_serializable(package="zoo")
class SimpleRNN(RNN):
    """A sequence layer of `SimpleRNNCell`; a drop-in for `keras.layers.SimpleRNN`."""

    cell_class = SimpleRNNCell
