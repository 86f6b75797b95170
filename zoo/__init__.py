"""rnn-zoo: recurrent networks as fast Keras 3 layers, with pretrained checkpoints.

`import zoo` does not import TensorFlow: its names (and submodules, `zoo.tasks`, `zoo.checkpoints`, ...)
are imported on first use, so that the `zoo` command can start TensorFlow with its log lines kept off the
terminal (zoo/native_stderr.py).
"""

import importlib

__version__ = "0.1.0"

_NAMES = {"layers": "zoo.layers", "list_models": "zoo.checkpoints", "load": "zoo.checkpoints",
          "model_card": "zoo.checkpoints", "publish": "zoo.checkpoints", "resolve_checkpoint": "zoo.checkpoints",
          "dataset": "zoo.tasks"}
__all__ = sorted(_NAMES)


def __getattr__(name):
    """`zoo.<name>` of __all__, or the submodule `zoo.<name>`, imported on first use."""
    module_name = _NAMES.get(name, f"{__name__}.{name}")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name != module_name:
            raise
        raise AttributeError(f"module 'zoo' has no attribute {name!r}") from None
    value = module if module.__name__ == f"{__name__}.{name}" else getattr(module, name)
    globals()[name] = value
    return value
