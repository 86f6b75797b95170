"""Image files for the PixelRNN models: MNIST's idx format and pixel CSVs, and binarization.

    read_images(path)            -> uint8 (N, R, C): an idx image file (`t10k-images-idx3-ubyte.gz`) or a
                                    CSV of one image a row (R*C pixel values 0-255, optionally a label after)
    binarized(images, seed)      -> float32 (N, R, C, 1) in {0, 1}: each pixel 1 with probability value/255
"""

import gzip
import io
import zlib
from pathlib import Path

import numpy as np

IDX_IMAGES_MAGIC = 2051  # idx3-ubyte: unsigned bytes, 3 dimensions


class ImageFileError(ValueError):
    """An image file that cannot be read as images: the message names the file and the problem."""


def read_images(path, image_shape=(28, 28)):
    """uint8 (N, R, C) images from `path`; an `ImageFileError` for a missing, corrupt or malformed file, or
    images of another size than `image_shape`."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"no such image file: {path}")
    raw = _bytes_of(path)
    if raw[:4] == IDX_IMAGES_MAGIC.to_bytes(4, "big"):
        images = _idx_images(path, raw)
    elif raw[:4] in (b"\x00\x00\x08\x01",):
        raise ImageFileError(f"{path} is an idx *label* file (magic 2049), not images: give the images file")
    else:
        images = _csv_images(path, raw, image_shape)
    if images.shape[1:] != tuple(image_shape):
        raise ImageFileError(f"{path} holds {images.shape[1]}x{images.shape[2]} images; the model reads "
                             f"{image_shape[0]}x{image_shape[1]}")
    if len(images) == 0:
        raise ImageFileError(f"{path} holds no images")
    return images


def binarized(images, seed):
    """float32 (N, R, C, 1) binary images: pixel = 1 with probability value / 255 (dynamic binarization),
    drawn from `numpy.random.default_rng(seed)`."""
    images = np.asarray(images)
    draws = np.random.default_rng(seed).random(images.shape, dtype="float32")
    return (draws < images.astype("float32") / 255.0).astype("float32")[..., None]


def _bytes_of(path):
    raw = path.read_bytes()
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise ImageFileError(f"{path} is a corrupt or truncated .gz file ({error})") from None


def _idx_images(path, raw):
    if len(raw) < 16:
        raise ImageFileError(f"{path}: an idx image file needs a 16-byte header, the file has {len(raw)} bytes")
    count, rows, columns = (int.from_bytes(raw[i : i + 4], "big") for i in (4, 8, 12))
    expected = 16 + count * rows * columns
    if len(raw) != expected:
        raise ImageFileError(f"{path}: the idx header announces {count} images of {rows}x{columns} "
                             f"({expected:,} bytes), the file has {len(raw):,} bytes: truncated or corrupt")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(count, rows, columns)


def _csv_images(path, raw, image_shape):
    pixels = image_shape[0] * image_shape[1]
    try:
        text = raw.decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=",", ndmin=2) if text.strip() else np.zeros((0, pixels))
    except (UnicodeDecodeError, ValueError) as error:
        raise ImageFileError(f"{path} is neither an idx image file nor a CSV of pixel values "
                             f"({str(error).splitlines()[0][:120]})") from None
    if table.shape[1] not in (pixels, pixels + 1):
        raise ImageFileError(f"{path}: a CSV row must hold {pixels} pixel values (a {image_shape[0]}x"
                             f"{image_shape[1]} image), optionally followed by a label; its rows hold "
                             f"{table.shape[1]} values")
    values = table[:, :pixels]
    if values.size and (values.min() < 0 or values.max() > 255 or np.any(values != np.round(values))):
        raise ImageFileError(f"{path}: pixel values must be integers 0-255")
    return values.astype(np.uint8).reshape(-1, *image_shape)


def write_image_grid(images, path, columns, scale=3, gap=2):
    """Writes images (N, R, C, 1) in [0, 1] as one PNG grid of `columns` columns (each pixel `scale` x `scale`,
    `gap` white pixels between images, ink black on white) and returns the path."""
    images = np.asarray(images, "float32")[..., 0]
    count, height, width = images.shape
    rows = -(-count // columns)
    cell_h, cell_w = height * scale + gap, width * scale + gap
    grid = np.ones((rows * cell_h + gap, columns * cell_w + gap), "float32")
    for index, image in enumerate(images):
        top, left = gap + (index // columns) * cell_h, gap + (index % columns) * cell_w
        grid[top : top + height * scale, left : left + width * scale] = 1.0 - np.kron(image, np.ones((scale, scale)))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    import tensorflow as tf  # only here: reading images needs no TensorFlow

    path.write_bytes(tf.io.encode_png(np.round(grid * 255).astype("uint8")[..., None]).numpy())
    return path
