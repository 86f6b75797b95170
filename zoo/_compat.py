"""Every private Keras / TensorFlow hook the zoo relies on, in one place.

The zoo pins Keras and TensorFlow exactly (setup.cfg); the hooks below reach past their public
APIs where those APIs have no way to do what is needed. Each hook checks that what it reaches for
still exists and raises `CompatibilityError` naming the hook and the installed versions, so that
an upgrade fails here, loudly, and not as a wrong number elsewhere. tests/test_compat.py has one
test per hook.
"""

import keras
import tensorflow as tf

TESTED = {"keras": "3.15", "tensorflow": "2.21"}  # major.minor of the versions these hooks were written for


class CompatibilityError(RuntimeError):
    """A private Keras / TensorFlow hook is missing from the installed version."""


def _require(owner, attribute, hook):
    if not hasattr(owner, attribute):
        raise CompatibilityError(
            f"zoo._compat.{hook}: {getattr(owner, '__name__', type(owner).__name__)}.{attribute} is missing in "
            f"keras {keras.__version__} / tensorflow {tf.__version__} (written for keras {TESTED['keras']}, "
            f"tensorflow {TESTED['tensorflow']}): update zoo/_compat.py"
        )
    return getattr(owner, attribute)


def version_mismatches():
    """The installed packages whose major.minor differs from the tested one, as "keras 3.16 (tested 3.15)"."""
    installed = {"keras": keras.__version__, "tensorflow": tf.__version__}
    return [
        f"{name} {installed[name]} (tested {tested})"
        for name, tested in TESTED.items()
        if ".".join(installed[name].split(".")[:2]) != tested
    ]


def flatten_layers(model):
    """Every layer inside `model`, itself included, depth-first (Keras' private `_flatten_layers`:
    the public `model.layers` lists the top level only)."""
    return list(_require(model, "_flatten_layers", "flatten_layers")(include_self=True, recursive=True))


def set_keras_mask(tensor, mask):
    """Attaches `mask` to an eager or graph tensor, so that Keras' losses and metrics in `fit` and
    `evaluate` skip the masked positions (a subclassed model's `call` has no public way to)."""
    tensor._keras_mask = mask
    return tensor


def moving_average_variables(optimizer):
    """(the variables `optimizer` updates, their moving averages), in one order, for an optimizer
    built with `use_ema=True` (as `keras.callbacks.SwapEMAWeights` reads them)."""
    weights = _require(optimizer, "_trainable_variables", "moving_average_variables")
    averages = _require(optimizer, "_model_variables_moving_average", "moving_average_variables")
    return weights, averages


def build_before_distributing(model, data_batch):
    """Builds `model`'s loss and metrics from one batch in the current strategy's scope, and turns off
    Keras' own build at the start of `fit`: under a strategy that one first averages a batch over the
    replicas (keras/src/backend/tensorflow/trainer.py, `_maybe_symbolic_build`), which fails on integer
    and string inputs under MultiWorkerMirroredStrategy and on strings under MirroredStrategy."""
    _require(model, "_maybe_symbolic_build", "build_before_distributing")
    _require(model, "_symbolic_build", "build_before_distributing")(data_batch=data_batch)
    model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def average_scalar_logs_across_workers():
    """Keras 3's `fit` under MultiWorkerMirroredStrategy averages every replica's logs (scalars: loss,
    metrics) with `strategy.reduce("MEAN", v, axis=0)`, which fails on scalars ("Invalid reduction
    dimension 0 for input with 0 dimensions", tensorflow/tensorflow#72388). Averages them over the
    replicas of all workers with `axis=None` instead; every other reduction stays Keras'. Idempotent."""
    from keras.src.backend.tensorflow import trainer

    original = _require(trainer, "reduce_per_replica", "average_scalar_logs_across_workers")
    keras_reduce = getattr(original, "keras_reduce", original)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda value: strategy.reduce("MEAN", value, axis=None), values)
        return keras_reduce(values, strategy, reduction)

    reduce_per_replica.keras_reduce = keras_reduce
    trainer.reduce_per_replica = reduce_per_replica


def gradient_tape_watches(tensors):
    """Whether a `tf.GradientTape` active here (eagerly, or while a tf.function traces) watches any
    of `tensors`: TensorFlow's private `record.should_record_backprop`, what its own ops ask before
    recording themselves. There is no public way to ask it."""
    from tensorflow.python.eager import record

    return bool(_require(record, "should_record_backprop", "gradient_tape_watches")(tensors))
