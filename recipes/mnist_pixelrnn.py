"""PixelRNN on binarized MNIST (van den Oord et al. 2016): Diagonal BiLSTM, Row LSTM and the PixelCNN baseline.

Data: the 5,000 MNIST training images of ../shared/data/mnist (500 of them, chosen with seed 0, validate);
the official 10,000 test images are for the model card only. Training binarizes every image afresh each
epoch (each pixel 1 with probability intensity/255); validation and test images are binarized once, with
a fixed seed.

    python -m recipes.mnist_pixelrnn --model pixelrnn-mnist                  # train (--resume continues)
    python -m recipes.mnist_pixelrnn --model pixelrnn-mnist --package        # evaluate, write checkpoints/
    python -m recipes.mnist_pixelrnn --compare docs/pixelrnn_mnist.md       # the baselines' table

Every model trains for the same wall-clock budget (--max-minutes, default 90).
"""

import dataclasses
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from recipes.command_line import argument_parser, run_recipe
from zoo.images import binarized, read_images
from zoo.models.pixel_rnn import PixelRNN, binary_image_nll
from zoo.training import fit

VALIDATION_IMAGES = 500
VALIDATION_SEED = 1  # binarization of the validation images
TEST_SEED = 0  # binarization of the test images (the card's figure)
TRAIN_FILE, TEST_FILE = "mnist/mnist_5k_train.csv.gz", "mnist/t10k-images-idx3-ubyte.gz"


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


def package(config, data_dir, run_dir, checkpoints_dir):
    raise NotImplementedError("packaging comes with the card")


def main(argv=None):
    parser = argument_parser(__doc__.split("\n")[0], CONFIGS, "pixelrnn-mnist", 90.0)
    args = parser.parse_args(argv)
    run_recipe(args, CONFIGS, train, package)


if __name__ == "__main__":
    main()
