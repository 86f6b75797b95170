"""What the PixelRNN layers share: image checks, their options, and a run of the sequence loop over lines."""

import keras
import tensorflow as tf

from zoo.layers import input_checks
from zoo.layers.conv1d_lstm_cell import Conv1DLSTMCell
from zoo.layers.pixel_lines import masked_offsets
from zoo.layers.recurrence import run_recurrence


class ImageRecurrence(keras.layers.Layer):
    """Base of `RowLSTM` and `DiagonalBiLSTM`: (B, R, C, D) images -> (B, R, C, H) states.

    A subclass lists its `recurrent_offsets` and `directions`, and writes `call` from `run_lines`.

    Args:
        units: H, the LSTM state size of each pixel.
        mask_type: "B" (default): the state at a pixel sees the input at that pixel and before it;
            "A": only before it (a first layer over the pixels themselves).
        input_width: width k of the masked (1 x k) input-to-state convolution along each row.
        jit_compile: compile the loops with XLA (default) or run them in the graph executor.
        Others (initializers, regularizers, unit_forget_bias): passed to each `Conv1DLSTMCell`.
    """

    recurrent_offsets = ()
    directions = ()

    def __init__(self, units, mask_type="B", input_width=3, jit_compile=True, **kwargs):
        cell_options = {k: kwargs.pop(k) for k in list(kwargs) if k not in ("name", "trainable", "dtype")}
        super().__init__(**kwargs)
        self.units, self.mask_type, self.input_width, self.jit_compile = units, mask_type, input_width, jit_compile
        self.cell_options = cell_options
        self.cells = [
            Conv1DLSTMCell(
                units, self.recurrent_offsets, masked_offsets(input_width, self.input_mask_type(direction)),
                name=f"{direction}_cell", dtype=kwargs.get("dtype"), **cell_options,
            )
            for direction in self.directions
        ]
        self.channels = None

    def input_mask_type(self, direction):
        """The mask of a direction's input convolution: the layer's."""
        return self.mask_type

    def build(self, input_shape):
        input_checks.check_image_input(self, keras.KerasTensor(input_shape))
        self.channels = input_shape[-1]
        for cell in self.cells:
            if not cell.built:
                cell.build(input_shape)

    def run_lines(self, cell, zx, mask, training):
        """The sequence loop over lines: zx (T, B, L, 4H) -> outputs (T, B, L, H)."""
        batch, length = tf.shape(zx)[1], tf.shape(zx)[2]
        outputs, _ = run_recurrence(
            cell, tf.cast(zx, "float32"), cell.initial_states(batch, length), mask, cell.recurrent_weights(),
            return_sequences=True, jit_compile=self.jit_compile, training=bool(training),
        )
        return outputs

    # --- pixel by pixel (drawing an image): a subclass writes these three and sets pixel_state_size ------

    pixel_state_size = 0  # how many tensors `pixel_state` returns

    def pixel_state(self, batch, columns):
        """The states before the first pixel: a list of tensors (B, ...)."""
        raise NotImplementedError

    def at_pixel(self, row, j, state):
        """The output at pixel j of the current row, (B, H), and the new state. `row` (B, C, D) holds the
        layer's inputs of the current row up to pixel j (what lies right of j is not read)."""
        raise NotImplementedError

    def end_row(self, row, state):
        """The state for the next row, once every pixel of `row` (B, C, D) has been through `at_pixel`."""
        raise NotImplementedError

    def check_input(self, inputs):
        input_checks.check_image_input(self, inputs, self.channels)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:3], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "mask_type": self.mask_type,
            "input_width": self.input_width,
            "jit_compile": self.jit_compile,
            **self.cell_options,
        }
