"""Image models: draw and complete binary images, score image files, serve `sample`, fine-tune on images."""

import math
import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.decoding.image_sampling import complete_images, sample_images
from zoo.images import binarized, read_images, write_image_grid
from zoo.tasks.task import Task, first_examples


class ImageModelTask(Task):
    """p(x) over binary images, pixel by pixel (`PixelRNN`)."""

    name, title, verb = "image_model", "an image model", "generate"
    evaluation_flags, evaluation_usage = ("images",), "--images FILE"

    def add_verb_arguments(self, parser):
        add_option(parser, "--samples", type=int, default=None,
                   help="an image model: images to draw (default 16), or completions of each image (default 3)")
        add_option(parser, "--seed", type=int, default=None)
        add_option(parser, "--output", metavar="PNG", help="an image model: where to write the picture")
        add_option(parser, "--complete", metavar="FILE",
                   help="an image model: complete the first --count images of this file (idx .gz or CSV)")
        add_option(parser, "--rows", type=int, default=None,
                   help="an image model with --complete: how many rows are given (default: half; 1-27 for MNIST)")
        add_option(parser, "--count", type=int, default=4, help="an image model with --complete: how many images")

    def run(self, model, args):
        """Draws images (a grid, `--samples` of them) or completes the bottom of test images (`--complete FILE
        --rows R`: each row of the picture is the given part, `--samples` completions and the original),
        writes the picture to `--output` and prints the speed."""
        if not args.output:
            raise ValueError("give --output PNG: where to write the picture")
        height, width = model.image_shape
        if args.complete is None:
            count = 16 if args.samples is None else args.samples
            _check_positive("--samples", count)
            start = time.perf_counter()
            images = sample_images(model, count, seed=args.seed).numpy()
            seconds = time.perf_counter() - start
            path = write_image_grid(images, args.output, columns=math.ceil(math.sqrt(count)))
            print(f"{count} images drawn from {args.name} in {seconds:.1f} s, compiling the loop included "
                  f"({height * width} pixels each, {_seeded(args.seed)}) -> {path}")
            return
        rows = height // 2 if args.rows is None else args.rows
        if not 1 <= rows <= height - 1:
            raise ValueError(f"--rows must be from 1 to {height - 1} (the rows given), got {rows}")
        completions = 3 if args.samples is None else args.samples
        _check_positive("--samples", completions)
        _check_positive("--count", args.count)
        originals = binarized(read_images(args.complete, model.image_shape)[: args.count], 0)  # (N, R, C, 1)
        given = np.repeat(originals, completions, axis=0)
        start = time.perf_counter()
        completed = complete_images(model, given, rows, seed=args.seed).numpy()
        seconds = time.perf_counter() - start
        occluded = originals.copy()
        occluded[:, rows:] = 0.5  # grey: what the model does not see
        lines = [np.concatenate([occluded[i : i + 1], completed[i * completions : (i + 1) * completions],
                                 originals[i : i + 1]]) for i in range(len(originals))]
        path = write_image_grid(np.concatenate(lines), args.output, columns=completions + 2)
        print(f"{len(originals)} images of {args.complete} completed {completions} times from row {rows} on "
              f"in {seconds:.1f} s ({_seeded(args.seed)}); each row: given part, completions, original -> {path}")

    def add_evaluation_arguments(self, group):
        group.add_argument("--images", help="an idx image file (.gz) or a CSV of pixel rows, for an image model")
        group.add_argument("--binarization-seed", type=int, default=0,
                           help="an image model: seed of the binarization (each pixel 1 with probability value/255)")

    def evaluate(self, model, args):
        """Negative log-likelihood in nats per image and bits per pixel, the images binarized with a fixed seed."""
        images = first_examples(read_images(args.images, model.image_shape), args)
        result = image_log_likelihood(model, binarized(images, args.binarization_seed))
        print(f"{args.name} on {args.images} ({result['images']:,} images, binarized with seed "
              f"{args.binarization_seed}: each pixel 1 with probability intensity/255)")
        print(f"  nats/image {result['nats']:.2f}")
        print(f"  bits/dim   {result['bits_per_dim']:.4f}")

    def export_module(self, model, **options):
        module = ImageSampler(model)
        return module, {"sample": module.sample, "log_likelihood": module.log_likelihood}

    def dataset(self, model, data, batch_size=32, shuffle=True, seed=None):
        """(images, images) batches of binary (B, R, C, 1) images, for `model.fit` with `binary_image_nll`: from an
        image file (path) or an array of 0-255 values (N, R, C), binarized with `seed` (one draw)."""
        images = read_images(data, model.image_shape) if isinstance(data, (str, Path)) else np.asarray(data)
        binary = binarized(images, seed)
        examples = tf.data.Dataset.from_tensor_slices((binary, binary))
        if shuffle:
            examples = examples.shuffle(len(binary), seed=seed)
        return examples.batch(batch_size)


def _seeded(seed):
    return "unseeded: --seed N repeats a draw" if seed is None else f"seed {seed}"


def image_log_likelihood(model, images, batch_size=100):
    """{"images", "nats" (mean -log p(x) per image), "bits_per_dim"} over binary images (N, R, C, 1)."""
    score = tf.function(model.log_likelihood)
    total = 0.0
    for start in range(0, len(images), batch_size):
        total += float(tf.reduce_sum(score(tf.constant(images[start : start + batch_size]))))
    nats = -total / len(images)
    return {"images": len(images), "nats": nats, "bits_per_dim": nats / (images[0].size * math.log(2))}


def add_option(parser, *flags, **options):
    """Adds an option to a verb's parser unless another task of the verb already did (a shared flag)."""
    if not any(flag in parser._option_string_actions for flag in flags):
        parser.add_argument(*flags, **options)


def _check_positive(flag, value):
    if value < 1:
        raise ValueError(f"{flag} must be at least 1, got {value}")


class ImageSampler(tf.Module):
    """sample(count, seed) -> {"images": (count, R, C) uint8, 0 or 255}; log_likelihood(images (B, R, C) uint8 0/255
    or 0/1) -> {"nats": (B,) float32, -log p(x) of each image read as binary (value > 0)}."""

    def __init__(self, model):
        super().__init__()
        self.model = model
        if not model.built:
            model(tf.zeros((1, *model.image_shape, 1)))
        height, width = model.image_shape
        self.sample = tf.function(self._sample, input_signature=[
            tf.TensorSpec((), tf.int32, name="count"), tf.TensorSpec((), tf.int64, name="seed")])
        self.log_likelihood = tf.function(self._log_likelihood, input_signature=[
            tf.TensorSpec((None, height, width), tf.uint8, name="images")])

    def _sample(self, count, seed):
        check = tf.debugging.assert_positive(count, message="sample: `count` must be at least 1")
        with tf.control_dependencies([check]):
            blank = tf.zeros(tf.stack([count, *self.model.image_shape, 1]))
        images = complete_images(self.model, blank, 0, seed=seed)
        return {"images": tf.cast(images[..., 0] * 255, tf.uint8)}

    def _log_likelihood(self, images):
        binary = tf.cast(images > 0, tf.float32)[..., None]
        return {"nats": -self.model.log_likelihood(binary)}
