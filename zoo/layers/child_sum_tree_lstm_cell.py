"""The child-sum Tree-LSTM cell (Tai et al. 2015), for trees with any number of children (dependency trees)."""

import keras
import tensorflow as tf

from zoo.layers.tree_lstm_cell import TreeLSTMCell


@keras.saving.register_keras_serializable(package="zoo")
class ChildSumTreeLSTMCell(TreeLSTMCell):
    """Child-sum Tree-LSTM cell: the children's h summed for i, o, u; one forget gate per child.

        h~ = sum_k h_k
        [z_i, z_o, z_u] = x W_iou + h~ U_iou + b_iou          W_iou (D, 3H), U_iou (H, 3H)
        f_k = sigma(x W_f + h_k U_f + b_f)                     W_f (D, H), U_f (H, H), per child k
        i = sigma(z_i)   o = sigma(z_o)   u = tanh(z_u)
        c = i * u + sum_k f_k * c_k
        h = o * tanh(c)

    W = [W_iou | W_f] (D, 4H), U = [U_iou | U_f] (H, 4H), b (4H,). The child
    slots are unordered and absent children (zero states) add nothing, so any
    number K of child slots works; a leaf has c = i * u.

    The recurrent projection is two matmuls, h~ U_iou (M, 3H) and h_k U_f
    (M*K, H): one matmul of every h_k with all of U would cost 4K H^2 per node
    instead of (3 + K) H^2.

    Args: see `TreeLSTMCell`.
    """

    gates = ("i", "o", "u", "f")

    def recurrent_projection(self, children_h, recurrent_kernel, recurrent_mask=None):
        """(M, K, H) -> (h~ U_iou (M, 3H), h_k U_f (M, K, H))."""
        if recurrent_mask is not None:
            raise ValueError(f"{type(self).__name__}: tree cells have no recurrent dropout")
        u_iou, u_f = tf.split(recurrent_kernel, [3 * self.units, self.units], axis=-1)
        return tf.matmul(tf.reduce_sum(children_h, axis=1), u_iou), tf.einsum("mkh,hg->mkg", children_h, u_f)

    def transition(self, zx, zh, children_states):
        zh_iou, zh_f = zh
        zx_iou, zx_f = tf.split(zx, [3 * self.units, self.units], axis=-1)  # (M, 3H), (M, H)
        z_i, z_o, z_u = tf.split(zx_iou + zh_iou, 3, axis=-1)  # 3 x (M, H)
        gate = self.recurrent_activation
        f = gate(zx_f[:, None, :] + zh_f)  # (M, K, H)
        c = gate(z_i) * self.activation(z_u) + tf.reduce_sum(f * children_states[1], axis=1)  # (M, H)
        h = gate(z_o) * self.activation(c)
        return h, [h, c]
