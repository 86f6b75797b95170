"""PixelRNN models: likelihood, sampling through the decoding loop, image files, the `zoo` command line,
the SavedModel, fine-tuning; bad input."""

import gzip
import os
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from helpers import fit_steps, run, run_error, run_fresh_python, saved_checkpoint
from zoo.decoding import Sample, decode
from zoo.decoding.image_sampling import complete_images, sample_images
from zoo.export import export_saved_model
from zoo.images import ImageFileError, binarized, read_images
from zoo.models.pixel_rnn import PIXEL_IDS, PixelRNN, binary_image_nll

SIZE = 7
DATA_DIR = Path(os.environ.get("ZOO_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))


def strokes(count, seed=0):
    """0-255 images (N, 7, 7): a vertical bar at a random column, so that a model can learn something."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, SIZE, SIZE), np.uint8)
    images[np.arange(count), :, rng.integers(1, SIZE - 1, count)] = 255
    return images


def tiny_model(core="diagonal_bilstm"):
    keras.utils.set_random_seed(0)
    model = PixelRNN(core, units=4, num_layers=1, features=8, output_features=8, image_shape=(SIZE, SIZE))
    model.compile(optimizer=keras.optimizers.Adam(0.02), loss=binary_image_nll)
    model(tf.zeros((1, SIZE, SIZE, 1)))
    return model


@pytest.fixture(scope="module")
def trained():
    model = tiny_model()
    data = binarized(strokes(64), 0)
    fit_steps(model, data, data, batch_size=16, epochs=15, shuffle=True)
    return model


@pytest.fixture(scope="module")
def checkpoint(trained, tmp_path_factory):
    return saved_checkpoint(trained, tmp_path_factory, "tiny-pixelrnn")


def csv_file(folder, images, label=True):
    rows = [",".join(map(str, list(image.reshape(-1)) + ([3] if label else []))) for image in images]
    path = Path(folder) / "images.csv"
    path.write_text("\n".join(rows) + "\n")
    return path


# --- the model ---------------------------------------------------------------------------------------------


def test_log_likelihood_is_the_sum_of_per_pixel_bernoullis(trained):
    images = binarized(strokes(3, seed=1), 2)
    p = tf.sigmoid(trained(images)).numpy()
    by_hand = np.sum(images * np.log(p) + (1 - images) * np.log(1 - p), axis=(1, 2, 3))
    np.testing.assert_allclose(trained.log_likelihood(images), by_hand, rtol=1e-5)
    np.testing.assert_allclose(binary_image_nll(images, trained(images)), -by_hand, rtol=1e-5)


def test_training_learns_the_strokes(trained):
    test = binarized(strokes(32, seed=3), 4)
    untrained = tiny_model()
    assert -np.mean(trained.log_likelihood(test)) < 0.5 * -np.mean(untrained.log_likelihood(test))


@pytest.mark.parametrize("core", ["diagonal_bilstm", "row_lstm", "masked_conv"])
def test_pixel_by_pixel_logits_equal_those_of_the_whole_image(core):
    """The decoding protocol computes each pixel from the layers' kept states; teacher-forced through an image,
    and started after P given pixels, it gives the logits of `call`."""
    rows, columns = 5, 6
    model = PixelRNN(core, units=3, num_layers=2, features=4, output_features=5, image_shape=(rows, columns))
    model(tf.zeros((1, rows, columns, 1)))
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(scale=0.5, size=weight.shape))
    images = (rng.random((2, rows, columns, 1)) < 0.5).astype("float32")
    expected = model(images).numpy().reshape(2, -1)
    ids = images.reshape(2, -1).astype("int32") + PIXEL_IDS[0]
    step, _ = model.decoding_start(np.zeros_like(ids))
    logits = [step.logits[:, PIXEL_IDS[1]]]
    for k in range(rows * columns - 1):
        step = model.decoding_step(tf.constant(ids[:, k]), step.state, ())
        logits.append(step.logits[:, PIXEL_IDS[1]])
    np.testing.assert_allclose(np.stack(logits, axis=1), expected, rtol=1e-5, atol=1e-5)
    for given in (1, columns + 1, rows * columns - 1):  # mid-row, after a row end, the last pixel
        prompt = np.where(np.arange(rows * columns) < given, ids, 0)
        step, _ = model.decoding_start(prompt)
        np.testing.assert_allclose(step.logits[:, PIXEL_IDS[1]], expected[:, given], rtol=1e-5, atol=1e-5)
    assert np.all(step.logits[:, : PIXEL_IDS[0]] == -np.inf) and np.all(step.logits[:, PIXEL_IDS[0]] == 0)


def test_sampling_draws_from_the_model_and_reports_its_log_probability(trained):
    ids = tf.zeros((4, SIZE * SIZE), tf.int32)
    decoded = decode(trained, ids, Sample(1.0, seed=3), SIZE * SIZE)
    pixels = decoded.ids.numpy() - PIXEL_IDS[0]
    assert set(np.unique(pixels)) <= {0, 1} and decoded.ids.shape == (4, SIZE * SIZE)
    images = pixels.reshape(4, SIZE, SIZE, 1).astype("float32")
    # each pixel was drawn given the ones before it: the loop's log p is the model's likelihood of the picture
    np.testing.assert_allclose(decoded.log_probs, trained.log_likelihood(images), rtol=1e-4)
    again = sample_images(trained, 4, seed=3).numpy()
    np.testing.assert_array_equal(again, images)
    assert not np.array_equal(sample_images(trained, 4, seed=4), images)
    # it learned bars: most samples have a column that is mostly ink
    assert np.mean(images.mean(axis=1).max(axis=(1, 2)) > 0.6) >= 0.5


def test_completion_keeps_the_given_rows_and_draws_the_rest(trained):
    given = binarized(strokes(3, seed=5), 0)
    completed = complete_images(trained, given, 3, seed=1).numpy()
    np.testing.assert_array_equal(completed[:, :3], given[:, :3])
    with pytest.raises(ValueError, match=r"`rows` must be an int from 0 to 6"):
        complete_images(trained, given, SIZE)


@pytest.mark.parametrize("core", ["row_lstm", "masked_conv"])
def test_other_cores_train_and_sample(core):
    model = tiny_model(core)
    data = binarized(strokes(32), 0)
    history = model.fit(data, data, batch_size=16, epochs=3, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert sample_images(model, 2, seed=0).shape == (2, SIZE, SIZE, 1)


# --- image files -----------------------------------------------------------------------------------------


def test_reads_csv_with_and_without_labels(tmp_path):
    images = strokes(3)
    np.testing.assert_array_equal(read_images(csv_file(tmp_path, images), (SIZE, SIZE)), images)
    np.testing.assert_array_equal(read_images(csv_file(tmp_path, images, label=False), (SIZE, SIZE)), images)


@pytest.mark.skipif(not (DATA_DIR / "mnist").exists(), reason="needs the shared data")
def test_reads_the_mnist_files():
    test = read_images(DATA_DIR / "mnist" / "t10k-images-idx3-ubyte.gz")
    train = read_images(DATA_DIR / "mnist" / "mnist_5k_train.csv.gz")
    assert test.shape == (10000, 28, 28) and train.shape == (5000, 28, 28)
    assert test.dtype == train.dtype == np.uint8 and test.max() == train.max() == 255


def idx_bytes(images):
    count, rows, columns = images.shape
    header = b"".join(n.to_bytes(4, "big") for n in (2051, count, rows, columns))
    return header + images.tobytes()


@pytest.mark.parametrize("content, message", [
    (lambda: gzip.compress(idx_bytes(strokes(2)))[:-10], "corrupt or truncated .gz"),
    (lambda: idx_bytes(strokes(2))[:-5], "announces 2 images of 7x7"),
    (lambda: idx_bytes(np.zeros((2, 8, 8), np.uint8)), "holds 8x8 images; the model reads 7x7"),
    (lambda: b"1,2,3\n4,5,6\n", "a CSV row must hold 49 pixel values"),
    (lambda: "\n".join([",".join(["300"] * 49)]).encode(), "pixel values must be integers 0-255"),
    (lambda: b"\x00\x00\x08\x01" + bytes(20), "idx \\*label\\* file"),
    (lambda: b"\x89PNG\r\n\x1a\n....", "neither an idx image file nor a CSV"),
])
def test_bad_image_files_name_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.gz"
    path.write_bytes(content())
    with pytest.raises(ImageFileError, match=message):
        read_images(path, (SIZE, SIZE))


# --- the command line ------------------------------------------------------------------------------------


def test_evaluate_prints_nats_per_image_and_bits_per_dim(checkpoint, capsys, tmp_path):
    path = csv_file(tmp_path, strokes(20, seed=6))
    code, out, _ = run(capsys, "evaluate", checkpoint, "--images", path, "--binarization-seed", 5)
    nats = float(out.split("nats/image")[1].split()[0])
    bits = float(out.split("bits/dim")[1].split()[0])
    assert code == 0 and "20 images, binarized with seed 5" in out
    per_dim = SIZE * SIZE * np.log(2)  # both printed rounded: bits to 4 decimals, nats to 2
    assert bits == pytest.approx(nats / per_dim, abs=0.5e-4 + 0.005 / per_dim)
    model = zoo.load(checkpoint)
    expected = -np.mean(model.log_likelihood(binarized(strokes(20, seed=6), 5)))
    assert nats == pytest.approx(expected, abs=0.01)
    first = run(capsys, "evaluate", checkpoint, "--images", path, "--binarization-seed", 5, "--first", 4)[1]
    assert "4 images" in first


def test_generate_writes_a_grid_and_completions(checkpoint, capsys, tmp_path):
    code, out, _ = run(capsys, "generate", checkpoint, "--samples", 4, "--seed", 1, "--output", tmp_path / "grid.png")
    picture = tf.io.decode_png((tmp_path / "grid.png").read_bytes()).numpy()
    assert code == 0 and "4 images drawn" in out and "compiling the loop included" in out
    assert picture.shape == (2 * (3 * SIZE + 2) + 2, 2 * (3 * SIZE + 2) + 2, 1)
    source = csv_file(tmp_path, strokes(3, seed=7))
    code, out, _ = run(capsys, "generate", checkpoint, "--complete", source, "--rows", 3, "--count", 2,
                       "--samples", 2, "--output", tmp_path / "completed.png")
    picture = tf.io.decode_png((tmp_path / "completed.png").read_bytes()).numpy()
    assert code == 0 and "completed 2 times from row 3 on" in out
    assert picture.shape == (2 * (3 * SIZE + 2) + 2, 4 * (3 * SIZE + 2) + 2, 1)


@pytest.mark.parametrize("argv, message", [
    (["--samples", 0, "--output", "x.png"], "--samples must be at least 1, got 0"),
    (["--samples", 2], "give --output PNG"),
    (["--complete", "IMAGES", "--rows", 0, "--output", "x.png"], "--rows must be from 1 to 6"),
    (["--complete", "IMAGES", "--rows", 7, "--output", "x.png"], "--rows must be from 1 to 6"),
    (["--complete", "missing.csv", "--output", "x.png"], "no such image file: missing.csv"),
])
def test_generate_refuses_bad_arguments(checkpoint, capsys, tmp_path, argv, message):
    images = csv_file(tmp_path, strokes(2))
    argv = [images if a == "IMAGES" else a for a in argv]
    assert message in run_error(capsys, "generate", checkpoint, *argv)


def test_evaluate_refuses_a_wrong_size(checkpoint, capsys, tmp_path):
    path = tmp_path / "big.csv"
    path.write_text(",".join(["0"] * 64) + "\n")
    assert "a CSV row must hold 49 pixel values" in run_error(capsys, "evaluate", checkpoint, "--images", path)


def test_a_language_model_verb_is_refused(checkpoint, capsys):
    assert "an image model (PixelRNN), not a classifier" in run_error(capsys, "classify", checkpoint, "a text")


# --- export and fine-tuning -----------------------------------------------------------------------------


def test_saved_model_samples_and_scores_without_the_zoo(trained, tmp_path):
    export_saved_model(trained, tmp_path / "exported")
    expected = sample_images(trained, 3, seed=9, jit_compile=False).numpy()[..., 0]
    script = f"""
import numpy as np, tensorflow as tf
module = tf.saved_model.load({str(tmp_path / 'exported')!r})
images = module.sample(count=tf.constant(3), seed=tf.constant(9, tf.int64))["images"].numpy()
nats = module.log_likelihood(images=tf.constant(images))["nats"].numpy()
np.save({str(tmp_path / 'images.npy')!r}, images); np.save({str(tmp_path / 'nats.npy')!r}, nats)
try:
    module.sample(count=tf.constant(0), seed=tf.constant(1, tf.int64))
except tf.errors.InvalidArgumentError as error:
    print("refused:", "count" in str(error))
"""
    assert "refused: True" in run_fresh_python(script, tmp_path)
    images = np.load(tmp_path / "images.npy")
    assert images.shape == (3, SIZE, SIZE) and set(np.unique(images)) <= {0, 255}
    np.testing.assert_array_equal(images // 255, expected)
    np.testing.assert_allclose(np.load(tmp_path / "nats.npy"), -trained.log_likelihood(images[..., None] / 255.0),
                               rtol=1e-5)


def test_zoo_dataset_fine_tunes_on_an_image_file(checkpoint, tmp_path):
    model = zoo.load(checkpoint)
    path = csv_file(tmp_path, strokes(32, seed=8).transpose(0, 2, 1))  # horizontal bars, new to the model
    data = zoo.dataset(model, path, batch_size=8, seed=0)
    images, targets = next(iter(data))
    assert images.shape == (8, SIZE, SIZE, 1) and np.array_equal(images, targets)
    before = model.evaluate(data, verbose=0)
    model.fit(data, epochs=3, verbose=0)
    assert model.evaluate(data, verbose=0) < before
