"""What one worker serves: every model the repository's manifest names, loaded or refused with its
reason, the report's pictures (checked bytes, held in memory) and the study. Built whole by
`load_registry`; a change builds a new one (`replace`), so a request sees one registry throughout."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass, field
from pathlib import Path

from xorlab.modelrepo import reader, records
from xorlab.modelrepo.reader import PictureFile, RepositoryError
from xorlab.serve import modelconfig
from xorlab.serve.errors import UnknownModel, UnknownVersion
from xorlab.serve.runtime import OnnxModel

UNLOADED = "unloaded through the repository API"


@dataclass
class Registry:
    models: dict[str, OnnxModel] = field(default_factory=dict)
    error: str | None = None  # why the repository as a whole could not be read
    study: records.Study | None = None
    study_error: str | None = None
    pictures: dict[str, PictureFile] = field(default_factory=dict)  # by name, in the manifest's order
    refused_pictures: dict[str, str] = field(default_factory=dict)  # name (as written) -> reason
    root: Path | None = None  # the folder it was read from
    loaded_at: str = field(default_factory=lambda: dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    reload_error: str | None = None  # the last reload that failed, while this registry serves on

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
        """The named model, ready or not; 404 for an unknown name or version."""
        model = self.models.get(name)
        if model is None:
            known = ", ".join(sorted(self.models)) or "none"
            raise UnknownModel(f"model '{name[:100]}' not found; available models: {known}")
        if version is not None and version != model.version:
            raise UnknownVersion(f"model '{name}' has no version '{version[:40]}'; available versions: {model.version}")
        return model

    def replace(self, **changes) -> Registry:
        return dataclasses.replace(self, **changes)


def load_registry(root: str | os.PathLike, unloaded: frozenset[str] | set[str] = frozenset()) -> Registry:
    """Read and check the repository at `root`, loading every model it names but `unloaded`."""
    try:
        reading = reader.read(root)
    except RepositoryError as exc:
        return Registry(error=str(exc))
    registry = Registry(
        study=reading.manifest.study,
        study_error=reading.study_error,
        refused_pictures=dict(reading.refused_pictures),
        root=reading.root,
    )
    for name in reading.names:
        entry = reading.manifest.models.get(name)
        if entry is None:
            registry.models[name] = refused(name, None, reading.refused_models[name])
        elif name in unloaded:
            registry.models[name] = refused(name, entry, UNLOADED)
        else:
            registry.models[name] = load_model(reading.root, name, entry)
    for picture in reading.manifest.pictures:
        try:
            registry.pictures[picture.path] = reader.read_picture(reading.root, picture)
        except RepositoryError as exc:
            registry.refused_pictures[picture.path] = str(exc)
    return registry


def load_model(root: Path, name: str, entry: records.ModelEntry) -> OnnxModel:
    """One model from its manifest entry: loaded, or refused with the reason."""
    model = OnnxModel(name, entry)
    try:
        reader.read_artifact(root, entry.artifacts.torchscript)  # checked, not used: the repository must be whole
        # Served as Triton's model configuration extension; a file Triton would refuse refuses the model.
        config = modelconfig.parse(reader.read_artifact(root, entry.artifacts.config), name)
        model.load(reader.read_artifact(root, entry.artifacts.onnx))
        model.config = config
    except RepositoryError as exc:
        model.fail(str(exc))
    return model


def refused(name: str, entry: records.ModelEntry | None, reason: str) -> OnnxModel:
    model = OnnxModel(name, entry)
    model.fail(reason)
    return model
