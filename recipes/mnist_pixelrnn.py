"""PixelRNN on binarized MNIST (van den Oord et al. 2016): Diagonal BiLSTM, Row LSTM and the PixelCNN baseline.

Data: the 5,000 MNIST training images of ../shared/data/mnist (500 of them, chosen with seed 0, validate);
the official 10,000 test images are for the model card only. Training binarizes every image afresh each
epoch (each pixel 1 with probability intensity/255); validation and test images are binarized once, with
a fixed seed.

    python -m recipes.mnist_pixelrnn --model pixelrnn-mnist                  # train (--resume continues)
    python -m recipes.mnist_pixelrnn --model pixelrnn-mnist --package        # evaluate, write checkpoints/
    python -m recipes.mnist_pixelrnn --compare docs/pixelrnn_mnist.md       # the baselines' table

Every model trains for the same wall-clock budget (--max-minutes, default 60): what a run reaches in it
depends on the machine.
"""

import csv
import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.card import render_card, training_summary
from recipes.card_checks import data_path, save_with_checks
from recipes.command_line import argument_parser, run_recipe
from zoo.decoding.image_sampling import sample_images
from zoo.images import binarized, read_images
from zoo.models.pixel_rnn import PixelRNN, binary_image_nll
from zoo.tasks.image_model_task import image_log_likelihood
from zoo.training import fit
from zoo.training.precision import precision_of
from zoo.training.provenance import run_provenance

VALIDATION_IMAGES = 500
VALIDATION_SEED = 1  # binarization of the validation images
TEST_SEED = 0  # binarization of the test images (the card's figure)
TRAIN_FILE, TEST_FILE = "mnist/mnist_5k_train.csv.gz", "mnist/t10k-images-idx3-ubyte.gz"
QUICK_CHECK_IMAGES = 500  # the first test images: the card's check that every test run repeats
SAMPLING_BATCH = 16


@dataclasses.dataclass(frozen=True)
class Config:
    name: str
    core: str
    units: int = 32
    num_layers: int = 4
    features: int = 64
    output_features: int = 64
    batch_size: int = 32
    learning_rate: float = 1e-3
    clipnorm: float = 1.0
    max_epochs: int = 300
    patience: int = 6
    seed: int = 0


CONFIGS = {
    config.name: config
    for config in (
        Config("pixelrnn-mnist", "diagonal_bilstm"),
        Config("pixelrnn-mnist-row", "row_lstm"),
        Config("pixelcnn-mnist", "masked_conv", num_layers=6),  # 7 masked convolutions of 64 filters
        Config("pixelrnn-mnist-tiny", "diagonal_bilstm", units=4, num_layers=1, features=8, output_features=8,
               max_epochs=2),  # the recipe's test
    )
}


def load_split(data_dir):
    """uint8 (train (4500, 28, 28), validation (500, 28, 28)) from the 5,000 training images."""
    path = Path(data_dir) / TRAIN_FILE
    if not path.is_file():
        raise FileNotFoundError(f"MNIST training images not found at {path}: pass --data-dir or set ZOO_DATA_DIR")
    images = read_images(path)
    order = np.random.default_rng(0).permutation(len(images))
    return images[order[VALIDATION_IMAGES:]], images[order[:VALIDATION_IMAGES]]


def build_model(config):
    model = PixelRNN(config.core, units=config.units, num_layers=config.num_layers, features=config.features,
                     output_features=config.output_features, name=config.name.replace("-", "_"))
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=config.clipnorm),
                  loss=binary_image_nll)
    model(tf.zeros((1, 28, 28, 1)))  # build
    return model


def batches_of_epoch(images, config):
    """epoch -> that epoch's batches: the images in a fresh order, binarized afresh (seeded by the epoch)."""

    def batches(epoch):
        seed = config.seed * 1000 + epoch
        order = np.random.default_rng(seed).permutation(len(images))
        binary = binarized(images[order], seed)
        return tf.data.Dataset.from_tensor_slices((binary, binary)).batch(config.batch_size, drop_remainder=True)

    return batches


def train(config, data_dir, run_dir, options):
    train_images, validation_images = load_split(data_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=1))
    print(f"{config.name}: {len(train_images):,} training / {len(validation_images):,} validation images")
    keras.utils.set_random_seed(config.seed)
    model = build_model(config)
    print(f"parameters: {model.count_params():,}")
    validation = binarized(validation_images, VALIDATION_SEED)
    validation_data = tf.data.Dataset.from_tensor_slices((validation, validation)).batch(100)
    return fit(model, batches_of_epoch(train_images, config), len(train_images) // config.batch_size,
               config.max_epochs, run_dir, options, patience=config.patience, validation_data=validation_data)


def test_images(data_dir):
    """The 10,000 official test images, binarized with TEST_SEED: float32 (10000, 28, 28, 1)."""
    return binarized(read_images(Path(data_dir) / TEST_FILE), TEST_SEED)


def best_model(config, run_dir):
    """The run's best.keras (validation loss), compiled as `build_model` compiles."""
    model = build_model(config)
    model.set_weights(keras.saving.load_model(Path(run_dir) / "best.keras", compile=False).get_weights())
    return model


def history_of(run_dir):
    with (Path(run_dir) / "history.csv").open() as f:
        return list(csv.DictReader(f))


def sampling_speed(model, seed=0):
    """Images per second drawing SAMPLING_BATCH images (the loop compiled by a first call)."""
    sample_images(model, SAMPLING_BATCH, seed=seed)
    start = time.perf_counter()
    sample_images(model, SAMPLING_BATCH, seed=seed + 1)
    return SAMPLING_BATCH / (time.perf_counter() - start)


def package(config, data_dir, run_dir, checkpoints_dir):
    """checkpoints/<name>/ from the run's best model: evaluated on the test images, with a model card."""
    model = best_model(config, run_dir)
    _, validation_images = load_split(data_dir)
    validation = image_log_likelihood(model, binarized(validation_images, VALIDATION_SEED))
    test = test_images(data_dir)
    result = image_log_likelihood(model, test)
    metadata = {
        "recipe": "mnist_pixelrnn",
        "config": dataclasses.asdict(config),
        "test": {**result, "binarization_seed": TEST_SEED, "images_file": TEST_FILE},
        "validation": validation,
        "sampling_images_per_second": sampling_speed(model),
        "history": history_of(run_dir),
        "provenance": run_provenance(run_dir),
    }
    folder = Path(checkpoints_dir) / config.name
    save_with_checks(model, folder, lambda metadata: model_card(config, model, metadata), metadata,
                     evaluation_commands(config.name), data_dir)
    speed = metadata["sampling_images_per_second"]
    print(f"{config.name}: test {result['nats']:.2f} nats/image ({result['bits_per_dim']:.4f} bits/dim), "
          f"sampling {speed:.2f} images/s -> {folder}")
    return result


def model_card(config, model, metadata):
    """The card of a packaged model, from what `package` puts in its metadata.json."""
    return render_card("mnist_pixelrnn", precision_of(model), metadata.get("provenance"), metadata.get("checks"),
                       config=config, parameters=model.count_params(), result=metadata["test"],
                       validation=metadata["validation"],
                       speed=metadata["sampling_images_per_second"], sampling_batch=SAMPLING_BATCH,
                       test_seed=TEST_SEED, validation_seed=VALIDATION_SEED, layer=_layer_names[config.core],
                       history_table=history_table(metadata["history"]), conditions=metadata.get("conditions", ""),
                       **training_summary(metadata["history"]))


def evaluation_commands(name):
    """The card's checks: `zoo evaluate` on the first test images, and on all of them."""
    images = f"zoo evaluate {name} --images {data_path(TEST_FILE)}"
    return [[f"{images} --first {QUICK_CHECK_IMAGES}"], [images]]


_layer_names = {"diagonal_bilstm": "DiagonalBiLSTM", "row_lstm": "RowLSTM", "masked_conv": "MaskedConv2D"}


def history_table(history):
    """Markdown rows: epoch, minutes, training loss, validation loss (nats/image)."""
    return "\n".join(f"| {row['epoch']} | {float(row['train_seconds']) / 60:.1f} | {float(row['loss']):.2f} | "
                     f"{float(row['val_loss']):.2f} |" for row in history)


def bernoulli_baseline(train_images, test):
    """-log p of binary test images (nats/image) under independent pixels, p = the training images' mean
    intensity / 255 with one pseudo-count of each value (Laplace)."""
    p = (np.sum(train_images / 255.0, axis=0) + 1.0) / (len(train_images) + 2.0)  # (R, C)
    log_p = test[..., 0] * np.log(p) + (1 - test[..., 0]) * np.log(1 - p)
    return -float(np.mean(np.sum(log_p, axis=(1, 2))))


def trained(config, runs_dir, checkpoints_dir):
    """(best model, history) of a config: its run in runs_dir, else its packaged checkpoint; None if neither."""
    run_dir, folder = Path(runs_dir) / config.name, Path(checkpoints_dir) / config.name
    if (run_dir / "best.keras").is_file():
        return best_model(config, run_dir), history_of(run_dir)
    if (folder / "metadata.json").is_file():
        from zoo.checkpoints import load

        return load(folder), json.loads((folder / "metadata.json").read_text())["history"]
    print(f"{config.name}: no run in {run_dir} and no checkpoint in {folder}, left out")
    return None


def compare(data_dir, runs_dir, checkpoints_dir, output):
    """docs/: every config's best model (its run's, or its packaged checkpoint's) on the test images, and the
    independent-pixel baseline."""
    train_images, _ = load_split(data_dir)
    test = test_images(data_dir)
    rows = [f"| independent Bernoulli per pixel | {28 * 28:,} | - | - | - | {bernoulli_baseline(train_images, test):.2f} |"]
    curves = {}
    for config in CONFIGS.values():
        if (found := trained(config, runs_dir, checkpoints_dir)) is None:
            continue
        model, history = found
        summary = training_summary(history)
        nats = image_log_likelihood(model, test)["nats"]
        rows.append(f"| `{config.name}` ({_layer_names[config.core]} x {config.num_layers}) | "
                    f"{model.count_params():,} | {summary['epochs']} ({summary['chosen_epoch']}) | "
                    f"{summary['minutes']:.0f} | {float(summary['best']['val_loss']):.2f} | {nats:.2f} |")
        print(rows[-1])
        curves[f"{config.name} ({model.count_params():,} parameters)"] = history
    figure = Path(output).with_suffix(".png")
    plot_validation_curves(curves, figure)
    Path(output).write_text(COMPARISON.format(rows="\n".join(rows), test_seed=TEST_SEED, figure=figure.name),
                            encoding="utf-8")
    print(f"wrote {output} and {figure}")


def plot_validation_curves(curves, output):
    """Validation nats/image against minutes of training, one line per run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.2))
    for label, rows in curves.items():
        axes.plot([float(r["train_seconds"]) / 60 for r in rows], [float(r["val_loss"]) for r in rows], marker="o",
                  markersize=3, label=label)
    axes.set(xlabel="minutes of training on 2 CPU cores", ylabel="validation nats/image (500 images)",
             title="Binarized MNIST, 4,500 training images")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(output, dpi=120)


COMPARISON = """# PixelRNN on binarized MNIST: the layers against their baselines

Same data (the 5,000 training images of `../shared/data/mnist`, 500 of them validating), same recipe
(`recipes/mnist_pixelrnn.py`: Adam, batch 32, dynamic binarization, learning rate halved when the
validation loss stalls, the best validation epoch kept), the same wall-clock budget for each model
(`--max-minutes`), on this machine's 2 CPU cores. Test: the 10,000 official test images, binarized
once with seed {test_seed}. Made by `python -m recipes.mnist_pixelrnn --compare docs/pixelrnn_mnist.md`.

| model | parameters | epochs (chosen) | minutes | best validation | test nats/image |
|---|---:|---:|---:|---:|---:|
{rows}

![validation loss against minutes of training]({figure})
"""


def main(argv=None):
    parser = argument_parser(__doc__.split("\n")[0], CONFIGS, "pixelrnn-mnist", 60.0)
    parser.add_argument("--compare", type=Path, default=None, metavar="MD",
                        help="do not train: evaluate every config's run and the independent-pixel baseline on the "
                             "test images and write the table (docs/pixelrnn_mnist.md)")
    parser.add_argument("--runs-dir", type=Path, default=Path(__file__).resolve().parents[1] / "runs",
                        help="with --compare: where the runs are (a config without a run is taken from its "
                             "checkpoint in --checkpoints-dir)")
    args = parser.parse_args(argv)
    if args.compare:
        compare(args.data_dir, args.runs_dir, args.checkpoints_dir, args.compare)
    else:
        run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
