"""Long short-term memory (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000)."""

import keras
import tensorflow as tf

from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.rnn import CUDNN_LAYER_OPTIONS, RNN


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(RecurrentCell):
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

    Args:
        recurrent_activation: the gates' squashing function (sigmoid by default).
        unit_forget_bias: initialise b_f to 1 (the other biases to `bias_initializer`).
        Others: see `RecurrentCell`.
    """

    gate_count = 4

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
        units, other = self.units, self.bias_initializer

        def forget_bias_one(shape, dtype=None):
            return tf.concat(
                [other((units,), dtype), tf.ones((units,), dtype), other((2 * units,), dtype)], axis=0
            )

        return forget_bias_one

    def transition(self, zx, zh, states):
        c_previous = states[1]
        z_i, z_f, z_c, z_o = tf.split(zx + zh, 4, axis=-1)  # 4 x (B, H)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        o = self.recurrent_activation(z_o)
        c = f * c_previous + i * self.activation(z_c)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "unit_forget_bias": self.unit_forget_bias,
        }


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(RNN):
    """A sequence layer of `LSTMCell`; a drop-in for `keras.layers.LSTM`."""

    cell_class = LSTMCell
    cudnn_layer_options = CUDNN_LAYER_OPTIONS
