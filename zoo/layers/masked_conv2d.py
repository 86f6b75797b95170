"""The masked convolution of PixelCNN and PixelRNN (van den Oord et al. 2016, section 3.4)."""

import keras
import numpy as np
import tensorflow as tf

from zoo.layers.pixel_lines import masked_offsets


@keras.saving.register_keras_serializable(package="zoo")
class MaskedConv2D(keras.layers.Conv2D):
    """`keras.layers.Conv2D` ("same" padding) whose kernel is multiplied by a causal mask: the
    output at pixel (r, j) reads the rows above and, in row r, the pixels left of j, and with
    mask "B" pixel (r, j) itself; never a pixel after it in raster order. Mask "A" is for the first
    layer over the image; "B" for the later ones. One colour channel: the masks of the paper's
    R, G, B groups are not needed.

    Args:
        filters, kernel_size: as `Conv2D` (odd sizes).
        mask_type: "A" or "B".
        Others: as `keras.layers.Conv2D` (padding is always "same").
    """

    def __init__(self, filters, kernel_size, mask_type="B", **kwargs):
        kwargs.pop("padding", None)
        super().__init__(filters, kernel_size, padding="same", **kwargs)
        height, width = self.kernel_size
        if height % 2 == 0:
            raise ValueError(f"MaskedConv2D: kernel sizes must be odd, got {self.kernel_size}")
        self.mask_type = mask_type
        mask = np.zeros((height, width, 1, 1), "float32")
        mask[: height // 2] = 1.0
        for offset in masked_offsets(width, mask_type):
            mask[height // 2, width // 2 + offset] = 1.0
        self.mask = mask

    def convolution_op(self, inputs, kernel):
        return super().convolution_op(inputs, kernel * self.mask.astype(keras.backend.standardize_dtype(kernel.dtype)))

    def at_pixel(self, padded, r, j):
        """The output at pixel (r, j) alone, (B, filters), from inputs padded by half the kernel on every side
        (B, R + kh - 1, C + kw - 1, D): what `call` gives there, for drawing an image pixel by pixel."""
        height, width = self.kernel_size
        patch = tf.slice(padded, tf.stack([0, r, j, 0]), [-1, height, width, -1])  # (B, kh, kw, D)
        kernel = self.kernel * self.mask.astype(keras.backend.standardize_dtype(self.kernel.dtype))
        return self.activation(tf.tensordot(patch, kernel, axes=[[1, 2, 3], [0, 1, 2]]) + self.bias)

    def get_config(self):
        config = super().get_config()
        config.pop("padding")
        return {**config, "mask_type": self.mask_type}
