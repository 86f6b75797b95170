"""rnn-zoo: recurrent networks as fast Keras 3 layers, with pretrained checkpoints."""

from zoo import layers

__version__ = "0.1.0"
