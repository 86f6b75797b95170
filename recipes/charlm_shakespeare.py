"""Character-level language models on Tiny Shakespeare (Karpathy's char-rnn data).

Split as nanoGPT does: the first 90% of input.txt trains (1,003,854 characters), the last 10%
validates (111,540). Models: embedding -> stacked zoo LSTM / GRU / Elman RNN -> softmax.

    python -m recipes.charlm_shakespeare --model charlm-shakespeare-lstm            # train (--resume continues a stopped run)
    python -m recipes.charlm_shakespeare --model charlm-shakespeare-lstm --max-minutes 5

Training writes `runs/<model>/`: `checkpoint/` (the state `--resume` continues from: every 500 steps and every epoch),
`best.keras` (best validation loss so far), `history.csv` (loss and validation loss per epoch,
with step and training time), `vocabulary.json`. `--package` evaluates the best model and writes
`checkpoints/<model>/` (the history goes into its metadata.json); `--plot` draws
docs/charlm_learning_curves.png from the shipped models' histories.
"""

import csv
import dataclasses
import json
import math
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.training import fit
from zoo.layers import CELLS
from zoo.models import RecurrentLanguageModel
from zoo.tasks.language_model_task import next_token_windows
from zoo.text import RESERVED, UNK_ID
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

QUICK_CHECK_LINES = 500  # the first lines of the validation split: the card's check that every test run repeats
VALIDATION_FILE = "shakespeare_validation.txt"


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    cell: str
    units: int = 512
    num_layers: int = 2
    embedding_dim: int = 128
    dropout: float = 0.25
    embedding_dropout: float = 0.1
    sequence_length: int = 128
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    clipnorm: float = 1.0
    max_epochs: int = 60
    patience: int = 4  # epochs without a better validation loss before stopping
    validation_sequence_length: int = 256
    # Validation and the kept model on the moving average of the weights, a = m a + (1 - m) w after each step
    # (m = `weight_average`, the optimizer's `use_ema`); 0: the weights themselves.
    weight_average: float = 0.0
    seed: int = 0


CELL_NAMES = ("lstm", "gru", "rnn")
# One configuration for every cell, trained for one budget (the recipe's --max-minutes): the models differ
# in their cell only, so that the README's comparison of cells is fair. The average's horizon is ~100 steps,
# under an epoch (122): Keras' average starts from the initial weights, and at 0.999 they still weighed
# 0.999^488 = 61% after 4 epochs: validation 3.98 nats/char after one epoch, 3.13 after four (a run without
# the average: 2.24 after one).
CONFIGS = {f"charlm-shakespeare-{cell}": Config(f"charlm-shakespeare-{cell}", cell, weight_average=0.99)
           for cell in CELL_NAMES}


def load_text(data_dir):
    path = Path(data_dir) / "tinyshakespeare" / "input.txt"
    if not path.is_file():
        raise FileNotFoundError(f"Tiny Shakespeare not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
    return path.read_text(encoding="utf-8")


def split(text):
    """nanoGPT's split: first 90% train, last 10% validation."""
    cut = int(len(text) * 0.9)
    return text[:cut], text[cut:]


def vocabulary_of(text):
    return sorted(set(text))


def encode(text, vocabulary):
    index = {c: i + len(RESERVED) for i, c in enumerate(vocabulary)}
    return np.array([index.get(c, UNK_ID) for c in text], dtype="int32")


def training_windows(ids, config, epoch_seed):
    """Non-overlapping (input, next-char) windows from a random start offset, shuffled."""
    rng = np.random.default_rng(epoch_seed)
    length = config.sequence_length
    offset = int(rng.integers(0, length))
    count = (len(ids) - offset - 1) // length
    inputs, targets = next_token_windows(ids, length, count, starts=offset + length * rng.permutation(count))
    return tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(config.batch_size, drop_remainder=True)


def validation_windows(ids, config):
    length = config.validation_sequence_length
    inputs, targets = next_token_windows(ids, length, (len(ids) - 1) // length)
    return tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(config.batch_size)


def build_model(config, vocabulary_size, tokenizer=None):
    model = RecurrentLanguageModel(
        vocabulary_size,
        cell=config.cell,
        units=config.units,
        num_layers=config.num_layers,
        embedding_dim=config.embedding_dim,
        dropout=config.dropout,
        embedding_dropout=config.embedding_dropout,
        seed=config.seed,
        tokenizer=tokenizer,
        name=config.name.replace("-", "_"),
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(
            learning_rate=config.learning_rate, weight_decay=config.weight_decay, clipnorm=config.clipnorm,
            use_ema=config.weight_average > 0, ema_momentum=config.weight_average or 0.99),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model(keras.ops.zeros((1, 2), dtype="int32"))  # build
    return model


def train(config, data_dir, run_dir, options):
    text = load_text(data_dir)
    train_text, validation_text = split(text)
    vocabulary = vocabulary_of(train_text)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "vocabulary.json").write_text(json.dumps({"reserved": RESERVED, "characters": vocabulary}))
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    train_ids, validation_ids = encode(train_text, vocabulary), encode(validation_text, vocabulary)
    print(f"{config.name}: {len(train_text):,} training / {len(validation_text):,} validation characters, "
          f"vocabulary {len(vocabulary)} + {len(RESERVED)} reserved")

    keras.utils.set_random_seed(config.seed)
    model = build_model(config, len(vocabulary) + len(RESERVED))
    print(f"parameters: {model.count_params():,}")

    steps_per_epoch = (len(train_ids) - config.sequence_length) // config.sequence_length // config.batch_size
    history = fit(model, windows_of_epoch(train_ids, config), steps_per_epoch, config.max_epochs, run_dir, options,
                  patience=config.patience, validation_data=validation_windows(validation_ids, config))
    best = min(history.history["val_loss"]) if history.history.get("val_loss") else float("nan")
    print(f"best validation loss this run: {best:.4f} nats/char = {best / math.log(2):.4f} bits/char")
    return history


def windows_of_epoch(ids, config):
    """epoch -> that epoch's `training_windows`: a fresh random offset and order every epoch."""
    return lambda epoch: training_windows(ids, config, config.seed * 1000 + epoch)


def validation_command(data_dir):
    """The shell command that writes the validation split (Tiny Shakespeare is ASCII: bytes = characters)."""
    text = load_text(data_dir)
    count = len(text) - int(len(text) * 0.9)
    return f'tail -c {count} "${{ZOO_DATA_DIR:-../shared/data}}/tinyshakespeare/input.txt" > {VALIDATION_FILE}', count


def evaluation_commands(name, count):
    """The card's checks: the validation split written by `tail`, then `zoo evaluate` on its first lines and on all of it."""
    split = f"tail -c {count} {data_path('tinyshakespeare', 'input.txt')} > {VALIDATION_FILE}"
    evaluate = f"zoo evaluate {name} --text-file {VALIDATION_FILE}"
    return [[split, f"{evaluate} --first {QUICK_CHECK_LINES}"], [split, evaluate]]


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model: tokenizer attached, evaluated, with a model card and its checks."""
    from zoo.evaluation import language_model_loss
    from zoo.text import CharTokenizer

    vocabulary = json.loads((run_dir / "vocabulary.json").read_text())["characters"]
    best = keras.saving.load_model(run_dir / "best.keras", compile=False)
    # compiled without the average for fine-tuning: with it Keras ends a short model.fit at nearly the starting weights
    model = build_model(dataclasses.replace(config, weight_average=0.0), len(vocabulary) + len(RESERVED),
                        tokenizer=CharTokenizer(vocabulary))
    model.set_weights(best.get_weights())
    _, validation_text = split(load_text(data_dir))
    result = language_model_loss(model, encode(validation_text, vocabulary))
    with (run_dir / "history.csv").open() as f:
        history = list(csv.DictReader(f))
    metadata = {
        "recipe": "charlm_shakespeare",
        "config": dataclasses.asdict(config),
        "validation": result,
        "history": history,  # validation loss per epoch: docs/charlm_learning_curves.png
        "provenance": run_provenance(run_dir),
    }
    folder = Path(checkpoints_dir) / config.name
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata, data_dir), metadata,
                     evaluation_commands(config.name, len(validation_text)), data_dir)
    print(f"{config.name}: validation {result['nats']:.4f} nats/char, {result['bits']:.4f} bits/char -> {folder}")
    return result


def model_card(config, model, metadata, data_dir):
    """The card of a packaged model, from what `package` puts in its metadata.json."""
    command, count = validation_command(data_dir)
    history = metadata["history"]
    summary = training_summary(history)
    still_falling = summary["best"] is history[-1] and len(history) < config.max_epochs
    ending = (" Training ended at its time budget with the validation loss still falling: a longer run would "
              "do better." if still_falling else "")
    average = (f" Validated, kept and shipped: the moving average of the weights over the steps (a = "
               f"{config.weight_average} a + {1 - config.weight_average:.4g} w after each)."
               if config.weight_average else "")
    return render_card("charlm_shakespeare", precision_of(model), metadata.get("provenance"), metadata.get("checks"),
                       config=config, cell_name=cell_name(config.cell), vocabulary_size=model.vocabulary_size,
                       parameters=model.count_params(), result=metadata["validation"], count=count, command=command,
                       best_loss=float(summary["best"]["val_loss"]), ending=ending, average=average, **summary)


def cell_name(cell):
    """The zoo layer of a cell: "LSTM", "GRU" or "SimpleRNN" (Elman)."""
    return CELLS[cell].layer.__name__


def plot_learning_curves(output):
    """Validation loss against training step and against minutes, one line per shipped cell
    (Chung et al. 2014, fig. 2), from the training history in each checkpoint's metadata."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from zoo.checkpoints import checkpoint_folder, list_models

    figure, (by_step, by_time) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    plotted = []
    for config in CONFIGS.values():
        if config.name not in list_models():
            continue
        rows = json.loads((checkpoint_folder(config.name) / "metadata.json").read_text())["history"]
        label = f"{cell_name(config.cell)} {config.num_layers}x{config.units}"
        loss = [float(r["val_loss"]) for r in rows]
        by_step.plot([int(r["step"]) for r in rows], loss, marker="o", markersize=3, label=label)
        by_time.plot([float(r["train_seconds"]) / 60 for r in rows], loss, marker="o", markersize=3, label=label)
        plotted.append(config.name)
    if not plotted:
        raise FileNotFoundError("no shipped charlm-shakespeare-* checkpoint: train and --package first")
    lowest = min(min(line.get_ydata()) for line in by_step.get_lines())
    by_step.set_ylim(lowest - 0.05, lowest + 0.6)  # the first epochs run off the top: the cells differ below
    by_step.set(xlabel="training step (64 x 128 characters)", ylabel="validation loss (nats/char)",
                title="Tiny Shakespeare, validation loss (256-char windows)")
    by_time.set(xlabel="minutes of training on 2 CPU cores", title="... against wall time")
    for axes in (by_step, by_time):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=120)
    print(f"wrote {output} ({', '.join(plotted)})")


def main(argv=None):
    parser = argument_parser(__doc__.split("\n")[0], CONFIGS, "charlm-shakespeare-lstm", 60.0)
    parser.add_argument("--plot", type=Path, default=None, metavar="PNG",
                        help="do not train: plot the validation curves of the shipped models "
                             "(docs/charlm_learning_curves.png)")
    args = parser.parse_args(argv)
    if args.plot:
        plot_learning_curves(args.plot)
    else:
        run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
