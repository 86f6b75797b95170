"""PixelRNN (van den Oord et al. 2016): p(x) = prod_i p(x_i | x_1 .. x_{i-1}) over the pixels of a
binary image in raster order, each conditional a Bernoulli from a causal network."""

import keras
import tensorflow as tf

from zoo.decoding.loop import Step
from zoo.layers.diagonal_bilstm import DiagonalBiLSTM
from zoo.layers.image_recurrence import ImageRecurrence
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
    #
    # Pixel by pixel, every layer computes pixel (r, j) alone from what it kept of the pixels before:
    # the masked convolutions read patches of padded maps of their inputs, the LSTM layers their
    # states of the row above and of the pixel before (`ImageRecurrence.at_pixel`, `end_row`). A pixel
    # costs one LSTM step a layer, not a pass over the image; the logits equal those of `call`.

    def decoding_start(self, inputs):
        """inputs: (B, R*C) int32, each row the given pixels in raster order as PIXEL_IDS followed by
        pad (0) for the pixels to draw; every row gives the same number P. The layers go through the P
        given pixels, and the first Step holds the logits of pixel P."""
        given = tf.cast(inputs != 0, "int32")
        count = tf.reduce_sum(given[0])
        values = tf.reshape(tf.cast((inputs - PIXEL_IDS[0]) * given, "float32"), (-1, *self.image_shape, 1))
        state = self._pixel_state(values)

        def replay(k, state):
            return k + 1, self._advance(self._at_pixel(state)[1])

        _, state = tf.while_loop(lambda k, _: k < count, replay, (tf.constant(0), state))
        return self._step(*self._at_pixel(state)), ()

    def decoding_step(self, token, state, context):
        images, position, *rest = state
        value = tf.cast(token - PIXEL_IDS[0], images.dtype)  # (B,)
        r, j = self._row_column(position)
        images = tf.tensor_scatter_nd_update(images, self._pixel_index(images, r + self._reach, j + self._reach),
                                             value[:, None])
        return self._step(*self._at_pixel(self._advance([images, position, *rest])))

    @property
    def _reach(self):
        return self.first_kernel // 2

    def _pixel_state(self, images):
        """[images padded for the first layer, position (B,), each core's input map padded for it, core states]."""
        batch, columns = tf.shape(images)[0], self.image_shape[1]
        reach = self._reach
        padded = tf.pad(images, [[0, 0], [reach, reach], [reach, reach], [0, 0]])
        maps = [tf.zeros(tf.stack([batch, self.image_shape[0] + 2 * _reach(core), columns + 2 * _reach(core),
                                   self.features])) for core in self.cores]
        states = [s for core in self.cores if isinstance(core, ImageRecurrence) for s in core.pixel_state(batch, columns)]
        return [padded, tf.zeros([batch], tf.int32), *maps, *states]

    def _split(self, state):
        """(images, position, maps, a list of states per core: None for a convolution)."""
        images, position, rest = state[0], state[1], state[2:]
        maps, rest = rest[: len(self.cores)], rest[len(self.cores) :]
        core_states = []
        for core in self.cores:
            size = core.pixel_state_size if isinstance(core, ImageRecurrence) else 0
            core_states.append(rest[:size] if size else None)
            rest = rest[size:]
        return images, position, maps, core_states

    def _row_column(self, position):
        k = tf.minimum(position[0], self.image_shape[0] * self.image_shape[1] - 1)
        return k // self.image_shape[1], k % self.image_shape[1]

    @staticmethod
    def _pixel_index(tensor, r, j):
        batch = tf.shape(tensor)[0]
        return tf.stack([tf.range(batch), tf.fill([batch], r), tf.fill([batch], j)], axis=1)  # (B, 3)

    def _at_pixel(self, state):
        """(the logit of the pixel at the state's position (B,), the state with that pixel computed)."""
        images, position, maps, core_states = self._split(state)
        r, j = self._row_column(position)
        features = self.first.at_pixel(images, r, j)  # (B, F)
        new_maps, new_states = [], []
        for core, projection, map_, states in zip(self.cores, self.projections, maps, core_states):
            reach = _reach(core)
            map_ = tf.tensor_scatter_nd_update(map_, self._pixel_index(map_, r + reach, j + reach), features)
            if states is None:  # a masked convolution
                update = core.at_pixel(map_, r, j)
            else:
                update, states = core.at_pixel(map_[:, r], j, states)
                update = _pointwise(projection, update)
                new_states += states
            new_maps.append(map_)
            features = features + update
        logit = _pointwise(self.logits, _pointwise(self.hidden, tf.nn.relu(features)))[:, 0]
        return logit, [images, position, *new_maps, *new_states]

    def _advance(self, state):
        """The state at the next pixel: after a row's last pixel, the LSTM layers finish the row."""
        images, position, maps, core_states = self._split(state)
        r, _ = self._row_column(position)

        def end_row():
            return [s for core, map_, states in zip(self.cores, maps, core_states) if states is not None
                    for s in core.end_row(map_[:, r], states)]

        flat = [s for states in core_states if states is not None for s in states]
        if flat:
            flat = tf.cond((position[0] + 1) % self.image_shape[1] == 0, end_row, lambda: flat)
        return [images, position + 1, *maps, *flat]

    @staticmethod
    def _step(logit, state):
        """Step: the pixel's logit as two tokens (black 0, white logit), the reserved ids at -inf."""
        blocked = tf.fill([tf.shape(logit)[0], PIXEL_IDS[0]], float("-inf"))
        logits = tf.concat([blocked, tf.zeros_like(logit)[:, None], logit[:, None]], axis=1)  # (B, 6)
        return Step(logits, state, None)

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


def _reach(layer):
    """How far a core reads around a pixel in its input map: half a masked convolution's kernel; 0 for an LSTM."""
    return layer.kernel_size[0] // 2 if isinstance(layer, MaskedConv2D) else 0


def _pointwise(convolution, x):
    """A 1 x 1 convolution at one pixel: x (B, D) -> (B, filters)."""
    kernel = convolution.kernel[0, 0]
    if isinstance(convolution, MaskedConv2D):
        kernel = kernel * convolution.mask[0, 0]
    return convolution.activation(tf.matmul(x, kernel) + convolution.bias)


@keras.saving.register_keras_serializable(package="zoo")
def binary_image_nll(images, logits):
    """Keras loss: -log p(x) in nats per image, (B,), from per-pixel logits (B, R, C, 1)."""
    nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(images, "float32"), logits=tf.cast(logits, "float32"))
    return tf.reduce_sum(nll, axis=(1, 2, 3))
