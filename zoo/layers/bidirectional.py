"""Bidirectional wrapper: one recurrent layer reads forwards, a copy reads backwards."""

import keras
import tensorflow as tf

from zoo.layers.rnn import SequenceOutputs

MERGE_MODES = ("concat", "sum", "mean", "mul", "none")


@keras.saving.register_keras_serializable(package="zoo")
class Bidirectional(SequenceOutputs, keras.layers.Layer):
    """Runs a recurrent layer forwards and a copy of it backwards and merges the two.

        h->_t = RNN_fw(x_1 .. x_t),   h<-_t = RNN_bw(x_T .. x_t),   y_t = merge(h->_t, h<-_t)

    The backward outputs are put back in time order before merging, so y_t sees
    the whole sequence. Under a right-padded mask the backward layer skips the
    padding (masked steps carry its zero state) and starts at the last word.
    Both directions output zeros at masked steps (their `zero_output_for_mask` is
    set, as Keras' Bidirectional sets it).

    Args:
        layer: a zoo `RNN` (SimpleRNN, LSTM, GRU, ...), the forward direction.
        merge_mode: "concat" (default), "sum", "mean", "mul", or "none" (a list
            [forward, backward]).
        backward_layer: optional layer for the backward direction; by default a
            copy of `layer`'s config with `go_backwards` flipped.

    With the layer's `return_state`, returns `[merged, *forward_states, *backward_states]`.
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if merge_mode not in MERGE_MODES:
            raise ValueError(f"Bidirectional: `merge_mode` must be one of {MERGE_MODES}, got {merge_mode!r}")
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if isinstance(backward_layer, dict):
            backward_layer = keras.saving.deserialize_keras_object(backward_layer)
        kwargs.setdefault("name", f"bidirectional_{layer.name}")
        super().__init__(**kwargs, autocast=False)
        if backward_layer is None:
            config = layer.get_config()
            config.update(name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            backward_layer = type(layer).from_config(config)
        if backward_layer.go_backwards == layer.go_backwards:
            raise ValueError("Bidirectional: `backward_layer` must read the other way (`go_backwards` flipped).")
        for direction in (layer, backward_layer):  # as Keras' Bidirectional does
            direction.zero_output_for_mask = True
        self.forward_layer = layer
        self.backward_layer = backward_layer
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True

    @property
    def state_size(self):
        return list(self.forward_layer.state_size) + list(self.backward_layer.state_size)

    @property
    def output_count(self):
        return 2 if self.merge_mode == "none" else 1

    @property
    def output_size(self):
        units = self.forward_layer.output_size
        return 2 * units if self.merge_mode == "concat" else units

    def build(self, input_shape):
        for layer in (self.forward_layer, self.backward_layer):
            if not layer.built:  # loading a saved model builds them from their own configs first
                layer.build(input_shape)

    def reset_state(self):
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def call(self, inputs, mask=None, initial_state=None, training=False):
        forward_initial = backward_initial = None
        if initial_state is not None:
            count = len(self.forward_layer.state_size)
            forward_initial, backward_initial = initial_state[:count], initial_state[count:]
        forward = self.forward_layer(inputs, mask=mask, initial_state=forward_initial, training=training)
        backward = self.backward_layer(inputs, mask=mask, initial_state=backward_initial, training=training)
        states = []
        if self.return_state:
            forward, *forward_states = forward
            backward, *backward_states = backward
            states = forward_states + backward_states
        if self.return_sequences:
            backward = tf.reverse(backward, axis=[1])  # back to time order
        merged = self.merge(forward, backward)
        if not self.return_state:
            return merged
        return [*merged, *states] if self.merge_mode == "none" else [merged, *states]

    def merge(self, forward, backward):
        if self.merge_mode == "concat":
            return tf.concat([forward, backward], axis=-1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mean":
            return (forward + backward) / 2.0
        if self.merge_mode == "mul":
            return forward * backward
        return [forward, backward]

    def get_config(self):
        return {
            **super().get_config(),
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
            "merge_mode": self.merge_mode,
        }
