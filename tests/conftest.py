"""Shared test setup: quiet TensorFlow, seeded randomness, float32 policy after every test."""

import os

os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # before TensorFlow is first imported

import keras  # noqa: E402
import pytest  # noqa: E402

SEED = 1234


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
