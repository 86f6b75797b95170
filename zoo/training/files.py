"""Files written so that a kill at any moment leaves the previous version whole."""

import os
from pathlib import Path


def save_model_atomically(model, path, keep=True):
    """`model.save` into a temporary file beside `path` (a .keras file), then renamed over it: a kill
    mid-write leaves the previous file whole. With `keep=False` the temporary file is removed instead."""
    path = Path(path)
    temporary = path.with_name(f".{path.stem}.tmp{'' if keep else '-worker'}.keras")
    model.save(temporary)
    if keep:
        os.replace(temporary, path)
    else:
        temporary.unlink()


def write_atomically(path, write):
    """`write(file)` into a temporary file beside `path`, flushed to disk, then renamed to `path`."""
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
