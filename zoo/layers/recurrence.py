"""The one sequence loop shared by every recurrent cell.

A cell splits its step into a recurrent projection and a transition:

    z_x(t) = x_t W + b                      hoisted: one matmul for all steps, (T, B, G)
    z_h(t) = h_{t-1} U (+ b_h)              one matmul per step, (B, G)
    y_t, s_t = transition(z_x(t), z_h(t), s_{t-1})    elementwise gate math

`run_recurrence` runs the steps in a `tf.while_loop` over time-major tensors.

Backward pass. For cells whose recurrent term is that single matmul (all but the
Cho-2014 GRU), gradients are hand-written instead of differentiating the loop:

    a reverse loop recomputes each transition's local vector-Jacobian product
    (the elementwise gate math only, with a GradientTape), and carries
        dh_{t-1} += dz_h(t) U^T                 one matmul per step
    after it, the weight gradients are one matmul over all steps:
        dU = [h_0 .. h_{T-1}]^T [dz_h(1) .. dz_h(T)],   db_h = sum_t dz_h(t)

A cell may multiply a linear view of its state, z_h = V(h_{t-1}) U (`RecurrentCell.recurrent_view`):
the PixelRNN cells' state is a line of pixels (B, L, H) and V puts each pixel's neighbours side
by side, so that a 1-D convolution of the previous line is one matmul. The backward pass then
carries dh_{t-1} += V^T(dz_h(t) U^T) and forms dU from V(h); for the other cells V is the identity.

Autodiff of the loop would instead form dU one (H, B) x (B, G) product per step
and stack every intermediate of the gate math; the fused pass stores only z_h
and the states. `tests/test_numerics.py` checks it against autodiff and
finite differences.

Recurrent dropout (Keras' `recurrent_dropout`, Gal & Ghahramani 2016): gate g reads
h_{t-1} through its own mask m_g (B, H), drawn once per call and shared by all steps:

    z_h(t) = [(h_{t-1} * m_1) U_1, ..., (h_{t-1} * m_G) U_G] (+ b_h)      U = [U_1 .. U_G]

The fused backward pass then carries
        dh_{t-1} += sum_g (dz_h,g(t) U_g^T) * m_g
    and forms the weight gradient from the masked states:
        dU_g = [h_0 * m_g .. h_{T-1} * m_g]^T [dz_h,g(1) .. dz_h,g(T)]
Without recurrent dropout (`recurrent_mask` None) the loops are the plain ones above.

Masking: where mask[t, b] is False the step carries the state through
unchanged and its output is zero.
"""

import functools
import weakref

import tensorflow as tf

from zoo import _compat


def masked_transition(cell, zx_t, zh_t, states, mask_t):
    """One transition; rows whose `mask_t` (B, 1) is False keep their state."""
    output, new_states = cell.transition(zx_t, zh_t, states)
    return _apply_mask(mask_t, output, new_states, states)


def masked_step(cell, zx_t, states, weights, mask_t, recurrent_mask=None):
    """One whole step (projection and transition) under a mask."""
    output, new_states = cell.step(zx_t, states, *weights, recurrent_mask=recurrent_mask)
    return _apply_mask(mask_t, output, new_states, states)


def mixed_matmul(x, kernel, equation=None):
    """x @ kernel (or `tf.einsum(equation, x, kernel)`) in the kernel's dtype, returned in x's:
    under mixed_bfloat16 the recurrent kernel is bfloat16 and the states stay float32."""
    x_in = tf.cast(x, kernel.dtype)
    if equation is not None:
        product = tf.einsum(equation, x_in, kernel)
    elif x_in.shape.rank > 2:  # a line of pixels (B, L, F): one (B*L, F) matmul, not a broadcast batch of them
        flat = tf.matmul(tf.reshape(x_in, (-1, x_in.shape[-1])), kernel)
        product = tf.reshape(flat, tf.concat([tf.shape(x_in)[:-1], tf.shape(kernel)[-1:]], 0))
    else:
        product = tf.matmul(x_in, kernel)
    return tf.cast(product, x.dtype)


def gatewise_matmul(x, kernel):
    """[x_1 U_1, ..., x_G U_G]: x (B, G, H), kernel U (H, G*K) in G column blocks -> (B, G*K)."""
    gates = x.shape[1]
    blocks = tf.reshape(kernel, (tf.shape(kernel)[0], gates, -1))  # (H, G, K)
    return tf.reshape(mixed_matmul(x, blocks, "bgh,hgk->bgk"), (tf.shape(x)[0], -1))


def _gatewise_input_gradient(d_zh, kernel, recurrent_mask):
    """dh = sum_g (dz_h,g U_g^T) * m_g: d_zh (B, G*K), kernel (H, G*K), recurrent_mask (B, G, H) -> (B, H)."""
    gates = recurrent_mask.shape[1]
    blocks = tf.reshape(kernel, (tf.shape(kernel)[0], gates, -1))  # (H, G, K)
    d_blocks = tf.reshape(d_zh, (tf.shape(d_zh)[0], gates, -1))  # (B, G, K)
    return tf.reduce_sum(mixed_matmul(d_blocks, blocks, "bgk,hgk->bgh") * recurrent_mask, axis=1)


def _apply_mask(mask_t, output, new_states, states):
    if mask_t is None:
        return output, new_states
    output = tf.where(mask_t, output, tf.zeros_like(output))
    new_states = [tf.where(mask_t, new, old) for new, old in zip(new_states, states)]
    return output, new_states


class _Slices:
    """Step t of several time-major tensors (None entries stay None).

    The loops carry the next step's slices in their state rather than slicing
    inside the step: XLA on CPU fuses a slice of a loop-invariant tensor into
    the step's elementwise math and runs it several times slower (the LSTM
    S-shape loop of `bench/rnn_layers.py`: 9.1 ms with in-step slices, 6.5 ms
    with carried ones).
    """

    def __init__(self, *sequences):
        self.sequences = sequences
        self.present = [i for i, s in enumerate(sequences) if s is not None]

    def at(self, t):
        return [self.sequences[i][t] for i in self.present]

    def unpack(self, slices):
        unpacked = [None] * len(self.sequences)
        for i, value in zip(self.present, slices):
            unpacked[i] = value
        return unpacked


def _scan(cell, zx, states, mask, weights, return_sequences, record, recurrent_mask=None):
    """Forward loop. zx (T, B, G); states: list of (B, S_i); mask (T, B, 1) or None;
    recurrent_mask (B, gates, H) or None.

    With `record`, also returns the history needed by the fused backward pass:
    z_h(t) as a (T, B, G) tensor and the list of states before each step, (T, B, S_i).
    """
    steps = tf.shape(zx)[0]
    inputs = _Slices(zx, mask)

    def new_array(dtype):
        return tf.TensorArray(dtype, size=steps)

    arrays = {}  # only what is asked for: a while_loop carries no None
    if return_sequences:
        arrays["outputs"] = new_array(zx.dtype)
    if record:
        arrays["zh"] = new_array(zx.dtype)
        arrays["states"] = [new_array(s.dtype) for s in states]

    def body(t, states, arrays, current):
        zx_t, mask_t = inputs.unpack(current)
        arrays = dict(arrays)
        if record:
            zh_t = cell.recurrent_projection(states[0], *weights, recurrent_mask=recurrent_mask)  # (B, G)
            output, new_states = masked_transition(cell, zx_t, zh_t, states, mask_t)
            arrays["zh"] = arrays["zh"].write(t, zh_t)
            arrays["states"] = [h.write(t, s) for h, s in zip(arrays["states"], states)]
        else:
            output, new_states = masked_step(cell, zx_t, states, weights, mask_t, recurrent_mask)
        if return_sequences:
            arrays["outputs"] = arrays["outputs"].write(t, output)
        return t + 1, new_states, arrays, inputs.at(tf.minimum(t + 1, steps - 1))

    _, final_states, arrays, _ = tf.while_loop(
        lambda t, *_: t < steps,
        body,
        (tf.constant(0), list(states), arrays, inputs.at(0)),
        maximum_iterations=steps,
    )
    outputs = arrays["outputs"].stack() if return_sequences else None
    if not record:
        return outputs, final_states
    return outputs, final_states, arrays["zh"].stack(), [h.stack() for h in arrays["states"]]


def _fused_backward(cell, zx, mask, weights, zh_history, state_history, d_outputs, d_final, recurrent_mask=None):
    """Reverse loop of the fused backward pass (see module docstring)."""
    recurrent_kernel_t = tf.transpose(weights[0]) if recurrent_mask is None else None  # (G, H), once, not per step
    steps = tf.shape(zx)[0]
    inputs = _Slices(zx, zh_history, mask, d_outputs, *state_history)
    # For cells whose gates read z_x + z_h only (`cell.additive_projections`), dz_x = dz_h.
    separate_d_zx = not cell.additive_projections
    d_zx = tf.TensorArray(zx.dtype, size=steps) if separate_d_zx else ()
    d_zh = tf.TensorArray(zx.dtype, size=steps)

    def body(t, d_states, d_zx, d_zh, current):
        zx_t, zh_t, mask_t, d_output_t, *previous = inputs.unpack(current)
        sources = [zx_t, zh_t, *previous] if separate_d_zx else [zh_t, *previous]
        with tf.GradientTape() as tape:
            tape.watch(sources)
            output, new_states = masked_transition(cell, zx_t, zh_t, previous, mask_t)
        targets, upstream = list(new_states), list(d_states)
        if d_output_t is not None:
            targets.append(output)
            upstream.append(d_output_t)
        grads = tape.gradient(
            targets, sources, output_gradients=upstream, unconnected_gradients=tf.UnconnectedGradients.ZERO
        )
        if separate_d_zx:
            d_zx = d_zx.write(t, grads.pop(0))
        d_zh_t, d_previous = grads[0], grads[1:]
        if recurrent_mask is None:
            d_previous[0] += cell.recurrent_view_transpose(mixed_matmul(d_zh_t, recurrent_kernel_t))  # (B, H)
        else:
            d_previous[0] += _gatewise_input_gradient(d_zh_t, weights[0], recurrent_mask)  # (B, H)
        following = inputs.at(tf.maximum(t - 1, 0))
        return t - 1, d_previous, d_zx, d_zh.write(t, d_zh_t), following

    _, d_initial, d_zx, d_zh, _ = tf.while_loop(
        lambda t, *_: t >= 0,
        body,
        (steps - 1, list(d_final), d_zx, d_zh, inputs.at(steps - 1)),
        maximum_iterations=steps,
    )
    d_zh = d_zh.stack()  # (T, B, G)
    previous_h = cell.recurrent_view(state_history[0])  # (T, B, ..., V)
    d_weights = [_recurrent_kernel_gradient(previous_h, d_zh, recurrent_mask, weights[0].dtype)]
    if len(weights) > 1:  # recurrent bias
        d_weights.append(tf.reduce_sum(d_zh, axis=(0, 1)))  # (G,)
    return (d_zx.stack() if separate_d_zx else d_zh), d_initial, d_weights


def _recurrent_kernel_gradient(previous_h, d_zh, recurrent_mask, dtype):
    """dU (in the kernel's `dtype`) from previous_h (T, B, H) and d_zh (T, B, G): one matmul over
    all steps; per gate under a mask."""
    units, gate_width = tf.shape(previous_h)[-1], tf.shape(d_zh)[-1]
    d_zh = tf.cast(d_zh, dtype)
    if recurrent_mask is None:
        return tf.matmul(
            tf.reshape(tf.cast(previous_h, dtype), (-1, units)), tf.reshape(d_zh, (-1, gate_width)), transpose_a=True
        )  # (H, G)
    gates = recurrent_mask.shape[1]
    dropped_h = tf.cast(previous_h[:, :, None, :] * recurrent_mask, dtype)  # (T, B, gates, H)
    d_blocks = tf.reshape(d_zh, (tf.shape(d_zh)[0], tf.shape(d_zh)[1], gates, -1))  # (T, B, gates, K)
    return tf.reshape(tf.einsum("tbgh,tbgk->hgk", dropped_h, d_blocks), (units, gate_width))  # (H, G)


_COMPILED = weakref.WeakKeyDictionary()  # cell -> its XLA-compiled (forward, backward) loops


def _compiled_loops(cell):
    """One pair of XLA-compiled functions per cell, so each retraces only for new shapes."""
    if cell not in _COMPILED:
        cell_ref = weakref.ref(cell)  # the cache must not keep the cell alive
        _COMPILED[cell] = tuple(
            # a partial (no __code__) also keeps TF's retracing detector per cell
            tf.function(functools.partial(_call_with_cell, loop, cell_ref), jit_compile=True, autograph=False)
            for loop in (_scan, _fused_backward)
        )
    return _COMPILED[cell]


def _call_with_cell(loop, cell_ref, *args):
    return loop(cell_ref(), *args)


def run_recurrence(
    cell, zx, initial_states, mask, weights, return_sequences, jit_compile=True, training=True, recurrent_mask=None
):
    """Runs `cell` over the projected inputs.

    Args:
        cell: a `RecurrentCell`.
        zx: (T, B, G) projected inputs, time-major, float32.
        initial_states: list of (B, S_i) float32 tensors.
        mask: (T, B, 1) bool or None.
        weights: the cell's recurrent weights `[U]` or `[U, b_h]`: b_h float32, U float32 or, under
            mixed_bfloat16, bfloat16 (the recurrent matmuls run in U's dtype, all else in float32).
        return_sequences: whether to return every step's output.
        jit_compile: run the forward and backward loops as XLA-compiled functions
            (cells with a fused backward pass; the others run in the caller's graph).
        training: record the history the backward pass needs while going
            forward. So does a call under a `tf.GradientTape` that watches the
            inputs or weights (a custom training loop that leaves `training`
            out). Otherwise the forward loop records nothing (inference), and a
            gradient asked for all the same (`tf.gradients`) first reruns it.
        recurrent_mask: (B, gates, H) float32 recurrent dropout mask, one (B, H) per
            gate (see the module docstring), or None.

    Returns:
        (outputs (T, B, H) or None, list of final states (B, S_i)).
    """
    if not cell.fused_backward:
        return _scan(cell, zx, initial_states, mask, weights, return_sequences, False, recurrent_mask)

    if jit_compile:
        forward, backward = _compiled_loops(cell)
    else:
        forward, backward = functools.partial(_scan, cell), functools.partial(_fused_backward, cell)
    num_states = len(initial_states)
    record = training or _compat.gradient_tape_watches([zx, *initial_states, *weights])

    @tf.custom_gradient
    def recurrence(zx, *flat):
        # stop_gradient: no tape differentiates `forward`; `grad` below does.
        zx, flat = tf.stop_gradient(zx), [tf.stop_gradient(x) for x in flat]
        states, weights = flat[:num_states], flat[num_states:]
        outputs, final_states, *history = forward(
            zx, states, mask, weights, return_sequences, record, recurrent_mask
        )

        def grad(*upstream):
            if return_sequences:
                d_outputs, d_final = upstream[0], upstream[1:]
            else:
                d_outputs, d_final = None, upstream
            # A gather downstream (e.g. of each distinct word's final state) sends IndexedSlices: densify.
            d_final = [tf.zeros_like(s) if d is None else tf.convert_to_tensor(d) for d, s in zip(d_final, final_states)]
            if d_outputs is not None:
                d_outputs = tf.convert_to_tensor(d_outputs)
            zh_history, state_history = history or forward(zx, states, mask, weights, False, True, recurrent_mask)[2:]
            d_zx, d_initial, d_weights = backward(
                zx, mask, weights, zh_history, state_history, d_outputs, d_final, recurrent_mask
            )
            return (d_zx, *d_initial, *d_weights)

        results = ([outputs] if return_sequences else []) + list(final_states)
        return results, grad

    results = recurrence(zx, *initial_states, *weights)
    if return_sequences:
        return results[0], list(results[1:])
    return None, list(results)
