"""PixelRNN (van den Oord et al. 2016): p(x) = prod_i p(x_i | x_1 .. x_{i-1}) over the pixels of a
binary image in raster order, each conditional a Bernoulli from a causal network."""

import keras
import tensorflow as tf

from zoo.decoding.loop import Step
from zoo.layers.diagonal_bilstm import DiagonalBiLSTM
from zoo.layers.masked_conv2d import MaskedConv2D
from zoo.layers.row_lstm import RowLSTM

CORES = ("diagonal_bilstm", "row_lstm", "masked_conv")
PIXEL_IDS = (4, 5)  # the token ids of a black and a white pixel in the decoding protocol (0..3 are reserved)


@keras.saving.register_keras_serializable(package="zoo")
class PixelRNN(keras.Model):
    """A PixelRNN over binary images (B, R, C, 1), returning one logit per pixel (B, R, C, 1):

        f_0 = MaskedConv2D_A^{7x7}(x)                               never sees the pixel itself
        f_l = f_{l-1} + MaskedConv2D_B^{1x1}(core_l(f_{l-1}))       residual blocks, l = 1..L
        logit = Conv^{1x1}(relu(Conv^{1x1}(relu(f_L))))
        log p(x) = sum_(r, j) x_rj log sigma(logit_rj) + (1 - x_rj) log(1 - sigma(logit_rj))

    core "diagonal_bilstm" and "row_lstm" are the paper's LSTM layers (units H, features 2H, as in
    its residual blocks); "masked_conv" a (3 x 3) mask-B convolution and a ReLU: the paper's
    PixelCNN, the baseline.

    Args:
        core: one of CORES.
        units: H of each LSTM layer (unused by "masked_conv").
        num_layers: L.
        features: width of the residual stream (default 2H).
        output_features: width of the hidden 1x1 output layer.
        first_kernel: size of the first, mask-A convolution.
        image_shape: (R, C) of the images the model is trained on: what evaluation and sampling use.
    """

    task = "image_model"

    def __init__(self, core="diagonal_bilstm", units=32, num_layers=4, features=None, output_features=64,
                 first_kernel=7, image_shape=(28, 28), **kwargs):
        super().__init__(**kwargs)
        if core not in CORES:
            raise ValueError(f"PixelRNN: `core` must be one of {CORES}, got {core!r}")
        self.core, self.units, self.num_layers = core, units, num_layers
        self.features = features or 2 * units
        self.output_features, self.first_kernel = output_features, first_kernel
        self.image_shape = tuple(image_shape)
        self.first = MaskedConv2D(self.features, first_kernel, mask_type="A", name="first")
        self.cores = [self._core_layer(i) for i in range(num_layers)]
        self.projections = [
            MaskedConv2D(self.features, 1, mask_type="B", name=f"up_{i}") if core != "masked_conv" else None
            for i in range(num_layers)
        ]
        self.hidden = keras.layers.Conv2D(output_features, 1, activation="relu", name="hidden")
        self.logits = keras.layers.Conv2D(1, 1, name="logits")

    def _core_layer(self, index):
        if self.core == "diagonal_bilstm":
            return DiagonalBiLSTM(self.units, name=f"diagonal_bilstm_{index}")
        if self.core == "row_lstm":
            return RowLSTM(self.units, name=f"row_lstm_{index}")
        return MaskedConv2D(self.features, 3, mask_type="B", activation="relu", name=f"masked_conv_{index}")

    def call(self, images, training=False):
        features = self.first(images)  # (B, R, C, F)
        for core, projection in zip(self.cores, self.projections):
            update = core(features, training=training)
            features = features + (update if projection is None else projection(update))
        return self.logits(self.hidden(tf.nn.relu(features)))  # (B, R, C, 1)

    def log_likelihood(self, images):
        """log p(x) in nats, (B,), of binary images (B, R, C, 1)."""
        images = tf.cast(images, self.compute_dtype)
        logits = tf.cast(self(images), "float32")
        nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(images, "float32"), logits=logits)
        return -tf.reduce_sum(nll, axis=(1, 2, 3))

    # --- the decoding protocol (zoo.decoding.loop): a pixel is a token, PIXEL_IDS ---------------

    def decoding_start(self, inputs):
        """inputs: (B, R*C) int32, each row the given pixels in raster order as PIXEL_IDS followed by
        pad (0) for the pixels to sample; every row gives the same number P. The state is the image so far
        (B, R, C, 1) and the raster position of the next pixel (B,)."""
        given = tf.cast(inputs != 0, "int32")
        images = tf.reshape(tf.cast((inputs - PIXEL_IDS[0]) * given, self.compute_dtype), (-1, *self.image_shape, 1))
        return self._next_pixel(images, tf.reduce_sum(given, axis=1)), ()

    def decoding_step(self, token, state, context):
        images, position = state
        pixels = tf.size(images[0])
        at = tf.one_hot(tf.minimum(position, pixels - 1), pixels, dtype=images.dtype)  # (B, R*C)
        value = tf.cast(token - PIXEL_IDS[0], images.dtype)[:, None]
        images = images + tf.reshape(at * value, tf.shape(images))
        return self._next_pixel(images, position + 1)

    def _next_pixel(self, images, position):
        """Step: the logits of the pixel at `position` (B,) as two tokens, reserved ids at -inf."""
        columns = self.image_shape[1]
        last = tf.size(images[0]) - 1
        index = tf.minimum(position, last)
        at = tf.stack([tf.range(tf.shape(images)[0]), index // columns, index % columns], axis=1)
        logit = tf.gather_nd(tf.cast(self(images)[..., 0], "float32"), at)  # (B,)
        blocked = tf.fill([tf.shape(logit)[0], PIXEL_IDS[0]], float("-inf"))
        logits = tf.concat([blocked, tf.zeros_like(logit)[:, None], logit[:, None]], axis=1)  # (B, 6)
        return Step(logits, [images, position], None)

    def get_config(self):
        return {
            **super().get_config(),
            "core": self.core,
            "units": self.units,
            "num_layers": self.num_layers,
            "features": self.features,
            "output_features": self.output_features,
            "first_kernel": self.first_kernel,
            "image_shape": list(self.image_shape),
        }


@keras.saving.register_keras_serializable(package="zoo")
def binary_image_nll(images, logits):
    """Keras loss: -log p(x) in nats per image, (B,), from per-pixel logits (B, R, C, 1)."""
    nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(images, "float32"), logits=tf.cast(logits, "float32"))
    return tf.reduce_sum(nll, axis=(1, 2, 3))
