"""Long-range memory and counting tasks that show why gates matter, and the report they make.

Tasks (data generated fresh every round from a seeded NumPy generator):

- adding problem (Hochreiter & Schmidhuber 1997, in the form of Le et al. 2015 and Arjovsky et
  al. 2016): T steps of two channels, a value in U(0, 1) and a marker that is 1 at two steps (one in
  each half); the target is the sum of the two marked values. Predicting the mean (1.0) scores a
  mean squared error of Var = 2/12 = 0.167; "solved" is below 0.01. The gap is T.
- copy memory (Arjovsky et al. 2016): 10 symbols from {1..8}, T-1 blanks (0), a delimiter (9) and 10
  blanks; the model must output blanks until the delimiter and then the 10 symbols. Blanks then a
  uniform guess score a cross-entropy of 10 log(8) / (T + 20) per step; "solved" is 99% of the 10
  recalled symbols right. The gap is T.
- counting a^n b^n (Weiss et al. 2018): read a^n b^n and say, at every step, whether the string can
  end there (1 exactly at the n-th b): the model must count. Trained on n <= N (padded and masked),
  tested on every n up to 4N: the largest n up to which every string is right is how far it counts.

Models: zoo SimpleRNN (Elman), GRU or LSTM -> Dense, trained with `model.fit` under a wall-clock
budget per run, stopping early once solved.

    python -m recipes.long_range_tasks --minutes-per-run 3 --output docs/diagnostics   # the report
    python -m recipes.long_range_tasks --single adding lstm 100 --minutes-per-run 3    # one run, to try
    python -m recipes.long_range_tasks --quick --output /tmp/diagnostics               # seconds

The report (`report.md`, PNG plots, `results.json`) gives the largest gap each cell solves within
the same budget; the gradient norm ||dL/dh_j|| against distance for Elman, GRU and LSTM at
initialisation and after training; accuracy against gap; and the ablations: LSTM forget-gate bias 1
vs 0, orthogonal vs Glorot recurrent initialisation (Elman), and gradient clipping vs none on an
Elman RNN whose recurrent matrix is scaled to spectral radius > 1 and trained with SGD.

Only NumPy is imported at the top, so `add_diagnose_parser` is cheap to call from a CLI.
"""

import argparse
import dataclasses
import json
import math
import time
from pathlib import Path

import numpy as np

CELL_NAMES = {"rnn": "Elman RNN", "gru": "GRU", "lstm": "LSTM"}
TASKS = ("adding", "copy", "counting")
ADDING_BASELINE = 2.0 / 12.0  # MSE of predicting the mean: the variance of a sum of two U(0, 1)
ADDING_SOLVED = 0.01
COPY_SYMBOLS = 8  # data symbols 1..8; 0 is the blank, 9 the delimiter
COPY_LENGTH = 10
COPY_VOCABULARY = COPY_SYMBOLS + 2
COPY_SOLVED = 0.99


# --- data ------------------------------------------------------------------------------------


def adding_problem(count, length, rng):
    """x (count, length, 2) float32: values in U(0, 1) and the two markers; y (count, 1): the sum of
    the two marked values. One marker is in the first half, the other in the second."""
    if length < 2:
        raise ValueError(f"adding_problem: length must be at least 2, got {length}")
    values = rng.uniform(0.0, 1.0, size=(count, length))
    half = length // 2
    first = rng.integers(0, half, size=count)
    second = rng.integers(half, length, size=count)
    markers = np.zeros((count, length))
    rows = np.arange(count)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    x = np.stack([values, markers], axis=-1).astype("float32")
    y = (values[rows, first] + values[rows, second])[:, None].astype("float32")
    return x, y


def copy_memory(count, gap, rng, symbols=COPY_SYMBOLS, length=COPY_LENGTH):
    """Token ids x, y of shape (count, gap + 2 * length): x holds `length` symbols from 1..symbols,
    gap - 1 blanks (0), the delimiter (symbols + 1) and `length` blanks; y is blank except its last
    `length` steps, which repeat the symbols."""
    if gap < 1:
        raise ValueError(f"copy_memory: gap must be at least 1, got {gap}")
    sequence = rng.integers(1, symbols + 1, size=(count, length))
    total = gap + 2 * length
    x = np.zeros((count, total), dtype="int32")
    x[:, :length] = sequence
    x[:, length + gap - 1] = symbols + 1
    y = np.zeros((count, total), dtype="int32")
    y[:, -length:] = sequence
    return x, y


def copy_baseline(gap, symbols=COPY_SYMBOLS, length=COPY_LENGTH):
    """Cross-entropy per step of outputting blanks, then a uniform guess over the symbols."""
    return length * math.log(symbols) / (gap + 2 * length)


def one_hot(ids, depth):
    return np.eye(depth, dtype="float32")[ids]


def counting_strings(ns, length=None):
    """a^n b^n for each n, one-hot (a = [1, 0], b = [0, 1]) and padded with zeros (masked) to
    `length` (default 2 max n). Returns x (B, L, 2) float32, y (B, L) float32 (1 exactly at the n-th
    b), mask (B, L) bool."""
    ns = np.asarray(ns, dtype="int64")
    if ns.min() < 1:
        raise ValueError("counting_strings: n must be at least 1")
    length = int(2 * ns.max()) if length is None else length
    if 2 * ns.max() > length:
        raise ValueError(f"counting_strings: a^n b^n with n = {ns.max()} does not fit in {length} steps")
    steps = np.arange(length)[None, :]
    n = ns[:, None]
    is_a = steps < n
    mask = steps < 2 * n
    is_b = mask & ~is_a
    x = np.stack([is_a, is_b], axis=-1).astype("float32")
    y = (steps == 2 * n - 1).astype("float32")
    return x, y, mask


def counting_task(count, max_n, rng, length=None):
    """`count` strings with n uniform in 1..max_n (see `counting_strings`)."""
    return counting_strings(rng.integers(1, max_n + 1, size=count), length=length or 2 * max_n)


# --- configs and models ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Config:
    """One training run. `gap`: the adding problem's length T, the copy task's blank gap T, or the
    counting task's largest n in training."""

    task: str
    cell: str
    gap: int
    units: int = 64
    batch_size: int = 64
    optimizer: str = "adam"  # or "sgd" (with momentum)
    learning_rate: float = 1e-3
    momentum: float = 0.9
    clipnorm: float | None = 1.0  # None: no clipping
    activation: str = "tanh"
    recurrent_initializer: str = "orthogonal"  # or "glorot_uniform"
    recurrent_radius: float | None = None  # rescale the (candidate block of the) recurrent kernel to it
    unit_forget_bias: bool = True  # LSTM: forget-gate bias starts at 1 (else 0)
    steps_per_round: int = 50  # training steps between validations
    validation_size: int = 512
    max_steps: int = 200_000
    test_max_n: int | None = None  # counting: test every n up to this (default 4 * gap)
    seed: int = 0

    @property
    def name(self):
        parts = [self.task, self.cell, str(self.gap)]
        if self.recurrent_initializer != "orthogonal":
            parts.append(self.recurrent_initializer.split("_")[0])
        if self.recurrent_radius is not None:
            parts.append(f"radius{self.recurrent_radius:g}")
        if self.cell == "lstm" and not self.unit_forget_bias:
            parts.append("forget0")
        if self.optimizer != "adam":
            parts.append(self.optimizer)
        parts.append("noclip" if self.clipnorm is None else f"clip{self.clipnorm:g}")
        return "-".join(parts)


def build_model(config):
    """Input -> zoo SimpleRNN / GRU / LSTM -> Dense, compiled for the task."""
    import keras

    from zoo.layers import GRU, LSTM, SimpleRNN

    if config.task not in TASKS:
        raise ValueError(f"unknown task {config.task!r}; tasks: {', '.join(TASKS)}")
    if config.cell not in CELL_NAMES:
        raise ValueError(f"unknown cell {config.cell!r}; cells: {', '.join(CELL_NAMES)}")
    layer_class = {"rnn": SimpleRNN, "gru": GRU, "lstm": LSTM}[config.cell]
    options = {"activation": config.activation, "recurrent_initializer": config.recurrent_initializer}
    if config.cell == "lstm":
        options["unit_forget_bias"] = config.unit_forget_bias
    sequences = config.task != "adding"
    recurrent = layer_class(config.units, return_sequences=sequences, name=config.cell, **options)
    if config.task == "adding":
        inputs = keras.Input((config.gap, 2))
        outputs = keras.layers.Dense(1, name="sum")(recurrent(inputs))
        loss = "mse"
    elif config.task == "copy":
        inputs = keras.Input((config.gap + 2 * COPY_LENGTH, COPY_VOCABULARY))
        outputs = keras.layers.Dense(COPY_VOCABULARY, name="symbol")(recurrent(inputs))
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    else:
        inputs = keras.Input((None, 2))
        masked = keras.layers.Masking(0.0)(inputs)
        outputs = keras.layers.Dense(1, name="can_end")(recurrent(masked))  # (B, L, 1): a loss per step
        loss = keras.losses.BinaryCrossentropy(from_logits=True)
    model = keras.Model(inputs, outputs, name=config.name.replace("-", "_").replace(".", "_"))
    if config.recurrent_radius is not None:
        set_recurrent_radius(recurrent.cell, config.recurrent_radius)
    if config.optimizer == "adam":
        optimizer = keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm)
    elif config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(config.learning_rate, momentum=config.momentum, clipnorm=config.clipnorm)
    else:
        raise ValueError(f"unknown optimizer {config.optimizer!r}: adam or sgd")
    model.compile(optimizer=optimizer, loss=loss)
    return model


def set_recurrent_radius(cell, radius):
    """Scales the candidate block of the cell's recurrent kernel (all of it for an Elman cell) so
    that its spectral radius is `radius`."""
    from zoo.diagnostics import recurrent_spectrum

    current = recurrent_spectrum(cell)["spectral_radius"]
    kernel = np.array(cell.recurrent_kernel.numpy())
    units = cell.units
    block = 0 if cell.gate_count == 1 else 2  # LSTM (i, f, c, o) and GRU (z, r, h): the candidate is third
    kernel[:, block * units : (block + 1) * units] *= radius / current
    cell.recurrent_kernel.assign(kernel)


# --- training --------------------------------------------------------------------------------


def training_data(config, count, rng):
    """(x, y, sample_weight or None) for `count` fresh examples of the config's task."""
    if config.task == "adding":
        x, y = adding_problem(count, config.gap, rng)
        return x, y, None
    if config.task == "copy":
        x, y = copy_memory(count, config.gap, rng)
        return one_hot(x, COPY_VOCABULARY), y, None
    x, y, mask = counting_task(count, config.gap, rng)
    return x, y[..., None], mask.astype("float32")


def evaluate(model, config, data):
    """(validation loss, task metric): adding MSE, copy accuracy on the recalled symbols,
    counting fraction of strings right at every step."""
    x, y, weight = data
    prediction = predict(model, x)
    if config.task == "adding":
        mse = float(np.mean((prediction - y) ** 2))
        return mse, mse
    if config.task == "copy":
        logits = prediction - prediction.max(axis=-1, keepdims=True)
        log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        loss = float(-np.take_along_axis(log_probs, y[..., None], axis=-1).mean())
        recalled = prediction[:, -COPY_LENGTH:].argmax(axis=-1) == y[:, -COPY_LENGTH:]
        return loss, float(recalled.mean())
    mask, prediction, y = weight > 0, prediction[..., 0], y[..., 0]
    loss = float(np.sum(_binary_cross_entropy(prediction, y) * mask) / mask.sum())
    right = ((prediction > 0) == (y > 0.5)) | ~mask
    return loss, float(right.all(axis=1).mean())


def predict(model, x, batch_size=256):
    """The model's outputs as NumPy, in batches (a direct call: no predict function per model)."""
    return np.concatenate([np.asarray(model(x[i : i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def _binary_cross_entropy(logits, y):
    return np.maximum(logits, 0) - logits * y + np.log1p(np.exp(-np.abs(logits)))


def is_solved(config, metric):
    if config.task == "adding":
        return metric < ADDING_SOLVED
    if config.task == "copy":
        return metric >= COPY_SOLVED
    return metric >= 0.999


def train(config, budget_seconds, flow_examples=0, verbose=True):
    """Trains one run until it is solved, diverges, or its budget would be exceeded by one more round.

    Args:
        config: a `Config`.
        budget_seconds: wall-clock seconds of training (validation included, model building not).
        flow_examples: if > 0, `zoo.diagnostics.gradient_flow` on that many validation examples
            at initialisation and after training (results "flow_init", "flow_trained").

    Returns a dict: config, history (rounds of step, seconds, loss, val_loss, metric), solved,
    diverged, steps, seconds, final loss / metric, the flows, and for counting the test by n.
    """
    import keras

    from zoo.diagnostics import gradient_flow

    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    validation = training_data(config, config.validation_size, np.random.default_rng([config.seed, 10**6]))
    result = {"config": dataclasses.asdict(config), "name": config.name, "history": []}
    if flow_examples:
        result["flow_init"] = gradient_flow(model, _flow_batch(validation, flow_examples))
    start = time.monotonic()
    step, round_index, diverged, solved = 0, 0, False, False
    val_loss, metric = evaluate(model, config, validation)
    # step 0: the untrained model's loss on fresh data stands for its training loss
    result["history"].append({"step": 0, "seconds": 0.0, "loss": val_loss, "val_loss": val_loss, "metric": metric})
    while step < config.max_steps:
        steps = min(config.steps_per_round, config.max_steps - step)
        rng = np.random.default_rng([config.seed, round_index])
        x, y, weight = training_data(config, steps * config.batch_size, rng)
        fitted = model.fit(x, y, sample_weight=weight, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=0)
        step, round_index = step + steps, round_index + 1
        loss = float(fitted.history["loss"][-1])
        val_loss, metric = evaluate(model, config, validation)
        elapsed = time.monotonic() - start
        result["history"].append({"step": step, "seconds": round(elapsed, 2), "loss": loss, "val_loss": val_loss,
                                  "metric": metric})
        if not (math.isfinite(loss) and math.isfinite(val_loss)) or max(loss, val_loss) > DIVERGED_LOSS:
            diverged = True
            break
        solved = is_solved(config, metric)
        if solved or elapsed * (round_index + 1) / round_index > budget_seconds:
            break
    result.update(
        solved=solved, diverged=diverged, steps=step, seconds=round(time.monotonic() - start, 1),
        val_loss=val_loss, metric=metric,
    )
    if verbose:
        status = "solved" if solved else ("diverged" if diverged else "not solved")
        print(f"{config.name}: {status} after {step} steps, {result['seconds']:.0f} s "
              f"(validation loss {val_loss:.4g}, {METRIC_NAMES[config.task]} {metric:.4g})", flush=True)
    if flow_examples and not diverged:
        result["flow_trained"] = gradient_flow(model, _flow_batch(validation, flow_examples))
    if config.task == "counting":
        result["counting_test"] = counting_test(model, config.test_max_n or 4 * config.gap)
    result["model"] = model
    return result


ABLATION_YMAX = 100.0  # top of the ablation plots: an MSE above it has blown up
DIVERGED_LOSS = 1e6  # a run whose loss passes this has blown up: it stops
METRIC_NAMES = {"adding": "MSE", "copy": "recall accuracy", "counting": "strings right"}


def _flow_batch(validation, count):
    x, y, _ = validation
    return x[:count], y[:count]


def counting_test(model, max_n):
    """Every a^n b^n for n = 1..max_n: whether each is right at every step, and after how many b's
    the model first says the string can end (None: never)."""
    ns = np.arange(1, max_n + 1)
    x, y, mask = counting_strings(ns)
    prediction = predict(model, x)[..., 0] > 0
    right = ((prediction == (y > 0.5)) | ~mask).all(axis=1)
    predicted_end = []
    for row, n in enumerate(ns):
        says_end = np.flatnonzero(prediction[row, n : 2 * n])
        predicted_end.append(int(says_end[0]) + 1 if says_end.size else None)
    counts_up_to = int(np.argmin(right)) if not right.all() else int(max_n)
    return {"n": ns.tolist(), "right": right.tolist(), "predicted_end": predicted_end, "counts_up_to": counts_up_to}


# --- the report ------------------------------------------------------------------------------


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
    adding_gaps=(5, 10), copy_gaps=(5,), counting_n=3, flow_gap=10, ablation_gap=10, units=8,
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
        "Regenerate with `python -m recipes.long_range_tasks "
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


# --- command line ----------------------------------------------------------------------------


def add_arguments(parser):
    parser.add_argument("--minutes-per-run", type=float, default=None,
                        help="training budget of each run (default: 3; 0.05 with --quick)")
    parser.add_argument("--output", type=Path, default=Path("docs/diagnostics"),
                        help="folder for report.md, the PNG plots and results.json")
    parser.add_argument("--quick", action="store_true", help="tiny models and gaps: a smoke test in seconds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--single", nargs=3, metavar=("TASK", "CELL", "GAP"), default=None,
                        help="train one run (e.g. adding lstm 100) with the report's settings, print how it "
                             "went, and write nothing: to try a budget before the whole report")
    return parser


def add_diagnose_parser(commands):
    """Adds `zoo diagnose` to the CLI's subparsers (`commands`, from `add_subparsers`)."""
    help_text = diagnose_command.__doc__
    parser = commands.add_parser("diagnose", help=help_text, description=help_text)
    add_arguments(parser)
    parser.set_defaults(run=diagnose_command)
    return parser


def diagnose_command(args):
    """Trains Elman, GRU and LSTM on long-range and counting tasks and writes a report with plots."""
    minutes = args.minutes_per_run if args.minutes_per_run is not None else (0.05 if args.quick else 3.0)
    if args.single:
        task, cell, gap = args.single
        plan = QUICK_PLAN if args.quick else Plan()
        units = plan.counting_units if task == "counting" else plan.units
        config = Config(task, cell, int(gap), units=units, batch_size=plan.batch_size,
                        steps_per_round=plan.steps_per_round, validation_size=plan.validation_size,
                        max_steps=plan.max_steps, seed=args.seed)
        result = train(config, minutes * 60)
        for row in result["history"]:
            print(f"step {row['step']:6d}  {row['seconds']:7.1f} s  loss {row['loss']:.4g}  "
                  f"validation {row['val_loss']:.4g}  {METRIC_NAMES[task]} {row['metric']:.4g}")
        if task == "counting":
            print(f"counts up to n = {result['counting_test']['counts_up_to']}")
        return 0
    run_report(args.output, minutes, quick=args.quick, seed=args.seed)
    return 0


def main(argv=None):
    parser = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    return diagnose_command(parser.parse_args(argv))


if __name__ == "__main__":
    main()
