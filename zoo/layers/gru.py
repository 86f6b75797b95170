"""Gated recurrent unit (Cho et al. 2014)."""

import keras
import tensorflow as tf

from zoo.layers.gates import squashed_blocks
from zoo.layers.recurrence import mixed_matmul
from zoo.layers.recurrent_cell import RecurrentCell
from zoo.layers.rnn import CUDNN_LAYER_OPTIONS, RNN


@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(RecurrentCell):
    """GRU cell. Gates in the kernel's order (as in Keras): update z, reset r, candidate.

        z_t = sigma(W_z x_t + U_z h_{t-1} + b_z)
        r_t = sigma(W_r x_t + U_r h_{t-1} + b_r)
        h~_t = tanh(W_h x_t + r_t * (U_h h_{t-1} + b'_h))      reset_after=True (cuDNN, Keras)
        h~_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)       reset_after=False (Cho et al. 2014)
        h_t = z_t * h_{t-1} + (1 - z_t) * h~_t

    Under recurrent dropout each gate reads h_{t-1} * m_g (m_z, m_r, m_h), as in Keras.

    With `reset_after` the recurrent term is one matmul per step and the bias is
    (2, 3H): row 0 for the inputs, row 1 (b') for the recurrent term. The Cho form
    needs the reset gate before its second matmul, so its step is two matmuls and
    it is differentiated by autodiff instead of the fused backward pass.

    Args:
        recurrent_activation: the gates' squashing function (sigmoid by default).
        reset_after: apply the reset gate after the recurrent matmul (default, as Keras).
        Others: see `RecurrentCell`.
    """

    gate_count = 3
    additive_projections = False  # the reset gate scales z_h's candidate block only

    def __init__(self, units, recurrent_activation="sigmoid", reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)
        self.reset_after = reset_after
        self.fused_backward = reset_after

    def bias_shape(self):
        return (2, self.gate_width) if self.reset_after else (self.gate_width,)

    def input_bias(self):
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def recurrent_weights(self):
        weights = super().recurrent_weights()
        if self.reset_after and self.use_bias:
            weights.append(tf.cast(self.bias[1], "float32"))
        return weights

    def transition(self, zx, zh, states):
        h_h = zh[:, 2 * self.units :]  # (B, H)
        return self._update(zx, zh, lambda r: r * h_h, states[0])

    def step(self, zx, states, *weights, recurrent_mask=None):
        if self.reset_after:
            return super().step(zx, states, *weights, recurrent_mask=recurrent_mask)
        h_previous, recurrent_kernel = states[0], weights[0]
        u_zr, u_h = recurrent_kernel[:, : 2 * self.units], recurrent_kernel[:, 2 * self.units :]
        zr_mask, h_dropped = None, h_previous  # with recurrent dropout: masks m_z, m_r and h * m_h
        if recurrent_mask is not None:
            zr_mask, h_dropped = recurrent_mask[:, :2], h_previous * recurrent_mask[:, 2]
        zh_gates = self.recurrent_projection(h_previous, u_zr, recurrent_mask=zr_mask)  # (B, 2H)
        zh = tf.concat([zh_gates, tf.zeros_like(h_previous)], axis=-1)  # (B, 3H), no candidate block
        return self._update(zx, zh, lambda r: mixed_matmul(r * h_dropped, u_h), h_previous)

    def _update(self, zx, zh, reset_recurrent_term, h_previous):
        """The gates and the blend from z_x and z_h (B, 3H), whose candidate block is not read:
        `reset_recurrent_term(r)` (B, H) is the candidate's recurrent term. Every squashing runs
        over whole (B, 3H) tensors (`squashed_blocks`); the candidate's two wasted blocks cost
        less than a squashing over a column slice."""
        gate, squash = self.recurrent_activation, self.activation
        z, r, _ = squashed_blocks(zx + zh, (gate, gate, squash))  # 3 x (B, H)
        gates_unread = tf.zeros_like(zh[:, : 2 * self.units])  # (B, 2H)
        candidate_input = zx + tf.concat([gates_unread, reset_recurrent_term(r)], axis=-1)  # (B, 3H)
        candidate = squashed_blocks(candidate_input, (squash,) * 3)[2]  # (B, H)
        h = z * h_previous + (1.0 - z) * candidate
        return h, [h]

    def get_config(self):
        return {
            **super().get_config(),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "reset_after": self.reset_after,
        }


@keras.saving.register_keras_serializable(package="zoo")
class GRU(RNN):
    """A sequence layer of `GRUCell`; a drop-in for `keras.layers.GRU`."""

    cell_class = GRUCell
    cudnn_layer_options = CUDNN_LAYER_OPTIONS
