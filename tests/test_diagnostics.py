"""Gradient flow through time, the recurrent spectrum, and the long-range task recipe."""

import argparse
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import long_range as tasks
from zoo.diagnostics import gradient_flow, plot_accuracy_vs_gap, plot_curves, plot_gradient_flow, recurrent_spectrum
from zoo.layers import GRU, LSTM, SimpleRNN


def orthogonal(size, seed=0):
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(size, size)))
    return q * np.sign(np.diag(r))


def elman(units, recurrent, activation, inputs=2):
    layer = SimpleRNN(units, activation=activation)
    layer.build((None, None, inputs))
    layer.cell.recurrent_kernel.assign(recurrent.astype("float32"))
    return layer


# --- gradient_flow against the analytic product of Jacobians --------------------------------


def test_linear_rnn_matches_the_product_of_jacobians():
    """h_t = x_t W + h_{t-1} U + b, L = sum_b v . h_{T-1}: dL/dh_j = v (U^T)^(T-1-j) for every example."""
    steps, units = 9, 5
    rng = np.random.default_rng(1)
    recurrent = rng.normal(scale=0.5, size=(units, units))
    layer = elman(units, recurrent, activation=None)
    v = rng.normal(size=units).astype("float32")
    x = rng.normal(size=(3, steps, 2)).astype("float32")
    flow = gradient_flow(layer, x, loss_fn=lambda y, h: tf.reduce_sum(h * v))

    expected, g = [], v.astype("float64")
    for _ in range(steps):
        expected.append(np.linalg.norm(g))
        g = g @ recurrent.T
    expected = np.array(expected[::-1])  # index j: distance T-1-j
    np.testing.assert_allclose(flow.distance, np.arange(steps - 1, -1, -1))
    np.testing.assert_allclose(flow.example_norms, np.tile(expected, (3, 1)), rtol=1e-4)
    np.testing.assert_allclose(flow.step_norms, expected, rtol=1e-4)
    assert flow.cell_state_norms is None
    assert flow.spectral_norm == pytest.approx(np.linalg.norm(recurrent, 2), rel=1e-5)
    assert flow.spectral_radius == pytest.approx(np.abs(np.linalg.eigvals(recurrent)).max(), rel=1e-5)


def test_model_loss_is_taken_per_example_at_the_last_step():
    """Through a compiled model: mse on Dense(h_{T-1}) gives dL_b/dh_{T-1} = 2 (pred_b - y_b) w^T."""
    steps, units = 7, 4
    rng = np.random.default_rng(2)
    recurrent = rng.normal(scale=0.4, size=(units, units))
    inputs = keras.Input((steps, 2))
    rnn = SimpleRNN(units, activation=None, name="elman")
    dense = keras.layers.Dense(1)
    model = keras.Model(inputs, dense(rnn(inputs)))
    model.compile(loss="mse")
    rnn.cell.recurrent_kernel.assign(recurrent.astype("float32"))
    x = rng.normal(size=(4, steps, 2)).astype("float32")
    y = rng.normal(size=(4, 1)).astype("float32")
    flow = gradient_flow(model, (x, y), layer="elman")

    prediction = model(x).numpy()
    w = dense.kernel.numpy()[:, 0]
    for b in range(4):
        g = 2 * (prediction[b, 0] - y[b, 0]) * w.astype("float64")
        for j in range(steps - 1, -1, -1):
            assert flow.example_norms[b, j] == pytest.approx(np.linalg.norm(g), rel=1e-4)
            g = g @ recurrent.T
    expected_loss = float(np.sum((prediction - y) ** 2))
    assert flow.loss == pytest.approx(expected_loss, rel=1e-5)


def test_elman_at_spectral_radius_half_decays_geometrically():
    units, steps = 16, 30
    layer = elman(units, 0.5 * orthogonal(units), activation="tanh")
    x = np.random.default_rng(3).normal(size=(8, steps, 2)).astype("float32")
    flow = gradient_flow(layer, x)
    assert flow.spectral_radius == pytest.approx(0.5, rel=1e-5)
    assert flow.spectral_norm == pytest.approx(0.5, rel=1e-5)
    by_distance = flow.step_norms[::-1]  # distance 0, 1, 2, ...
    ratios = by_distance[1:] / by_distance[:-1]
    assert np.all(ratios <= 0.5 + 1e-5)  # each step back: ||g U^T diag(tanh')|| <= 0.5 ||g||
    assert 0.05 < flow.rate_per_step() <= 0.5
    # log-linear: the norm at distance d is within a factor 0.5^d of the last step's, and far below it
    assert by_distance[-1] < by_distance[0] * 0.5 ** (steps - 1) * 1.001
    slope, intercept = np.polyfit(flow.distance, np.log(flow.step_norms), 1)
    residual = np.log(flow.step_norms) - (slope * flow.distance + intercept)
    assert np.abs(residual).max() < 0.1 * abs(slope) * steps


def test_linear_rnn_at_spectral_radius_one_and_a_half_grows():
    units, steps = 8, 20
    layer = elman(units, 1.5 * orthogonal(units, seed=4), activation="linear")
    x = np.random.default_rng(5).normal(size=(4, steps, 2)).astype("float32")
    flow = gradient_flow(layer, x)
    by_distance = flow.step_norms[::-1]
    np.testing.assert_allclose(by_distance[1:] / by_distance[:-1], 1.5, rtol=1e-4)
    assert flow.rate_per_step() == pytest.approx(1.5, rel=1e-4)


@pytest.mark.parametrize("make_layer", [
    lambda: SimpleRNN(5),
    lambda: LSTM(5),
    lambda: GRU(5),
    lambda: GRU(5, reset_after=False),
], ids=["elman", "lstm", "gru", "gru-cho"])
def test_flow_matches_the_layers_own_gradient_under_a_mask(make_layer):
    """dL/d(state after step 0) from gradient_flow equals the gradient the layer's own (fused)
    backward pass gives for the initial state of a run over steps 1..T-1, masks included."""
    steps = 8
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, steps, 2)).astype("float32")
    mask = np.ones((3, steps), bool)
    mask[1, 5:] = False  # padded at the end
    mask[2, 3] = False  # a hole
    v = rng.normal(size=5).astype("float32")
    layer = make_layer()
    layer.build((None, steps, 2))
    flow = gradient_flow(layer, x, mask=mask, loss_fn=lambda y, h: tf.reduce_sum(h * v))

    cell = layer.cell
    zx0 = tf.cast(cell.project_inputs(tf.constant(x[:, 0])), "float32")
    _, first_states = cell.step(zx0, cell.initial_states(3), *cell.recurrent_weights())
    first_states = [tf.constant(s) for s in first_states]
    with tf.GradientTape() as tape:
        tape.watch(first_states)
        rest = layer(x[:, 1:], mask=mask[:, 1:], initial_state=first_states, training=True)
        loss = tf.reduce_sum(rest * v)
    grads = tape.gradient(loss, first_states)
    np.testing.assert_allclose(flow.example_norms[:, 0], np.linalg.norm(grads[0], axis=-1), rtol=1e-4, atol=1e-6)
    if isinstance(layer, LSTM):
        np.testing.assert_allclose(flow.example_cell_state_norms[:, 0], np.linalg.norm(grads[1], axis=-1),
                                   rtol=1e-4, atol=1e-6)
    else:
        assert flow.cell_state_norms is None
    # a masked step j carries the state (h_j = h_{j-1}), so h_{j-1} and h_j have one gradient
    np.testing.assert_allclose(flow.example_norms[1, 4:], flow.example_norms[1, -1], rtol=1e-5)
    assert flow.example_norms[2, 2] == pytest.approx(flow.example_norms[2, 3], rel=1e-5)
    assert flow.example_norms[2, 3] != pytest.approx(flow.example_norms[2, 4], rel=1e-3)
    np.testing.assert_array_equal(flow.mask, mask)


@pytest.mark.parametrize("layer_class", [LSTM, GRU], ids=["lstm", "gru"])
def test_flow_through_a_masked_model(layer_class):
    """A model with Masking -> LSTM/GRU -> Dense; the padded example's carried steps share one norm."""
    inputs = keras.Input((None, 2))
    hidden = layer_class(6)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(hidden))
    model.compile(loss="mse")
    x = np.random.default_rng(7).normal(size=(2, 10, 2)).astype("float32")
    x[0, 6:] = 0.0
    flow = gradient_flow(model, (x, np.ones((2, 1), "float32")))
    assert flow.step_norms.shape == (10,) and flow.example_norms.shape == (2, 10)
    assert np.all(np.isfinite(flow.example_norms)) and np.all(flow.example_norms > 0)
    np.testing.assert_allclose(flow.example_norms[0, 5:], flow.example_norms[0, -1], rtol=1e-5)
    assert (flow.cell_state_norms is not None) == (layer_class is LSTM)
    assert flow["step_norms"] is flow.step_norms
    # each example's gradient is its own loss's: the same alone as in the batch
    alone = gradient_flow(model, (x[1:], np.ones((1, 1), "float32")))
    np.testing.assert_allclose(alone.example_norms[0], flow.example_norms[1], rtol=1e-4)


def test_return_sequences_takes_the_loss_at_each_last_unmasked_step():
    inputs = keras.Input((None, 2))
    sequence = GRU(4, return_sequences=True)(keras.layers.Masking(0.0)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1)(sequence))
    model.compile(loss="mse")
    x = np.random.default_rng(8).normal(size=(2, 6, 2)).astype("float32")
    x[0, 4:] = 0.0
    y = np.zeros((2, 6, 1), "float32")
    flow = gradient_flow(model, (x, y))
    prediction = model(x).numpy()
    expected = prediction[0, 3, 0] ** 2 + prediction[1, 5, 0] ** 2
    assert flow.loss == pytest.approx(expected, rel=1e-5)


def test_layer_choice_and_errors():
    inputs = keras.Input((5, 2))
    first = SimpleRNN(3, return_sequences=True, name="first")(inputs)
    model = keras.Model(inputs, LSTM(3, name="second")(first))
    x = np.zeros((1, 5, 2), "float32")
    assert gradient_flow(model, x).layer == "first"
    assert gradient_flow(model, x, layer="second").cell == "LSTMCell"
    with pytest.raises(ValueError, match="no zoo recurrent layer named 'third'"):
        gradient_flow(model, x, layer="third")
    dense_only = keras.Sequential([keras.Input((5, 2)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="has no zoo recurrent layer"):
        gradient_flow(dense_only, x)
    with pytest.raises(ValueError, match="not compiled with a loss"):
        gradient_flow(model, (x, np.zeros((1, 3), "float32")))


def test_recurrent_spectrum_of_gated_cells():
    layer = LSTM(4)
    layer.build((None, 3, 2))
    kernel = np.random.default_rng(9).normal(size=(4, 16)).astype("float32")
    layer.cell.recurrent_kernel.assign(kernel)
    spectrum = recurrent_spectrum(layer.cell)
    candidate = kernel[:, 8:12].astype("float64")
    assert spectrum["spectral_norm"] == pytest.approx(np.linalg.norm(candidate, 2), rel=1e-5)
    assert spectrum["spectral_radius"] == pytest.approx(np.abs(np.linalg.eigvals(candidate)).max(), rel=1e-5)
    assert spectrum["spectral_norm_full"] == pytest.approx(np.linalg.norm(kernel.astype("float64"), 2), rel=1e-5)
    assert list(spectrum["blocks"]) == ["input", "forget", "candidate", "output"]
    gru = GRU(4)
    gru.build((None, 3, 2))
    assert list(recurrent_spectrum(gru)["blocks"]) == ["update", "reset", "candidate"]
    with pytest.raises(ValueError, match="not built"):
        recurrent_spectrum(SimpleRNN(3).cell)


def test_plots_write_pngs(tmp_path):
    layer = elman(4, 0.9 * orthogonal(4), activation="tanh")
    flow = gradient_flow(layer, np.ones((2, 6, 2), "float32"))
    lstm = LSTM(4)
    lstm_flow = gradient_flow(lstm, np.ones((2, 6, 2), "float32"))
    assert plot_gradient_flow({"Elman (init)": flow, "LSTM": lstm_flow}, tmp_path / "flow.png").stat().st_size > 0
    curves = {"clipped": ([1, 2, 3], [1.0, 0.5, 0.2]), "not": [1.0, 1e9, float("nan")]}
    assert plot_curves(curves, tmp_path / "curves.png", baseline=0.167).stat().st_size > 0
    results = {"LSTM": {10: 0.001, 20: 0.002}, "RNN": {10: 0.01, 20: None}}
    assert plot_accuracy_vs_gap(results, tmp_path / "gap.png", logy=True, threshold=0.01).stat().st_size > 0


# --- the tasks' data -------------------------------------------------------------------------


def test_adding_problem():
    x, y = tasks.adding_problem(500, 40, np.random.default_rng(0))
    assert x.shape == (500, 40, 2) and y.shape == (500, 1) and x.dtype == np.float32
    markers = x[..., 1]
    assert np.all(markers.sum(axis=1) == 2)
    assert np.all(markers[:, :20].sum(axis=1) == 1) and np.all(markers[:, 20:].sum(axis=1) == 1)
    np.testing.assert_allclose(y[:, 0], (x[..., 0] * markers).sum(axis=1), rtol=1e-6)
    assert np.all((x[..., 0] >= 0) & (x[..., 0] < 1))
    _, y = tasks.adding_problem(200_000, 4, np.random.default_rng(1))
    assert np.mean((y - 1.0) ** 2) == pytest.approx(tasks.ADDING_BASELINE, abs=0.002)  # predict the mean
    assert tasks.ADDING_BASELINE == pytest.approx(0.1667, abs=1e-4)


def test_copy_memory():
    gap = 7
    x, y = tasks.copy_memory(50, gap, np.random.default_rng(0))
    assert x.shape == y.shape == (50, gap + 20)
    assert np.all((x[:, :10] >= 1) & (x[:, :10] <= 8))
    assert np.all(x[:, 10 + gap - 1] == 9)
    assert np.all(x[:, 10 : 10 + gap - 1] == 0) and np.all(x[:, -10:] == 0)
    np.testing.assert_array_equal(y[:, -10:], x[:, :10])
    assert np.all(y[:, :-10] == 0)
    # the baseline: blanks with certainty, then uniform over the 8 symbols
    assert tasks.copy_baseline(100) == pytest.approx(10 * math.log(8) / 120)
    assert tasks.one_hot(x, 10).shape == (50, gap + 20, 10)


def test_counting_strings():
    x, y, mask = tasks.counting_strings([1, 3], length=8)
    assert x.shape == (2, 8, 2) and y.shape == mask.shape == (2, 8)
    np.testing.assert_array_equal(x[1, :, 0], [1, 1, 1, 0, 0, 0, 0, 0])  # a
    np.testing.assert_array_equal(x[1, :, 1], [0, 0, 0, 1, 1, 1, 0, 0])  # b
    np.testing.assert_array_equal(y[0], [0, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(y[1], [0, 0, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(mask[1], [1, 1, 1, 1, 1, 1, 0, 0])
    assert np.all(x[~mask] == 0)  # padding is all zeros: Masking(0.0) masks it
    x, y, mask = tasks.counting_task(100, 5, np.random.default_rng(0))
    assert x.shape == (100, 10, 2) and np.all(y.sum(axis=1) == 1)
    with pytest.raises(ValueError, match="does not fit"):
        tasks.counting_strings([5], length=8)


def test_metrics_of_perfect_predictions():
    """`evaluate` scores a model that knows the answers as solved."""
    rng = np.random.default_rng(0)
    copy_config = tasks.Config("copy", "lstm", 5, validation_size=16)
    x, y, w = tasks.training_data(copy_config, 16, rng)
    perfect = lambda inputs, training=False: 10.0 * tasks.one_hot(y, tasks.COPY_VOCABULARY)  # noqa: E731
    loss, accuracy = tasks.evaluate(perfect, copy_config, (x, y, w))
    assert accuracy == 1.0 and loss < 1e-3 and tasks.is_solved(copy_config, accuracy)

    counting_config = tasks.Config("counting", "lstm", 4)
    x, y, w = tasks.training_data(counting_config, 16, rng)
    knows = lambda inputs, training=False: 10.0 * (2 * y - 1)  # noqa: E731
    loss, right = tasks.evaluate(knows, counting_config, (x, y, w))
    assert right == 1.0 and tasks.is_solved(counting_config, right)
    wrong = lambda inputs, training=False: -10.0 * np.ones_like(y)  # never says "can end"  # noqa: E731
    assert tasks.evaluate(wrong, counting_config, (x, y, w))[1] == 0.0


def test_models_and_ablation_settings():
    lstm = tasks.build_model(tasks.Config("adding", "lstm", 6, units=4, unit_forget_bias=False))
    assert lstm.output_shape == (None, 1)
    bias = lstm.get_layer("lstm").cell.bias.numpy()
    np.testing.assert_array_equal(bias[4:8], 0.0)  # forget gate starts at 0
    default = tasks.build_model(tasks.Config("adding", "lstm", 6, units=4))
    np.testing.assert_array_equal(default.get_layer("lstm").cell.bias.numpy()[4:8], 1.0)
    elman_model = tasks.build_model(tasks.Config("adding", "rnn", 6, units=8, recurrent_radius=1.5, optimizer="sgd",
                                                 clipnorm=None))
    assert recurrent_spectrum(elman_model.get_layer("rnn").cell)["spectral_radius"] == pytest.approx(1.5, rel=1e-4)
    assert elman_model.optimizer.clipnorm is None
    assert tasks.build_model(tasks.Config("copy", "gru", 3, units=4)).output_shape == (None, 23, 10)
    assert tasks.build_model(tasks.Config("counting", "rnn", 3, units=4)).output_shape == (None, None, 1)
    glorot = tasks.Config("adding", "rnn", 50, recurrent_initializer="glorot_uniform")
    assert glorot.name == "adding-rnn-50-glorot-clip1"
    with pytest.raises(ValueError, match="unknown task"):
        tasks.build_model(tasks.Config("sorting", "rnn", 3))


def test_train_a_few_steps_of_counting():
    config = tasks.Config("counting", "lstm", 3, units=4, batch_size=8, steps_per_round=2, max_steps=4,
                          validation_size=16, test_max_n=6)
    result = tasks.train(config, budget_seconds=60, flow_examples=4, verbose=False)
    assert result["steps"] == 4 and [row["step"] for row in result["history"]] == [0, 2, 4]
    assert result["counting_test"]["n"] == [1, 2, 3, 4, 5, 6]
    assert result["flow_init"].step_norms.shape == (6,)  # padded to 2 x the training max
    assert "flow_trained" in result


def test_diagnose_parser():
    parser = argparse.ArgumentParser()
    tasks.add_diagnose_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["diagnose", "--quick", "--output", "out", "--minutes-per-run", "0.5"])
    assert args.run is tasks.diagnose_command and args.quick and args.minutes_per_run == 0.5
    assert str(args.output) == "out" and args.single is None


@pytest.mark.slow
def test_quick_report(tmp_path):
    summary = tasks.run_report(tmp_path, minutes_per_run=0.01, quick=True)
    for name in ("gradient_flow_init.png", "gradient_flow_trained.png", "adding_mse_vs_gap.png",
                 "copy_accuracy_vs_gap.png", "counting_generalisation.png", "adding_loss_curves.png",
                 "ablation_forget_bias.png", "ablation_recurrent_init.png", "ablation_clipping.png",
                 "report.md", "results.json"):
        assert (tmp_path / name).stat().st_size > 0, name
    report = (tmp_path / "report.md").read_text()
    assert "## Adding problem" in report and "## Gradient flow through time" in report
    assert set(summary["adding_largest_gap_solved"]) == {"rnn", "gru", "lstm"}
