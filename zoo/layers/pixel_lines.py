"""Lines of pixels: a 1-D convolution along a line as one matmul, and the skew of the Diagonal BiLSTM.

A (1 x k) convolution along axis -2 of x (..., L, F) with taps at `offsets` is one matmul of a view:

    neighbours(x, offsets)[..., j, :] = [x[..., j + o_1, :], ..., x[..., j + o_k, :]]    (..., L, k*F)
    conv(x) = neighbours(x, offsets) K                                                  K (k*F, G)

(zeros where j + o falls off the line). A masked convolution is a choice of offsets: a row
convolution of width 3 under mask B has offsets (-1, 0), under mask A (-1,). The view is linear;
its transpose, which the backward pass of the loops needs, adds each block back where it came from:

    neighbours_transpose(d, offsets)[..., j, :] = sum_o d_o[..., j - o, :]
"""

import tensorflow as tf


def shifted(x, offset, axis=-2):
    """y[..., j, ...] = x[..., j + offset, ...] along `axis`, zeros where j + offset is off the line."""
    if offset == 0:
        return x
    axis = axis % x.shape.rank
    size = abs(offset)
    window = [slice(None)] * x.shape.rank
    window[axis] = slice(size, None) if offset > 0 else slice(None, -size)
    kept = x[tuple(window)]
    paddings = [[0, 0]] * x.shape.rank
    paddings[axis] = [0, size] if offset > 0 else [size, 0]
    return tf.pad(kept, paddings)


def neighbours(x, offsets, axis=-2):
    """(..., L, F) -> (..., L, k*F): each position's neighbours at `offsets` along `axis`, side by side."""
    return tf.concat([shifted(x, offset, axis) for offset in offsets], axis=-1)


def neighbours_transpose(d, offsets, axis=-2):
    """The transpose of `neighbours`: (..., L, k*F) -> (..., L, F)."""
    blocks = tf.split(d, len(offsets), axis=-1)
    return tf.add_n([shifted(block, -offset, axis) for offset, block in zip(offsets, blocks)])


def skew(x):
    """(B, R, C, F) -> (B, R, C + R - 1, F): row i moved i columns right, so that each diagonal
    i + j = c of the image becomes column c. Zeros where no pixel lands."""
    batch, rows, columns, features = _shape(x)
    padded = tf.pad(x, [[0, 0], [0, 0], [0, rows], [0, 0]])  # (B, R, C + R, F)
    flat = tf.reshape(padded, (batch, rows * (columns + rows), features))[:, : rows * (columns + rows - 1)]
    return tf.reshape(flat, (batch, rows, columns + rows - 1, features))


def unskew(x, columns):
    """The inverse of `skew`: (B, R, C + R - 1, F) -> (B, R, C, F)."""
    batch, rows, width, features = _shape(x)
    flat = tf.pad(tf.reshape(x, (batch, rows * width, features)), [[0, 0], [0, rows], [0, 0]])
    return tf.reshape(flat, (batch, rows, width + 1, features))[:, :, :columns]


def skewed_mask(rows, columns):
    """(C + R - 1, 1, R, 1) bool, time-major over the skewed columns: True where a pixel lands."""
    c = tf.range(columns + rows - 1)[:, None]
    i = tf.range(rows)[None, :]
    inside = (c - i >= 0) & (c - i < columns)  # (C + R - 1, R)
    return inside[:, None, :, None]


def _shape(x):
    static, dynamic = x.shape, tf.shape(x)
    return [static[i] if static[i] is not None else dynamic[i] for i in range(4)]


def masked_offsets(width, mask_type):
    """The taps of a masked row convolution of odd `width` centred on the pixel: mask "B" keeps the
    pixel and those left of it, mask "A" only those left of it (the pixel never sees itself)."""
    if mask_type not in ("A", "B"):
        raise ValueError(f"`mask_type` must be 'A' or 'B', got {mask_type!r}")
    if not isinstance(width, int) or width < 1 or width % 2 == 0:
        raise ValueError(f"the input convolution's width must be a positive odd int, got {width!r}")
    offsets = tuple(o for o in range(-(width // 2), 1) if o < 0 or mask_type == "B")
    if not offsets:
        raise ValueError("mask 'A' leaves a width-1 input convolution no tap: use an input width of 3 or more")
    return offsets


def with_column(line, j, value):
    """line (B, L, F) with position j set to value (B, F)."""
    at = tf.one_hot(j, tf.shape(line)[1], dtype=line.dtype)[None, :, None]  # (1, L, 1)
    return line * (1 - at) + value[:, None, :] * at
