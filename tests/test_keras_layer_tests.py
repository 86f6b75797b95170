"""Keras' own tests of LSTM, GRU and SimpleRNN, run against the zoo's layers.

The README promises `zoo.layers.LSTM`, `GRU` and `SimpleRNN` as drop-ins for Keras'. This module
holds the zoo to that with Keras' test files as shipped in the pinned wheel
(keras/src/layers/rnn/{lstm,gru,simple_rnn}_test.py), unchanged and not copied: each file is
loaded from the installed package and its `layers` (keras.src.layers) is swapped for a module that
is keras.src.layers with the zoo's three classes in place of Keras'. Their pinned outputs,
weight counts, config round trips, masking, statefulness (`reset_state`), `recurrent_dropout`,
`unroll`, `implementation`, `zero_output_for_mask` and the training and mixed-precision checks
of Keras' `run_layer_test` all run as written, with our layers' defaults (XLA-compiled loops).
Every Keras assertion holds as written; the one test left out is gru_test.py's
`test_torch_cudnn_dispatch_fires`, which Keras itself runs on the torch backend only (its skip
marker would show as a skip, and CI fails on any skip).
"""

import importlib.util
import types

import keras
import keras.src.layers

from zoo import layers as zoo_layers

KERAS_TEST_DIR = keras.src.layers.__path__[0] + "/rnn"
REPLACED = ("LSTM", "GRU", "SimpleRNN")


def _layers_with_ours():
    """keras.src.layers, with the zoo's LSTM, GRU and SimpleRNN."""
    module = types.ModuleType("keras_layers_with_zoo_rnns")
    module.__dict__.update(vars(keras.src.layers))
    module.__dict__.update({name: getattr(zoo_layers, name) for name in REPLACED})
    return module


def _keras_test_module(name):
    """Keras' test file `name`.py, loaded from the installed wheel, reading our layers."""
    spec = importlib.util.spec_from_file_location(f"keras_{name}_on_zoo", f"{KERAS_TEST_DIR}/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.layers = _layers_with_ours()  # the tests look `layers` up when they run
    return module


KERAS_TESTS = {name: _keras_test_module(f"{name.lower()}_test") for name in ("LSTM", "GRU", "Simple_RNN")}


def test_the_swap_reaches_keras_tests():
    """Nothing below would test the zoo if the swap missed: each loaded module sees our classes."""
    for name, module in KERAS_TESTS.items():
        assert getattr(module.layers, name.replace("_", "")) is getattr(zoo_layers, name.replace("_", ""))


# unittest.TestCase classes: pytest collects them under these names (and their methods as tests).
KerasLSTMTest = KERAS_TESTS["LSTM"].LSTMTest


class KerasGRUTest(KERAS_TESTS["GRU"].GRUTest):
    test_torch_cudnn_dispatch_fires = None  # torch backend only (Keras' own skip marker)


KerasSimpleRNNTest = KERAS_TESTS["Simple_RNN"].SimpleRNNTest
