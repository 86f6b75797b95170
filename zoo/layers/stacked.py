"""A stack of recurrent layers: dropout between layers, optional residual skips."""

import keras
import tensorflow as tf

from zoo.layers.rnn import SequenceOutputs, dropout_over_time


@keras.saving.register_keras_serializable(package="zoo")
class Stacked(SequenceOutputs, keras.layers.Layer):
    """N recurrent layers, each reading the output sequence of the one below:

        h^(0)_t = x_t
        h^(l)_t = RNN_l(d(h^(l-1)))_t  (+ h^(l-1)_t with `residual`, where widths agree)

    d is dropout between layers (one mask per sequence, as in `RNN`'s input
    dropout); none before the first or after the last layer (recurrent dropout is
    each layer's own `recurrent_dropout`). Each layer keeps its own hoisted input
    projection and compiled loop.

    Args:
        layers: zoo `RNN` or `Bidirectional` layers. Their `return_sequences` and
            `return_state` are set by the stack, and their `zero_output_for_mask`
            to True: masked steps output zeros.
        dropout: rate of dropout between layers.
        residual: add each layer's input to its output where the widths agree
            (Wu et al. 2016); masked steps stay zero.
        return_sequences: return the top layer's whole output sequence.
        return_state: also return every layer's final states, bottom layer first:
            `[output, *states_1, *states_2, ...]`.
        seed: seed of the dropout.

    `initial_state`, if given, is the flat list in the order `return_state` gives.
    """

    def __init__(
        self, layers, dropout=0.0, residual=False, return_sequences=False, return_state=False, seed=None, **kwargs
    ):
        super().__init__(**kwargs, autocast=False)
        layers = [keras.saving.deserialize_keras_object(l) if isinstance(l, dict) else l for l in layers]
        if not layers:
            raise ValueError(f"Layer '{self.name}' (Stacked) needs at least one layer.")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"Layer '{self.name}': `dropout` must be in [0, 1), got {dropout}")
        for i, layer in enumerate(layers):
            if getattr(layer, "merge_mode", None) == "none":
                raise ValueError(f"Layer '{self.name}' (Stacked): a Bidirectional layer in a stack must merge its outputs.")
            top = i == len(layers) - 1
            _set_outputs(layer, return_sequences=return_sequences if top else True, return_state=True)
        self.stacked_layers = layers
        self.dropout = dropout
        self.residual = residual
        self.return_sequences = return_sequences
        self.return_state = return_state
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed) if dropout else None
        self.supports_masking = True

    @classmethod
    def repeat(cls, layer, num_layers, **kwargs):
        """`num_layers` copies of `layer`'s config (fresh weights), stacked."""
        config = layer.get_config()
        copies = [type(layer).from_config({**config, "name": f"{config['name']}_{i}"}) for i in range(num_layers)]
        return cls(copies, **kwargs)

    @property
    def state_size(self):
        return [size for layer in self.stacked_layers for size in layer.state_size]

    @property
    def output_size(self):
        return self.stacked_layers[-1].output_size

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.stacked_layers:
            if not layer.built:  # loading a saved model builds them from their own configs first
                layer.build(shape)
            shape = shape[:2] + (layer.output_size,)

    def reset_state(self):
        for layer in self.stacked_layers:
            layer.reset_state()

    def call(self, inputs, mask=None, initial_state=None, training=False):
        initial_states = self._split_initial_state(initial_state)
        x, states = inputs, []
        for i, (layer, initial) in enumerate(zip(self.stacked_layers, initial_states)):
            if i > 0 and training and self.dropout:
                x = dropout_over_time(x, self.dropout, self.seed_generator)
            output, *layer_states = layer(x, mask=mask, initial_state=initial, training=training)
            if self.residual and output.shape[-1] == x.shape[-1] and output.shape.rank == 3:
                skip = x if mask is None else x * tf.cast(mask, x.dtype)[:, :, None]
                output = output + tf.cast(skip, output.dtype)
            x = output
            states += layer_states
        return [x, *states] if self.return_state else x

    def _split_initial_state(self, initial_state):
        if initial_state is None:
            return [None] * len(self.stacked_layers)
        if len(initial_state) != len(self.state_size):
            raise ValueError(
                f"Layer '{self.name}' (Stacked) expects {len(self.state_size)} initial states "
                f"(every layer's, bottom first); got {len(initial_state)}."
            )
        split, start = [], 0
        for layer in self.stacked_layers:
            split.append(list(initial_state[start : start + len(layer.state_size)]))
            start += len(layer.state_size)
        return split

    def get_config(self):
        return {
            **super().get_config(),
            "layers": [keras.saving.serialize_keras_object(layer) for layer in self.stacked_layers],
            "dropout": self.dropout,
            "residual": self.residual,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "seed": self.seed,
        }


def _set_outputs(layer, return_sequences, return_state):
    layers = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else []
    for target in [layer, *layers]:
        target.return_sequences = return_sequences
        target.return_state = return_state
        if hasattr(target, "zero_output_for_mask"):
            target.zero_output_for_mask = True

