"""Helpers shared by test files: the `zoo` command line in-process, Python in a fresh process, test checkpoints,
a short fit."""

import math
import subprocess
import sys

import keras
import pytest
import tensorflow as tf

from zoo import cli


def run(capsys, *argv):
    """`zoo ARGV...` -> (exit code, stdout, stderr)."""
    code = cli.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_error(capsys, *argv):
    """`zoo ARGV...`, which must fail with a usage error (exit code 2) -> stderr."""
    with pytest.raises(SystemExit) as raised:
        cli.main([str(a) for a in argv])
    assert raised.value.code == 2
    return capsys.readouterr().err


def run_fresh_python(script, cwd):
    """`python -c script` in a new process (in `cwd`, TensorFlow quiet, no GPU, a bare PATH) -> stdout.
    Fails the test, with the end of stderr, if the script fails."""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=cwd,
        env={"TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": "", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def saved_checkpoint(model, tmp_path_factory, name):
    """`model` saved as the checkpoint folder `name` (with a one-line card) in a fresh temporary folder."""
    from zoo.checkpoints import save_checkpoint

    folder = tmp_path_factory.mktemp("checkpoints") / name
    save_checkpoint(model, folder, f"# {name}\n\nA test model.\n")
    return folder


class AtStep(keras.callbacks.Callback):
    """Calls `action()` right after training step `step` (counted from 1 over every `fit` it sees): a
    crash (tests/training_process.py) or an interruption at a chosen step."""

    def __init__(self, step, action):
        super().__init__()
        self.step, self.action, self.done = step, action, 0

    def on_train_batch_end(self, batch, logs=None):
        self.done += 1
        if self.done == self.step:
            self.action()


def shipped_model_stand_in(metadata, **attributes):
    """What a recipe's `model_card` reads of a model, from a shipped checkpoint's metadata.json: its
    parameter count and the dtype policy of its precision, and `attributes` (sizes of vocabularies)."""
    import types

    from zoo.training.precision import PRECISIONS

    return types.SimpleNamespace(count_params=lambda: metadata["parameters"],
                                 dtype_policy=keras.DTypePolicy(PRECISIONS[metadata["precision"]]), **attributes)


def fit_steps(model, x, y, epochs, batch_size=None, shuffle=False):
    """`model.fit(x, y, batch_size, epochs, shuffle)` as one epoch of as many steps: Keras spends ~50 ms on each
    epoch (callbacks, a new iterator), which dominated the tests that fit a batch or two for 100 epochs."""
    count = len(tf.nest.flatten(y)[0])
    batch_size = batch_size or min(count, 32)
    data = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        data = data.shuffle(count, seed=0, reshuffle_each_iteration=True)
    return model.fit(data.batch(batch_size).repeat(), steps_per_epoch=epochs * math.ceil(count / batch_size),
                     verbose=0)
