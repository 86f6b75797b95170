"""Checkpoint folders (zoo.checkpoints): save, manifest verification, load by name/path/hf://, publish.

Every test uses temporary folders: the registered-checkpoint root is pointed at one with $ZOO_CHECKPOINTS,
the Hugging Face cache at another, and "the Hub" is `StandInHub` below, a local server on 127.0.0.1.
"""

import base64
import hashlib
import json
import re
import shutil
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import h5py
import huggingface_hub
import keras
import numpy as np
import pytest
from huggingface_hub import constants as hf_constants

import zoo
from zoo import cli
from zoo.checkpoints import (
    CheckpointError,
    CorruptCheckpointError,
    Location,
    UnknownModelError,
    resolve_checkpoint,
    round_weights_to_float16,
    save_checkpoint,
    verify_checkpoint,
)
from zoo.models import RecurrentLanguageModel
from zoo.presets import PRESETS

NAME, REPO = "tiny-lm", "zoo-org/tiny-lm"
CARD = "# tiny-lm\n\nA 1-layer LSTM language model over 12 ids, for tests only.\n"
VOCABULARY = ["a", "b", "c", "d", "e", "f", "g", "h"]
IDS = np.array([[2, 5, 7, 1, 9, 4], [3, 3, 8, 11, 0, 0]], dtype="int32")


@keras.saving.register_keras_serializable(package="zoo_test")
class TinyVocabulary(keras.layers.Layer):
    """Stands in for zoo.text.CharTokenizer: its vocabulary is a layer asset (assets/...), not in config.json."""

    def __init__(self, vocabulary=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary = list(vocabulary or [])
        self.built = True  # no weights

    def save_assets(self, dir_path):
        Path(dir_path, "vocabulary.txt").write_text("\n".join(self.vocabulary))

    def load_assets(self, dir_path):
        self.vocabulary = Path(dir_path, "vocabulary.txt").read_text().split("\n")


def tiny_model():
    model = RecurrentLanguageModel(12, units=8, num_layers=1, embedding_dim=4, seed=1,
                                   tokenizer=TinyVocabulary(VOCABULARY))
    model.compile(optimizer=keras.optimizers.Adam(0.05),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model(IDS)
    return model


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A registered-checkpoint root holding tiny-lm/, saved through a *relative* path (Keras loses a
    relative folder's assets; save_checkpoint must not), and the model's logits on IDS."""
    keras.utils.set_random_seed(0)
    root = tmp_path_factory.mktemp("checkpoints")
    model = tiny_model()
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        save_checkpoint(model, NAME, CARD, metadata={"purpose": "test"})
    return root, model(IDS).numpy()


@pytest.fixture
def registered(saved, monkeypatch):
    root, logits = saved
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(root))
    return root / NAME, logits


@pytest.fixture
def copy(saved, tmp_path):
    """A private copy of the checkpoint folder, to damage."""
    return Path(shutil.copytree(saved[0] / NAME, tmp_path / NAME))


def test_folder_is_keras_format_plus_card_metadata_and_manifest(registered):
    folder, _ = registered
    manifest = json.loads((folder / "manifest.json").read_text())
    on_disk = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert manifest["name"] == NAME
    assert sorted(manifest["files"]) == [f for f in on_disk if f != "manifest.json"]
    assert {"config.json", "model.weights.h5", "metadata.json", "README.md"} <= set(manifest["files"])
    assert [f for f in manifest["files"] if f.startswith("assets/")] == ["assets/layers/tiny_vocabulary/vocabulary.txt"]
    for relative, digest in manifest["files"].items():
        assert hashlib.sha256((folder / relative).read_bytes()).hexdigest() == digest, relative
    assert (folder / "README.md").read_text() == CARD
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["keras_version"] == keras.__version__ and metadata["purpose"] == "test"
    assert metadata["name"] == NAME and metadata["parameters"] > 0
    assert not list(folder.parent.glob(".*")), "no staging folder left behind"
    with h5py.File(folder / "model.weights.h5") as weights:
        assert "optimizer" not in weights, "a checkpoint holds the model's weights, not the optimizer's state"


def test_load_by_name_and_by_path_give_identical_predictions(registered):
    folder, logits = registered
    assert zoo.list_models() == sorted([NAME, *PRESETS])
    by_name = zoo.load(NAME)
    assert isinstance(by_name, RecurrentLanguageModel)
    np.testing.assert_array_equal(by_name(IDS).numpy(), logits)
    assert by_name.tokenizer.vocabulary == VOCABULARY  # restored from assets/
    by_path = zoo.load(str(folder))
    np.testing.assert_array_equal(by_path(IDS).numpy(), logits)
    assert zoo.model_card(NAME) == CARD


def test_loaded_model_fine_tunes(registered):
    model = zoo.load(NAME)
    assert model.optimizer is not None  # the compile config travels in config.json
    history = model.fit(IDS[:, :-1], IDS[:, 1:], epochs=6, batch_size=2, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0], losses


def test_list_models_is_the_presets_and_the_folders_with_a_manifest(tmp_path, monkeypatch):
    for name in ["b-model", "a-model"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "manifest.json").write_text('{"name": "%s", "files": {}}' % name)
    (tmp_path / "no-manifest").mkdir()
    (tmp_path / ".c-model.staging").mkdir()  # save_checkpoint's work folder
    (tmp_path / ".c-model.staging" / "manifest.json").write_text("{}")
    (tmp_path / "README.md").write_text("not a model")
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(tmp_path))
    assert zoo.list_models() == sorted(["a-model", "b-model", *PRESETS])
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(tmp_path / "absent"))
    assert zoo.list_models() == sorted(PRESETS)


def test_a_flipped_byte_in_the_weights_is_refused(copy):
    weights = copy / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"'model\.weights\.h5' is corrupt") as error:
        zoo.load(copy)
    assert error.value.path == "model.weights.h5" and isinstance(error.value, ValueError)


def test_a_missing_or_unlisted_file_is_refused(copy):
    vocabulary = copy / "assets" / "layers" / "tiny_vocabulary" / "vocabulary.txt"
    vocabulary.rename(copy / "stray.txt")
    with pytest.raises(CorruptCheckpointError, match=r"'assets/layers/tiny_vocabulary/vocabulary\.txt' is missing"):
        zoo.load(copy)
    shutil.copy(copy / "stray.txt", vocabulary)
    with pytest.raises(CorruptCheckpointError, match=r"'stray\.txt' is not listed in manifest\.json"):
        verify_checkpoint(copy)
    (copy / "stray.txt").unlink()
    verify_checkpoint(copy)
    (copy / "manifest.json").unlink()
    with pytest.raises(CorruptCheckpointError, match="no manifest.json"):
        zoo.load(copy)


def test_an_unknown_name_lists_close_matches_and_the_models(registered):
    with pytest.raises(UnknownModelError, match=r"unknown model 'tiny-ml'.*did you mean 'tiny-lm'") as error:
        zoo.load("tiny-ml")
    assert isinstance(error.value, ValueError)
    assert f"neither a preset, a checkpoint in {registered[0].parent}, nor a checkpoint folder" in str(error.value)
    assert f"Known models: {', '.join(sorted([NAME, *PRESETS]))}" in str(error.value)


# -- the Hub -------------------------------------------------------------------------------------------


class StandInHub:
    """A local stand-in for the Hugging Face Hub API (not the real Hub): just the endpoints that
    huggingface_hub 2.4.0's own HTTP client calls for create_repo, upload_folder and snapshot_download.

        POST /api/repos/create                            create_repo (409 when it exists, exist_ok=True)
        POST /api/validate-yaml                           upload_folder checks README.md's metadata
        POST /api/models/{repo}/preupload/{rev}           answers "regular" for every file, so no LFS/Xet
        POST /api/models/{repo}/commit/{rev}              the ndjson commit: header + base64 "file" lines
        GET  /api/models/{repo}/revision/{rev}            repo_info: the commit sha and siblings
        GET  /api/models/{repo}/tree/{rev}?recursive=...  the file listing (size, git blob oid)
        HEAD/GET /{repo}/resolve/{rev}/{path}             file metadata (X-Repo-Commit, ETag) and bytes

    Files are kept in memory; every request is logged in `requests`, anything else is answered 404 and
    logged in `unexpected`. The real Hub would take the binary weights through LFS/Xet storage: that
    upload path (and auth, which is only forwarded here) is NOT exercised. Binds 127.0.0.1 only, on a
    free port, and shuts itself down after `lifetime_s` at the latest.
    """

    def __init__(self, lifetime_s=120):
        self.repos = {}  # repo_id -> {"sha": str, "files": {path: bytes}, "messages": [str]}
        self.requests, self.unexpected = [], []
        self._lock, self._stopped = threading.Lock(), False
        handler = type("Handler", (_HubHandler,), {"hub": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self._deadline = threading.Timer(lifetime_s, self.stop)
        self._deadline.daemon = True
        self._deadline.start()

    def stop(self):
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._deadline.cancel()
        self.server.shutdown()
        self.server.server_close()

    # Routes: (methods, path pattern, handler name). {repo} is org/name.
    ROUTES = [
        ("POST", r"/api/repos/create", "create"),
        ("POST", r"/api/validate-yaml", "validate_yaml"),
        ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/preupload/(?P<rev>[^/]+)", "preupload"),
        ("POST", r"/api/models/(?P<repo>[^/]+/[^/]+)/commit/(?P<rev>[^/]+)", "commit"),
        ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)(?:/revision/(?P<rev>[^/]+))?", "info"),
        ("GET", r"/api/models/(?P<repo>[^/]+/[^/]+)/tree/(?P<rev>[^/]+)", "tree"),
        ("GET HEAD", r"/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<file>.+)", "resolve"),
    ]

    def dispatch(self, request, method):
        path = request.path.split("?")[0]
        with self._lock:
            self.requests.append((method, path))
        for methods, pattern, name in self.ROUTES:
            match = re.fullmatch(pattern, path)
            if method in methods.split() and match:
                args = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                with self._lock:
                    return getattr(self, name)(request, **args)
        with self._lock:
            self.unexpected.append((method, path))
        return 404, {"error": "not emulated by the stand-in"}, {}

    def _repo(self, repo, rev="main"):
        if repo not in self.repos:
            return None, (404, {"error": f"Repository {repo} not found"}, {"X-Error-Code": "RepoNotFound"})
        state = self.repos[repo]
        if rev not in ("main", state["sha"]):
            return None, (404, {"error": f"Invalid rev id: {rev}"}, {"X-Error-Code": "RevisionNotFound"})
        return state, None

    def create(self, request):
        body = json.loads(request.body())
        repo = f"{body['organization']}/{body['name']}"
        if repo in self.repos:
            return 409, {"error": "You already created this model repo", "url": f"{self.url}/{repo}"}, {}
        self.repos[repo] = {"sha": "0" * 40, "files": {}, "messages": []}
        return 200, {"url": f"{self.url}/{repo}"}, {}

    def validate_yaml(self, request):
        request.body()
        return 200, {"errors": [], "warnings": []}, {}

    def preupload(self, request, repo, rev):
        body = json.loads(request.body())
        _, error = self._repo(repo, rev)
        if error:
            return error
        return 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                               for f in body["files"]]}, {}

    def commit(self, request, repo, rev):
        lines = [json.loads(line) for line in request.body().splitlines() if line.strip()]
        state, error = self._repo(repo, rev)
        if error:
            return error
        files = dict(state["files"])
        for line in lines:
            value = line["value"]
            if line["key"] == "header":
                summary = value["summary"]
            elif line["key"] == "file" and value["encoding"] == "base64":
                files[value["path"]] = base64.b64decode(value["content"])
            elif line["key"] == "deletedFile":
                files.pop(value["path"], None)
            else:
                return 422, {"error": f"the stand-in cannot store {line['key']!r} operations"}, {}
        digest = hashlib.sha1(state["sha"].encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + _git_oid(files[path]).encode())
        state.update(sha=digest.hexdigest(), files=files)
        state["messages"].append(summary)
        return 200, {"success": True, "commitOid": state["sha"], "commitUrl": f"{self.url}/{repo}/commit/{state['sha']}"}, {}

    def info(self, request, repo, rev="main"):
        state, error = self._repo(repo, rev)
        if error:
            return error
        return 200, {"id": repo, "modelId": repo, "sha": state["sha"], "private": False,
                     "siblings": [{"rfilename": path} for path in sorted(state["files"])]}, {}

    def tree(self, request, repo, rev):
        state, error = self._repo(repo, rev)
        if error:
            return error
        return 200, [{"type": "file", "path": path, "size": len(data), "oid": _git_oid(data)}
                     for path, data in sorted(state["files"].items())], {}

    def resolve(self, request, repo, rev, file):
        state, error = self._repo(repo, rev)
        if error:
            return error
        if file not in state["files"]:
            return 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": state["sha"]}
        data = state["files"][file]
        return 200, data, {"X-Repo-Commit": state["sha"], "ETag": f'"{_git_oid(data)}"'}


def _git_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class _HubHandler(BaseHTTPRequestHandler):
    hub = None

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, method):
        status, payload, headers = self.hub.dispatch(self, method)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        self._answer("GET")

    def do_HEAD(self):
        self._answer("HEAD")

    def do_POST(self):
        self._answer("POST")

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """The stand-in Hub, an empty HF cache under tmp_path, and a fake token (no real credentials read)."""
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in_token")
    server = StandInHub()
    yield server
    server.stop()
    assert not server.unexpected, f"huggingface_hub called endpoints the stand-in lacks: {server.unexpected}"


def test_publish_then_fetch_through_the_hub_api(registered, hub):
    folder, logits = registered
    url = zoo.publish(NAME, f"hf://{REPO}", endpoint=hub.url)
    assert url.repo_id == REPO and url == f"{hub.url}/{REPO}"
    stored = hub.repos[REPO]
    local = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    assert stored["files"] == local  # every file, manifest and card included, byte for byte
    assert stored["messages"] == ["Upload tiny-lm (rnn-zoo 0.1.0 checkpoint)"]
    assert ("POST", f"/api/models/{REPO}/preupload/main") in hub.requests
    assert zoo.publish(str(folder), f"hf://{REPO}", endpoint=hub.url) == url  # exists: reused, no new file

    model = zoo.load(f"hf://{REPO}", endpoint=hub.url)
    np.testing.assert_array_equal(model(IDS).numpy(), logits)
    assert model.tokenizer.vocabulary == VOCABULARY
    assert ("GET", f"/{REPO}/resolve/{stored['sha']}/model.weights.h5") in hub.requests
    cache = Path(hf_constants.HF_HUB_CACHE) / "models--zoo-org--tiny-lm"
    assert (cache / "refs" / "main").read_text() == stored["sha"]
    assert (cache / "snapshots" / stored["sha"] / "manifest.json").is_file()


def _file_requests(hub, repo):
    """The checkpoint files `hub` served for `repo` (GET .../resolve/<rev>/<file>), as relative paths."""
    return sorted(path.split("/resolve/")[1].split("/", 1)[1] for method, path in hub.requests
                  if method == "GET" and path.startswith(f"/{repo}/resolve/"))


def _go_offline(monkeypatch):
    """HF_HUB_OFFLINE=1 (read by huggingface_hub at import, hence set on its constants too)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)


def test_hf_uri_downloads_then_loads_offline_from_the_cache(registered, hub, monkeypatch):
    """Online, every file is requested from the (running) Hub; with HF_HUB_OFFLINE=1 no request reaches it."""
    folder, logits = registered
    zoo.publish(folder, f"hf://{REPO}", endpoint=hub.url)
    hub.requests.clear()
    zoo.load(f"hf://{REPO}", endpoint=hub.url)  # populates the cache: models--zoo-org--tiny-lm/
    assert _file_requests(hub, REPO) == sorted(hub.repos[REPO]["files"])
    hub.requests.clear()
    _go_offline(monkeypatch)
    model = zoo.load(f"hf://{REPO}", endpoint=hub.url)  # the Hub is up, and never asked
    np.testing.assert_array_equal(model(IDS).numpy(), logits)
    assert hub.requests == []
    with pytest.raises(huggingface_hub.errors.LocalEntryNotFoundError):
        zoo.load("hf://zoo-org/never-downloaded", endpoint=hub.url)
    assert hub.requests == []


def test_publish_checks_before_uploading(copy, hub, registered, monkeypatch):
    with pytest.raises(ValueError, match="hf://org/name"):
        zoo.publish(copy, "hf://no-org-given", endpoint=hub.url)
    model = zoo.load(copy)
    with pytest.raises(ValueError, match="card_text"):
        zoo.publish(model, f"hf://{REPO}", endpoint=hub.url)
    (copy / "README.md").write_text("edited after the manifest was written\n")
    with pytest.raises(CorruptCheckpointError, match="'README.md' is corrupt"):
        zoo.publish(copy, f"hf://{REPO}", endpoint=hub.url)
    assert hub.requests == []
    monkeypatch.setattr(zoo.checkpoints, "MAX_BYTES", 1000)
    with pytest.warns(UserWarning, match="the zoo keeps checkpoints under"):
        zoo.publish(model, "hf://zoo-org/from-object", endpoint=hub.url, card_text="# from-object\n")
    files = hub.repos["zoo-org/from-object"]["files"]
    assert files["README.md"] == b"# from-object\n"
    assert json.loads(files["manifest.json"])["name"] == "from-object"


def array_bytes(path):
    sizes = []
    with h5py.File(path, "r") as f:
        f.visititems(lambda name, item: sizes.append(item.nbytes) if isinstance(item, h5py.Dataset) else None)
    return sum(sizes)


def test_float16_weights_halve_the_file_and_load_as_the_rounded_model(tmp_path):
    model = tiny_model()
    full = save_checkpoint(model, tmp_path / "full", CARD)
    round_weights_to_float16(model)
    half = save_checkpoint(model, tmp_path / "half", CARD, weights_dtype="float16")
    assert array_bytes(half / "model.weights.h5") * 2 == array_bytes(full / "model.weights.h5")
    loaded = zoo.load(half)
    assert all(w.dtype == "float32" for w in loaded.weights)
    np.testing.assert_array_equal(loaded(IDS), model(IDS))  # exactly the rounded model
    assert json.loads((half / "metadata.json").read_text())["weights_dtype"] == "float16"
    with pytest.raises(ValueError, match="weights_dtype"):
        save_checkpoint(model, tmp_path / "bad", CARD, weights_dtype="int8")


def _rewrite_config(folder, edit):
    """Edits config.json and re-hashes it in the manifest, as a deliberate (not accidental) change would."""
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["config.json"] = hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_config_naming_an_unregistered_class_is_refused(copy):
    def rename_the_model_class(config):
        config["module"], config["class_name"], config["registered_name"] = "evil", "Payload", "evil>Payload"

    _rewrite_config(copy, rename_the_model_class)
    verify_checkpoint(copy)  # the hashes agree: it is the content that is refused
    with pytest.raises(CorruptCheckpointError, match=r"config\.json does not describe a model.*Payload") as error:
        zoo.load(copy)
    assert error.value.path == "config.json"


def test_a_config_with_a_lambda_is_refused_without_running_it(copy):
    def wrap_the_tokenizer_in_a_lambda(config):
        config["config"]["tokenizer"] = {
            "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "payload", "function": {"class_name": "__lambda__", "config": {
                "code": "4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMEAAAAfABTACkBTqkAKQHaAXhyAQAAAHIBAAAA+gE8bGFtYmRhPgEAAABzAAAAAA==",
                "defaults": None, "closure": None}}},
        }

    _rewrite_config(copy, wrap_the_tokenizer_in_a_lambda)
    with pytest.raises(CorruptCheckpointError, match=r"config\.json does not describe a model.*unsafe"):
        zoo.load(copy)


def test_a_flipped_byte_in_a_shipped_checkpoint_is_refused_by_name(tmp_path):
    shipped = Path(shutil.copytree(zoo.checkpoints.checkpoint_folder("charlm-shakespeare-rnn"), tmp_path / "rnn"))
    weights = shipped / "model.weights.h5"
    data = bytearray(weights.read_bytes())
    data[len(data) // 3] ^= 0x80
    weights.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=rf"{shipped}: file 'model\.weights\.h5' is corrupt"):
        zoo.load(shipped)


# -- presets: the shipped names, from a checkout, the HF cache or the Hub ------------------------------------


def test_every_preset_is_its_shipped_checkpoint_folder():
    """A retrained checkpoint whose preset was not regenerated (`python -m zoo.presets`) fails here."""
    root = zoo.checkpoints.DEFAULT_ROOT
    assert sorted(PRESETS) == sorted(p.parent.name for p in root.glob("*/manifest.json"))
    for name, preset in PRESETS.items():
        assert preset["files"] == json.loads((root / name / "manifest.json").read_text())["files"], name
        assert preset["hub"] == f"hf://rnn-zoo/{name}"
        assert preset["task"] == zoo.presets.task_of(root / name), name
    assert {name: preset["task"] for name, preset in PRESETS.items()} == {
        "charlm-shakespeare-gru": "language_model", "charlm-shakespeare-lstm": "language_model",
        "charlm-shakespeare-rnn": "language_model", "wordlm-ptb-lstm": "language_model",
        "wordlm-ptb-small": "language_model", "nmt-multi30k-de-en": "translation", "nmt-multi30k-en-de": "translation",
        "pos-ewt-bilstm": "tagging", "sentiment-sst2-bilstm": "classification",
        "sentiment-sst-treelstm": "classification", "pixelrnn-mnist": "image_model",
    }


def test_write_presets_regenerates_the_table_from_the_folders(registered, tmp_path):
    module = Path(zoo.presets.__file__)
    copy = Path(shutil.copy(module, tmp_path / "presets.py"))
    assert zoo.presets.write_presets(zoo.checkpoints.DEFAULT_ROOT, copy) == PRESETS
    assert copy.read_text() == module.read_text()  # the committed table is the generated one
    table = zoo.presets.write_presets(registered[0].parent, copy)
    assert table == {NAME: {"task": "language_model", "hub": f"hf://rnn-zoo/{NAME}",
                            "files": verify_checkpoint(registered[0])["files"]}}
    namespace = {"__file__": str(copy)}
    exec(copy.read_text(), namespace)  # still a valid module
    assert namespace["PRESETS"] == table


@pytest.fixture
def preset(saved, hub, tmp_path, monkeypatch):
    """tiny-lm as a preset published on the stand-in Hub as hf://zoo-org/tiny-lm, in neither the
    checkpoints root (an empty one) nor the (empty) HF cache; the Hub's request log starts empty."""
    root, logits = saved
    files = verify_checkpoint(root / NAME)["files"]
    monkeypatch.setitem(PRESETS, NAME, {"task": "language_model", "hub": f"hf://{REPO}", "files": files})
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(tmp_path / "no-checkpoints"))
    zoo.publish(root / NAME, f"hf://{REPO}", endpoint=hub.url)
    hub.requests.clear()
    return files, logits


def _listed_source(capsys, name):
    """Where `zoo list` says `name` would load from."""
    assert cli.main(["list"]) == 0
    line = next(line for line in capsys.readouterr().out.splitlines() if line.split()[0] == name)
    return line.split(None, 2)[2]


def test_a_preset_is_downloaded_once_then_loads_from_the_hf_cache(preset, hub, capsys, monkeypatch):
    files, logits = preset
    assert resolve_checkpoint(NAME, download=False) == Location("hub", None, files)
    assert _listed_source(capsys, NAME) == f"Hub download needed: hf://{REPO}"
    assert hub.requests == []  # listing downloads nothing
    model = zoo.load(NAME, endpoint=hub.url)
    np.testing.assert_array_equal(model(IDS).numpy(), logits)
    assert _file_requests(hub, REPO) == sorted([*files, "manifest.json"])
    hub.requests.clear()
    cached = resolve_checkpoint(NAME, download=False)
    assert cached.source == "hf-cache" and cached.folder.parent.parent.name == "models--zoo-org--tiny-lm"
    assert _listed_source(capsys, NAME) == f"HF cache: {cached.folder}"
    np.testing.assert_array_equal(zoo.load(NAME, endpoint=hub.url)(IDS).numpy(), logits)
    _go_offline(monkeypatch)
    np.testing.assert_array_equal(zoo.load(NAME, endpoint=hub.url)(IDS).numpy(), logits)
    assert hub.requests == []  # the cache comes before the Hub, online or not


def test_a_checkout_folder_comes_before_the_hf_cache(preset, hub, saved, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_CHECKPOINTS", str(saved[0]))
    assert resolve_checkpoint(NAME) == Location("checkout", saved[0] / NAME, None)
    assert _listed_source(capsys, NAME) == f"checkout folder: {saved[0] / NAME}"
    assert hub.requests == []


def test_a_hub_copy_that_differs_from_the_preset_is_refused_naming_the_file(preset, hub, copy):
    (copy / "README.md").write_text("# tiny-lm, retrained\n")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["files"]["README.md"] = zoo.checkpoints.sha256(copy / "README.md")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    zoo.publish(copy, f"hf://{REPO}", endpoint=hub.url)  # a consistent checkpoint, but not the preset's
    with pytest.raises(CorruptCheckpointError, match=r"file 'README\.md' differs from the preset: manifest\.json "
                                                     rf"says sha256 {manifest['files']['README.md']}") as error:
        zoo.load(NAME, endpoint=hub.url)
    assert error.value.path == "README.md"
    with pytest.raises(CorruptCheckpointError, match=r"'README\.md' differs from the preset"):
        zoo.load(NAME)  # now from the HF cache: still refused


def test_a_corrupt_file_in_the_hf_cache_is_refused_naming_it(preset, hub):
    folder = zoo.checkpoints.checkpoint_folder(NAME, endpoint=hub.url)
    blob = (folder / "model.weights.h5").resolve()  # the cache's snapshot holds symlinks to blobs/
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError, match=r"file 'model\.weights\.h5' is corrupt"):
        zoo.load(NAME, endpoint=hub.url)


def test_a_preset_neither_local_nor_cached_cannot_load_offline(preset, hub, monkeypatch, tmp_path):
    _go_offline(monkeypatch)
    with pytest.raises(CheckpointError, match=rf"tiny-lm: not in {tmp_path / 'no-checkpoints'} nor in the Hugging "
                                              rf"Face cache, and hf://{REPO} cannot be downloaded.*zoo publish"):
        zoo.load(NAME, endpoint=hub.url)
    assert hub.requests == []


SOURCE = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_a_regular_install_lists_the_presets_and_loads_one_from_the_hf_cache_offline(hub, tmp_path):
    """`pip install .` (not -e) of the sources (no checkpoints/), run outside the repository with a
    pre-filled HF cache and HF_HUB_OFFLINE=1: `zoo list` names every preset and a preset loads, and the
    Hub (HF_ENDPOINT, the stand-in, still running) is never asked."""
    name = "charlm-shakespeare-rnn"  # the smallest shipped checkpoint
    sources = tmp_path / "sources"  # pip builds in the source tree: not in the repository's
    for part in ["zoo", "recipes"]:
        shutil.copytree(SOURCE / part, sources / part, ignore=shutil.ignore_patterns("__pycache__"))
    for part in ["setup.cfg", "pyproject.toml", "README.md"]:
        shutil.copy(SOURCE / part, sources / part)
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(sources)], check=True, capture_output=True, timeout=300)
    hf_home = tmp_path / "hf-home"
    zoo.publish(name, PRESETS[name]["hub"], endpoint=hub.url)
    huggingface_hub.snapshot_download(f"rnn-zoo/{name}", endpoint=hub.url, cache_dir=hf_home / "hub")
    script = f"""
import zoo
from zoo import cli
from zoo.checkpoints import resolve_checkpoint
assert zoo.__file__.startswith({str(site)!r}), zoo.__file__
cli.main(["list"])
print(resolve_checkpoint({name!r}).source, zoo.load({name!r}).count_params())
"""
    hub.requests.clear()
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={"PYTHONPATH": str(site), "HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": hub.url,
             "PATH": "/usr/bin:/bin",
             "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    *listing, loaded = result.stdout.splitlines()
    assert [line.split()[:2] for line in listing] == [[n, p["task"]] for n, p in sorted(PRESETS.items())]
    assert all(line.split(None, 2)[2] == f"Hub download needed: {PRESETS[line.split()[0]]['hub']}"
               for line in listing if not line.startswith(name))
    assert next(line for line in listing if line.startswith(name)).split(None, 2)[2].startswith(
        f"HF cache: {hf_home / 'hub' / f'models--rnn-zoo--{name}' / 'snapshots'}")
    parameters = json.loads((zoo.checkpoints.DEFAULT_ROOT / name / "metadata.json").read_text())["parameters"]
    assert loaded == f"hf-cache {parameters}"
    assert hub.requests == []
