"""The recursive neural network cell (Socher et al. 2011)."""

import keras

from zoo.layers.tree_cell import TreeCell


@keras.saving.register_keras_serializable(package="zoo")
class RecursiveCell(TreeCell):
    """Recursive NN cell: a parent composed from its two children with the same weights at every node.

        p = tanh(x W + [c_l; c_r] U + b)

    At an internal node the layout's input x is zero, so p = tanh([c_l; c_r] U + b),
    Socher et al.'s p = tanh(W [c1; c2] + b) with their W as our U (2H, H).
    At a leaf the children are absent (zero), so a leaf's state is its input
    projected and squashed, p = tanh(x W + b), with the same b as the parents.

    State: [p]. Weights: W (D, H), U (2H, H), b (H,).

    Args: as `RecurrentCell` (`activation` replaces tanh).
    """

    arity = 2
    children_width = 2

    def transition(self, zx, zh, children_states):
        p = self.activation(zx + zh)  # (M, H)
        return p, [p]
