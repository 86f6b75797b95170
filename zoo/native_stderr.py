"""TensorFlow's own log lines, kept off the terminal.

TF 2.21's C++ start-up lines (the oneDNN notice, "Could not find cuda drivers", a cuInit error) and its
XLA lines are written to file descriptor 2 before, or regardless of, TF_CPP_MIN_LOG_LEVEL. They cannot be
told apart from Python's writes to the same descriptor, so `native_stderr_to(path)` points descriptor 2
at a file and gives Python's `sys.stderr` a copy of the real one: tracebacks, warnings and argparse's
errors still reach the terminal; only native writes go to the file.
"""

import os
import sys
import tempfile
from pathlib import Path


def native_stderr_to(path=None):
    """Sends native writes to fd 2 into `path` (os.devnull to drop them; default: a new temporary file, so
    nothing is lost) and keeps `sys.stderr` on the real stderr. Returns the path. Call before importing
    tensorflow, once per process."""
    sys.stderr.flush()
    real_stderr = os.dup(2)
    if path is None:
        descriptor, path = tempfile.mkstemp(prefix="zoo-tensorflow-", suffix=".log")
    else:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.dup2(descriptor, 2)
    os.close(descriptor)
    sys.stderr = os.fdopen(real_stderr, "w", buffering=1)
    return Path(path)
