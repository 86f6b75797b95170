"""rnn-zoo: recurrent networks as fast Keras 3 layers, with pretrained checkpoints."""

from zoo import layers
from zoo.checkpoints import list_models, load, model_card, publish, resolve_checkpoint
from zoo.tasks import dataset

__version__ = "0.1.0"
