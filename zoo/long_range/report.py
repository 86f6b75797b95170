"""`run_report`: the runs of the diagnostics report, and report.md, results.json and the plots."""

import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

from zoo.long_range.plots import _label, write_plots
from zoo.long_range.runs import Config, train
from zoo.long_range.tasks import ADDING_BASELINE, ADDING_SOLVED, COPY_SOLVED


@dataclasses.dataclass(frozen=True)
class Plan:
    """What `run_report` runs."""

    adding_gaps: tuple = (25, 50, 100, 200)
    copy_gaps: tuple = (10, 20, 50, 100)
    counting_n: int = 32  # train on n <= this, test up to 4x
    cells: tuple = ("rnn", "gru", "lstm")
    flow_gap: int = 100  # adding gap of the gradient-flow plots and the forget-bias ablation
    ablation_gap: int = 50  # adding gap of the init and clipping ablations (Elman)
    explode_radius: float = 1.5  # the Elman recurrent matrix of the clipping ablation
    sgd_learning_rate: float = 0.05  # without clipping, this run blows up within ~50 steps (seeds 0-2)
    units: int = 64
    counting_units: int = 32
    batch_size: int = 64
    steps_per_round: int = 50
    validation_size: int = 512
    flow_examples: int = 64
    max_steps: int = 200_000
    skip_after_failure: bool = True  # after a cell fails at a gap, skip its longer gaps (not flow_gap)


QUICK_PLAN = Plan(
    adding_gaps=(10,), copy_gaps=(5,), counting_n=3, flow_gap=10, ablation_gap=10, units=8,
    counting_units=8, batch_size=16, steps_per_round=5, validation_size=32, flow_examples=8, max_steps=10,
    skip_after_failure=False,
)


def planned_runs(plan):
    """The number of training runs `run_report` makes at most (the sweeps, counting, 4 ablation runs)."""
    return len(plan.cells) * (len(plan.adding_gaps) + len(plan.copy_gaps) + 1) + 4


def run_report(output_dir, minutes_per_run, quick=False, seed=0, plan=None):
    """Runs the experiments of the diagnostics report and writes `report.md`, the PNG plots and
    `results.json` into `output_dir`. Each run gets `minutes_per_run` of training (less if solved
    sooner). Returns the summary dict written to results.json."""
    plan = plan or (QUICK_PLAN if quick else Plan())
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    budget = minutes_per_run * 60
    print(f"diagnostics report: at most {planned_runs(plan)} runs x {minutes_per_run:g} min "
          f"= {planned_runs(plan) * minutes_per_run:.0f} min of training (runs stop once solved) -> {output}",
          flush=True)
    started = time.monotonic()
    cache = {}

    def run(config, flow=False):
        key = config.name
        if key not in cache or (flow and "flow_init" not in cache[key]):
            cache[key] = train(config, budget, flow_examples=plan.flow_examples if flow else 0)
            cache[key].pop("model")  # keep no models alive
            import keras

            keras.backend.clear_session()  # free the finished run's graphs before the next
        return cache[key]

    common = dict(units=plan.units, batch_size=plan.batch_size, steps_per_round=plan.steps_per_round,
                  validation_size=plan.validation_size, max_steps=plan.max_steps, seed=seed)

    def sweep(task, gaps, always=()):
        table = {}
        for cell in plan.cells:
            table[cell] = {}
            failed = False
            for gap in gaps:
                if failed and plan.skip_after_failure and gap not in always:
                    table[cell][gap] = None
                    continue
                result = run(Config(task, cell, gap, **common), flow=(task == "adding" and gap == plan.flow_gap))
                table[cell][gap] = result
                failed = failed or not result["solved"]
        return table

    adding = sweep("adding", plan.adding_gaps, always=(plan.flow_gap,))
    if plan.flow_gap not in plan.adding_gaps:
        for cell in plan.cells:
            run(Config("adding", cell, plan.flow_gap, **common), flow=True)
    flows = {cell: run(Config("adding", cell, plan.flow_gap, **common), flow=True) for cell in plan.cells}
    copy = sweep("copy", plan.copy_gaps)
    counting_common = {**common, "units": plan.counting_units}
    counting = {cell: run(Config("counting", cell, plan.counting_n, **counting_common)) for cell in plan.cells}

    ablations = {
        "forget_bias": {
            "forget-gate bias 1": run(Config("adding", "lstm", plan.flow_gap, **common)),
            "forget-gate bias 0": run(Config("adding", "lstm", plan.flow_gap, unit_forget_bias=False, **common)),
        },
        "recurrent_init": {
            "orthogonal": run(Config("adding", "rnn", plan.ablation_gap, **common)),
            "Glorot uniform": run(Config("adding", "rnn", plan.ablation_gap, recurrent_initializer="glorot_uniform",
                                         **common)),
        },
        "clipping": {
            "clipnorm 1": run(Config("adding", "rnn", plan.ablation_gap, optimizer="sgd",
                                      learning_rate=plan.sgd_learning_rate, recurrent_radius=plan.explode_radius,
                                      clipnorm=1.0, **common)),
            "no clipping": run(Config("adding", "rnn", plan.ablation_gap, optimizer="sgd",
                                      learning_rate=plan.sgd_learning_rate, recurrent_radius=plan.explode_radius,
                                      clipnorm=None, **common)),
        },
    }
    minutes = (time.monotonic() - started) / 60
    figures = write_plots(output, plan, adding, copy, counting, flows, ablations)
    summary = summarise(plan, adding, copy, counting, flows, ablations, minutes_per_run, minutes)
    (output / "results.json").write_text(json.dumps(summary, indent=1, default=_json_default))
    (output / "report.md").write_text(report_markdown(plan, summary, figures, minutes_per_run, quick))
    print(f"wrote {output / 'report.md'} and {len(figures)} plots in {minutes:.1f} min", flush=True)
    return summary


def _json_default(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON: {type(value).__name__}")



def _flow_summary(flow):
    if flow is None:
        return None
    far = flow.distance.max()
    return {
        "rate_per_step": flow.rate_per_step(),
        "norm_at_distance_0": float(flow.step_norms[flow.distance == 0][0]),
        f"norm_at_distance_{far}": float(flow.step_norms[flow.distance == far][0]),
        "spectral_norm": flow.spectral_norm,
        "spectral_radius": flow.spectral_radius,
        "spectral_norm_full": flow.spectral_norm_full,
        "step_norms": flow.step_norms.tolist(),
        "cell_state_norms": None if flow.cell_state_norms is None else flow.cell_state_norms.tolist(),
    }


def _run_summary(result):
    if result is None:
        return None
    return {k: result[k] for k in ("name", "solved", "diverged", "steps", "seconds", "val_loss", "metric", "history")}


def summarise(plan, adding, copy, counting, flows, ablations, minutes_per_run, minutes):
    def largest(table):
        return {cell: max([g for g, r in by_gap.items() if r and r["solved"]], default=None)
                for cell, by_gap in table.items()}

    return {
        "plan": dataclasses.asdict(plan),
        "minutes_per_run": minutes_per_run,
        "total_minutes": round(minutes, 1),
        "adding": {c: {g: _run_summary(r) for g, r in by_gap.items()} for c, by_gap in adding.items()},
        "adding_largest_gap_solved": largest(adding),
        "copy": {c: {g: _run_summary(r) for g, r in by_gap.items()} for c, by_gap in copy.items()},
        "copy_largest_gap_solved": largest(copy),
        "counting": {c: {**_run_summary(r), "test": r["counting_test"]} for c, r in counting.items()},
        "gradient_flow": {
            c: {"init": _flow_summary(r.get("flow_init")), "trained": _flow_summary(r.get("flow_trained"))}
            for c, r in flows.items()
        },
        "ablations": {k: {label: _run_summary(r) for label, r in runs.items()} for k, runs in ablations.items()},
    }


def _fmt(value, digits=3):
    if value is None:
        return "–"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan"
    return f"{value:.{digits}g}"


def report_markdown(plan, summary, figures, minutes_per_run, quick):
    cells = plan.cells
    lines = [
        "# Why gates matter: gradient flow, long-range memory and counting",
        "",
        ("**Quick mode** (tiny models, a few steps each): a smoke test of the pipeline, not results." if quick else
         f"Every run trains for at most {minutes_per_run:g} minutes of wall-clock time (validation included) on "
         f"{_machine()} and stops as soon as it counts as solved; {summary['total_minutes']:.0f} minutes in all."),
        "",
        f"Models: input -> one zoo layer ({plan.units} units; {plan.counting_units} for counting) -> Dense; "
        f"Adam (learning rate 1e-3, clipnorm 1), batches of {plan.batch_size}, fresh data every step, "
        f"recurrent kernels orthogonal, LSTM forget-gate bias 1, unless an ablation says otherwise. "
        "Regenerate with `zoo diagnose "
        f"{'--quick ' if quick else ''}--minutes-per-run {minutes_per_run:g} --output <folder>`.",
        "",
        "## Findings",
        "",
        *_findings(plan, summary, minutes_per_run),
        "",
        "## Adding problem",
        "",
        f"Sum of the two marked values among T; predicting the mean scores an MSE of {ADDING_BASELINE:.3f}, "
        f"solved is below {ADDING_SOLVED}. Final validation MSE (steps trained; ✓ solved, – skipped after a "
        "failure at a shorter gap):",
        "",
        "| cell | " + " | ".join(f"T = {g}" for g in plan.adding_gaps) + " | largest T solved |",
        "|---|" + "---:|" * (len(plan.adding_gaps) + 1),
    ]
    for cell in cells:
        row = summary["adding"][cell]
        lines.append(f"| {_label(cell)} | " + " | ".join(_cell_text(row[g]) for g in plan.adding_gaps)
                     + f" | {_fmt(summary['adding_largest_gap_solved'][cell])} |")
    lines += ["", "![adding MSE vs gap](adding_mse_vs_gap.png)", "",
              "![adding loss curves](adding_loss_curves.png)", ""]

    lines += [
        "## Gradient flow through time",
        "",
        f"‖dL/dh_j‖ against the distance T-1-j from the loss (adding problem, T = {plan.flow_gap}, mean over "
        f"{plan.flow_examples} validation sequences; `zoo.diagnostics.gradient_flow`). In an Elman RNN each step "
        "back multiplies the gradient by U diag(tanh'), so its norm falls (or grows) geometrically; the LSTM's "
        "cell state (dotted) and the GRU's interpolation give the gradient a path through a diagonal gate, "
        "whose factor per step is the gate's value: at initialisation about sigmoid(1) = 0.73 for the LSTM's "
        "forget gate (bias 1) and about 0.5 for the GRU's update gate, so the gated cells start out forgetting "
        "at least as fast as an orthogonal Elman RNN; training can open the gates (factor near 1). "
        "Rate: the per-step factor of a log-linear fit of log-norm against distance.",
        "",
        "| cell | rate/step at init | rate/step trained | ‖U_h‖₂ init | ρ(U_h) init | ‖U_h‖₂ trained "
        "| ρ(U_h) trained |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for cell in cells:
        init, trained = summary["gradient_flow"][cell]["init"], summary["gradient_flow"][cell]["trained"] or {}
        lines.append(f"| {_label(cell)} | {_fmt(init['rate_per_step'])} | {_fmt(trained.get('rate_per_step'))} | "
                     f"{_fmt(init['spectral_norm'])} | {_fmt(init['spectral_radius'])} | "
                     f"{_fmt(trained.get('spectral_norm'))} | {_fmt(trained.get('spectral_radius'))} |")
    lines += ["", "U_h: the recurrent block the tanh candidate reads (all of U for the Elman RNN); ‖·‖₂ its "
              "largest singular value, ρ its largest |eigenvalue|.", "",
              "![gradient flow at init](gradient_flow_init.png)", ""]
    if "flow_trained" in figures:
        lines += ["![gradient flow after training](gradient_flow_trained.png)", ""]

    lines += [
        "## Copy memory",
        "",
        "Recall 10 symbols after a gap of T blanks. Accuracy on the 10 recalled symbols (chance 1/8; solved "
        f"at {COPY_SOLVED}); the baseline cross-entropy is 10 log 8 / (T + 20).",
        "",
        "| cell | " + " | ".join(f"T = {g}" for g in plan.copy_gaps) + " | largest T solved |",
        "|---|" + "---:|" * (len(plan.copy_gaps) + 1),
    ]
    for cell in cells:
        row = summary["copy"][cell]
        lines.append(f"| {_label(cell)} | " + " | ".join(_cell_text(row[g], copy_task=True) for g in plan.copy_gaps)
                     + f" | {_fmt(summary['copy_largest_gap_solved'][cell])} |")
    lines += ["", "![copy accuracy vs gap](copy_accuracy_vs_gap.png)", ""]

    lines += [
        "## Counting a^n b^n",
        "",
        f"Trained on n <= {plan.counting_n} to say, at every step, whether the string can end there (Weiss et al. "
        f"2018); tested on every n up to {4 * plan.counting_n}. 'Counts up to' is the largest n such that the "
        "strings of every length up to it are right at every step (0: not even n = 1).",
        "",
        "| cell | strings right (n <= training max) | steps | counts up to n = | right beyond training |",
        "|---|---:|---:|---:|---:|",
    ]
    for cell in cells:
        row = summary["counting"][cell]
        test = row["test"]
        beyond = [r for n, r in zip(test["n"], test["right"]) if n > plan.counting_n]
        lines.append(f"| {_label(cell)} | {row['metric']:.3f} | {row['steps']} | {test['counts_up_to']} | "
                     f"{sum(beyond)}/{len(beyond)} |")
    lines += ["", "![counting generalisation](counting_generalisation.png)", ""]

    lines += ["## Ablations", ""]
    descriptions = {
        "forget_bias": f"LSTM on the adding problem (T = {plan.flow_gap}) with the forget-gate bias starting at 1 "
                       "(`unit_forget_bias=True`, the zoo's default) or 0.",
        "recurrent_init": f"Elman RNN on the adding problem (T = {plan.ablation_gap}) with an orthogonal or a "
                          "Glorot-uniform recurrent kernel.",
        "clipping": f"Elman RNN whose recurrent matrix is scaled to spectral radius {plan.explode_radius:g}, SGD "
                    f"(learning rate {plan.sgd_learning_rate:g}, momentum 0.9) on the adding problem "
                    f"(T = {plan.ablation_gap}), with gradient clipping (clipnorm 1) and without.",
    }
    for key, runs in summary["ablations"].items():
        lines += [descriptions[key], "", "| run | final training loss | validation MSE | steps | outcome |",
                  "|---|---:|---:|---:|---|"]
        for label, run in runs.items():
            last = run["history"][-1]["loss"]
            outcome = "solved" if run["solved"] else ("diverged" if run["diverged"] else "not solved")
            lines.append(f"| {label} | {_fmt(last)} | {_fmt(run['metric'])} | {run['steps']} | {outcome} |")
        lines += ["", f"![{key}](ablation_{key}.png)", ""]
    return "\n".join(lines) + "\n"


def _findings(plan, summary, minutes_per_run):
    """Sentences of measured facts (no claims the runs did not make)."""
    def listing(largest):
        return ", ".join(f"{_label(c)} {largest[c] if largest[c] is not None else 'none'}" for c in plan.cells)

    lines = [
        f"- Largest adding-problem length T solved (MSE < {ADDING_SOLVED}) within {minutes_per_run:g} min per run: "
        f"{listing(summary['adding_largest_gap_solved'])}.",
    ]
    at_flow_gap = {c: summary["adding"][c].get(plan.flow_gap) for c in plan.cells}
    lines.append(f"- At T = {plan.flow_gap}: " + "; ".join(
        f"{_label(c)} MSE {_fmt(r['metric'])} ({'solved' if r['solved'] else 'not solved'}, {r['steps']} steps)"
        for c, r in at_flow_gap.items() if r) + f" (predicting the mean: {ADDING_BASELINE:.3f}).")
    lines.append(f"- Largest copy-memory gap solved (recall >= {COPY_SOLVED}): "
                 f"{listing(summary['copy_largest_gap_solved'])}.")
    lines.append(f"- Counting a^n b^n, trained on n <= {plan.counting_n}: right for every n up to " + ", ".join(
        f"{_label(c)} {summary['counting'][c]['test']['counts_up_to']}" for c in plan.cells) + ".")
    rates = summary["gradient_flow"]
    lines.append(f"- Gradient norm factor per step back at T = {plan.flow_gap} (init -> trained): " + "; ".join(
        f"{_label(c)} {_fmt(rates[c]['init']['rate_per_step'])} -> "
        f"{_fmt((rates[c]['trained'] or {}).get('rate_per_step'))}" for c in plan.cells) + ".")
    clipping = summary["ablations"]["clipping"]
    lines.append("- Exploding Elman RNN: " + "; ".join(
        f"{label} {'diverged' if run['diverged'] else 'final training loss ' + _fmt(run['history'][-1]['loss'])}"
        f" after {run['steps']} steps" for label, run in clipping.items()) + ".")
    return lines


def _machine():
    import os
    import platform

    import tensorflow as tf

    return f"{os.cpu_count()} CPU cores ({platform.machine()}, TensorFlow {tf.__version__})"


def _cell_text(run, copy_task=False):
    if run is None:
        return "–"
    mark = " ✓" if run["solved"] else (" (diverged)" if run["diverged"] else "")
    return f"{run['metric']:.3g}{mark} ({run['steps']})"
