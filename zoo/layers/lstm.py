"""Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)."""

import keras

from zoo.layers.forget_gate_cell import ForgetGateCell
from zoo.layers.gates import squashed_blocks
from zoo.layers.rnn import CUDNN_LAYER_OPTIONS, RNN


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(ForgetGateCell):
    """LSTM cell. Gates in the kernel's order (as in Keras): input, forget, candidate, output.

        i_t = sigma(W_i x_t + U_i h_{t-1} + b_i)
        f_t = sigma(W_f x_t + U_f h_{t-1} + b_f)
        c~_t = tanh(W_c x_t + U_c h_{t-1} + b_c)
        o_t = sigma(W_o x_t + U_o h_{t-1} + b_o)
        c_t = f_t * c_{t-1} + i_t * c~_t
        h_t = o_t * tanh(c_t)

    State: [h, c]. The recurrent kernel starts orthogonal and, with
    `unit_forget_bias`, b_f starts at 1 so the cell remembers by default
    (Jozefowicz et al. 2015).

    Args: see `ForgetGateCell` (recurrent_activation, unit_forget_bias) and `RecurrentCell`.
    """

    gate_count = 4
    gates = ("input", "forget", "candidate", "output")

    def transition(self, zx, zh, states):
        c_previous = states[1]
        gate, squash = self.recurrent_activation, self.activation
        i, f, candidate, o = squashed_blocks(zx + zh, (gate, gate, squash, gate))  # 4 x (B, H)
        c = f * c_previous + i * candidate
        h = o * squash(c)
        return h, [h, c]


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(RNN):
    """A sequence layer of `LSTMCell`; a drop-in for `keras.layers.LSTM`."""

    cell_class = LSTMCell
    cudnn_layer_options = CUDNN_LAYER_OPTIONS
