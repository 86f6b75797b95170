"""Shared test setup: quiet TensorFlow, seeded randomness, float32 policy after every test; a tiny SST-2."""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # before TensorFlow is first imported
if os.environ.get("PYTEST_XDIST_WORKER"):  # one of pytest-xdist's two workers: one core for its ops' insides
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from experiments.sst2_studies import LANGUAGE_MODEL_TEXTS  # noqa: E402

SEED = 1234


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="also run the tests marked `full`: shipped models on their whole evaluation data")


# The slowest test files, slowest first (`--durations=0`, 2026-12-06: 165 to 35 s each of a 1,700 s total). With
# `--dist loadfile --no-loadscope-reorder` (setup.cfg) the two workers take whole files in collection order, so
# these go first and the run does not end with one worker alone on a long file (that tail cost ~70 s).
SLOWEST_FILES = ("test_training_faults.py", "test_readme.py", "test_numerics.py", "test_translation.py",
                 "test_shipped_models.py", "test_pixel_rnn.py", "test_pixel_layers.py", "test_diagnostics.py",
                 "test_translation_cli.py", "test_layers.py", "test_ptb_language_model.py", "test_sequence_tagger.py",
                 "test_sequence_classifier.py", "test_tree_classifier.py", "test_decoding.py",
                 "test_serialization.py", "test_attention.py", "test_quiet_start.py", "test_sst_trees_recipe.py",
                 "test_multi30k_recipe.py")


def pytest_collection_modifyitems(config, items):
    """Tests marked `full` are deselected (not skipped) unless --full is given; the slowest files first."""
    if not config.getoption("--full"):
        full = [item for item in items if item.get_closest_marker("full")]
        if full:
            config.hook.pytest_deselected(items=full)
            items[:] = [item for item in items if not item.get_closest_marker("full")]
    rank = {name: i for i, name in enumerate(SLOWEST_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))


@pytest.fixture(autouse=True)
def _seeded():
    """Python, NumPy and backend randomness start from the same seed in every test."""
    keras.utils.set_random_seed(SEED)
    yield


@pytest.fixture(autouse=True)
def _float32_policy():
    """A test that switches to mixed precision must not leak it into the next one."""
    yield
    keras.mixed_precision.set_global_policy("float32")


@pytest.fixture(scope="session")
def sst2_data_dir(tmp_path_factory):
    """A tiny SST-2 (sentences, their parts), and tiny WikiText-2 and PTB files for the language models."""
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    words = {1: ["good", "great", "charming"], 0: ["bad", "dull", "tedious"]}
    train, dev = ["sentence\tlabel"], ["sentence\tlabel"]
    for i in range(60):
        label = i % 2
        adjective = rng.choice(words[label])
        train += [f"the {rng.choice(['film', 'story', 'cast', 'plot'])} is {adjective} {'!' * (i // 2)} \t{label}",
                  f"{adjective} \t{label}", f"is {adjective} \t{label}"]
    for i in range(12):
        dev.append(f"the plot is {rng.choice(words[i % 2])} .\t{i % 2}")
    (root / "sst2").mkdir()
    (root / "sst2" / "train.tsv").write_text("\n".join(train) + "\n")
    (root / "sst2" / "dev.tsv").write_text("\n".join(dev) + "\n")
    for relative in LANGUAGE_MODEL_TEXTS:
        (root / relative).parent.mkdir(exist_ok=True)
        (root / relative).write_text(" the film is good . \n the plot is dull . \n" * 40)
    return root
