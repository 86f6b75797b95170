"""Diagonal BiLSTM (van den Oord et al. 2016, section 3.2)."""

import keras
import tensorflow as tf

from zoo.layers.image_recurrence import ImageRecurrence
from zoo.layers.pixel_lines import shifted, skew, skewed_mask, unskew, with_column
from zoo.layers.recurrence import run_recurrence


@keras.saving.register_keras_serializable(package="zoo")
class DiagonalBiLSTM(ImageRecurrence):
    """Two LSTMs that sweep an image's diagonals, one from each side, a diagonal per step.

    Skewing moves row r right by r columns, so that diagonal r + j = t becomes column t; a step
    reads the column before it through a (2 x 1) convolution:

        z_x = conv_{1 x k}^{mask}(x) W + b                 every pixel at once, hoisted
        [i, f, c~, o]_(r, j) = z_x(r, j) + [h_(r-1, j), h_(r, j-1)] U
        c_(r, j) = f * c_(r, j-1) + i * c~,   h_(r, j) = o * tanh(c_(r, j))

    so each state sees the whole triangle above and left of it. The second direction does the same
    on the image mirrored left to right; its map is shifted down one row before the two are added,
    so that no pixel sees the right of its own row: out(r, j) = h_left(r, j) + h_right(r - 1, j).
    Being a row behind, the second direction may read its own pixel: its input convolution is
    mask B whatever `mask_type` says (mask A would hide pixel (r - 1, j) from (r, j)).
    Positions that skewing fills with no pixel are masked: their states stay zero.

    Args: see `ImageRecurrence` (input_width defaults to 1, the paper's 1 x 1 convolution; mask "A"
    needs 3 or more).

    Call arguments:
        inputs: (B, R, C, D) float images (or feature maps).
        training: whether the loops record for the backward pass (as a gradient tape does).

    Returns: (B, R, C, H).
    """

    recurrent_offsets = (-1, 0)
    directions = ("left", "right")
    pixel_state_size = 5

    def __init__(self, units, mask_type="B", input_width=1, **kwargs):
        super().__init__(units, mask_type=mask_type, input_width=input_width, **kwargs)

    def input_mask_type(self, direction):
        return self.mask_type if direction == "left" else "B"

    def call(self, inputs, training=None):
        self.check_input(inputs)
        left = self.sweep(self.cells[0], inputs, training)  # (B, R, C, H)
        right = tf.reverse(self.sweep(self.cells[1], tf.reverse(inputs, [2]), training), [2])
        return tf.cast(left + shifted(right, -1, axis=1), self.compute_dtype)

    def sweep(self, cell, images, training):
        """The left-to-right sweep of `cell` over (B, R, C, D) images -> (B, R, C, H)."""
        rows, columns = tf.shape(images)[1], images.shape[2]
        zx = tf.transpose(skew(cell.project_inputs(images)), (2, 0, 1, 3))  # (C + R - 1, B, R, 4H)
        outputs = self.run_lines(cell, zx, skewed_mask(rows, columns), training)  # (C + R - 1, B, R, H)
        return unskew(tf.transpose(outputs, (1, 2, 0, 3)), columns)  # (B, R, C, H)

    def pixel_state(self, batch, columns):
        """The left sweep's h of the row above and of the current row (B, C, H), its h and c at the pixel
        before (B, H), and the right sweep's h of the row above (B, C, H)."""
        line, pixel = tf.zeros((batch, columns, self.units)), tf.zeros((batch, self.units))
        return [line, line, pixel, pixel, line]

    def at_pixel(self, row, j, state):
        cell, (h_above, h_row, h_left, c_left, right_above) = self.cells[0], state
        zh = tf.matmul(tf.concat([h_above[:, j], h_left], axis=-1), cell.recurrent_weights()[0])  # (B, 4H)
        h, (_, c) = cell.transition(cell.project_at(row, j), zh, [h_left, c_left])
        return h + right_above[:, j], [h_above, with_column(h_row, j, h), h, c, right_above]

    def end_row(self, row, state):
        """The right sweep over the finished row (it is a row behind), and a fresh left sweep. On a strip of
        one row the (2 x 1) state convolution reads only the pixel before: the row above enters as input."""
        cell, (_, h_row, h_left, _, right_above) = self.cells[1], state
        mirrored, above = tf.reverse(row, [1]), tf.reverse(right_above, [1])
        zx = cell.project_inputs(mirrored) + tf.matmul(above, cell.recurrent_weights()[0][: self.units])  # (B, C, 4H)
        strip = tf.transpose(zx, (1, 0, 2))[:, :, None, :]  # (C, B, 1, 4H): the columns as steps
        outputs, _ = run_recurrence(cell, strip, cell.initial_states(tf.shape(row)[0], 1), None,
                                    cell.recurrent_weights(), return_sequences=True, jit_compile=False, training=False)
        right_row = tf.ensure_shape(tf.reverse(tf.transpose(outputs[:, :, 0], (1, 0, 2)), [1]), right_above.shape)
        zeros = tf.zeros_like(h_left)
        return [h_row, tf.zeros_like(h_row), zeros, zeros, right_row]
