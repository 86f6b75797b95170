"""The contract every recurrent cell follows."""

import keras
import tensorflow as tf

from zoo.layers import input_checks
from zoo.layers.recurrence import gatewise_matmul, mixed_matmul


@keras.saving.register_keras_serializable(package="zoo")
class RecurrentCell(keras.layers.Layer):
    """One step of a recurrent network, (x_t, s_{t-1}) -> (y_t, s_t).

    All G gate blocks of a cell live in one input kernel W (D, G*H), one
    recurrent kernel U (H, G*H) and one bias, so a step is one matmul:

        z_x(t) = x_t W + b          (hoisted out of the loop by `RNN`)
        z_h(t) = h_{t-1} U          (`recurrent_projection`)
        y_t, s_t = transition(z_x(t), z_h(t), s_{t-1})

    A subclass sets `gate_count` and writes `transition` (and, if its state is
    more than h, `state_size`). The recurrent kernel and any recurrent bias are
    kept in float32 under mixed precision, and so are the states and the gate math;
    under mixed_bfloat16 the sequence layer runs the recurrent matmul in bfloat16
    (`RNN.call`).

    Calling a cell runs one step, as in Keras: `cell(x_t, states)` with x_t of
    shape (B, D) returns `(y_t, new_states)`.

    Args:
        units: H, the size of the hidden state.
        activation: the squashing nonlinearity (tanh by default).
        use_bias: whether the gates have a bias.
        kernel_initializer, recurrent_initializer, bias_initializer: for W, U, b.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: for W, U, b.
    """

    gate_count = 1
    # Whether `RNN` may use the hand-written backward pass of `recurrence.py`:
    # true when the recurrent term is the single matmul `recurrent_projection`.
    fused_backward = True
    # Whether `transition` reads z_x and z_h only through their sum (then dz_x = dz_h).
    additive_projections = True

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(units, int) or units <= 0:
            raise ValueError(f"{type(self).__name__}: `units` must be a positive int, got {units!r}")
        self.units = units
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)

    @property
    def state_size(self):
        return [self.units]

    @property
    def output_size(self):
        return self.units

    @property
    def gate_width(self):
        return self.gate_count * self.units

    def build(self, input_shape):
        input_size = input_shape[-1]
        if input_size is None:
            raise ValueError(f"{self.name}: the last axis of the inputs must be known, got shape {tuple(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel",
            shape=(self.input_view_size(input_size), self.gate_width),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel",
            shape=(self.input_view_size(self.units, recurrent=True), self.gate_width),
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            autocast=False,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=self.bias_shape(),
                initializer=self.bias_initializer_for_gates(),
                regularizer=self.bias_regularizer,
            )
        else:
            self.bias = None

    def bias_shape(self):
        return (self.gate_width,)

    def bias_initializer_for_gates(self):
        return self.bias_initializer

    # --- the pieces the sequence loop uses -------------------------------------------

    def project_inputs(self, inputs):
        """z_x = x W + b for every step at once: (..., D) -> (..., G*H)."""
        kernel = tf.cast(self.kernel, inputs.dtype)
        projected = tf.tensordot(inputs, kernel, axes=1) if inputs.shape.rank > 2 else tf.matmul(inputs, kernel)
        input_bias = self.input_bias()
        if input_bias is not None:
            projected += tf.cast(input_bias, inputs.dtype)
        return projected

    def input_bias(self):
        return self.bias

    def recurrent_weights(self):
        """The float32 tensors the loop needs: `[U]`, or `[U, b_h]` with a recurrent bias."""
        return [tf.cast(self.recurrent_kernel, "float32")]

    def recurrent_projection(self, h, recurrent_kernel, recurrent_bias=None, recurrent_mask=None):
        """z_h = h_{t-1} U (+ b_h): (B, H) -> (B, G*H). With a recurrent dropout mask
        (B, G, H), gate g reads h_{t-1} * m_g: z_h = [(h * m_1) U_1, ..., (h * m_G) U_G] (+ b_h)."""
        if recurrent_mask is None:
            projected = mixed_matmul(self.recurrent_view(h), recurrent_kernel)
        else:
            projected = gatewise_matmul(h[:, None, :] * recurrent_mask, recurrent_kernel)
        return projected if recurrent_bias is None else projected + recurrent_bias

    def input_view_size(self, size, recurrent=False):
        """The rows of W (of U with `recurrent`) for inputs (states) of `size` features: what the
        views below make of them."""
        return size

    def recurrent_view(self, h):
        """V(h), what U multiplies: h itself here; a linear view of it in cells whose recurrent term
        is a convolution (`Conv1DLSTMCell`). Also applied to a (T, B, ...) history of states."""
        return h

    def recurrent_view_transpose(self, d):
        """V^T: carries a gradient with respect to V(h) back to h (the fused backward pass)."""
        return d

    def transition(self, zx, zh, states):
        """The gate math of one step: returns (y_t, [s_t ...])."""
        raise NotImplementedError

    def step(self, zx, states, *weights, recurrent_mask=None):
        """One step from the projected input: transition(z_x, recurrent_projection(h))."""
        return self.transition(zx, self.recurrent_projection(states[0], *weights, recurrent_mask=recurrent_mask), states)

    def initial_states(self, batch_size, dtype="float32"):
        return [tf.zeros((batch_size, size), dtype) for size in self.state_size]

    def check_step_input(self, inputs, states):
        """A ValueError unless x_t is (batch, features) and the states match."""
        input_checks.check_step_input(self, inputs, states)

    def call(self, inputs, states):
        self.check_step_input(inputs, states)
        states = [tf.cast(s, "float32") for s in states]
        zx = tf.cast(self.project_inputs(inputs), "float32")
        output, new_states = self.step(zx, states, *self.recurrent_weights())
        return tf.cast(output, self.compute_dtype), new_states

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
        }
