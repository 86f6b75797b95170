"""Tree cells and the level loop: hand-written references, gradients, padding, saving, bad input."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import (
    BinaryTreeLSTMCell,
    ChildSumTreeLSTMCell,
    RecursiveCell,
    TreeRecurrence,
    node_levels,
    tree_roots,
)

D, H = 3, 4
CELLS = {
    "recursive": lambda **kw: RecursiveCell(H, **kw),
    "binary_lstm": lambda **kw: BinaryTreeLSTMCell(H, **kw),
    "child_sum_lstm": lambda **kw: ChildSumTreeLSTMCell(H, **kw),
}
# Trees as nested tuples over word positions; a bare int is a one-word tree.
BINARY_TREES = [
    ((0, 1), 2),
    0,
    (((((0, 1), 2), 3), 4), 5),  # deep, left-branching
    ((0, 1), (2, (3, 4))),
]
NARY_TREES = [((0, 1, 2), 3), 0, ((0, 1), 2, (3, 4, 5)), (0, (1, 2))]


def words(tree):
    return 1 if isinstance(tree, int) else sum(words(child) for child in tree)


def layout(tree, steps, max_children):
    """One tree in the layout of issue 18 for T = `steps` -> (children (N, K), mask (N,))."""
    slots = 2 * steps - 1
    children = -np.ones((slots, max_children), "int32")
    mask = np.zeros(slots, bool)
    next_internal = [steps]

    def place(subtree):
        if isinstance(subtree, int):
            slot = subtree
        else:
            kids = [place(child) for child in subtree]
            slot, next_internal[0] = next_internal[0], next_internal[0] + 1
            children[slot, : len(kids)] = kids
        mask[slot] = True
        return slot

    place(tree)
    return children, mask


def batch(trees, steps, max_children, seed=0):
    """Trees -> (inputs (B, N, D) float64 with zeros at internal nodes and padding, children, mask)."""
    children, mask = (np.stack(parts) for parts in zip(*(layout(tree, steps, max_children) for tree in trees)))
    inputs = np.random.default_rng(seed).standard_normal((len(trees), 2 * steps - 1, D))
    inputs[:, steps:] = 0
    inputs[~mask] = 0
    return inputs, children, mask


# --- the reference: the docstrings' formulas, written out gate by gate -------------------------------------


def reference_node(cell, x, children_states):
    """One node from its input (D,) and its children's [(h, c), ...] (a leaf: []) -> (h (1, H), c or None)."""
    W, U, b = cell.kernel, cell.recurrent_kernel, cell.bias
    x = tf.reshape(tf.cast(x, W.dtype), (1, -1))

    def block(weights, g):
        return weights[..., g * H : (g + 1) * H]

    def child_rows(k):  # the rows of U that multiply child k's h in [h_l; h_r] U
        return U[k * H : (k + 1) * H]

    if isinstance(cell, RecursiveCell):
        z = x @ W + b
        for k, (h, _) in enumerate(children_states):
            z += h @ child_rows(k)
        return tf.tanh(z), None
    if isinstance(cell, BinaryTreeLSTMCell):  # gates i, f_l, f_r, o, u
        children_h = [h for h, _ in children_states]
        z = [x @ block(W, g) + block(b, g) + sum(h @ block(child_rows(k), g) for k, h in enumerate(children_h))
             for g in range(5)]
        c = tf.sigmoid(z[0]) * tf.tanh(z[4])
        for k, (_, c_k) in enumerate(children_states):
            c += tf.sigmoid(z[1 + k]) * c_k
        return tf.sigmoid(z[3]) * tf.tanh(c), c
    # child-sum, gates i, o, u, f: i, o, u from h~ = sum_k h_k; one forget gate per child
    h_sum = sum((h for h, _ in children_states), tf.zeros((1, H), W.dtype))
    i, o, u = (x @ block(W, g) + h_sum @ block(U, g) + block(b, g) for g in range(3))
    c = tf.sigmoid(i) * tf.tanh(u)
    for h_k, c_k in children_states:
        c += tf.sigmoid(x @ block(W, 3) + h_k @ block(U, 3) + block(b, 3)) * c_k
    return tf.sigmoid(o) * tf.tanh(c), c


def reference_tree(cell, inputs, children, slot, states):
    """The per-tree recursion from `slot` down: fills {slot: (h, c)} and returns the slot's states."""
    kids = [reference_tree(cell, inputs, children, k, states) for k in children[slot] if k >= 0]
    states[slot] = reference_node(cell, inputs[slot], kids)
    return states[slot]


def reference_batch(cell, inputs, children, mask):
    """-> (every node's h (B, N, H), zero at padding; the roots' h (B, H)) by recursion over each tree."""
    nodes, roots = [], []
    for tree_inputs, tree_children, tree_mask in zip(inputs, children, mask):
        root = int(np.flatnonzero(tree_mask).max())
        states = {}
        reference_tree(cell, tree_inputs, tree_children, root, states)
        zero = tf.zeros((1, H), cell.kernel.dtype)
        nodes.append(tf.concat([states[s][0] if s in states else zero for s in range(len(tree_mask))], axis=0))
        roots.append(states[root][0][0])
    return tf.stack(nodes), tf.stack(roots)


def float64_layer(name, **kwargs):
    """A built float64 TreeRecurrence of cell `name` with non-zero biases, returning nodes and root states."""
    layer = TreeRecurrence(CELLS[name](dtype="float64"), return_state=True, dtype="float64", **kwargs)
    layer(*batch([0], 1, max_children_of(name))[:2])
    layer.cell.bias.assign(np.random.default_rng(1).standard_normal(layer.cell.bias.shape))
    return layer


def max_children_of(name):
    return 3 if name == "child_sum_lstm" else 2


def trees_of(name):
    return NARY_TREES if name == "child_sum_lstm" else BINARY_TREES


# --- the cells, node by node ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CELLS)
def test_cell_equals_reference_node_by_node(name):
    cell = float64_layer(name).cell
    max_children = max_children_of(name)
    inputs, children, mask = batch([trees_of(name)[0]], 4, max_children)
    inputs, children = inputs[0], children[0]
    computed = {}
    for slot in np.flatnonzero(mask[0]):  # bottom-up: children come first
        kids = [computed[k] for k in children[slot] if k >= 0]
        stacked = [np.zeros((1, max_children, H)) for _ in cell.state_size]
        for k, states in enumerate(kids):
            for i, state in enumerate(states):
                stacked[i][0, k] = state[0]
        h, states = cell(inputs[slot][None], stacked)
        expected_h, expected_c = reference_node(cell, inputs[slot], [(s[0], s[-1]) for s in kids])
        np.testing.assert_allclose(h, expected_h, rtol=1e-12, atol=1e-12)
        if expected_c is not None:
            np.testing.assert_allclose(states[1], expected_c, rtol=1e-12, atol=1e-12)
        computed[slot] = [s.numpy() for s in states]


# --- the level loop against the per-tree recursion ------------------------------------------------------------


def weighted_sum(nodes, roots, seed=2):
    """A loss that reaches every node's output and the roots with different weights."""
    rng = np.random.default_rng(seed)
    node_weights, root_weights = rng.standard_normal(nodes.shape), rng.standard_normal(roots.shape)
    return tf.reduce_sum(nodes * node_weights) + tf.reduce_sum(roots * root_weights)


@pytest.mark.parametrize("name", CELLS)
def test_level_loop_equals_recursive_reference_with_gradients(name):
    layer = float64_layer(name)
    inputs, children, mask = batch(trees_of(name), 6, max_children_of(name))
    inputs = tf.constant(inputs)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(inputs)
        nodes, root_h, *_ = layer(inputs, children, mask=mask)
        expected_nodes, expected_roots = reference_batch(layer.cell, inputs, children, mask)
        loss, expected_loss = weighted_sum(nodes, root_h), weighted_sum(expected_nodes, expected_roots)
    np.testing.assert_allclose(nodes, expected_nodes, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(root_h, expected_roots, rtol=1e-5, atol=1e-5)
    assert not np.any(nodes.numpy()[~mask])
    sources = [inputs, *layer.trainable_weights]
    for got, expected in zip(tape.gradient(loss, sources), tape.gradient(expected_loss, sources)):
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_node_levels_and_roots_of_the_layout():
    _, children, mask = batch(BINARY_TREES, 6, 2)
    levels = node_levels(children, mask).numpy()
    np.testing.assert_array_equal(levels[2][:6], 0)
    np.testing.assert_array_equal(levels[2][6:11], [1, 2, 3, 4, 5])  # left-branching: one level per word
    np.testing.assert_array_equal(levels[1], [0] + [-1] * 10)
    np.testing.assert_array_equal(levels[3][6:10], [1, 1, 2, 3])  # ((0 1) (2 (3 4)))
    sizes = [words(tree) for tree in BINARY_TREES]
    np.testing.assert_array_equal(tree_roots(children, mask), [6 + n - 2 if n > 1 else 0 for n in sizes])
    np.testing.assert_array_equal(tree_roots(children, np.zeros_like(mask)), [0] * 4)  # no real node


@pytest.mark.parametrize("name", CELLS)
def test_finite_difference_gradients(name):
    layer = float64_layer(name)
    inputs, children, mask = batch(trees_of(name)[:2], 4, max_children_of(name))

    @tf.function  # traced once: the differences call it many times
    def loss(x):
        nodes, root_h, *_ = layer(x, children, mask=mask)
        return weighted_sum(nodes, root_h)[None]

    theoretical, numerical = tf.test.compute_gradient(loss, [tf.constant(inputs)], delta=1e-6)
    np.testing.assert_allclose(theoretical[0], numerical[0], rtol=1e-5, atol=1e-7)
    rng, epsilon = np.random.default_rng(3), 1e-6
    for weight in layer.trainable_weights:  # directional differences along a random direction
        with tf.GradientTape() as tape:
            value = loss(inputs)
        analytic = tape.gradient(value, weight)
        direction = rng.standard_normal(weight.shape)
        original = weight.numpy()
        weight.assign(original + epsilon * direction)
        above = loss(inputs)[0]
        weight.assign(original - epsilon * direction)
        below = loss(inputs)[0]
        weight.assign(original)
        np.testing.assert_allclose((above - below) / (2 * epsilon), np.sum(analytic * direction), rtol=1e-6)


# --- padding ------------------------------------------------------------------------------------------------------


def relaid(array, steps, wider):
    """(B, 2*steps-1, ...) -> (B, 2*wider-1, ...): leaves stay, internal slots move from `steps` to `wider`;
    zeros in the new slots."""
    out = np.zeros((array.shape[0], 2 * wider - 1, *array.shape[2:]), array.dtype)
    out[:, :steps], out[:, wider : wider + steps - 1] = array[:, :steps], array[:, steps:]
    return out


@pytest.mark.parametrize("name", CELLS)
def test_padding_never_changes_a_result(name):
    layer = float64_layer(name)
    trees, steps, wider = trees_of(name), 6, 9
    inputs, children, mask = batch(trees, steps, max_children_of(name))
    nodes, *roots = layer(inputs, children, mask=mask)

    wide_children = relaid(np.where(children >= steps, children + wider - steps, children), steps, wider)
    wide_children[relaid(np.ones(children.shape, bool), steps, wider) == 0] = -1
    # A first tree with no real node, whose slots hold anything: it changes nothing either.
    wide_inputs = np.concatenate([np.full((1, 2 * wider - 1, D), 5.0), relaid(inputs, steps, wider)])
    wide_children = np.concatenate([-np.ones_like(wide_children[:1]), wide_children])
    wide_mask = np.concatenate([np.zeros((1, 2 * wider - 1), bool), relaid(mask, steps, wider)])
    wide_nodes, *wide_roots = layer(wide_inputs, wide_children, mask=wide_mask)

    np.testing.assert_allclose(relaid(nodes.numpy(), steps, wider), wide_nodes[1:], rtol=1e-12, atol=1e-12)
    for root, wide_root in zip(roots, wide_roots):
        np.testing.assert_allclose(root, wide_root[1:], rtol=1e-12, atol=1e-12)
    assert not np.any(wide_nodes[0]) and not np.any(wide_roots[0][0])


# --- Keras: configs, saving, fit, graphs of unknown size -------------------------------------------------------


def tree_model(name, layer_options=None):
    """Node inputs, children and mask -> (5-way logits per node, 2-way logits at the root)."""
    inputs = keras.Input((None, D))
    children = keras.Input((None, max_children_of(name)), dtype="int32")
    mask = keras.Input((None,), dtype="bool")
    nodes, root, *_ = TreeRecurrence(CELLS[name](), return_state=True, **(layer_options or {}))(
        inputs, children, mask=mask
    )
    return keras.Model([inputs, children, mask], [keras.layers.Dense(5)(nodes), keras.layers.Dense(2)(root)])


@pytest.mark.parametrize("name", CELLS)
def test_config_round_trip(name):
    layer = float64_layer(name, return_nodes=False)
    config = layer.get_config()
    assert {"cell", "return_nodes", "return_state"} <= set(config)
    copy = TreeRecurrence.from_config(config)
    inputs, children, mask = batch(trees_of(name), 6, max_children_of(name))
    copy(inputs, children, mask=mask)
    copy.set_weights(layer.get_weights())
    assert copy.get_config() == config
    assert type(copy.cell) is type(layer.cell) and copy.cell.get_config() == layer.cell.get_config()
    for got, expected in zip(copy(inputs, children, mask=mask), layer(inputs, children, mask=mask)):
        np.testing.assert_allclose(got, expected, rtol=0, atol=0)


@pytest.mark.parametrize("name", CELLS)
def test_keras_file_round_trip(name, tmp_path):
    model = tree_model(name)
    inputs, children, mask = batch(trees_of(name), 6, max_children_of(name))
    expected = model.predict([inputs, children, mask], verbose=0)
    model.save(tmp_path / "tree.keras")
    loaded = keras.models.load_model(tmp_path / "tree.keras")
    for got, want in zip(loaded.predict([inputs, children, mask], verbose=0), expected):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


def test_fit_with_node_and_root_losses():
    model = tree_model("binary_lstm")
    inputs, children, mask = batch(BINARY_TREES * 2, 6, 2)
    node_labels = np.random.default_rng(4).integers(0, 5, mask.shape)
    root_labels = np.arange(len(mask)) % 2
    model.compile(
        keras.optimizers.Adam(0.05),
        [keras.losses.SparseCategoricalCrossentropy(from_logits=True)] * 2,
    )
    history = model.fit(
        [inputs, children, mask], [node_labels, root_labels], sample_weight=[mask.astype("float32"), None],
        batch_size=4, epochs=5, verbose=0,
    )
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_runs_in_a_graph_of_unknown_batch_and_tree_size():
    layer = TreeRecurrence(BinaryTreeLSTMCell(H), return_nodes=False)
    signature = [
        tf.TensorSpec((None, None, D), "float32"),
        tf.TensorSpec((None, None, 2), "int32"),
        tf.TensorSpec((None, None), "bool"),
    ]
    graph = tf.function(lambda x, c, m: layer(x, c, mask=m), input_signature=signature)
    for trees, steps in [(BINARY_TREES, 6), ([0], 1), (BINARY_TREES[:2], 9)]:
        inputs, children, mask = batch(trees, steps, 2)
        inputs = inputs.astype("float32")
        np.testing.assert_allclose(graph(inputs, children, mask), layer(inputs, children, mask=mask), rtol=1e-6)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, c, m: (x[0], c, m), "rank 3"),
        (lambda x, c, m: (x.astype("int32"), c, m), "floating-point"),
        (lambda x, c, m: (x, c.astype("float32"), m), "integer `children`"),
        (lambda x, c, m: (x, c[..., :1], m), r"`children` of shape \(batch, nodes, 2\)"),
        (lambda x, c, m: (x, c[:, :-1], m), r"`children` of shape"),
        (lambda x, c, m: (x, c[0], m), r"`children` of shape"),
        (lambda x, c, m: (x, c, m[:, :-1]), "mask of shape"),
    ],
)
def test_bad_shapes_and_dtypes_are_value_errors(change, message):
    layer = TreeRecurrence(BinaryTreeLSTMCell(H))
    inputs, children, mask = batch(BINARY_TREES, 6, 2)
    inputs, children, mask = change(inputs.astype("float32"), children, mask)
    with pytest.raises(ValueError, match=message):
        layer(inputs, children, mask=mask)


@pytest.mark.parametrize(
    "slot, child, why",
    [(6, 11, "a later slot"), (6, 99, "outside the tree"), (6, -2, "outside the tree"), (7, 4, "a padding slot")],
)
def test_bad_children_fail_an_in_graph_check(slot, child, why):
    layer = TreeRecurrence(RecursiveCell(H))
    inputs, children, mask = batch([((0, 1), 2)], 6, 2)  # internal slots 6 and 7; 3..5 and 8..10 are padding
    children[0, slot, 0] = child
    with pytest.raises(tf.errors.InvalidArgumentError, match="earlier real node of the same tree"):
        layer(inputs.astype("float32"), children, mask=mask)
    graph = tf.function(lambda x, c, m: layer(x, c, mask=m))
    with pytest.raises(tf.errors.InvalidArgumentError, match="earlier real node of the same tree"):
        graph(inputs.astype("float32"), children, mask)


def test_tree_recurrence_takes_tree_cells_only():
    with pytest.raises(ValueError, match="must be a TreeCell"):
        TreeRecurrence(keras.layers.LSTMCell(H))


def test_a_cell_checks_its_children_states():
    cell = BinaryTreeLSTMCell(H)
    with pytest.raises(ValueError, match=r"children states of shapes \[\(1, 2, 4\), \(1, 2, 4\)\]"):
        cell(np.zeros((1, D), "float32"), [np.zeros((1, 3, H), "float32")] * 2)
    with pytest.raises(ValueError, match="2 children state tensor"):
        cell(np.zeros((1, D), "float32"), [np.zeros((1, 2, H), "float32")])


def test_a_batch_without_real_nodes_gives_zeros():
    layer = TreeRecurrence(ChildSumTreeLSTMCell(H), return_state=True)
    nodes, *roots = layer(np.ones((2, 5, D), "float32"), -np.ones((2, 5, 3), "int32"), mask=np.zeros((2, 5), bool))
    assert nodes.shape == (2, 5, H) and not np.any(nodes) and not any(np.any(root) for root in roots)


def test_mixed_precision_runs_the_loop_in_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = TreeRecurrence(BinaryTreeLSTMCell(H))
    inputs, children, mask = batch(BINARY_TREES, 6, 2)
    nodes = layer(inputs.astype("float32"), children, mask=mask)
    assert nodes.dtype == "bfloat16" and layer.cell.recurrent_weights()[0].dtype == "float32"
    keras.mixed_precision.set_global_policy("float32")
    exact = TreeRecurrence(BinaryTreeLSTMCell(H))
    exact(inputs.astype("float32"), children, mask=mask)
    exact.set_weights(layer.get_weights())
    expected = exact(inputs.astype("float32"), children, mask=mask)
    np.testing.assert_allclose(tf.cast(nodes, "float32"), expected, atol=0.05)
