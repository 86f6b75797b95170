"""One training run of a long-range task: its `Config`, model (zoo SimpleRNN / GRU / LSTM -> Dense),
training under a wall-clock budget and evaluation."""

import dataclasses
import math
import time

import numpy as np

from zoo.long_range.tasks import (ADDING_SOLVED, CELL_NAMES, COPY_LENGTH, COPY_SOLVED, COPY_VOCABULARY, TASKS,
                                  adding_problem, copy_memory, counting_strings, counting_task, one_hot)


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
