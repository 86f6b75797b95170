"""What the LSTM cells share, over sequences and over trees: an [h, c] state, squashed gates, and
forget gates whose bias starts at 1."""

import keras
import tensorflow as tf

from zoo.layers.recurrent_cell import RecurrentCell


class ForgetGateCell(RecurrentCell):
    """A cell with a memory c beside its output h (state [h, c]) and gates squashed by
    `recurrent_activation`. A subclass lists its gate blocks in `gates` (their order in W, U and
    b); every block named "f..." is a forget gate, whose bias starts at 1 with `unit_forget_bias`,
    so that the cell remembers by default (Jozefowicz et al. 2015).

    Args:
        recurrent_activation: the gates' squashing function (sigmoid by default).
        unit_forget_bias: initialise the forget gates' biases to 1 (the others to `bias_initializer`).
        Others: see `RecurrentCell`.
    """

    gates = ()

    def __init__(self, units, recurrent_activation="sigmoid", unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.unit_forget_bias = unit_forget_bias

    @property
    def state_size(self):
        return [self.units, self.units]

    def bias_initializer_for_gates(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, other, gates = self.units, self.bias_initializer, self.gates

        def forget_bias_one(shape, dtype=None):
            blocks = [tf.ones((units,), dtype) if gate.startswith("f") else other((units,), dtype) for gate in gates]
            return tf.concat(blocks, axis=0)

        return forget_bias_one

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
