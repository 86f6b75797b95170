"""The sequence layer that runs any `RecurrentCell` over time."""

import keras
import tensorflow as tf

from zoo.layers import input_checks
from zoo.layers.recurrence import run_recurrence

# Options of the sequence layer itself; a named layer (LSTM, ...) passes every
# other keyword to its cell.
SEQUENCE_OPTIONS = (
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "dropout",
    "recurrent_dropout",
    "weight_dropout",
    "seed",
    "unroll",
    "zero_output_for_mask",
    "jit_compile",
    "name",
    "trainable",
)

# Keras' LSTM and GRU (not SimpleRNN, not RNN) also take these (defaults as Keras'):
#   implementation: 1 or 2 (0 in legacy configs) is how Keras splits its matmuls; the same
#     math and results here, where the loop is always the fused one.
#   use_cudnn: "auto" and False run the loop here; True raises at call, as Keras does where
#     cuDNN is not available (the zoo has no cuDNN kernel).
CUDNN_LAYER_OPTIONS = {"implementation": 2, "use_cudnn": "auto"}

# From this many recurrent weights on, the loop ran faster in TF's graph executor than
# under XLA on CPU (bench/rnn_layers.py, LSTM with 1024 units: 6-7% in two runs; GRU with
# 1024 units went one way in one run and the other in the next, so it stays on XLA).
XLA_MAX_RECURRENT_WEIGHTS = 2**22
# Under mixed_bfloat16 the limit is lower: XLA on CPU runs a bfloat16 matmul no faster than a float32
# one, oneDNN in the graph executor up to 1.9x faster on a CPU with AVX512_BF16 (1.5x for the
# (64, 512) x (512, 2048) product), which outweighs the executor's per-op cost from 2**20 recurrent
# weights on (bench/rnn_layers.py --ours bf16, two runs: LSTM of 512 units 1.27x and 1.26x faster
# than float32, of 1024 units 1.45x and 1.54x; GRU of 512 units 1.10x faster in one run and 1.27x
# slower in the other, so it stays on XLA).
BFLOAT16_XLA_MAX_RECURRENT_WEIGHTS = 2**20


def carry_outputs_over_masked_steps(outputs, mask):
    """Keras' `zero_output_for_mask=False`: a masked step repeats the output of the last
    unmasked step before it (zeros before the first). outputs (T, B, H) with zeros at the
    masked steps, mask (T, B, 1), both in processing order."""
    steps = tf.shape(outputs)[0]
    step_index = tf.where(mask[:, :, 0], tf.range(steps)[:, None], -1)  # (T, B), -1 where masked
    last_valid = tf.scan(tf.maximum, step_index)  # (T, B): the last unmasked step so far
    carried = tf.gather(
        tf.transpose(outputs, (1, 0, 2)), tf.transpose(tf.maximum(last_valid, 0)), batch_dims=1
    )  # (B, T, H)
    return tf.where((last_valid >= 0)[:, :, None], tf.transpose(carried, (1, 0, 2)), tf.zeros_like(outputs))


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


class CellSizes:
    """`state_size` and `output_size` of a layer that runs `self.cell`."""

    @property
    def state_size(self):
        return self.cell.state_size

    @property
    def output_size(self):
        return self.cell.output_size


@keras.saving.register_keras_serializable(package="zoo")
class RNN(CellSizes, SequenceOutputs, keras.layers.Layer):
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
            `reset_state()` between independent texts.
        dropout: rate of dropout on the inputs, one mask per sequence.
        recurrent_dropout: rate of dropout on h_{t-1}, as Keras': each gate g reads
            h_{t-1} * m_g through its own mask m_g (B, H), drawn once per call and
            shared by all steps (`zoo.layers.recurrence`).
        weight_dropout: rate of DropConnect on the recurrent kernel (Wan et al. 2013,
            as AWD-LSTM's weight drop, Merity et al. 2018): U * M / (1 - rate), one mask
            M of U's shape drawn per call, so every sequence and step of a batch reads
            the same dropped U. Applied outside the loop: the fused backward is unchanged.
        seed: seed of the dropouts.
        unroll: accepted for Keras compatibility, no effect: the loop is always the
            compiled while loop (Keras' unrolled loop computes the same outputs).
        zero_output_for_mask: with `return_sequences` and a mask, output zeros at the
            masked steps; False (Keras' default) repeats the last unmasked step's
            output there (zeros before the first).
        jit_compile: compile the loop with XLA (True), or run it in TensorFlow's
            graph executor (False). "auto" (default) picks what measured faster
            on CPU (README, Speed): XLA unless the recurrent kernel holds
            2**22 weights or more (LSTM with 1024 units and up; under
            `mixed_bfloat16` 2**20, LSTM with 512 units and up), where the
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
    # Set to CUDNN_LAYER_OPTIONS by LSTM and GRU, which take them as Keras' do.
    cudnn_layer_options = {}

    def __init__(
        self,
        cell=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        weight_dropout=0.0,
        seed=None,
        unroll=False,
        zero_output_for_mask=False,
        jit_compile="auto",
        **kwargs,
    ):
        cudnn_options = {name: kwargs.pop(name, default) for name, default in self.cudnn_layer_options.items()}
        if self.cell_class is not None:
            cell_options = {k: kwargs.pop(k) for k in list(kwargs) if k not in SEQUENCE_OPTIONS + ("dtype",)}
            units = cell if cell is not None else cell_options.pop("units", None)
            cell = self.cell_class(units, dtype=kwargs.get("dtype"), **cell_options)
        elif isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        super().__init__(**kwargs, autocast=False)
        for option, rate in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout),
                             ("weight_dropout", weight_dropout)):
            if not 0.0 <= rate < 1.0:
                raise ValueError(f"Layer '{self.name}': `{option}` must be in [0, 1), got {rate}")
        self._check_cudnn_options(**cudnn_options)
        if jit_compile not in (True, False, "auto"):
            raise ValueError(f"Layer '{self.name}': `jit_compile` must be True, False or 'auto', got {jit_compile!r}")
        self.cell = cell
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.go_backwards = go_backwards
        self.stateful = stateful
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.weight_dropout = weight_dropout
        self.seed = seed
        self.unroll = unroll
        self.zero_output_for_mask = zero_output_for_mask
        self.jit_compile = jit_compile
        for name, value in cudnn_options.items():
            setattr(self, name, value)
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout or recurrent_dropout or weight_dropout else None
        self.supports_masking = True
        self.states = None
        self.input_size = None

    def build(self, input_shape):
        input_checks.check_sequence_shape(self, input_shape)
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

    def reset_state(self):
        """Zeroes the carried states of a stateful layer."""
        for state in self.states or []:
            state.assign(tf.zeros_like(state))

    def initial_states(self, inputs, initial_state):
        batch_size = inputs.shape[0]
        if initial_state is not None:
            return input_checks.check_initial_state(self, initial_state, self.state_size, batch_size)
        if self.stateful:
            return [tf.convert_to_tensor(state) for state in self.states]
        return self.cell.initial_states(tf.shape(inputs)[0])

    def call(self, inputs, mask=None, initial_state=None, training=False):
        if getattr(self, "use_cudnn", None) is True:
            raise ValueError(
                f"Layer '{self.name}': use_cudnn=True was specified, but the zoo has no cuDNN kernel. "
                "Pass use_cudnn='auto' (or False) to run its own loop."
            )
        input_checks.check_sequence_input(self, inputs, self.input_size)
        mask = input_checks.check_mask(self, mask, inputs)
        states = self.initial_states(inputs, initial_state)
        if training and self.dropout:
            inputs = dropout_over_time(inputs, self.dropout, self.seed_generator)
        recurrent_mask = self.recurrent_dropout_mask(tf.shape(inputs)[0]) if training and self.recurrent_dropout else None

        x = tf.transpose(inputs, (1, 0, 2))  # (T, B, D)
        weights = self.cell.recurrent_weights()
        if training and self.weight_dropout:  # DropConnect on U: (H, G*H), one mask per call
            weights = [keras.random.dropout(weights[0], self.weight_dropout, seed=self.seed_generator), *weights[1:]]
        if self.compute_dtype == "bfloat16":  # mixed_bfloat16: both matmuls in bfloat16, all else float32
            x, weights = tf.cast(x, "bfloat16"), [tf.cast(weights[0], "bfloat16"), *weights[1:]]
        zx = tf.cast(self.cell.project_inputs(x), "float32")  # (T, B, G)
        if mask is not None:
            mask = tf.transpose(mask)[:, :, None]  # (T, B, 1)
        if self.go_backwards:
            zx = tf.reverse(zx, axis=[0])
            mask = None if mask is None else tf.reverse(mask, axis=[0])

        outputs, final_states = run_recurrence(
            self.cell, zx, states, mask, weights, self.return_sequences,
            jit_compile=self.loop_jit_compile(), training=bool(training), recurrent_mask=recurrent_mask,
        )
        if self.stateful:
            for variable, state in zip(self.states, final_states):
                variable.assign(state)

        if self.return_sequences:
            if mask is not None and not self.zero_output_for_mask:
                outputs = carry_outputs_over_masked_steps(outputs, mask)
            output = tf.transpose(outputs, (1, 0, 2))  # (B, T, H)
        else:
            output = final_states[0]  # the last (valid) step's output, (B, H)
        output = tf.cast(output, self.compute_dtype)
        if self.return_state:
            return [output, *final_states]
        return output

    def recurrent_dropout_mask(self, batch_size):
        """One (B, H) dropout mask per gate, (B, gates, H): 0 or 1 / (1 - rate)."""
        ones = tf.ones((batch_size, self.cell.gate_count, self.cell.units))
        return keras.random.dropout(ones, self.recurrent_dropout, seed=self.seed_generator)

    def _check_cudnn_options(self, use_cudnn="auto", implementation=2):
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"Layer '{self.name}': `use_cudnn` must be 'auto', True or False, got {use_cudnn!r}")
        if implementation not in (0, 1, 2):
            raise ValueError(f"Layer '{self.name}': `implementation` must be 0 (legacy), 1 or 2, got {implementation!r}")

    def loop_jit_compile(self):
        if self.jit_compile != "auto":
            return self.jit_compile
        recurrent_weights = self.cell.units * self.cell.gate_width
        if self.compute_dtype == "bfloat16":
            return recurrent_weights < BFLOAT16_XLA_MAX_RECURRENT_WEIGHTS
        return recurrent_weights < XLA_MAX_RECURRENT_WEIGHTS

    def get_config(self):
        config = {
            **super().get_config(),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "weight_dropout": self.weight_dropout,
            "seed": self.seed,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
            "jit_compile": self.jit_compile,
            **{name: getattr(self, name) for name in self.cudnn_layer_options},
        }
        if self.cell_class is None:
            config["cell"] = keras.saving.serialize_keras_object(self.cell)
        else:
            cell_config = self.cell.get_config()
            config.update({k: v for k, v in cell_config.items() if k not in ("name", "trainable", "dtype")})
        return config
