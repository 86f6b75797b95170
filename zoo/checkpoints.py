"""Checkpoint folders: save, verify, load by name, publish to / fetch from the Hugging Face Hub.

A checkpoint is a folder (keras-hub preset style), `checkpoints/<name>/` for the shipped ones:

    config.json          \\
    model.weights.h5      }  what `keras.saving.save_model(model, folder, zipped=False)` writes
    metadata.json         }  (Keras' own metadata.json, extended with ours)
    assets/...           /   layer assets, e.g. a tokenizer's vocabulary
    README.md                the model card, written by the caller
    manifest.json            {"name": ..., "files": {relative path: sha256}} over every other file

Keras does the reading and writing of the model itself (`keras.saving.save_model` / `load_model`
on a folder); this module adds the card, the manifest and its verification, name lookup and the Hub.
A name resolves (`resolve_checkpoint`) to a local folder, a source checkout's checkpoints/, or a preset
(zoo/presets.py) in the Hugging Face cache or on the Hub, held to the preset's hashes.
`zoo.load("hf://org/name")` fetches with `huggingface_hub.snapshot_download`, so it uses the HF cache
and honours HF_HUB_OFFLINE=1.
"""

import datetime
import difflib
import hashlib
import importlib
import json
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple, Optional

import keras
import numpy as np

from zoo.presets import PRESETS

MANIFEST = "manifest.json"
CARD = "README.md"
WEIGHTS = "model.weights.h5"
MAX_BYTES = 25 * 2**20  # the zoo keeps each checkpoint under 25 MB
# A source checkout's shipped checkpoints; ZOO_CHECKPOINTS points elsewhere (tests, a private model folder).
DEFAULT_ROOT = Path(__file__).resolve().parent.parent / "checkpoints"


class CheckpointError(ValueError):
    """A checkpoint cannot be found, read or trusted."""


class UnknownModelError(CheckpointError):
    """No registered model of that name, and no checkpoint folder at that path."""


class CorruptCheckpointError(CheckpointError):
    """A file is missing, altered or unlisted with respect to the checkpoint's manifest.json."""

    def __init__(self, message, path=None):
        super().__init__(message)
        self.path = path  # the offending file, relative to the checkpoint folder


def checkpoints_root():
    """The folder of local checkpoints: $ZOO_CHECKPOINTS, else a source checkout's checkpoints/ (absent
    from a regular install: the presets then come from the Hugging Face cache or the Hub)."""
    return Path(os.environ.get("ZOO_CHECKPOINTS") or DEFAULT_ROOT)


def _local_models():
    root = checkpoints_root()
    if not root.is_dir():
        return []
    return [p.parent.name for p in root.glob(f"*/{MANIFEST}") if not p.parent.name.startswith(".")]


def list_models():
    """Names `load` accepts: the presets (`zoo.presets.PRESETS`) and the checkpoint folders of
    `checkpoints_root()` (sub-folders with a manifest), sorted."""
    return sorted(set(PRESETS) | set(_local_models()))


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder):
    """Relative POSIX paths of every file under `folder` (following the HF cache's symlinks), sorted."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


WEIGHT_DTYPES = ("float32", "float16")


def round_weights_to_float16(model):
    """Rounds every float32 weight of `model` to the nearest float16 value (kept as float32), so
    that the model computes exactly what it will after a `save_checkpoint(..., weights_dtype=
    "float16")` and a load: evaluate it after this call and the card describes the stored model."""
    for variable in model.weights:
        if variable.dtype == "float32":
            value = keras.ops.convert_to_numpy(variable)
            variable.assign(value.astype(np.float16).astype(np.float32))


def _store_weights_as_float16(path):
    """Rewrites a Keras weights file with its float32 arrays as float16 (half the bytes). Keras
    loads them back into its float32 variables."""
    import h5py

    def copy(source, target):
        for key, value in source.attrs.items():
            target.attrs[key] = value
        for name, item in source.items():
            if isinstance(item, h5py.Group):
                copy(item, target.create_group(name))
                continue
            data = item[()]
            stored = target.create_dataset(name, data=data.astype(np.float16) if data.dtype == np.float32 else data)
            for key, value in item.attrs.items():
                stored.attrs[key] = value

    rewritten = path.with_name(path.name + ".float16")
    with h5py.File(path, "r") as source, h5py.File(rewritten, "w") as target:
        copy(source, target)
    os.replace(rewritten, path)


def save_checkpoint(model, folder, card_text, metadata=None, weights_dtype="float32"):
    """Writes `model` as the checkpoint folder `folder` (replacing any previous one); returns its Path.

    `card_text` is the model card (README.md); `metadata` (JSON-serialisable dict) is merged into
    metadata.json next to Keras' own keras_version / date_saved. The optimizer's state is not saved.
    `weights_dtype="float16"` stores the weights in half the bytes (they load as float32, rounded
    to float16 precision: measure the card's numbers after `round_weights_to_float16(model)`).
    """
    if weights_dtype not in WEIGHT_DTYPES:
        raise ValueError(f"save_checkpoint: `weights_dtype` must be one of {WEIGHT_DTYPES}, got {weights_dtype!r}")
    if not isinstance(card_text, str) or not card_text.strip():
        raise ValueError("save_checkpoint: a checkpoint needs a model card: pass its text as `card_text`")
    if not model.built:
        raise ValueError("save_checkpoint: the model is not built (call it on a batch first): it has no weights")
    # Absolute on purpose: Keras 3.15 writes a folder's assets to os.path.join(<temp dir>, assets_path)
    # and deletes that temp dir, so a *relative* folder silently loses its assets.
    folder = Path(folder).expanduser().resolve()
    folder.parent.mkdir(parents=True, exist_ok=True)
    # Build next to the target and swap in at the end, so a failed save leaves the old checkpoint intact
    # (and Keras cannot save into an existing folder that has an assets/ directory: FileExistsError).
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    # Weights only: optimizer slots are training state (Adam's would triple the size). The compile config
    # stays in config.json, so `load` still returns a compiled model, with a fresh optimizer.
    optimizer = getattr(model, "optimizer", None)
    try:
        if optimizer is not None:
            model.optimizer = None
        try:
            keras.saving.save_model(model, staging, zipped=False)
        finally:
            if optimizer is not None:
                model.optimizer = optimizer
        if weights_dtype == "float16":
            _store_weights_as_float16(staging / WEIGHTS)
        keras_metadata = json.loads((staging / "metadata.json").read_text())
        from zoo import __version__
        from zoo.training.precision import precision_of

        (staging / "metadata.json").write_text(json.dumps(
            {
                "name": folder.name,
                **keras_metadata,
                "zoo_version": __version__,
                "date_saved_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "parameters": int(model.count_params()),
                "weights_dtype": weights_dtype,
                "precision": precision_of(model),  # the dtype policy it runs under (it trained in its provenance's)
                **(metadata or {}),
            },
            indent=2,
        ) + "\n")
        files = _write_card_and_manifest(staging, card_text, folder.name)
        if folder.exists():
            old = folder.with_name(f".{folder.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            folder.rename(old)
            staging.rename(folder)
            shutil.rmtree(old)
        else:
            staging.rename(folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    size = sum((folder / relative).stat().st_size for relative in files)
    if size > MAX_BYTES:
        warnings.warn(f"checkpoint {folder} is {size / 2**20:.1f} MB: the zoo keeps checkpoints under "
                      f"{MAX_BYTES / 2**20:.0f} MB", stacklevel=2)
    return folder


def update_checkpoint_card(folder, card_text, metadata=None):
    """Rewrites a checkpoint folder's model card (and merges `metadata` into metadata.json), its manifest
    updated to the new files' hashes; the weights are not touched. Returns the folder's Path."""
    folder = Path(folder)
    verify_checkpoint(folder)
    if metadata:
        merged = {**json.loads((folder / "metadata.json").read_text()), **metadata}
        (folder / "metadata.json").write_text(json.dumps(merged, indent=2) + "\n")
    _write_card_and_manifest(folder, card_text, folder.name)
    return folder


def _write_card_and_manifest(folder, card_text, name):
    """Writes the model card, then the manifest of every file (hidden ones aside) with its sha256; returns
    the manifest's files."""
    (folder / CARD).write_text(card_text if card_text.endswith("\n") else card_text + "\n", encoding="utf-8")
    files = {relative: sha256(folder / relative) for relative in _files(folder)
             if relative != MANIFEST and not relative.startswith(".")}
    (folder / MANIFEST).write_text(json.dumps({"name": name, "files": files}, indent=2) + "\n")
    return files


def _check_expected(folder, files, expected):
    """Raises CorruptCheckpointError naming the first file whose manifest entry is not the `expected` one."""
    for relative in sorted(set(files) | set(expected)):
        if relative not in files:
            problem = f"is in the preset (sha256 {expected[relative]}) but not in {MANIFEST}"
        elif relative not in expected:
            problem = f"is in {MANIFEST} but not in the preset"
        elif files[relative] != expected[relative]:
            problem = f"differs from the preset: {MANIFEST} says sha256 {files[relative]}, the preset {expected[relative]}"
        else:
            continue
        raise CorruptCheckpointError(f"{folder}: file {relative!r} {problem} (not the checkpoint this zoo "
                                     "release ships)", relative)


def verify_checkpoint(folder, expected=None):
    """Checks every file against manifest.json; raises CorruptCheckpointError naming the first bad file.

    Every listed file must exist with its sha256, and every other file must be listed (hidden files such as
    the Hub's .gitattributes aside), so nothing unverified can reach the model. With `expected` ({relative
    path: sha256}, a preset's "files") the manifest must list exactly those hashes, so every file has the
    preset's hash. Returns the manifest.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
    except FileNotFoundError:
        raise CorruptCheckpointError(f"{folder}: no {MANIFEST}: not a zoo checkpoint", MANIFEST) from None
    except (ValueError, KeyError, TypeError) as error:
        raise CorruptCheckpointError(f"{folder}: unreadable {MANIFEST} ({error})", MANIFEST) from None
    if expected is not None:
        _check_expected(folder, files, expected)
    root = folder.resolve()
    for relative, expected in files.items():
        path = folder / relative
        if Path(relative).is_absolute() or ".." in Path(relative).parts:
            raise CorruptCheckpointError(f"{folder}: {MANIFEST} lists a path outside the folder: {relative!r}", relative)
        if not path.is_file():
            raise CorruptCheckpointError(f"{folder}: file {relative!r} is missing (listed in {MANIFEST})", relative)
        actual = sha256(path)
        if actual != expected:
            raise CorruptCheckpointError(
                f"{folder}: file {relative!r} is corrupt: sha256 {actual}, {MANIFEST} says {expected}", relative
            )
    for relative in _files(root):
        if relative != MANIFEST and relative not in files and not relative.startswith("."):
            raise CorruptCheckpointError(f"{folder}: file {relative!r} is not listed in {MANIFEST}", relative)
    return manifest


def _import_zoo_classes():
    """Registers the zoo's serializable classes (package "zoo") so Keras can rebuild the model."""
    for module in ("zoo.layers", "zoo.models", "zoo.text", "zoo.losses"):
        importlib.import_module(module)


def _repo_id(uri):
    if not isinstance(uri, str) or not uri.startswith("hf://"):
        raise ValueError(f"expected a Hub destination 'hf://org/name', got {uri!r}")
    repo_id = uri[len("hf://"):].strip("/")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ValueError(f"expected a Hub repository 'hf://org/name', got {uri!r}")
    return repo_id


class Location(NamedTuple):
    """Where `resolve_checkpoint` found a checkpoint, or must fetch it from.

    source: "folder" (a path), "checkout" (`checkpoints_root()`), "hf-cache" or "hub" (to download);
    folder: the local folder (None for "hub" when not downloaded);
    expected: {relative path: sha256} the files must have (a preset's, for a copy from the cache or the
    Hub), else None (a local folder is checked against its own manifest only)."""

    source: str
    folder: Optional[Path]
    expected: Optional[dict]


SOURCES = {"folder": "folder", "checkout": "checkout folder", "hf-cache": "HF cache", "hub": "Hub download needed"}


def _snapshot(uri, endpoint=None, local_files_only=False):
    from huggingface_hub import snapshot_download

    from zoo import __version__

    return Path(snapshot_download(_repo_id(uri), endpoint=endpoint, local_files_only=local_files_only,
                                  library_name="rnn-zoo", library_version=__version__))


def _cached_snapshot(uri):
    """The HF cache's complete snapshot of `uri`'s main revision, or None: never contacts the Hub."""
    try:
        return _snapshot(uri, local_files_only=True)
    except OSError:  # huggingface_hub's LocalEntryNotFoundError / IncompleteSnapshotError
        return None


def _download_preset(name, endpoint=None):
    root, uri = checkpoints_root(), PRESETS[name]["hub"]
    try:
        return _snapshot(uri, endpoint)
    except OSError as error:  # offline, no network, no such repository: all huggingface_hub errors are OSErrors
        raise CheckpointError(
            f"{name}: not in {root} nor in the Hugging Face cache, and {uri} cannot be downloaded "
            f"({type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}). The weights are "
            "published there by `zoo publish`; a source checkout ships them in checkpoints/ "
            "(or point $ZOO_CHECKPOINTS at a folder of checkpoints)"
        ) from error


def _unknown(spec):
    root, names = checkpoints_root(), list_models()
    close = difflib.get_close_matches(spec, names, n=3, cutoff=0.5)
    return UnknownModelError(
        f"unknown model {spec!r}: neither a preset, a checkpoint in {root}, nor a checkpoint folder"
        + (f"; did you mean {', '.join(map(repr, close))}?" if close else "")
        + f". Known models: {', '.join(names) if names else 'none'}"
    )


def resolve_checkpoint(name_or_path, endpoint=None, download=True):
    """Finds a checkpoint; returns its `Location`. In order:

    1. a folder path;
    2. a name in `checkpoints_root()` (a source checkout's checkpoints/, or $ZOO_CHECKPOINTS);
    3. a preset (`zoo.presets.PRESETS`) in the Hugging Face cache ($HF_HOME; no request is made);
    4. a preset downloaded from its Hub id (unless `download=False`: then `folder` is None).
    `hf://org/name` is fetched with `huggingface_hub.snapshot_download` (cache first, honours
    HF_HUB_OFFLINE=1); a preset's Hub id is held to the preset's hashes. `endpoint`: another Hub.
    """
    spec = str(name_or_path)
    if spec.startswith("hf://"):
        preset = next((p for p in PRESETS.values() if p["hub"] == spec), None)
        return Location("hub", _snapshot(spec, endpoint), preset and preset["files"])
    if spec and Path(spec).is_dir():
        return Location("folder", Path(spec), None)
    root = checkpoints_root()
    if spec and Path(spec).name == spec and (root / spec / MANIFEST).is_file():
        return Location("checkout", root / spec, None)
    if spec not in PRESETS:
        raise _unknown(spec)
    expected = PRESETS[spec]["files"]
    cached = _cached_snapshot(PRESETS[spec]["hub"])
    if cached is not None:
        return Location("hf-cache", cached, expected)
    return Location("hub", _download_preset(spec, endpoint) if download else None, expected)


def checkpoint_folder(name_or_path, endpoint=None):
    """The local folder of a name, a folder path, or `hf://org/name` (see `resolve_checkpoint`)."""
    return resolve_checkpoint(name_or_path, endpoint=endpoint).folder


def load(name_or_path, verify=True, compile=True, endpoint=None):
    """Loads a checkpoint as a Keras model: a name (`list_models()`), a folder, or `hf://org/name`,
    found by `resolve_checkpoint`.

    With `verify` (the default) every file is checked against manifest.json first, and a copy from the
    HF cache or the Hub against the preset's hashes too. `endpoint` is another Hub (default: $HF_ENDPOINT
    or huggingface.co). The result is an ordinary Keras model: call it, fit it.
    """
    location = resolve_checkpoint(name_or_path, endpoint=endpoint)
    folder = location.folder
    if verify:
        verify_checkpoint(folder, expected=location.expected)
    elif not (folder / "config.json").is_file():
        raise CorruptCheckpointError(f"{folder}: no config.json: not a Keras model folder", "config.json")
    _import_zoo_classes()
    try:  # safe_mode: a config can only name registered classes; no lambda or pickled code is run
        model = keras.saving.load_model(folder.resolve(), compile=False, safe_mode=True)
    except (TypeError, ValueError) as error:
        raise CorruptCheckpointError(
            f"{folder}: config.json does not describe a model the zoo can build safely: {error}", "config.json"
        ) from None
    # Compiled after the weights load, from config.json's compile config: Keras' compile=True would first
    # build a fresh optimizer, then warn that the checkpoint holds no optimizer state for it.
    compile_config = json.loads((folder / "config.json").read_text()).get("compile_config")
    if compile and compile_config:
        model.compile_from_config(compile_config)
    return model


def model_card(name_or_path, endpoint=None):
    """The text of a checkpoint's model card (README.md), or None if it has none."""
    path = checkpoint_folder(name_or_path, endpoint=endpoint) / CARD
    return path.read_text(encoding="utf-8") if path.is_file() else None


def publish(model_or_name_or_path, destination, token=None, endpoint=None, card_text=None, private=None):
    """Uploads a checkpoint folder (card and manifest included) to the Hub repository `hf://org/name`.

    The source is a registered name, a checkpoint folder, or a built Keras model (then `card_text` is
    required and it is saved with `save_checkpoint` first). The folder is verified before upload; the repo
    is created if needed. Returns the repository URL (a str with `.repo_id`).
    """
    from huggingface_hub import HfApi

    from zoo import __version__

    repo_id = _repo_id(destination)
    api = HfApi(endpoint=endpoint, token=token, library_name="rnn-zoo", library_version=__version__)
    with tempfile.TemporaryDirectory() as scratch:
        if isinstance(model_or_name_or_path, keras.Model):
            if card_text is None:
                raise ValueError("publish: a model object needs `card_text` (its model card) to become a checkpoint")
            folder = save_checkpoint(model_or_name_or_path, Path(scratch) / repo_id.split("/")[1], card_text)
        else:
            folder = checkpoint_folder(model_or_name_or_path, endpoint=endpoint)
        name = verify_checkpoint(folder)["name"]
        url = api.create_repo(repo_id, exist_ok=True, private=private)
        api.upload_folder(repo_id=url.repo_id, folder_path=folder,
                          commit_message=f"Upload {name} (rnn-zoo {__version__} checkpoint)")
    return url
