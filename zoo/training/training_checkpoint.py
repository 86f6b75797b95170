"""`TrainingCheckpoint`: the state a run resumes from, written atomically every N steps and epoch."""

import json
from pathlib import Path

import keras
import numpy as np

from zoo.checkpoints import CheckpointError, sha256
from zoo.training.best_model import BestModel
from zoo.training.files import write_atomically
from zoo.training.state import state_variables
from zoo.training.time_budget import TimeBudget

# The counters of the callbacks `fit` uses that must survive a resume (Keras resets them in on_train_begin).
RESUMED_ATTRIBUTES = {
    keras.callbacks.EarlyStopping: ("wait", "best", "best_epoch"),
    keras.callbacks.ReduceLROnPlateau: ("wait", "best", "cooldown_counter"),
    BestModel: ("best",),
    TimeBudget: ("spent_seconds",),
}


class TrainingCheckpoint(keras.callbacks.Callback):
    """The state training resumes from, written into `folder` every `every_steps` steps and at each epoch end:

        step-<global step>.npz   every variable of the model (random-seed states and carried states included)
                                 and of the optimizer (step count, learning rate, moments), in order
        step-<global step>.json  epoch, steps done in it, global step, the .npz's sha256, the counters of the
                                 other callbacks (best validation value, epochs without progress, ...)

    Each file is written to a temporary name, flushed and renamed into place, the .json last: a checkpoint
    is complete when its .json exists, and a kill at any moment leaves the newest complete one intact. The
    newest `keep` are kept. `fit` lists it after the callbacks whose counters it saves (it restores them in
    on_train_begin, after they reset themselves)."""

    def __init__(self, folder, steps_per_epoch, every_steps, keep=2):
        super().__init__()
        self.folder, self.steps_per_epoch, self.every_steps, self.keep = Path(folder), steps_per_epoch, every_steps, keep
        self.epoch, self.step = 0, 0  # the position: `step` steps of epoch `epoch` done
        self.others, self.callback_states = [], None

    # --- writing ---

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self.step += 1
        if self.step < self.steps_per_epoch and self.global_step % self.every_steps == 0:
            self.save()  # the last step of an epoch is saved by on_epoch_end, after validation

    def on_epoch_end(self, epoch, logs=None):
        self.epoch, self.step = epoch + 1, 0
        self.save()

    @property
    def global_step(self):
        return self.epoch * self.steps_per_epoch + self.step

    def save(self):
        self.callback_states = [{name: _plain(getattr(c, name)) for name in RESUMED_ATTRIBUTES[type(c)]}
                                for c in self.others]
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"step-{self.global_step:09d}"
        values = {f"v{i:05d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(state_variables(self.model))}
        write_atomically(self.folder / f"{name}.npz", lambda f: np.savez(f, **values))
        state = {"epoch": self.epoch, "step": self.step, "global_step": self.global_step,
                 "steps_per_epoch": self.steps_per_epoch, "sha256": sha256(self.folder / f"{name}.npz"),
                 "callbacks": self.callback_states}
        write_atomically(self.folder / f"{name}.json", lambda f: f.write(json.dumps(state).encode()))
        for old in sorted(self.folder.glob("step-*.json"))[: -self.keep]:
            old.with_suffix(".npz").unlink(missing_ok=True)
            old.unlink()

    # --- resuming ---

    def latest(self):
        """The newest complete checkpoint whose .npz matches its hash, as (state dict, .npz path), or None if
        `folder` holds none. A damaged newer one is reported and skipped; if all are damaged, CheckpointError."""
        damaged = []
        for path in sorted(self.folder.glob("step-*.json"), reverse=True):
            weights = path.with_suffix(".npz")
            try:
                state = json.loads(path.read_text())
                if not weights.is_file():
                    raise CheckpointError(f"{weights} is missing")
                if sha256(weights) != state["sha256"]:
                    raise CheckpointError(f"{weights} does not match the sha256 in {path.name} (truncated or altered)")
            except CheckpointError as error:
                damaged.append(str(error))
                continue
            except (ValueError, KeyError) as error:  # not JSON, or without a hash
                damaged.append(f"{path} is not a training checkpoint ({error})")
                continue
            for problem in damaged:
                print(f"TrainingCheckpoint: skipping a damaged checkpoint: {problem}", flush=True)
            return state, weights
        if damaged:
            raise CheckpointError("no checkpoint to resume from is intact: " + "; ".join(damaged))
        return None

    def restore(self, model):
        """Loads the newest checkpoint into `model` (built and compiled) and returns its position
        (epoch, step), or None if there is none."""
        found = self.latest()
        if found is None:
            return None
        state, path = found
        if state["steps_per_epoch"] != self.steps_per_epoch:
            raise CheckpointError(f"{path} was written with {state['steps_per_epoch']} steps an epoch, this run has "
                                  f"{self.steps_per_epoch}: it belongs to another configuration")
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
        variables = state_variables(model)
        with np.load(path) as stored:
            values = [stored[k] for k in sorted(stored.files)]
        if [v.shape for v in values] != [tuple(v.shape) for v in variables]:
            raise CheckpointError(f"{path} holds {len(values)} variables that do not match this model's "
                                  f"{len(variables)} (written by another configuration?)")
        for variable, value in zip(variables, values):
            variable.assign(value)
        self.epoch, self.step, self.callback_states = state["epoch"], state["step"], state["callbacks"]
        return self.epoch, self.step

    def on_train_begin(self, logs=None):
        if self.callback_states is not None:
            for callback, values in zip(self.others, self.callback_states):
                for name, value in values.items():
                    setattr(callback, name, value)


def _plain(value):
    """A callback counter as JSON can hold it."""
    return value.item() if isinstance(value, np.generic) else value
