"""The binary Tree-LSTM cell (Tai et al. 2015, N-ary form with N = 2)."""

import keras

from zoo.layers.gates import squashed_blocks
from zoo.layers.tree_lstm_cell import TreeLSTMCell


@keras.saving.register_keras_serializable(package="zoo")
class BinaryTreeLSTMCell(TreeLSTMCell):
    """N-ary Tree-LSTM cell for binary trees: one forget gate per child, all gates from one matmul.

        [z_i, z_fl, z_fr, z_o, z_u] = x W + [h_l; h_r] U + b     W (D, 5H), U (2H, 5H)
        i = sigma(z_i)   f_l = sigma(z_fl)   f_r = sigma(z_fr)   o = sigma(z_o)   u = tanh(z_u)
        c = i * u + f_l * c_l + f_r * c_r
        h = o * tanh(c)

    A leaf is the same formula with zero children: c = i * u, h = o * tanh(c).

    Args: see `TreeLSTMCell`.
    """

    arity = 2
    children_width = 2
    gates = ("i", "f_left", "f_right", "o", "u")

    def transition(self, zx, zh, children_states):
        children_c = children_states[1]  # (M, 2, H)
        gate, squash = self.recurrent_activation, self.activation
        i, f_left, f_right, o, u = squashed_blocks(zx + zh, (gate, gate, gate, gate, squash))  # 5 x (M, H)
        c = i * u + f_left * children_c[:, 0] + f_right * children_c[:, 1]  # (M, H)
        h = o * squash(c)
        return h, [h, c]
