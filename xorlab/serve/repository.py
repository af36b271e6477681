"""The model repository on disk: read manifest.json, check it, and read each artifact safely.

Nothing in the repository is trusted until checked: the manifest's structure, every artifact's
path (relative, inside the repository, no symlink leading out), size and sha256. A model that fails
a check is kept with its reason (ready = false) so clients can see why; the others still serve.
Nothing outside the repository folder is ever opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import orjson

from xorlab.serve.errors import ModelNotFound, ModelNotReady, RepositoryError, VersionNotFound
from xorlab.serve.runtime import OnnxModel

MANIFEST = "manifest.json"
FORMAT = "xorlab-manifest/1"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024  # bounds what a lying manifest can make us read
MAX_PICTURE_BYTES = 8 * 1024 * 1024  # pictures are kept in memory: a few tens of kB each
# The report's pictures are top-level PNG files: a plain name, so it is also a safe URL segment.
PICTURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*\.png$")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NAME = re.compile(r"^[a-z][a-z0-9-]*$")
VERSION = re.compile(r"^[0-9]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
ARTIFACTS = ("onnx", "torchscript", "config")


@dataclass
class TruthTable:
    inputs: np.ndarray  # (4, 2) float32
    targets: np.ndarray  # (4,) float32, 0 or 1


@dataclass(frozen=True)
class Picture:
    """A report picture, checked (path, size, sha256, PNG header) and held in memory, so what is
    served is exactly what was verified, whatever happens to the file afterwards."""

    name: str
    title: str
    model: str | None
    data: bytes
    sha256: str
    width: int
    height: int


@dataclass
class Repository:
    """What one worker serves: every model named by the manifest, loaded or with its reason."""

    models: dict[str, OnnxModel] = field(default_factory=dict)
    error: str | None = None  # why the repository as a whole could not be read
    manifest: dict | None = None
    pictures: dict[str, Picture] = field(default_factory=dict)  # by name, in the manifest's order
    refused_pictures: dict[str, str] = field(default_factory=dict)  # name (as written) -> reason

    @property
    def ready(self) -> bool:
        return any(m.ready for m in self.models.values())

    def not_ready_reason(self) -> str:
        if self.error:
            return f"no model is ready: {self.error}"
        if not self.models:
            return "no model is ready: the repository's manifest lists no models"
        reasons = "; ".join(f"{m.name}: {m.reason}" for m in self.models.values())
        return f"no model is ready ({reasons})"

    def find(self, name: str, version: str | None = None) -> OnnxModel:
        """The named model (any readiness); 404 for an unknown name or version."""
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise ModelNotFound(f"model '{name}' not found; available models: {known}")
        if version is not None and version != model.version:
            raise VersionNotFound(
                f"model '{name}' has no version '{version}'; available versions: {model.version}"
            )
        return model

    def get(self, name: str, version: str | None = None) -> OnnxModel:
        """The named model, ready to infer; 404 unknown, 503 not ready."""
        model = self.find(name, version)
        if not model.ready:
            raise ModelNotReady(f"model '{name}' is not ready: {model.reason}")
        return model

    def index(self) -> list[dict]:
        # Triton's repository index entry: name, version, state, reason.
        return [
            {
                "name": m.name,
                "version": m.version,
                "state": "READY" if m.ready else "UNAVAILABLE",
                "reason": m.reason,
            }
            for m in sorted(self.models.values(), key=lambda m: m.name)
        ]


UNLOADED = "unloaded through the repository API"


def load_repository(root: str | os.PathLike, unloaded: set[str] | frozenset[str] = frozenset()) -> Repository:
    """Read and check the repository at `root`, loading every model it names but `unloaded`."""
    try:
        root_dir = Path(root).resolve(strict=True)
        if not root_dir.is_dir():
            raise RepositoryError("the model repository is not a folder")
        manifest = _read_manifest(root_dir)
        truth_table = _truth_table(manifest)
        entries = manifest.get("models")
        if not isinstance(entries, dict):
            raise RepositoryError("manifest field 'models' must be an object")
    except FileNotFoundError:
        return Repository(error="the model repository folder does not exist")
    except RepositoryError as exc:
        return Repository(error=str(exc))

    repo = Repository(manifest=manifest)
    for name, entry in entries.items():
        model = OnnxModel(name, entry)
        if name in unloaded:
            model.fail(UNLOADED)
            repo.models[name] = model
            continue
        try:
            _check_entry(name, entry)
            blobs = {kind: read_artifact(root_dir, entry["artifacts"][kind]) for kind in ARTIFACTS}
            model.load(blobs["onnx"], truth_table)
        except RepositoryError as exc:
            model.fail(str(exc))
        repo.models[name] = model
    _load_pictures(root_dir, manifest, repo)
    return repo


def _load_pictures(root: Path, manifest: dict, repo: Repository) -> None:
    """Every picture the manifest lists, checked like the artifacts; a bad one is left out with
    its reason (the report works without it)."""
    entries = manifest.get("pictures", [])
    if not isinstance(entries, list):
        repo.refused_pictures["pictures"] = "manifest field 'pictures' must be a list"
        return
    for entry in entries:
        label = str(entry.get("path"))[:100] if isinstance(entry, dict) else "?"
        try:
            picture = _picture(root, entry)
        except RepositoryError as exc:
            repo.refused_pictures[label] = str(exc)
            continue
        repo.pictures[picture.name] = picture


def _picture(root: Path, entry: object) -> Picture:
    if not isinstance(entry, dict) or not {"path", "sha256", "bytes", "title"} <= entry.keys():
        raise RepositoryError("a picture needs 'path', 'sha256', 'bytes' and 'title'")
    name, title, model = entry["path"], entry["title"], entry.get("model")
    if not isinstance(name, str) or not PICTURE_NAME.match(name):
        raise RepositoryError(f"picture {name!r} is not a top-level .png file name")
    if not isinstance(title, str) or not (model is None or isinstance(model, str)):
        raise RepositoryError(f"picture {name!r}: 'title' and 'model' must be strings")
    if isinstance(entry["bytes"], int) and entry["bytes"] > MAX_PICTURE_BYTES:
        raise RepositoryError(f"picture {name!r} is larger than {MAX_PICTURE_BYTES} bytes")
    data = read_artifact(root, entry)
    # The PNG header: signature, then the IHDR chunk (length 13) with width and height.
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise RepositoryError(f"picture {name!r} is not a PNG file")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    return Picture(name, title, model, data, entry["sha256"], width, height)


def _read_manifest(root: Path) -> dict:
    data = _read_inside(root, MANIFEST, MAX_MANIFEST_BYTES)
    try:
        manifest = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RepositoryError(f"{MANIFEST} is not valid JSON") from None
    if not isinstance(manifest, dict):
        raise RepositoryError(f"{MANIFEST} must hold a JSON object")
    if manifest.get("format") != FORMAT:
        raise RepositoryError(f"{MANIFEST} has format {manifest.get('format')!r}; expected {FORMAT!r}")
    return manifest


def _truth_table(manifest: dict) -> TruthTable:
    table = manifest.get("truth_table")
    try:
        inputs = np.array(table["inputs"], dtype=np.float32)
        targets = np.array(table["targets"], dtype=np.float32)
    except (TypeError, KeyError, ValueError):
        raise RepositoryError("manifest field 'truth_table' must hold 'inputs' and 'targets' numbers") from None
    if inputs.shape != (4, 2) or targets.shape != (4,) or not np.isin(targets, (0, 1)).all():
        raise RepositoryError("manifest 'truth_table' must be 4 rows of 2 inputs and 4 targets of 0 or 1")
    return TruthTable(inputs, targets)


def _check_entry(name: str, entry: object) -> None:
    """The fields serving relies on; the full contract is models/manifest.schema.json."""
    if not NAME.match(name):
        raise RepositoryError(f"model name {name!r} is not a valid name (lowercase letters, digits, '-')")
    if not isinstance(entry, dict):
        raise RepositoryError("manifest entry is not an object")
    expected = {
        "name": str, "version": str, "architecture": dict, "trainer": str, "parameters": int,
        "final_loss": (int, float), "truth_table_outputs": list, "inputs": list, "outputs": list,
        "artifacts": dict,
    }  # fmt: skip
    for key, kind in expected.items():
        if key not in entry:
            raise RepositoryError(f"manifest entry misses field '{key}'")
        if not isinstance(entry[key], kind) or isinstance(entry[key], bool):
            raise RepositoryError(f"manifest field '{key}' has the wrong type")
    if entry["name"] != name:
        raise RepositoryError(f"manifest entry is keyed '{name}' but names itself '{entry['name']}'")
    if not VERSION.match(entry["version"]):
        raise RepositoryError(f"version {entry['version']!r} is not a number")
    for kind in ARTIFACTS:
        artifact = entry["artifacts"].get(kind)
        if not isinstance(artifact, dict) or not {"path", "sha256", "bytes"} <= artifact.keys():
            raise RepositoryError(f"artifact '{kind}' needs 'path', 'sha256' and 'bytes'")


def read_artifact(root: Path, artifact: dict) -> bytes:
    """An artifact's bytes, after checking its path, size and sha256 against the manifest."""
    path, sha, size = artifact["path"], artifact["sha256"], artifact["bytes"]
    if not isinstance(sha, str) or not SHA256.match(sha):
        raise RepositoryError(f"artifact {path!r}: sha256 must be 64 lowercase hex digits")
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_ARTIFACT_BYTES:
        raise RepositoryError(f"artifact {path!r}: 'bytes' must be an integer up to {MAX_ARTIFACT_BYTES}")
    data = _read_inside(root, path, MAX_ARTIFACT_BYTES)
    if len(data) != size:
        raise RepositoryError(f"artifact {path!r} has {len(data)} bytes; the manifest says {size}")
    if hashlib.sha256(data).hexdigest() != sha:
        raise RepositoryError(f"artifact {path!r} fails its sha256 check (changed after the manifest was written)")
    return data


def _read_inside(root: Path, relative: object, limit: int) -> bytes:
    """Read a regular file named by a manifest path, refusing anything that leads outside `root`."""
    if not isinstance(relative, str) or not relative or "\\" in relative or "\0" in relative:
        raise RepositoryError(f"path {relative!r} is not a relative '/'-separated path")
    parts = PurePosixPath(relative)
    if parts.is_absolute():
        raise RepositoryError(f"path {relative!r} is absolute; paths are relative to the repository")
    if ".." in parts.parts:
        raise RepositoryError(f"path {relative!r} escapes the repository")
    try:
        # resolve() follows symlinks without opening anything, so the check below sees the target.
        target = (root / parts).resolve(strict=True)
    except FileNotFoundError:
        raise RepositoryError(f"{relative!r} is missing") from None
    except (OSError, RuntimeError):  # symlink loop, permission
        raise RepositoryError(f"{relative!r} cannot be resolved") from None
    if not target.is_relative_to(root):
        raise RepositoryError(f"{relative!r} is a symlink pointing outside the repository")
    info = os.stat(target)
    if not stat.S_ISREG(info.st_mode):  # a FIFO or device would block or never end
        raise RepositoryError(f"{relative!r} is not a regular file")
    if info.st_size > limit:
        raise RepositoryError(f"{relative!r} is larger than {limit} bytes")
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise RepositoryError(f"{relative!r} cannot be opened") from None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit + 1)
