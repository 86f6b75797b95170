"""Row LSTM (van den Oord et al. 2016, section 3.1)."""

import keras
import tensorflow as tf

from zoo.layers.image_recurrence import ImageRecurrence
from zoo.layers.pixel_lines import with_column


@keras.saving.register_keras_serializable(package="zoo")
class RowLSTM(ImageRecurrence):
    """An LSTM that runs down the rows of an image, a whole row per step:

        z_x = conv_{1 x k}^{mask}(x) W + b              every row at once, hoisted out of the loop
        [i, f, c~, o]_r = z_x[r] + conv_{1 x 3}(h_{r-1}) U      one matmul per row
        c_r = f * c_{r-1} + i * c~,   h_r = o * tanh(c_r)

    The state at pixel (r, j) sees the row above at j-1, j, j+1, hence a triangle of the
    rows above, and (through the masked input convolution) the pixels left of it in its row.

    Args: see `ImageRecurrence`.

    Call arguments:
        inputs: (B, R, C, D) float images (or feature maps).
        training: whether the loop records for the backward pass (as a gradient tape does).

    Returns: (B, R, C, H).
    """

    recurrent_offsets = (-1, 0, 1)
    directions = ("down",)
    pixel_state_size = 4

    def call(self, inputs, training=None):
        self.check_input(inputs)
        cell = self.cells[0]
        zx = tf.transpose(cell.project_inputs(inputs), (1, 0, 2, 3))  # (R, B, C, 4H)
        outputs = self.run_lines(cell, zx, None, training)  # (R, B, C, H)
        return tf.cast(tf.transpose(outputs, (1, 0, 2, 3)), self.compute_dtype)  # (B, R, C, H)

    def pixel_state(self, batch, columns):
        """[h, c] of the row above and of the current row, each (B, C, H)."""
        return [tf.zeros((batch, columns, self.units))] * 4

    def at_pixel(self, row, j, state):
        cell, (h_above, c_above, h_row, c_row) = self.cells[0], state
        zh = cell.recurrent_at(h_above, j)  # the row above at j - 1, j, j + 1
        h, (_, c) = cell.transition(cell.project_at(row, j), zh, [h_above[:, j], c_above[:, j]])
        return h, [h_above, c_above, with_column(h_row, j, h), with_column(c_row, j, c)]

    def end_row(self, row, state):
        _, _, h_row, c_row = state
        return [h_row, c_row, h_row, c_row]
