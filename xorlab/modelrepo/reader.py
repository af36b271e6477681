"""Reading an untrusted repository folder into records, refusing what does not check out.

Nothing is trusted until checked: the manifest's structure (decoded into `records`), every file's
path (relative, inside the repository, no symlink leading out, a regular file), size and sha256. A
model or picture that fails is refused with its reason and the rest still count; only a problem
with the repository as a whole (no folder, no readable manifest, another format) refuses all of it.
Nothing outside the repository folder is ever opened (what an ONNX file itself names, external
data, is refused by the server before onnxruntime reads it: xorlab/serve/onnxfile.py). Reasons
are shown to clients, so they name paths inside the repository only.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import msgspec

from xorlab.modelrepo import records, spec

MAX_MANIFEST_BYTES = 16 * 1024 * 1024
MAX_ARTIFACT_BYTES = 256 * 1024 * 1024  # bounds what a lying manifest can make a reader load
MAX_PICTURE_BYTES = 8 * 1024 * 1024  # pictures are a few tens of kB
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class RepositoryError(Exception):
    """A check failed; the message says which and why, without naming anything outside the repository."""


@dataclass
class Reading:
    """What a repository folder holds that passed the manifest's checks, and what was refused."""

    root: Path
    manifest: records.Manifest  # only the entries, pictures and study that decoded cleanly
    names: list[str] = field(default_factory=list)  # every model the manifest names, in its order
    refused_models: dict[str, str] = field(default_factory=dict)  # name -> reason
    refused_pictures: dict[str, str] = field(default_factory=dict)  # path as written -> reason
    study_error: str | None = None


@dataclass(frozen=True)
class PictureFile:
    """A picture's checked bytes, held in memory: what is served is exactly what was verified."""

    picture: records.Picture
    data: bytes
    width: int
    height: int


def read(root: str | os.PathLike) -> Reading:
    """Read and check `root`'s manifest; raises RepositoryError when the repository as a whole is unusable."""
    try:
        folder = Path(root).resolve(strict=True)
    except FileNotFoundError:
        raise RepositoryError("the model repository folder does not exist") from None
    except (OSError, RuntimeError):
        raise RepositoryError("the model repository folder cannot be resolved") from None
    if not folder.is_dir():
        raise RepositoryError("the model repository is not a folder")
    document = _decode(read_inside(folder, spec.MANIFEST, MAX_MANIFEST_BYTES))
    if not isinstance(document, dict):
        raise RepositoryError(f"{spec.MANIFEST} must hold a JSON object")
    if document.get("format") != spec.FORMAT:
        older = str(document.get("format")).startswith("xorlab-manifest/")
        raise RepositoryError(
            f"{spec.MANIFEST} has format {str(document.get('format'))[:60]!r}; expected {spec.FORMAT!r}"
            + (" (an older xorlab-train wrote it: train again to publish it in this format)" if older else "")
        )
    entries = document.get("models")
    if not isinstance(entries, dict):
        raise RepositoryError(f"{spec.MANIFEST}: 'models' must be an object")
    head = {}
    for key, kind in (("created", str), ("versions", records.Versions), ("truth_table", records.TruthTable)):
        if key not in document:
            raise RepositoryError(f"{spec.MANIFEST} has no '{key}'")
        head[key] = _convert(document[key], kind, f"{spec.MANIFEST}: '{key}'")
    if head["truth_table"].inputs != [tuple(r) for r in spec.INPUTS] or head["truth_table"].targets != list(spec.XOR):
        raise RepositoryError(f"{spec.MANIFEST}: 'truth_table' is not XOR's, which every model here is trained on")

    reading = Reading(folder, records.Manifest(format=spec.FORMAT, models={}, **head), names=list(entries))
    for name, entry in entries.items():
        try:
            reading.manifest.models[name] = _model_entry(name, entry)
        except RepositoryError as exc:
            reading.refused_models[name] = str(exc)
    pictures = document.get("pictures", [])
    for item in pictures if isinstance(pictures, list) else [pictures]:
        label = str(item.get("path"))[:100] if isinstance(item, dict) else "?"
        try:
            reading.manifest.pictures.append(_convert(item, records.Picture, f"picture {label!r}"))
        except RepositoryError as exc:
            reading.refused_pictures[label] = str(exc)
    if document.get("study") is not None:
        try:
            reading.manifest.study = parse_study(document["study"])
        except RepositoryError as exc:
            reading.study_error = str(exc)
    return reading


def parse_study(value: object) -> records.Study:
    """The manifest's `study` as a record; RepositoryError with the reason when it is not one."""
    study = _convert(value, records.Study, "study")
    if not study.architectures:
        raise RepositoryError("study: it covers no architecture")
    for name, arch in study.architectures.items():
        if sorted(c.function for c in arch.capacity) != list(range(16)):
            raise RepositoryError(f"study: {name[:40]}'s capacity table must hold each of the 16 functions once")
        for rate in (arch, *arch.capacity):
            if not (0 < rate.n and rate.successes <= rate.n and rate.ci95[0] <= rate.ci95[1]):
                raise RepositoryError(f"study: {name[:40]} has a rate with successes > n, n = 0 or an empty interval")
        o = arch.outcomes
        if (
            o.solved.count != arch.successes
            or o.solved.count + o.unfinished.count + o.plateau.count + o.local_minimum.count != arch.n
        ):
            raise RepositoryError(f"study: {name[:40]}'s outcomes must add up to its n, solved ones to its successes")
    return study


def _decode(data: bytes) -> object:
    try:
        return msgspec.json.decode(data)  # refuses NaN, Infinity and numbers out of range
    except msgspec.DecodeError:
        raise RepositoryError(f"{spec.MANIFEST} is not valid JSON") from None


def _convert(value: object, kind: type, what: str):
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        raise RepositoryError(f"{what}: {exc}") from None


EXPECTED_TENSORS = {
    "inputs": [records.Tensor(name=spec.INPUT_NAME, datatype=spec.DATATYPE, shape=list(spec.INPUT_SHAPE))],
    "outputs": [records.Tensor(name=spec.OUTPUT_NAME, datatype=spec.DATATYPE, shape=list(spec.OUTPUT_SHAPE))],
}


def _model_entry(name: str, entry: object) -> records.ModelEntry:
    if not spec.MODEL_NAME.match(name):
        raise RepositoryError(f"model name {name[:60]!r} is not a valid name (lowercase letters, digits, '-')")
    model = _convert(entry, records.ModelEntry, "manifest entry")
    if model.name != name:
        raise RepositoryError(f"manifest entry is keyed '{name}' but names itself '{model.name}'")
    for role, expected in EXPECTED_TENSORS.items():
        if getattr(model, role) != expected:
            want = ", ".join(f"{t.name} {t.datatype} {t.shape}" for t in expected)
            raise RepositoryError(f"manifest entry declares other {role} than the format's ({want})")
    return model


def read_artifact(root: Path, artifact: records.Artifact, limit: int = MAX_ARTIFACT_BYTES) -> bytes:
    """A file's bytes, after checking its path, size and sha256 against the manifest."""
    if artifact.bytes > limit:
        raise RepositoryError(f"artifact {artifact.path!r} is larger than {limit} bytes")
    data = read_inside(root, artifact.path, limit)
    if len(data) != artifact.bytes:
        raise RepositoryError(f"artifact {artifact.path!r} has {len(data)} bytes; the manifest says {artifact.bytes}")
    if hashlib.sha256(data).hexdigest() != artifact.sha256:
        raise RepositoryError(
            f"artifact {artifact.path!r} fails its sha256 check (changed after the manifest was written)"
        )
    return data


def read_picture(root: Path, picture: records.Picture) -> PictureFile:
    data = read_artifact(root, picture, MAX_PICTURE_BYTES)
    # The PNG header: the signature, then the IHDR chunk (length 13) with width and height.
    if len(data) < 24 or data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        raise RepositoryError(f"picture {picture.path!r} is not a PNG file")
    return PictureFile(picture, data, int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big"))


def read_inside(root: Path, relative: str, limit: int) -> bytes:
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
    except (OSError, RuntimeError):  # a symlink loop, a permission
        raise RepositoryError(f"{relative!r} cannot be resolved") from None
    if not target.is_relative_to(root):
        raise RepositoryError(f"{relative!r} is a symlink pointing outside the repository")
    try:
        info = os.stat(target)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block or never end
            raise RepositoryError(f"{relative!r} is not a regular file")
        if info.st_size > limit:
            raise RepositoryError(f"{relative!r} is larger than {limit} bytes")
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        raise RepositoryError(f"{relative!r} cannot be opened") from None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit + 1)
