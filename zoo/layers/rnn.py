"""The sequence layer that runs any `RecurrentCell` over time."""

import keras
import tensorflow as tf

from zoo.layers import checks
from zoo.layers.recurrence import run_recurrence

# Options of the sequence layer itself; a named layer (LSTM, ...) passes every
# other keyword to its cell.
SEQUENCE_OPTIONS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "dropout",
    "seed",
    "jit_compile",
    "name",
    "trainable",
)

# From this many recurrent weights on, the loop ran faster in TF's graph executor than
# under XLA on CPU (bench/rnn_layers.py, LSTM with 1024 units: 6-7% in two runs; GRU with
# 1024 units went one way in one run and the other in the next, so it stays on XLA).
XLA_MAX_RECURRENT_WEIGHTS = 2**22


def dropout_over_time(inputs, rate, seed_generator):
    """Dropout with one mask per sequence, shared by all steps (Gal & Ghahramani 2016).

    inputs: (B, T, F). The same features are dropped at every step.
    """
    shape = tf.shape(inputs)
    return keras.random.dropout(
        inputs, rate, noise_shape=(shape[0], 1, shape[2]), seed=seed_generator
    )


class SequenceOutputs:
    """Output shapes and masks of a recurrent layer, from its `output_size`, `state_size`,
    `return_sequences`, `return_state` and `output_count` (2 for an unmerged Bidirectional)."""

    output_count = 1

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        steps = (input_shape[1],) if self.return_sequences else ()
        shapes = [(batch, *steps, self.output_size)] * self.output_count
        if self.return_state:
            shapes += [(batch, size) for size in self.state_size]
        return shapes[0] if len(shapes) == 1 else shapes

    def compute_mask(self, inputs, mask=None):
        masks = [mask if self.return_sequences else None] * self.output_count
        if self.return_state:
            masks += [None] * len(self.state_size)
        return masks[0] if len(masks) == 1 else masks


@keras.saving.register_keras_serializable(package="zoo")
class RNN(SequenceOutputs, keras.layers.Layer):
    """Runs a `RecurrentCell` over a sequence: a drop-in for `keras.layers.RNN`.

    The input projection x_t W + b of every step is one matmul hoisted out of
    the loop; the loop (`zoo.layers.recurrence`) does one recurrent matmul per
    step and is compiled with XLA.

    Args:
        cell: a `RecurrentCell` (or its serialized config).
        return_sequences: return the output of every step (B, T, H), not only
            the last one (B, H).
        return_state: also return the final states: `[output, *states]`.
        go_backwards: process the sequence in reverse; with `return_sequences`
            the outputs come in processing (reversed) order, as in Keras.
        stateful: carry the final states of a batch over as the initial states
            of the next (truncated BPTT); needs a fixed batch size. Call
            `reset_states()` between independent texts.
        dropout: rate of dropout on the inputs, one mask per sequence.
        seed: seed of the dropout.
        jit_compile: compile the loop with XLA (True), or run it in TensorFlow's
            graph executor (False). "auto" (default) picks what measured faster
            on CPU (README, Speed): XLA unless the recurrent kernel holds
            2**22 weights or more (LSTM with 1024 units and up), where the
            executor's oneDNN matmuls win.

    Call arguments:
        inputs: (B, T, D) floats.
        mask: optional (B, T) booleans; a masked step keeps the state and
            outputs zeros.
        initial_state: optional list of (B, S_i) tensors, one per cell state.
        training: whether dropout is active.
    """

    # Set by SimpleRNN, LSTM and GRU: their first argument is `units`, and every
    # keyword that is not a sequence option goes to their cell.
    cell_class = None

    def __init__(
        self,
        cell=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        dropout=0.0,
        seed=None,
        jit_compile="auto",
        **kwargs,
    ):
        if self.cell_class is not None:
            cell_options = {k: kwargs.pop(k) for k in list(kwargs) if k not in SEQUENCE_OPTIONS + ("dtype",)}
            units = cell if cell is not None else cell_options.pop("units", None)
            cell = self.cell_class(units, dtype=kwargs.get("dtype"), **cell_options)
        elif isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        super().__init__(**kwargs, autocast=False)
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Layer '{self.name}': `dropout` must be in [0, 1), got {dropout}")
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"Layer '{self.name}': `jit_compile` must be True, False or 'auto', got {jit_compile!r}")
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.dropout = dropout
        self.seed = seed
        self.jit_compile = jit_compile
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None
        self.supports_masking = True
        self.states = None
        self.input_size = None

    @property
    def state_size(self):
        return self.cell.state_size

    @property
    def output_size(self):
        return self.cell.output_size

    def build(self, input_shape):
        checks.check_sequence_shape(self, input_shape)
        self.input_size = input_shape[-1]
        if not self.cell.built:  # loading a saved model builds the cell from its own config first
            self.cell.build(input_shape)
        if self.stateful:
            batch_size = input_shape[0]
            if batch_size is None:
                raise ValueError(
                    f"Layer '{self.name}' is stateful and needs a fixed batch size: "
                    "use keras.Input(batch_shape=(batch, timesteps, features))."
                )
            self.states = [
                self.add_weight(
                    name=f"state_{i}", shape=(batch_size, size), initializer="zeros",
                    trainable=False, autocast=False,
                )
                for i, size in enumerate(self.state_size)
            ]

    def reset_states(self):
        """Zeroes the carried states of a stateful layer."""
        for state in self.states or []:
            state.assign(tf.zeros_like(state))

    def initial_states(self, inputs, initial_state):
        batch_size = inputs.shape[0]
        if initial_state is not None:
            return checks.check_initial_state(self, initial_state, self.state_size, batch_size)
        if self.stateful:
            return [tf.convert_to_tensor(state) for state in self.states]
        return self.cell.initial_states(tf.shape(inputs)[0])

    def call(self, inputs, mask=None, initial_state=None, training=False):
        checks.check_sequence_input(self, inputs, self.input_size)
        mask = checks.check_mask(self, mask, inputs)
        states = self.initial_states(inputs, initial_state)
        if training and self.dropout:
            inputs = dropout_over_time(inputs, self.dropout, self.seed_generator)

        x = tf.transpose(inputs, (1, 0, 2))  # (T, B, D)
        zx = tf.cast(self.cell.project_inputs(x), "float32")  # (T, B, G)
        if mask is not None:
            mask = tf.transpose(mask)[:, :, None]  # (T, B, 1)
        if self.go_backwards:
            zx = tf.reverse(zx, axis=[0])
            mask = None if mask is None else tf.reverse(mask, axis=[0])

        outputs, final_states = run_recurrence(
            self.cell, zx, states, mask, self.cell.recurrent_weights(), self.return_sequences,
            jit_compile=self.loop_jit_compile(), training=bool(training),
        )
        if self.stateful:
            for variable, state in zip(self.states, final_states):
                variable.assign(state)

        if self.return_sequences:
            output = tf.transpose(outputs, (1, 0, 2))  # (B, T, H)
        else:
            output = final_states[0]  # the last (valid) step's output, (B, H)
        output = tf.cast(output, self.compute_dtype)
        if self.return_state:
            return [output, *final_states]
        return output

    def loop_jit_compile(self):
        if self.jit_compile != "auto":
            return self.jit_compile
        return self.cell.units * self.cell.gate_width < XLA_MAX_RECURRENT_WEIGHTS

    def get_config(self):
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "dropout": self.dropout,
            "seed": self.seed,
            "jit_compile": self.jit_compile,
        }
        if self.cell_class is None:
            config["cell"] = keras.saving.serialize_keras_object(self.cell)
        else:
            cell_config = self.cell.get_config()
            config.update({k: v for k, v in cell_config.items() if k not in ("name", "trainable", "dtype")})
        return config
