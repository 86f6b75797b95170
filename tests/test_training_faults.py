"""Training that survives faults and scales out (zoo.training, on CPU).

- A run of the tiny PTB recipe killed with SIGKILL after a random step, then resumed with --resume, ends
  with the weights (and optimizer state, random-seed states, carried states) of an uninterrupted run,
  at 3 kill points; the epoch logs agree too.
- Checkpoints: a write interrupted midway leaves the previous checkpoint the newest; a damaged one is
  skipped and named; a run folder with checkpoints is not overwritten without --resume.
- Clipping by global norm and element-wise from the training options.
- The same recipe without dropout under MirroredStrategy over 2 logical CPUs gives the default
  strategy's loss curve; a 2-worker MultiWorkerMirroredStrategy run as two processes on 127.0.0.1
  completes, and both workers end with the same weights.
"""

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from zoo.checkpoints import CheckpointError
from zoo.training import TrainingCheckpoint, TrainingOptions, apply_clipping, distribution_strategy

REPO = Path(__file__).resolve().parents[1]
HELPER = REPO / "tests" / "training_process.py"
WORDS = [f"w{i}" for i in range(30)]
STEPS_PER_EPOCH, EPOCHS, EVERY = 32, 2, 5  # of wordlm-ptb-tiny on `ptb_data`, --checkpoint-every
KILL_STEPS = sorted(random.Random(8).sample(range(2, STEPS_PER_EPOCH * EPOCHS), 3))[::2]  # one in each epoch


@pytest.fixture(scope="module")
def ptb_data(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    (data / "ptb").mkdir()
    rng = np.random.default_rng(0)
    for split, count in (("train", 400), ("valid", 12), ("test", 12)):
        lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(count)]
        (data / "ptb" / f"ptb.{split}.txt").write_text("".join(f" {line} \n" for line in lines))
    return data


def train(data, run_dir, *flags, hooks=(), env=None, wait=True, recipe=("ptb_language_model", "wordlm-ptb-tiny")):
    """A tiny recipe (the PTB one by default) in a new process (tests/training_process.py), as `zoo train`
    would run it."""
    command = [sys.executable, str(HELPER), *hooks, f"recipes.{recipe[0]}", "--model", recipe[1],
               "--data-dir", str(data), "--run-dir", str(run_dir), "--checkpoint-every", str(EVERY), *flags]
    environment = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})}
    process = subprocess.Popen(command, cwd=REPO, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    if not wait:
        return process
    process.output = process.communicate(timeout=300)[0]
    return process


def final_state(folder):
    """The variables of the newest checkpoint in `folder`."""
    newest = sorted(Path(folder).glob("step-*.npz"))[-1]
    with np.load(newest) as stored:
        return newest.name, {k: stored[k] for k in stored.files}


def history(run_dir):
    with (run_dir / "history.csv").open() as f:
        return list(csv.DictReader(f))


def assert_same_state(first, second):
    assert first[0] == second[0]  # the same final step
    assert first[1].keys() == second[1].keys() and len(first[1]) > 10
    for key in first[1]:
        np.testing.assert_allclose(first[1][key], second[1][key], rtol=0, atol=1e-6, err_msg=key)


@pytest.fixture(scope="module")
def uninterrupted(ptb_data, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("uninterrupted")
    process = train(ptb_data, run_dir)
    assert process.returncode == 0, process.output
    return run_dir


def last_checkpoint_before(kill_step):
    """The (epoch, step) --resume starts from: the newest checkpoint written before the kill."""
    saved = [s for s in range(1, kill_step) if s % EVERY == 0 or s % STEPS_PER_EPOCH == 0]
    return divmod(saved[-1], STEPS_PER_EPOCH) if saved else None


@pytest.mark.parametrize("kill_step", KILL_STEPS)
def test_a_run_killed_at_a_random_step_and_resumed_ends_as_if_never_stopped(kill_step, ptb_data, uninterrupted,
                                                                            tmp_path):
    killed = train(ptb_data, tmp_path, hooks=["--kill-at-step", str(kill_step)])
    assert killed.returncode == -signal.SIGKILL, killed.output
    resumed = train(ptb_data, tmp_path, "--resume")
    assert resumed.returncode == 0, resumed.output
    position = last_checkpoint_before(kill_step)
    if position:
        assert f"Resuming from {tmp_path / 'checkpoint'}: epoch {position[0] + 1}, step {position[1]} of" in resumed.output
    assert_same_state(final_state(uninterrupted / "checkpoint"), final_state(tmp_path / "checkpoint"))
    rows, expected = history(tmp_path), history(uninterrupted)
    assert [r["epoch"] for r in rows] == ["1", "2"]
    for row, reference in zip(rows, expected):  # the training loss of an epoch finished after a resume averages less
        assert float(row["val_loss"]) == pytest.approx(float(reference["val_loss"]), abs=1e-5)


def test_a_finished_run_is_not_overwritten_without_resume(ptb_data, uninterrupted):
    before = final_state(uninterrupted / "checkpoint")
    again = train(ptb_data, uninterrupted)
    assert again.returncode != 0 and "pass --resume to continue it" in again.output
    assert_same_state(before, final_state(uninterrupted / "checkpoint"))


# --- checkpoint files, in process ----------------------------------------------------------------


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dropout(0.5, seed=1), keras.layers.Dense(2)])
    model.compile(keras.optimizers.Adam(0.01), "mse")
    model.fit(np.ones((8, 3)), np.ones((8, 2)), verbose=0)
    return model


def checkpoint_at(model, folder, step):
    checkpoint = TrainingCheckpoint(folder, steps_per_epoch=10, every_steps=1)
    checkpoint.set_model(model)
    checkpoint.epoch, checkpoint.step = divmod(step, 10)
    checkpoint.save()
    return checkpoint


def test_a_checkpoint_holds_every_variable_and_restores_it(tmp_path):
    model = tiny_model()
    checkpoint_at(model, tmp_path, 3)
    saved = [keras.ops.convert_to_numpy(v) for v in model.variables + model.optimizer.variables]
    model.fit(np.ones((8, 3)), np.zeros((8, 2)), verbose=0)  # weights, moments, step count and seed state move on
    assert TrainingCheckpoint(tmp_path, 10, 1).restore(model) == (0, 3)
    for value, variable in zip(saved, model.variables + model.optimizer.variables):
        np.testing.assert_array_equal(value, keras.ops.convert_to_numpy(variable), err_msg=variable.path)


def test_a_write_interrupted_midway_leaves_the_previous_checkpoint_the_newest(tmp_path, monkeypatch):
    model = tiny_model()
    checkpoint = checkpoint_at(model, tmp_path, 4)

    def savez_then_crash(file, **arrays):
        file.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(np, "savez", savez_then_crash)
    checkpoint.step = 5
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save()
    state, path = TrainingCheckpoint(tmp_path, 10, 1).latest()
    assert path.name == "step-000000004.npz" and state["step"] == 4
    assert not (tmp_path / "step-000000005.npz").exists()


def test_a_damaged_checkpoint_is_skipped_and_named(tmp_path, capsys):
    model = tiny_model()
    checkpoint_at(model, tmp_path, 1)
    checkpoint_at(model, tmp_path, 2)
    newest = tmp_path / "step-000000002.npz"
    data = bytearray(newest.read_bytes())
    data[len(data) // 2] ^= 0xFF
    newest.write_bytes(bytes(data))
    assert TrainingCheckpoint(tmp_path, 10, 1).restore(model) == (0, 1)
    assert f"skipping a damaged checkpoint: {newest} does not match the sha256" in capsys.readouterr().out
    (tmp_path / "step-000000001.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no checkpoint to resume from is intact: .*step-000000002.npz.*"
                                              "step-000000001.npz"):
        TrainingCheckpoint(tmp_path, 10, 1).restore(model)


def test_a_checkpoint_of_another_model_is_refused(tmp_path):
    checkpoint_at(tiny_model(), tmp_path, 1)
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4)])
    other.compile("adam", "mse")
    with pytest.raises(CheckpointError, match="do not match this model"):
        TrainingCheckpoint(tmp_path, 10, 1).restore(other)
    with pytest.raises(CheckpointError, match="written with 10 steps an epoch, this run has 12"):
        TrainingCheckpoint(tmp_path, 12, 1).restore(other)


def epochs_run_under_a_budget(budget, fake_clock, stop_after=None, folder=None):
    """The epochs (3 fake minutes each) a run does under `budget` until it stops them, or until `stop_after`
    with a checkpoint written into `folder`; a `folder` holding a checkpoint is resumed from."""
    model, epoch = tiny_model(), 0
    budget.set_model(model)
    budget.on_train_begin()
    if folder:
        checkpoint = TrainingCheckpoint(folder, steps_per_epoch=10, every_steps=10)
        checkpoint.set_model(model)
        checkpoint.others = [budget]
        epoch = checkpoint.restore(model)[0] if checkpoint.latest() else 0
        checkpoint.on_train_begin()
    while not model.stop_training and epoch != stop_after:
        fake_clock[0] += 180
        budget.on_epoch_end(epoch)
        epoch += 1
    if stop_after:
        checkpoint.on_epoch_end(epoch - 1)
    return epoch


def test_a_resumed_run_stops_at_the_time_budget_of_an_uninterrupted_one(tmp_path, monkeypatch):
    from zoo.training import TimeBudget

    fake_clock = [0.0]
    monkeypatch.setattr("zoo.training.time_budget.time.monotonic", lambda: fake_clock[0])
    assert epochs_run_under_a_budget(TimeBudget(10), fake_clock) == 3  # 9 minutes; a 4th would end at 12
    assert epochs_run_under_a_budget(TimeBudget(10), fake_clock, stop_after=2, folder=tmp_path) == 2
    fake_clock[0] += 3600  # the time between the stop and the resume is not training
    assert epochs_run_under_a_budget(TimeBudget(10), fake_clock, folder=tmp_path) == 3


# --- clipping -------------------------------------------------------------------------------------


@pytest.mark.parametrize("options, largest_step", [
    (TrainingOptions(clipvalue=0.01), 0.01),  # every element of the update
    (TrainingOptions(global_clipnorm=0.01), 0.01),  # the norm of all updates together
])
def test_clipping_options_bound_the_update(options, largest_step):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(keras.optimizers.SGD(1.0), "mse")
    apply_clipping(model.optimizer, options)
    before = np.concatenate([w.numpy().ravel() for w in model.trainable_weights])
    model.fit(np.full((4, 3), 10.0), np.full((4, 2), 100.0), verbose=0)  # a huge gradient
    step = np.concatenate([w.numpy().ravel() for w in model.trainable_weights]) - before
    size = np.abs(step).max() if options.clipvalue else np.linalg.norm(step)
    assert size == pytest.approx(largest_step, rel=1e-4)


def test_a_global_norm_does_not_combine_with_a_per_variable_norm():
    optimizer = keras.optimizers.Adam(clipnorm=1.0)
    with pytest.raises(ValueError, match="clips each gradient to norm 1.0 already"):
        apply_clipping(optimizer, TrainingOptions(global_clipnorm=5.0))


# --- distribution ---------------------------------------------------------------------------------


def test_mirrored_over_two_logical_cpus_gives_the_default_strategys_losses(ptb_data, tmp_path):
    runs = {}
    for strategy in ("default", "mirrored"):
        process = train(ptb_data, tmp_path / strategy, "--strategy", strategy, "--logical-cpus", "2",
                        hooks=["--without-dropout"])
        assert process.returncode == 0, process.output
        runs[strategy] = history(tmp_path / strategy)
    assert len(runs["mirrored"]) == len(runs["default"]) == EPOCHS
    # The gradients are summed over the replicas in another order: float round-off, which Adam's g / sqrt(v)
    # turns into full-size steps for the weights whose gradient is ~0, so the curves agree to ~1e-3, not 1e-6.
    for default, mirrored in zip(runs["default"], runs["mirrored"]):
        for column in ("loss", "val_loss"):
            assert float(mirrored[column]) == pytest.approx(float(default[column]), rel=1e-3), column
    assert float(runs["mirrored"][0]["loss"]) == pytest.approx(float(runs["default"][0]["loss"]), rel=1e-5)


def test_a_classifier_of_strings_trains_under_mirrored(sst2_data_dir, tmp_path):
    """String inputs and the classifier's own adversarial train_step under MirroredStrategy: it trains,
    and logs the loss on the scale of a default run (compute_loss divides it by the replicas)."""
    runs = {}
    for strategy in ("default", "mirrored"):
        process = train(sst2_data_dir, tmp_path / strategy, "--strategy", strategy, "--logical-cpus", "2",
                        recipe=("sst2_sentiment", "sentiment-sst2-tiny"))
        assert process.returncode == 0, process.output
        runs[strategy] = history(tmp_path / strategy)
    assert len(runs["mirrored"]) == 2 and (tmp_path / "mirrored" / "best.keras").is_file()
    # Each replica draws its own dropout masks: the same scale, not the same numbers.
    assert float(runs["mirrored"][0]["loss"]) == pytest.approx(float(runs["default"][0]["loss"]), rel=0.1)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_on_localhost_complete_and_agree_on_the_weights(ptb_data, tmp_path):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [train(ptb_data, tmp_path, "--strategy", "multiworker", wait=False,
                     env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
               for i in range(2)]
    outputs = [w.communicate(timeout=300)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    assert len(history(tmp_path)) == EPOCHS  # written by the chief (worker 0) only
    assert_same_state(final_state(tmp_path / "checkpoint"), final_state(tmp_path / "checkpoint-worker-1"))


def test_multiworker_without_a_cluster_says_what_is_missing(ptb_data, tmp_path):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(os, "environ", environment)
        with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
            distribution_strategy("multiworker")
