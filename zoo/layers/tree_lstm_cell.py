"""What the Tree-LSTM cells share: gate squashing and forget gates that start open."""

import keras
import tensorflow as tf

from zoo.layers.tree_cell import TreeCell


@keras.saving.register_keras_serializable(package="zoo")
class TreeLSTMCell(TreeCell):
    """A `TreeCell` with LSTM gates (Tai et al. 2015). State: [h, c].

    A subclass lists its gate blocks in `gates` (their order in W, U and b);
    every block named "f..." is a forget gate, whose bias starts at 1 with
    `unit_forget_bias` so the cell remembers its children by default.

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
    def gate_count(self):
        return len(self.gates)

    @property
    def state_size(self):
        return [self.units, self.units]

    def bias_initializer_for_gates(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        units, other = self.units, self.bias_initializer

        def forget_bias_one(shape, dtype=None):
            ones = tf.ones((units,), dtype)
            return tf.concat([ones if gate.startswith("f") else other((units,), dtype) for gate in self.gates], axis=0)

        return forget_bias_one

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }
