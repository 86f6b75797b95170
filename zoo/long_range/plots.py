"""The report's figures."""

import numpy as np

from zoo.long_range.tasks import ADDING_BASELINE, ADDING_SOLVED, CELL_NAMES, COPY_SOLVED, COPY_SYMBOLS


ABLATION_YMAX = 100.0  # top of the ablation plots: an MSE above it has blown up


def _label(cell):
    return CELL_NAMES[cell]


def write_plots(output, plan, adding, copy, counting, flows, ablations):
    from zoo.diagnostics import plot_accuracy_vs_gap, plot_curves, plot_gradient_flow

    figures = {}
    figures["flow_init"] = plot_gradient_flow(
        {f"{_label(c)} (init)": flows[c]["flow_init"] for c in plan.cells}, output / "gradient_flow_init.png",
        title=f"Gradient norm vs distance at initialisation (adding problem, T = {plan.flow_gap})")
    trained = {f"{_label(c)} (trained)": flows[c]["flow_trained"] for c in plan.cells if "flow_trained" in flows[c]}
    if trained:
        figures["flow_trained"] = plot_gradient_flow(
            trained, output / "gradient_flow_trained.png",
            title=f"Gradient norm vs distance after training (adding problem, T = {plan.flow_gap})")
    figures["adding_vs_gap"] = plot_accuracy_vs_gap(
        {_label(c): {g: r["metric"] for g, r in by_gap.items() if r} for c, by_gap in adding.items()},
        output / "adding_mse_vs_gap.png", title="Adding problem: validation MSE at the end of each run",
        xlabel="sequence length T (the gap)", ylabel="validation mean squared error", logy=True,
        baseline=ADDING_BASELINE, baseline_label="predict the mean (0.167)", threshold=ADDING_SOLVED,
        threshold_label="solved (0.01)")
    figures["copy_vs_gap"] = plot_accuracy_vs_gap(
        {_label(c): {g: r["metric"] for g, r in by_gap.items() if r} for c, by_gap in copy.items()},
        output / "copy_accuracy_vs_gap.png", title="Copy memory: accuracy on the 10 recalled symbols",
        xlabel="blank gap T", ylabel="recall accuracy", baseline=1 / COPY_SYMBOLS,
        baseline_label="chance (1/8)", threshold=COPY_SOLVED, threshold_label="solved (0.99)", ylim=(0, 1.03))
    figures["adding_curves"] = plot_curves(
        {_label(c): _curve(flows[c], "val_loss") for c in plan.cells}, output / "adding_loss_curves.png",
        title=f"Adding problem, T = {plan.flow_gap}: validation MSE during training",
        ylabel="validation mean squared error", baseline=ADDING_BASELINE, baseline_label="predict the mean (0.167)")
    figures["counting"] = plot_counting(counting, plan, output / "counting_generalisation.png")
    ablation_titles = {
        "forget_bias": (f"LSTM forget-gate bias, adding T = {plan.flow_gap}", "forget_bias"),
        "recurrent_init": (f"Elman RNN recurrent initialisation, adding T = {plan.ablation_gap}", "recurrent_init"),
        "clipping": (f"Elman RNN, U at spectral radius {plan.explode_radius:g}, SGD: clipping, adding T = "
                     f"{plan.ablation_gap}", "clipping"),
    }
    for key, (title, stem) in ablation_titles.items():
        curves = {label: _curve(result, "loss") for label, result in ablations[key].items()}
        figures[f"ablation_{key}"] = plot_curves(
            curves, output / f"ablation_{stem}.png", title=title, ylabel="training MSE (mean over each round)",
            baseline=ADDING_BASELINE, baseline_label="predict the mean (0.167)",
            ymax=ABLATION_YMAX if key == "clipping" else None)
    return figures


def _curve(result, key):
    rows = result["history"]
    return [row["step"] for row in rows], [row[key] for row in rows]


def plot_counting(counting, plan, path):
    """After how many b's each model first says a^n b^n can end, against n (right: on the diagonal)."""
    from zoo.diagnostics import _pyplot, _save

    plt = _pyplot()
    figure, axes = plt.subplots(figsize=(7.5, 4.6))
    top = 0
    for cell, result in counting.items():
        test = result["counting_test"]
        ns = np.array(test["n"])
        ends = np.array([np.nan if e is None else e for e in test["predicted_end"]], dtype="float64")
        top = max(top, ns.max())
        line, = axes.plot(ns, ends, marker=".", linestyle="-", linewidth=1,
                          label=f"{_label(cell)} (right up to n = {test['counts_up_to']})")
        never = np.isnan(ends)
        if never.any():  # drawn at 0
            axes.plot(ns[never], np.zeros(never.sum()), "x", color=line.get_color(), markersize=5,
                      label=f"{_label(cell)}: never says 'can end'")
    axes.plot([1, top], [1, top], color="gray", linestyle="--", linewidth=1, label="right answer: after n b's")
    axes.axvline(plan.counting_n, color="black", linestyle="-.", linewidth=1,
                 label=f"longest in training (n = {plan.counting_n})")
    axes.set(xlabel="n in a^n b^n", ylabel="b's read when the model first says 'can end' (0: never)",
             title="Counting a^n b^n: generalisation beyond the training lengths")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return _save(figure, path)
