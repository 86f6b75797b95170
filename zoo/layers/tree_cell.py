"""The contract every tree cell follows."""

import keras
import tensorflow as tf

from zoo.layers.recurrent_cell import RecurrentCell


@keras.saving.register_keras_serializable(package="zoo")
class TreeCell(RecurrentCell):
    """One node of a tree network: (x, children's states) -> (y, s).

    A tree cell splits a node as a sequence cell splits a step (`RecurrentCell`):

        z_x = x W + b                         hoisted by `TreeRecurrence`: one matmul for all nodes
        z_h = children_projection(h_1..h_K)   `recurrent_projection`: one matmul per level
        y, s = transition(z_x, z_h, children's states)

    The children's states arrive stacked, (M, K, S_i) for M nodes of K child
    slots each; a missing child (a leaf's, or an unused slot of a child-sum
    node) has all-zero states, which every cell's formula treats as absent.
    The output y is the first state h. `transition` must broadcast a z_h and
    children's states of one row over M rows of z_x: `TreeRecurrence` computes
    all leaves from one row of zero children.

    Weights: the input kernel W (D, G*H), the recurrent kernel U
    (`children_width` * H, G*H) and the bias b (G*H,). The recurrent loop runs
    in float32 (float64 for a float64 cell), whatever the compute dtype.

    Calling a cell computes one batch of nodes: `cell(x, children_states)`
    with x (M, D) and children_states a list of (M, K, S_i) tensors returns
    `(y (M, H), new_states)`.

    Args: as `RecurrentCell`.
    """

    # How many child slots a node has (None: any number, given by the `children` tensor).
    arity = None
    # How many children's h the recurrent matmul reads side by side: U is (children_width * H, G*H).
    children_width = 1

    @property
    def loop_dtype(self):
        return "float64" if self.variable_dtype == "float64" else "float32"

    def build(self, input_shape):
        input_size = input_shape[-1]
        if input_size is None:
            raise ValueError(f"{self.name}: the last axis of the inputs must be known, got shape {tuple(input_shape)}")
        self.kernel = self.add_weight(
            name="kernel", shape=(input_size, self.gate_width),
            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.children_width * self.units, self.gate_width),
            initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer, autocast=False,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias", shape=(self.gate_width,),
                initializer=self.bias_initializer_for_gates(), regularizer=self.bias_regularizer,
            )

    def recurrent_weights(self):
        return [tf.cast(self.recurrent_kernel, self.loop_dtype)]

    def recurrent_projection(self, children_h, recurrent_kernel, recurrent_mask=None):
        """z_h = [h_1; ..; h_K] U: (M, K, H) -> (M, G*H), the children side by side."""
        if recurrent_mask is not None:
            raise ValueError(f"{type(self).__name__}: tree cells have no recurrent dropout")
        width = tf.shape(children_h)[1] * tf.shape(children_h)[2]
        return tf.matmul(tf.reshape(children_h, (-1, width)), recurrent_kernel)

    def transition(self, zx, zh, children_states):
        """The gate math of one node: returns (y, [s ...])."""
        raise NotImplementedError

    def call(self, inputs, children_states):
        children_states = self.check_node_input(inputs, children_states)
        zx = tf.cast(self.project_inputs(inputs), self.loop_dtype)
        output, new_states = self.step(zx, children_states, *self.recurrent_weights())
        return tf.cast(output, self.compute_dtype), new_states

    def check_node_input(self, inputs, children_states):
        """x is (M, D); children_states one (M, K, S_i) tensor per state, K = `arity` if set."""
        states = list(children_states) if isinstance(children_states, (list, tuple)) else [children_states]
        expected = [(inputs.shape[0], self.arity or "K", size) for size in self.state_size]
        problem = None
        if inputs.shape.rank != 2:
            problem = f"inputs of shape (nodes, features); got shape {tuple(inputs.shape)}"
        elif len(states) != len(self.state_size):
            problem = f"{len(self.state_size)} children state tensor(s) of shapes {expected}; got {len(states)}"
        for state, size in zip(states, self.state_size):
            shape = tuple(state.shape)
            wrong_arity = self.arity is not None and shape[1:2] not in ((None,), (self.arity,))
            if problem is None and (len(shape) != 3 or shape[-1] != size or wrong_arity):
                problem = f"children states of shapes {expected}; got shape {shape}"
        if problem:
            raise ValueError(f"Layer '{self.name}' ({type(self).__name__}) expects {problem}.")
        return [tf.cast(s, self.loop_dtype) for s in states]
