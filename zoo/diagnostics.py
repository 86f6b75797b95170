"""Why gates matter, measured: gradient flow through time and the recurrent matrix's spectrum.

In an Elman RNN, h_t = tanh(x_t W + h_{t-1} U + b), the gradient of a loss taken at the last step
T-1 with respect to an earlier state h_j is a product of Jacobians (row vectors, as the zoo writes
h U):

    dL/dh_j = dL/dh_{T-1} . J_{T-1} ... J_{j+1},     J_t = dh_t/dh_{t-1} = U diag(tanh'(a_t))

(in column convention dh_t/dh_{t-1} = diag(tanh') U^T), so its norm shrinks or grows roughly
geometrically with the distance T-1-j, at a rate bounded by the largest singular value of U times
max tanh'. The LSTM's additive cell state c_t = f_t c_{t-1} + ... and the GRU's interpolation
h_t = z_t h_{t-1} + (1 - z_t) h~_t add a path whose Jacobian is the diagonal f_t (or z_t), which can
stay near 1.

    from zoo.diagnostics import gradient_flow, plot_gradient_flow
    flow = gradient_flow(model, (x, y))          # the model's first zoo RNN layer, its compiled loss
    flow.step_norms      # (T,) mean over the batch of ||dL/dh_j||, j = 0 .. T-1
    flow.distance        # (T,) T-1-j
    flow.spectral_norm, flow.spectral_radius     # of the (candidate block of the) recurrent kernel
    plot_gradient_flow({"LSTM": flow}, "flow.png")
"""

import contextlib
import dataclasses
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo import _compat
from zoo.layers.gru import GRUCell
from zoo.layers.lstm import LSTMCell
from zoo.layers.recurrence import masked_step
from zoo.layers.rnn import RNN
from zoo.layers.simple_rnn import SimpleRNNCell

# The names of the gate blocks of each cell's recurrent kernel, in the kernel's order, and which
# block is the candidate (the one a tanh reads: the Elman-like path).
GATE_NAMES = {
    SimpleRNNCell: ("candidate",),
    LSTMCell: ("input", "forget", "candidate", "output"),
    GRUCell: ("update", "reset", "candidate"),
}


# --- the recurrent matrix -------------------------------------------------------------------


def recurrent_spectrum(cell):
    """The matrix quantities of a cell's recurrent kernel U (H, G*H).

    Returns a dict:
        spectral_norm: largest singular value of the candidate block U_h (H, H): for an Elman
            cell the whole U, for an LSTM or a GRU the block the tanh candidate reads.
        spectral_radius: largest |eigenvalue| of that square block.
        spectral_norm_full: largest singular value of the whole U (H, G*H).
        blocks: {gate name: {"spectral_norm": ..., "spectral_radius": ...}} for every gate block.
    """
    if isinstance(cell, RNN):
        cell = cell.cell
    if not getattr(cell, "built", False):
        raise ValueError(f"recurrent_spectrum: {type(cell).__name__} is not built yet (call it on inputs first)")
    kernel = np.asarray(keras.ops.convert_to_numpy(cell.recurrent_kernel), dtype="float64")  # (H, G*H)
    units = cell.units
    names = _gate_names(cell)
    blocks = {}
    for index, name in enumerate(names):
        block = kernel[:, index * units : (index + 1) * units]
        blocks[name] = {"spectral_norm": _spectral_norm(block), "spectral_radius": _spectral_radius(block)}
    candidate = blocks["candidate"] if "candidate" in blocks else blocks[names[-1]]
    return {
        "spectral_norm": candidate["spectral_norm"],
        "spectral_radius": candidate["spectral_radius"],
        "spectral_norm_full": _spectral_norm(kernel),
        "blocks": blocks,
    }


def _gate_names(cell):
    for cell_class, names in GATE_NAMES.items():
        if isinstance(cell, cell_class):
            return names
    count = getattr(cell, "gate_count", 1)
    return ("candidate",) if count == 1 else tuple(f"gate{i}" for i in range(count))


def _spectral_norm(matrix):
    return float(np.linalg.norm(matrix, ord=2))


def _spectral_radius(matrix):
    return float(np.max(np.abs(np.linalg.eigvals(matrix))))


# --- gradient flow ---------------------------------------------------------------------------


@dataclasses.dataclass
class GradientFlow:
    """What `gradient_flow` measured. Step j counts in the layer's processing order (reversed
    inputs for `go_backwards`); `distance[j] = T-1-j` is how many steps back from the loss.

    Attributes:
        step_norms: (T,) mean over the batch of the per-example norm ||dL_b/dh_j||.
        example_norms: (B, T) the per-example norms (each example's own loss: examples do not mix).
        distance: (T,) T-1-j.
        cell_state_norms, example_cell_state_norms: the same for the LSTM's cell state c_j
            (None for cells whose state is h alone).
        loss: the loss summed over the batch.
        spectral_norm, spectral_radius, spectral_norm_full, spectrum: see `recurrent_spectrum`.
        layer, cell: the layer's name and the cell's class name.
        mask: (B, T) booleans of the steps that were not masked, or None.
    """

    step_norms: np.ndarray
    example_norms: np.ndarray
    distance: np.ndarray
    cell_state_norms: np.ndarray | None
    example_cell_state_norms: np.ndarray | None
    loss: float
    spectral_norm: float
    spectral_radius: float
    spectral_norm_full: float
    spectrum: dict
    layer: str
    cell: str
    mask: np.ndarray | None = None

    def __getitem__(self, key):  # flow["step_norms"], as for a dict
        return getattr(self, key)

    def as_dict(self):
        return dataclasses.asdict(self)

    def rate_per_step(self, norms=None, min_distance=0, max_distance=None):
        """The factor by which the norm changes per step further back: exp of the slope of a
        least-squares line through log(norm) against distance (< 1: vanishing, > 1: exploding)."""
        norms = self.step_norms if norms is None else np.asarray(norms)
        keep = (self.distance >= min_distance) & np.isfinite(norms) & (norms > 0)
        if max_distance is not None:
            keep &= self.distance <= max_distance
        if keep.sum() < 2:
            return float("nan")
        slope = np.polyfit(self.distance[keep], np.log(norms[keep]), 1)[0]
        return float(math.exp(slope))


class _StepRecorder:
    """Runs a zoo `RNN` one step at a time in Python, so a GradientTape sees every state."""

    def __init__(self, layer, tape):
        self.layer = layer
        self.tape = tape
        self.states = None  # list over steps of the list of states after that step
        self.mask = None
        self.calls = 0

    def call(self, inputs, mask=None, initial_state=None, training=False):
        """A stand-in for `RNN.call` (dropout off, `stateful` states read but not updated)."""
        layer, cell = self.layer, self.layer.cell
        self.calls += 1
        if self.calls > 1:
            raise ValueError(f"gradient_flow: layer '{layer.name}' was called more than once by the model; "
                             "name a layer that runs once per forward pass")
        inputs = tf.convert_to_tensor(inputs)
        if mask is not None:
            mask = tf.cast(mask, "bool")
        states = [tf.cast(s, "float32") for s in layer.initial_states(inputs, initial_state)]
        zx = tf.cast(cell.project_inputs(tf.transpose(inputs, (1, 0, 2))), "float32")  # (T, B, G)
        step_mask = None if mask is None else tf.transpose(mask)[:, :, None]  # (T, B, 1)
        if layer.go_backwards:
            zx = tf.reverse(zx, axis=[0])
            step_mask = None if step_mask is None else tf.reverse(step_mask, axis=[0])
        weights = cell.recurrent_weights()
        self.mask = None if step_mask is None else tf.transpose(step_mask[:, :, 0])  # (B, T), processing order
        self.states, outputs = [], []
        for t in range(zx.shape[0]):
            output, states = masked_step(cell, zx[t], states, weights, None if step_mask is None else step_mask[t])
            self.tape.watch(states)
            self.states.append(states)
            outputs.append(output)
        if layer.return_sequences:
            output = tf.stack(outputs, axis=1)  # (B, T, H)
        else:
            output = states[0]
        output = tf.cast(output, layer.compute_dtype)
        return [output, *states] if layer.return_state else output


@contextlib.contextmanager
def _recording(layer, tape):
    recorder = _StepRecorder(layer, tape)
    object.__setattr__(layer, "call", recorder.call)  # Layer.__call__ looks `self.call` up at call time
    try:
        yield recorder
    finally:
        object.__delattr__(layer, "call")


def find_recurrent_layer(model, layer=None):
    """The zoo `RNN` to diagnose: `layer` itself, a layer of `model` named `layer`, or the model's
    first zoo `RNN` (searching nested layers: `Stacked`, `Bidirectional`, sub-models)."""
    if isinstance(layer, RNN):
        return layer
    if isinstance(model, RNN) and layer is None:
        return model
    candidates = [sub for sub in _compat.flatten_layers(model) if isinstance(sub, RNN)]
    if layer is not None:
        named = [sub for sub in candidates if sub.name == layer]
        if not named:
            names = ", ".join(sub.name for sub in candidates) or "none"
            raise ValueError(f"gradient_flow: no zoo recurrent layer named {layer!r} in the model "
                             f"(recurrent layers: {names})")
        return named[0]
    if not candidates:
        raise ValueError("gradient_flow: the model has no zoo recurrent layer (SimpleRNN, LSTM, GRU, RNN)")
    return candidates[0]


def gradient_flow(model_or_layer, batch, layer=None, loss_fn=None, mask=None):
    """The norm of dL/dh_j for every step j of a recurrent layer, the loss taken at the last step.

    Args:
        model_or_layer: a Keras model holding a zoo `RNN` (SimpleRNN, LSTM, GRU, ...), or the layer.
        batch: for a model, `(x, y)` (or `x`: then L is the sum of the layer's last output);
            for a layer, `x` (B, T, D) or `(x, y)`.
        layer: which recurrent layer of the model (a layer or its name); default: the first.
        loss_fn: `loss_fn(y_true, y_pred) -> loss` (any shape; it is summed). Default: for a model,
            its compiled loss, per example; for a layer, the sum of its last output. y_pred is the
            model's output at the last step (for a layer: the layer's last output h_T).
            With `return_sequences` the loss is taken at each example's last unmasked step only.
        mask: (B, T) booleans, for a layer called directly (a model computes its own masks).
            A masked step j carries the state through (h_j = h_{j-1}), so h_{j-1} has h_j's gradient.

    The loss is summed over the batch, so an example's gradient is that of its own loss alone.
    The layer runs step by step in eager mode (its cell's `step`, under the mask), with dropout
    off, so this is for diagnosis, not speed.

    Returns:
        a `GradientFlow`.
    """
    rnn = find_recurrent_layer(model_or_layer, layer)
    is_layer = model_or_layer is rnn
    x, y = _split_batch(batch)
    with tf.GradientTape() as tape:
        with _recording(rnn, tape) as recorder:
            if is_layer:
                prediction = rnn(x, mask=mask)
            else:
                prediction = model_or_layer(x, training=False)
        if recorder.states is None:
            raise ValueError(f"gradient_flow: layer '{rnn.name}' was not called by the model")
        loss = _last_step_loss(model_or_layer, rnn, recorder, prediction, y, loss_fn, is_layer)
    per_step_states = recorder.states
    flat = [s for states in per_step_states for s in states]
    grads = tape.gradient(loss, flat, unconnected_gradients=tf.UnconnectedGradients.ZERO)
    state_count = len(per_step_states[0])
    example_norms = []  # per state: (B, T)
    for index in range(state_count):
        per_step = [tf.norm(tf.cast(grads[t * state_count + index], "float32"), axis=-1)
                    for t in range(len(per_step_states))]
        example_norms.append(np.stack([g.numpy() for g in per_step], axis=1).astype("float64"))
    steps = example_norms[0].shape[1]
    spectrum = recurrent_spectrum(rnn.cell)
    cell_state = example_norms[1] if state_count > 1 else None
    return GradientFlow(
        step_norms=example_norms[0].mean(axis=0),
        example_norms=example_norms[0],
        distance=np.arange(steps - 1, -1, -1),
        cell_state_norms=None if cell_state is None else cell_state.mean(axis=0),
        example_cell_state_norms=cell_state,
        loss=float(loss.numpy()),
        spectral_norm=spectrum["spectral_norm"],
        spectral_radius=spectrum["spectral_radius"],
        spectral_norm_full=spectrum["spectral_norm_full"],
        spectrum=spectrum,
        layer=rnn.name,
        cell=type(rnn.cell).__name__,
        mask=None if recorder.mask is None else recorder.mask.numpy(),
    )


def _split_batch(batch):
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return batch[0], None
        return batch[0], batch[1]
    return batch, None


def _last_step_loss(model, rnn, recorder, prediction, y, loss_fn, is_layer):
    if isinstance(prediction, (list, tuple)):
        prediction = prediction[0]
    last_output = recorder.states[-1][0]
    if is_layer:
        prediction = last_output
    elif rnn.return_sequences and prediction.shape.rank >= 3 and prediction.shape[1] == len(recorder.states):
        prediction = _at_last_valid_step(prediction, recorder.mask)
        if y is not None and np.ndim(y) >= 2 and np.shape(y)[1] == len(recorder.states):
            y = _at_last_valid_step(tf.convert_to_tensor(y), recorder.mask)
    if loss_fn is None and (y is None or is_layer):
        return tf.reduce_sum(tf.cast(last_output, "float32"))
    if loss_fn is None:
        if getattr(model, "loss", None) is None:
            raise ValueError("gradient_flow: the model is not compiled with a loss: pass loss_fn")
        loss_fn = _per_example(model.loss)
    return tf.reduce_sum(tf.cast(loss_fn(y, prediction), "float32"))


def _at_last_valid_step(sequence, mask):
    """sequence[:, t_b] with t_b each example's last unmasked step (the last step without a mask)."""
    if mask is None:
        return sequence[:, -1]
    steps = tf.shape(mask)[1]
    last = steps - 1 - tf.argmax(tf.reverse(tf.cast(mask, "int32"), axis=[1]), axis=1, output_type=tf.int32)
    return tf.gather(sequence, last, axis=1, batch_dims=1)


def _per_example(loss):
    """A compiled loss, unreduced: a Loss object's `call`, or the function a name stands for."""
    if isinstance(loss, dict) or isinstance(loss, (list, tuple)):
        raise ValueError("gradient_flow: the model has several losses: pass loss_fn")
    if isinstance(loss, keras.losses.Loss):
        return loss.call
    return keras.losses.get(loss)


# --- plots -----------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)
    return path


def plot_gradient_flow(results, path, title=None, cell_state=True):
    """Gradient norm ||dL/dh_j|| against the distance T-1-j, log scale, one line per result.

    Args:
        results: {label: GradientFlow}. A label ending in "(init)" is drawn dashed.
        path: the PNG to write.
        cell_state: also draw the LSTM cell-state norms ||dL/dc_j|| (dotted).
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.6))
    colors = {}
    for label, flow in results.items():
        base = label.split(" (")[0]
        style = "--" if "init" in label else "-"
        line, = axes.plot(flow.distance, _positive(flow.step_norms), style, color=colors.get(base),
                          label=f"{label}  (rate {flow.rate_per_step():.3g}/step)")
        colors.setdefault(base, line.get_color())
        if cell_state and flow.cell_state_norms is not None:
            axes.plot(flow.distance, _positive(flow.cell_state_norms), ":", color=line.get_color(),
                      label=f"{label}: cell state c")
    axes.set_yscale("log")
    axes.set_xlabel("distance back from the loss, T-1-j (steps)")
    axes.set_ylabel(r"$\|\partial L / \partial h_j\|$ (mean over the batch)")
    axes.set_title(title or "Gradient flow through time")
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    return _save(figure, path)


def _positive(values):
    values = np.asarray(values, dtype="float64")
    return np.where(values > 0, values, np.nan)  # zeros cannot be drawn on a log scale


def plot_curves(curves, path, title="Training loss", xlabel="training step", ylabel="loss", logy=True,
                baseline=None, baseline_label="baseline", ymax=None):
    """Loss (or any metric) against training step, one line per run. A curve that reaches NaN,
    infinity or more than `ymax` (a diverged run) ends there with an x at the top of the plot.

    Args:
        curves: {label: (steps, values)} or {label: values} (then steps are 1, 2, ...).
        baseline: a horizontal reference line (e.g. the loss of predicting the mean).
        ymax: the top of the y axis; larger values count as diverged.
    """
    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.6))
    top = ymax
    if top is None:
        finite = [v for curve in curves.values() for v in np.ravel(curve[1] if isinstance(curve, tuple) else curve)
                  if np.isfinite(v)]
        top = max(finite) if finite else 1.0
    for label, curve in curves.items():
        steps, values = curve if isinstance(curve, tuple) else (np.arange(1, len(curve) + 1), curve)
        steps, values = np.asarray(steps, dtype="float64"), np.asarray(values, dtype="float64")
        bad = ~np.isfinite(values) | (values > top)
        if bad.any():
            first = int(np.argmax(bad))
            shown = f"{values[first]:.2g}" if np.isfinite(values[first]) else "nan"
            line, = axes.plot(np.append(steps[:first], steps[first]), np.append(values[:first], top),
                              label=f"{label} (diverged at step {steps[first]:.0f}: loss {shown})")
            axes.plot(steps[first], top, "x", color=line.get_color(), markersize=10, mew=2, clip_on=False)
        else:
            axes.plot(steps, values, label=label)
    if baseline is not None:
        axes.axhline(baseline, color="gray", linestyle="--", linewidth=1, label=baseline_label)
    if logy:
        axes.set_yscale("log")
    if ymax is not None:
        axes.set_ylim(top=ymax)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    return _save(figure, path)


def plot_accuracy_vs_gap(results, path, title="Accuracy against gap length", xlabel="gap length (steps)",
                         ylabel="accuracy", logy=False, baseline=None, baseline_label="chance",
                         threshold=None, threshold_label="solved", marker_x=None, marker_label=None, ylim=None):
    """A metric against gap length, one line per cell.

    Args:
        results: {label: {gap: value}}; a value of None (run skipped) is left out.
        baseline: a dashed reference line (chance, or the loss of predicting the mean).
        threshold: a dotted line: the level that counts as solved.
        marker_x: a vertical line (e.g. the longest length seen in training) with `marker_label`.
        ylim: (bottom, top) of the y axis.

    Gaps spanning a factor of 4 or more go on a log x axis; every gap gets a tick.
    """
    plt = _pyplot()
    from matplotlib.ticker import NullLocator

    figure, axes = plt.subplots(figsize=(7.5, 4.6))
    all_gaps = sorted({g for by_gap in results.values() for g in by_gap})
    for label, by_gap in results.items():
        points = sorted((g, v) for g, v in by_gap.items() if v is not None and np.isfinite(v))
        if points:
            gaps, values = zip(*points)
            axes.plot(gaps, values, marker="o", label=label)
    if baseline is not None:
        axes.axhline(baseline, color="gray", linestyle="--", linewidth=1, label=baseline_label)
    if threshold is not None:
        axes.axhline(threshold, color="green", linestyle=":", linewidth=1.2, label=threshold_label)
    if marker_x is not None:
        axes.axvline(marker_x, color="black", linestyle="-.", linewidth=1, label=marker_label)
    if logy:
        axes.set_yscale("log")
    if all_gaps and all_gaps[0] > 0 and all_gaps[-1] >= 4 * all_gaps[0]:
        axes.set_xscale("log")
        axes.xaxis.set_minor_locator(NullLocator())
    if all_gaps:
        axes.set_xticks(all_gaps, [str(g) for g in all_gaps])
    if ylim is not None:
        axes.set_ylim(*ylim)
    axes.set(xlabel=xlabel, ylabel=ylabel, title=title)
    axes.grid(alpha=0.3, which="both")
    axes.legend(fontsize=8)
    return _save(figure, path)
