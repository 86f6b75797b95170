"""The tree loop: any tree cell run bottom-up over a batch of trees, one level at a time.

Trees travel as plain tensors (the layout of issue 18): a batch of B trees of
N node slots each,

    inputs (B, N, D)      each node's input (word vectors at leaves, zeros at internal nodes)
    children (B, N, K)    int32, the slots of each node's children, -1 where there is none;
                          every child's slot comes before its parent's
    mask (B, N)           bool, True for real nodes

A node's level is 0 for a leaf and 1 + the largest of its children's levels.
`run_tree_recurrence` computes the levels in the graph and runs one
`tf.while_loop` iteration per level (dynamic batching, as in TensorFlow Fold):

    z_x = x W + b                                   all B*N nodes, one matmul, before the loop
    level 0, the leaves: every leaf of the batch at once, zero children
    for each level l = 1 .. L-1:
        nodes = the real nodes of level l, across the whole batch        (M,)
        children's states gathered from the state table                  (M, K, S_i)
        z_h = children_projection(children's h)                          one matmul
        y, s = transition(z_x[nodes], z_h, children's states)
        s scattered back into the state table                            (B*N + 1, S_i)

The state table has one extra all-zero row, where every missing child (-1)
points. Padding nodes are never computed: their outputs stay zero.

Gradients come from autodiff of the loop: its backward does the same matmuls
a hand-written one would (dz U^T and h^T dz per level), and the rest is
elementwise or table-sized. The loop is not XLA-compiled: the number of nodes
of a level is known only when it runs, and XLA needs static shapes.

Speed (2 shared CPU cores, B = 32 random binary trees of 20 words, D = H = 150,
`BinaryTreeLSTMCell`, inside a tf.function): 11 levels; forward 8-13 ms,
forward and backward 23-50 ms (from a quiet to a loaded machine).
"""

import keras
import tensorflow as tf

from zoo.layers import input_checks
from zoo.layers.rnn import CellSizes, SequenceOutputs
from zoo.layers.tree_cell import TreeCell


def _flat_children(children, node_mask):
    """(B, N, K) slots -> (B*N, K) rows of the state table; -1, and children of padding, -> row B*N (zeros)."""
    shape = tf.shape(children)
    batch, nodes = shape[0], shape[1]
    offsets = tf.range(batch)[:, None, None] * nodes  # (B, 1, 1)
    present = (children >= 0) & node_mask[:, :, None]
    flat = tf.where(present, children + offsets, batch * nodes)  # (B, N, K)
    return tf.reshape(flat, (batch * nodes, shape[2]))


def node_levels(children, node_mask):
    """(B, N, K) children, (B, N) mask -> (B, N) int32 levels: 0 at leaves, 1 + the children's largest; -1 at padding.

    Relaxation in the graph: every pass sets each node's level from its
    children's; it stops when a pass changes nothing (depth + 1 passes).
    """
    children, node_mask = tf.convert_to_tensor(children, "int32"), tf.convert_to_tensor(node_mask, "bool")
    flat_children = _flat_children(children, node_mask)  # (B*N, K)
    real = tf.reshape(node_mask, (-1,))  # (B*N,)
    levels = tf.where(real, 0, -1)

    def relax(levels, _):
        table = tf.concat([levels, [-1]], axis=0)  # (B*N + 1,): a missing child has level -1
        child_levels = tf.gather(table, flat_children)  # (B*N, K)
        updated = tf.where(real, 1 + tf.reduce_max(child_levels, axis=-1), -1)
        return updated, tf.reduce_any(updated != levels)

    levels, _ = tf.while_loop(
        lambda _, changed: changed, relax, (levels, tf.constant(True)),
        maximum_iterations=tf.size(real) + 1,
    )
    return tf.reshape(levels, tf.shape(node_mask))


def tree_roots(children, node_mask):
    """(B, N, K) children, (B, N) mask -> (B,) int32: each tree's root, its last real node that is no real node's child.

    In the layout of issue 18 that is slot T + n - 2 for n >= 2 words and slot 0
    for one word. A tree without real nodes gets slot 0.
    """
    children, node_mask = tf.convert_to_tensor(children, "int32"), tf.convert_to_tensor(node_mask, "bool")
    shape = tf.shape(children)
    flat_children = tf.reshape(_flat_children(children, node_mask), (-1, 1))  # (B*N*K, 1)
    is_child = tf.scatter_nd(flat_children, tf.ones_like(flat_children[:, 0]), (shape[0] * shape[1] + 1,))
    candidate = node_mask & (tf.reshape(is_child[:-1], shape[:2]) == 0)  # (B, N)
    slots = tf.where(candidate, tf.range(shape[1])[None, :], -1)
    return tf.maximum(tf.reduce_max(slots, axis=1), 0)


def check_children(children, node_mask):
    """In-graph checks: each real node's children are -1 or earlier real slots of its own tree."""
    slots = tf.range(tf.shape(children)[1])[None, :, None]  # (1, N, 1)
    inside = (children >= 0) & (children < slots)  # (B, N, K)
    child_real = tf.gather(node_mask, tf.clip_by_value(children, 0, tf.shape(children)[1] - 1), batch_dims=1)
    valid = (children == -1) | (inside & child_real) | ~node_mask[:, :, None]
    return tf.debugging.assert_equal(
        tf.reduce_all(valid), True,
        message="TreeRecurrence: every child of a real node must be -1 or the slot of an earlier real node of the "
        "same tree (children come before their parents; slots outside 0..N-1, later slots and padding are errors)",
    )


def _levels_in_order(children, node_mask):
    """The real nodes as rows of the state table, sorted by level; each level's (start, size) in that order
    (at least one level, of size 0 without real nodes); the number of levels."""
    levels = tf.reshape(node_levels(children, node_mask), (-1,))  # (B*N,), -1 at padding
    real_levels = tf.boolean_mask(levels, levels >= 0)
    level_count = tf.reduce_max(levels) + 1  # 0 without real nodes
    slots = tf.maximum(level_count, 1)
    sizes = tf.math.bincount(real_levels, minlength=slots, maxlength=slots, dtype="int32")  # (L,)
    starts = tf.cumsum(sizes, exclusive=True)
    padding_last = tf.where(levels >= 0, levels, level_count)
    order = tf.argsort(padding_last, stable=True)[: tf.size(real_levels)]  # (real nodes,)
    return order, starts, sizes, level_count


def run_tree_recurrence(cell, zx, children, node_mask, weights):
    """Runs `cell` bottom-up over the trees; returns the list of every node's states, (B*N, S_i), zero at padding.

    zx: (B*N, G) projected inputs in the loop dtype; children (B, N, K) int32;
    node_mask (B, N) bool; weights: `cell.recurrent_weights()`.

    The leaves (level 0) have no children: their recurrent term is that of one
    row of zero children, broadcast over all of them by the transition, so no
    (leaves, K*H) x (K*H, G) matmul of zeros runs.
    """
    flat_children = _flat_children(children, node_mask)  # (B*N, K)
    order, starts, sizes, level_count = _levels_in_order(children, node_mask)
    rows, width = tf.shape(zx)[0], tf.shape(children)[2]
    no_children = [tf.zeros((1, width, size), zx.dtype) for size in cell.state_size]  # (1, K, S_i)
    leaves = order[: sizes[0]]  # (leaves,)
    _, leaf_states = cell.step(tf.gather(zx, leaves), no_children, *weights)
    tables = [  # row B*N stays zero: where every missing child points
        tf.scatter_nd(leaves[:, None], states, (rows + 1, size)) for states, size in zip(leaf_states, cell.state_size)
    ]

    def level(l, tables):
        nodes = tf.slice(order, [starts[l]], [sizes[l]])  # (M,)
        child_rows = tf.gather(flat_children, nodes)  # (M, K)
        children_states = [tf.gather(table, child_rows) for table in tables]  # (M, K, S_i)
        _, states = cell.step(tf.gather(zx, nodes), children_states, *weights)
        nodes = nodes[:, None]
        return l + 1, [tf.tensor_scatter_nd_update(t, nodes, s) for t, s in zip(tables, states)]

    _, tables = tf.while_loop(lambda l, _: l < level_count, level, (tf.constant(1), tables))
    return [table[:-1] for table in tables]


@keras.saving.register_keras_serializable(package="zoo")
class TreeRecurrence(CellSizes, SequenceOutputs, keras.layers.Layer):
    """Runs a `TreeCell` bottom-up over a batch of trees (see the module docstring).

    The input projection x W + b of every node is one matmul before the loop;
    the loop does one recurrent matmul per tree level for all nodes of that
    level in the whole batch.

    Args:
        cell: a `TreeCell` (`RecursiveCell`, `BinaryTreeLSTMCell`,
            `ChildSumTreeLSTMCell`) or its serialized config.
        return_nodes: return every node's output (B, N, H), zero at padding
            (True, default), or only each tree's root output (B, H).
        return_state: also return the roots' states: `[output, *root_states]`,
            root_states (B, S_i) ([h] or [h, c]).

    Call arguments:
        inputs: (B, N, D) floats, one row per node slot.
        children: (B, N, K) ints, the children's slots, -1 for none; K = 2 for
            the binary cells. Every child comes before its parent.
        mask: optional (B, N) booleans, True for real nodes; without one every
            slot is a real node.

    The roots are `tree_roots(children, mask)`. Bad `children` values (a slot
    outside the tree, a later slot, a padding slot) fail an in-graph assert.
    """

    def __init__(self, cell, return_nodes=True, return_state=False, **kwargs):
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not isinstance(cell, TreeCell):
            raise ValueError(f"TreeRecurrence: `cell` must be a TreeCell (RecursiveCell, BinaryTreeLSTMCell, "
                             f"ChildSumTreeLSTMCell); got {cell!r}")
        super().__init__(**kwargs, autocast=False)
        self.cell = cell
        self.return_nodes = return_nodes
        self.return_state = return_state
        self.supports_masking = True
        self.supports_jit = False  # level sizes are known only at run time: no XLA for a model using this layer
        self.input_size = None

    @property
    def return_sequences(self):  # what `SequenceOutputs` reads
        return self.return_nodes

    def build(self, inputs_shape, children_shape=None):
        input_checks.check_sequence_shape(self, inputs_shape)
        self.input_size = inputs_shape[-1]
        if not self.cell.built:
            self.cell.build(inputs_shape)

    def compute_output_shape(self, inputs_shape, children_shape=None):
        return super().compute_output_shape(inputs_shape)

    def call(self, inputs, children, mask=None):
        children, mask = self.check_input(inputs, children, mask)
        shape = tf.shape(inputs)
        with tf.control_dependencies([check_children(children, mask)]):
            children = tf.identity(children)
        cell = self.cell
        zx = tf.cast(cell.project_inputs(tf.reshape(inputs, (-1, self.input_size))), cell.loop_dtype)  # (B*N, G)
        states = run_tree_recurrence(cell, zx, children, mask, cell.recurrent_weights())
        if self.return_nodes:
            output = tf.reshape(states[0], (shape[0], shape[1], cell.output_size))  # (B, N, H)
        if self.return_state or not self.return_nodes:
            roots = tree_roots(children, mask) + tf.range(shape[0]) * shape[1]  # (B,) rows of the state table
            root_states = [tf.gather(s, roots) for s in states]  # (B, S_i)
        if not self.return_nodes:
            output = root_states[0]
        output = tf.cast(output, self.compute_dtype)
        return [output, *root_states] if self.return_state else output

    def check_input(self, inputs, children, mask):
        """Static checks of dtypes and shapes -> (children int32, mask bool (B, N))."""
        input_checks.check_sequence_input(self, inputs, self.input_size)
        children = tf.convert_to_tensor(children)
        if not children.dtype.is_integer:
            raise ValueError(f"Layer '{self.name}' expects integer `children`; got dtype {children.dtype.name}.")
        got, want = tuple(children.shape), (*inputs.shape[:2], self.cell.arity)
        if len(got) != 3 or got[-1] == 0 or any(g is not None and w is not None and g != w for g, w in zip(got, want)):
            raise ValueError(
                f"Layer '{self.name}' expects `children` of shape (batch, nodes, {self.cell.arity or 'max_children'}) "
                f"with the inputs' (batch, nodes) = {tuple(inputs.shape[:2])}; got shape {got}."
            )
        children = tf.cast(children, "int32")
        if mask is None:
            return children, tf.ones(tf.shape(children)[:2], "bool")
        return children, input_checks.check_mask(self, mask, inputs)

    def get_config(self):
        return {
            **super().get_config(),
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_nodes": self.return_nodes,
            "return_state": self.return_state,
        }
