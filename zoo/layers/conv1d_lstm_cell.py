"""An LSTM over lines of pixels: the cell of the PixelRNN layers (van den Oord et al. 2016)."""

import keras
import tensorflow as tf

from zoo.layers import input_checks
from zoo.layers.lstm import LSTMCell
from zoo.layers.pixel_lines import neighbours, neighbours_transpose


@keras.saving.register_keras_serializable(package="zoo")
class Conv1DLSTMCell(LSTMCell):
    """LSTM cell whose input, state and output are lines of L pixels, with 1-D convolutions along
    the line in place of the matmuls (a convolutional LSTM, Shi et al. 2015):

        z_x(t) = conv(x_t, W; input_offsets) + b         hoisted: one matmul of the whole image
        z_h(t) = conv(h_{t-1}, U; recurrent_offsets)     one matmul per step
        i, f, c~, o, c_t, h_t as in `LSTMCell`, pixel by pixel

    where conv(x, K; offsets)[j] = sum_o x[j + o] K_o, zeros off the line, is one matmul of the
    neighbours of each pixel side by side (`zoo.layers.pixel_lines`). The Row LSTM steps over
    rows with recurrent_offsets (-1, 0, 1), the state-to-state (1 x 3) convolution of the row
    above; the Diagonal BiLSTM over skewed columns with (-1, 0), the (2 x 1) convolution of the
    diagonal before. Leaving an offset out of input_offsets masks the convolution: (-1, 0) is
    mask B of a width-3 convolution (a pixel sees its left neighbour and itself), (-1,) mask A.

    Args:
        units: H, the state size of each pixel.
        recurrent_offsets: the taps of the state-to-state convolution.
        input_offsets: the taps of the input-to-state convolution.
        Others: see `LSTMCell`.
    """

    def __init__(self, units, recurrent_offsets=(-1, 0, 1), input_offsets=(0,), **kwargs):
        super().__init__(units, **kwargs)
        for name, offsets in (("recurrent_offsets", recurrent_offsets), ("input_offsets", input_offsets)):
            if not offsets or not all(isinstance(o, int) for o in offsets) or len(set(offsets)) != len(offsets):
                raise ValueError(f"{type(self).__name__}: `{name}` must be distinct ints, got {offsets!r}")
        self.recurrent_offsets = tuple(recurrent_offsets)
        self.input_offsets = tuple(input_offsets)

    def input_view_size(self, size, recurrent=False):
        return len(self.recurrent_offsets if recurrent else self.input_offsets) * size

    def project_inputs(self, inputs):
        """(..., L, D) -> (..., L, 4H): the input-to-state convolution along the line."""
        return super().project_inputs(neighbours(inputs, self.input_offsets))

    def project_at(self, line, j):
        """z_x at position j of a line (B, L, D) -> (B, 4H): the input convolution at one pixel."""
        view = neighbours(line, self.input_offsets)[:, j]  # (B, taps * D)
        return tf.matmul(view, tf.cast(self.kernel, view.dtype)) + tf.cast(self.bias, view.dtype)

    def recurrent_at(self, h_line, j):
        """The state convolution at position j of a line of states (B, L, H) -> (B, 4H)."""
        return tf.matmul(neighbours(h_line, self.recurrent_offsets)[:, j], self.recurrent_weights()[0])

    def recurrent_view(self, h):
        return neighbours(h, self.recurrent_offsets)  # (..., L, taps * H)

    def recurrent_view_transpose(self, d):
        return neighbours_transpose(d, self.recurrent_offsets)  # (..., L, H)

    def initial_states(self, batch_size, length, dtype="float32"):
        return [tf.zeros((batch_size, length, self.units), dtype) for _ in self.state_size]

    def check_step_input(self, inputs, states):
        """A step (`cell(x, states)`) is over a line: x (B, L, D), states [h, c] each (B, L, H)."""
        input_checks.check_line_step_input(self, inputs, states)

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_offsets": list(self.recurrent_offsets),
            "input_offsets": list(self.input_offsets),
        }
