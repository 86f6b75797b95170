"""Input checks that turn bad input into a ValueError naming the layer and the expected shape."""

import tensorflow as tf


def _describe(layer):
    return f"Layer '{layer.name}' ({type(layer).__name__})"


def _shape(x):
    return tuple(x.shape) if hasattr(x, "shape") else None


def check_sequence_shape(layer, shape, input_size=None):
    """`shape` must be (batch, timesteps, features), with `input_size` features once built."""
    shape = tuple(shape)
    expected = f"(batch, timesteps, {input_size if input_size is not None else 'features'})"
    if len(shape) != 3:
        raise ValueError(
            f"{_describe(layer)} expects inputs of rank 3, shape {expected}; got shape {shape} (rank {len(shape)})."
        )
    if shape[-1] is None:
        raise ValueError(f"{_describe(layer)} needs a known feature size: expected {expected}, got shape {shape}.")
    if input_size is not None and shape[-1] != input_size:
        raise ValueError(
            f"{_describe(layer)} was built for {input_size} features: expected shape {expected}, got shape {shape}."
        )


def check_sequence_input(layer, inputs, input_size):
    dtype = tf.as_dtype(inputs.dtype)
    if not dtype.is_floating:
        raise ValueError(
            f"{_describe(layer)} expects floating-point inputs of shape (batch, timesteps, {input_size}); "
            f"got dtype {dtype.name}. Embed integer ids first (keras.layers.Embedding)."
        )
    check_sequence_shape(layer, inputs.shape, input_size)


def check_mask(layer, mask, inputs):
    """A mask is (batch, timesteps), matching the inputs' first two axes."""
    if mask is None:
        return None
    mask_shape, input_shape = _shape(mask), tuple(inputs.shape)
    expected = f"(batch, timesteps) = {input_shape[:2]}"
    if mask_shape is None or len(mask_shape) != 2:
        raise ValueError(f"{_describe(layer)} expects a mask of shape {expected}; got shape {mask_shape}.")
    for got, want in zip(mask_shape, input_shape[:2]):
        if got is not None and want is not None and got != want:
            raise ValueError(f"{_describe(layer)} expects a mask of shape {expected}; got shape {mask_shape}.")
    return tf.cast(mask, "bool")


def check_initial_state(layer, initial_state, state_size, batch_size):
    """`initial_state` is a list with one (batch, size) tensor per entry of `state_size`."""
    states = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
    expected = [(batch_size, size) for size in state_size]
    if len(states) != len(state_size):
        raise ValueError(
            f"{_describe(layer)} expects {len(state_size)} initial state tensor(s) of shapes {expected}; "
            f"got {len(states)}."
        )
    for state, size in zip(states, state_size):
        shape = _shape(state)
        if shape is None or len(shape) != 2 or shape[-1] not in (None, size):
            raise ValueError(f"{_describe(layer)} expects initial states of shapes {expected}; got shape {shape}.")
        if batch_size is not None and shape[0] is not None and shape[0] != batch_size:
            raise ValueError(f"{_describe(layer)} expects initial states of shapes {expected}; got shape {shape}.")
    return [tf.cast(s, "float32") for s in states]


def check_step_input(cell, inputs, states):
    """A cell called for one step takes x_t (batch, features) and its states."""
    shape = _shape(inputs)
    if shape is None or len(shape) != 2:
        raise ValueError(f"{_describe(cell)} steps on inputs of shape (batch, features); got shape {shape}.")
    check_initial_state(cell, states, cell.state_size, shape[0])


def check_line_step_input(cell, inputs, states):
    """A line cell called for one step takes a line x_t (batch, length, features) and [h, c] (batch, length, units)."""
    shape = _shape(inputs)
    if shape is None or len(shape) != 3:
        raise ValueError(f"{_describe(cell)} steps on lines of shape (batch, length, features); got shape {shape}.")
    expected = (shape[0], shape[1], cell.units)
    for state in states:
        state_shape = _shape(state)
        if state_shape is None or len(state_shape) != 3 or any(
            got is not None and want is not None and got != want for got, want in zip(state_shape, expected)
        ):
            raise ValueError(f"{_describe(cell)} expects states of shape {expected}; got shape {state_shape}.")


def check_image_input(layer, inputs, channels=None):
    """An image layer takes floats of shape (batch, rows, columns, channels), with `channels` once built."""
    shape = _shape(inputs)
    expected = f"(batch, rows, columns, {channels if channels is not None else 'channels'})"
    if shape is None or len(shape) != 4:
        raise ValueError(f"{_describe(layer)} expects images of shape {expected}; got shape {shape}.")
    if not tf.as_dtype(inputs.dtype).is_floating:
        raise ValueError(f"{_describe(layer)} expects floating-point images; got dtype {tf.as_dtype(inputs.dtype).name}.")
    if shape[-1] is None or (channels is not None and shape[-1] != channels):
        raise ValueError(f"{_describe(layer)} expects images of shape {expected}; got shape {shape}.")
