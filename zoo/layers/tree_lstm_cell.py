"""What the Tree-LSTM cells share: a `TreeCell` with the LSTM's memory and gates."""

import keras

from zoo.layers.forget_gate_cell import ForgetGateCell
from zoo.layers.tree_cell import TreeCell


@keras.saving.register_keras_serializable(package="zoo")
class TreeLSTMCell(ForgetGateCell, TreeCell):
    """A `TreeCell` with LSTM gates (Tai et al. 2015). State: [h, c].

    A subclass lists its gate blocks in `gates` (their order in W, U and b); every block named
    "f..." is a forget gate (one per child in the N-ary form), whose bias starts at 1 with
    `unit_forget_bias` so the cell remembers its children by default.

    Args: see `ForgetGateCell` (recurrent_activation, unit_forget_bias) and `RecurrentCell`.
    """

    @property
    def gate_count(self):
        return len(self.gates)
