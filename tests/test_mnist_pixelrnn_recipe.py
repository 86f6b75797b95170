"""The mnist_pixelrnn recipe end to end on a stand-in MNIST: train, resume, package, a card whose test figure
`zoo evaluate` reproduces, and the baselines' table."""

import gzip
import json

import numpy as np
import pytest

from helpers import run
from recipes.card_checks import card_checks


def digits(count, seed):
    """0-255 images (N, 28, 28): a thick vertical stroke at a random column."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    for image, column in zip(images, rng.integers(4, 24, count)):
        image[4:24, column : column + 3] = 255
    return images


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    (root / "mnist").mkdir()
    train = digits(564, 0)  # 500 validate, 64 train
    rows = "".join(",".join(map(str, [*image.reshape(-1), 1])) + "\n" for image in train)
    (root / "mnist" / "mnist_5k_train.csv.gz").write_bytes(gzip.compress(rows.encode()))
    test = digits(40, 1)
    header = b"".join(n.to_bytes(4, "big") for n in (2051, 40, 28, 28))
    (root / "mnist" / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + test.tobytes()))
    return root


@pytest.mark.slow
def test_trains_resumes_packages_and_the_card_matches_zoo_evaluate(data_dir, tmp_path, capsys):
    flags = ["--model", "pixelrnn-mnist-tiny", "--data-dir", data_dir, "--run-dir", tmp_path / "run"]
    code, out, _ = run(capsys, "train", "mnist_pixelrnn", *flags)
    assert code == 0 and "64 training / 500 validation images" in out
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 3 and float(history[2].split(",")[-1]) < float(history[1].split(",")[-1])
    assert "Resuming from" in run(capsys, "train", "mnist_pixelrnn", *flags, "--resume")[1]
    run(capsys, "train", "mnist_pixelrnn", *flags, "--package", "--checkpoints-dir", tmp_path / "checkpoints")
    folder = tmp_path / "checkpoints" / "pixelrnn-mnist-tiny"
    metadata = json.loads((folder / "metadata.json").read_text())
    test = metadata["test"]
    assert test["images"] == 40 and metadata["sampling_images_per_second"] > 0
    code, out, _ = run(capsys, "evaluate", folder, "--images", data_dir / "mnist" / "t10k-images-idx3-ubyte.gz")
    assert code == 0 and f"nats/image {test['nats']:.2f}" in out and "binarized with seed 0" in out
    card = (folder / "README.md").read_text()
    assert f"| {test['nats']:.2f} | {test['bits_per_dim']:.4f} | 40 | 0 |" in card
    assert "zoo train mnist_pixelrnn --model pixelrnn-mnist-tiny" in card and "## Precision" in card
    made = f"One run of `zoo train mnist_pixelrnn {' '.join(map(str, flags))}` (float32) at commit `"
    assert made in card and "and resumed with `--resume` at " in card  # the resume's command counts as the same
    checks = card_checks(card)  # run on the packaged folder: 40 test images, all of them and the first 500
    assert checks == metadata["checks"] and [c["prints"][0] for c in checks] == [f"nats/image {test['nats']:.2f}"] * 2
    code, out, _ = run(capsys, "train", "mnist_pixelrnn", "--compare", tmp_path / "table.md", "--data-dir", data_dir,
                       "--runs-dir", tmp_path, "--checkpoints-dir", tmp_path / "checkpoints")
    table = (tmp_path / "table.md").read_text()
    assert code == 0 and "independent Bernoulli per pixel" in table and (tmp_path / "table.png").is_file()
    # the runs dir holds "run", not the config's name: the row comes from the packaged checkpoint
    assert f"| `pixelrnn-mnist-tiny` (DiagonalBiLSTM x 1) | {metadata['parameters']:,} |" in table
    assert f"| {test['nats']:.2f} |" in table and "pixelrnn-mnist: no run" in out
