"""The data plane: what every front end (HTTP today, gRPC beside it) asks of the service, answered
once. Which registry is current (re-read when the load/unload API changed it), which model a
request names and whether it may answer, server and model metadata, the repository index, load and
unload. After MLServer's handlers/dataplane.py and KServe's protocol/dataplane.py: the front ends
only translate their wire format to these calls and back."""

from __future__ import annotations

import threading

from xorlab import __version__
from xorlab.serve.config import Settings
from xorlab.serve.control import Control
from xorlab.serve.errors import InvalidRequest, ModelNotReady, ServerNotReady
from xorlab.serve.registry import Registry, load_registry
from xorlab.serve.runtime import OnnxModel

EXTENSIONS = ["binary_tensor_data"]


class DataPlane:
    def __init__(self, settings: Settings, control: Control | None = None):
        self.settings = settings
        self.control = control if control is not None else Control()
        # Replaced whole (never changed in place) when the repository is re-read, so a request
        # sees one consistent registry from start to end.
        self.registry: Registry = Registry()
        self._stamp: tuple[int, int] = (-1, -1)
        self._lock = threading.Lock()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the repository if the load/unload API changed it since this worker last did."""
        if self.control.stamp() == self._stamp:
            return
        with self._lock:  # one thread reloads; the others wait and then see its result
            stamp = self.control.stamp()
            if stamp != self._stamp:
                self.registry = load_registry(self.settings.models, self.control.unloaded())
                self._stamp = stamp

    # ---- health and metadata ---------------------------------------------------------------

    def check_ready(self) -> None:
        if not self.registry.ready:
            raise ServerNotReady(self.registry.not_ready_reason())

    def server_metadata(self) -> dict:
        # model_repository (index, load, unload) only when the admin routes are on.
        extensions = EXTENSIONS + (["model_repository"] if self.settings.admin_token else [])
        return {"name": "xorlab", "version": __version__, "extensions": extensions}

    def model(self, name: str, version: str | None = None) -> OnnxModel:
        """The named model, ready or not: 404 for an unknown name or version."""
        return self.registry.find(name, version)

    def ready_model(self, model: OnnxModel) -> OnnxModel:
        """`model` if it may answer; 503 with its reason if not."""
        if not model.ready:
            raise ModelNotReady(f"model '{model.name}' is not ready: {model.reason}")
        return model

    def model_status(self, name: str, version: str | None = None) -> tuple[dict, bool]:
        """The model-ready answer, {"name", "ready"[, "error"]}, and whether it is ready."""
        model = self.model(name, version)
        if not model.ready:
            return {"name": name, "ready": False, "error": f"model '{name}' is not ready: {model.reason}"}, False
        return {"name": name, "ready": True}, True

    def index(self, only_ready: bool = False) -> list[dict]:
        # Triton's repository index entry: name, version, state, reason.
        entries = [
            {"name": m.name, "version": m.version, "state": "READY" if m.ready else "UNAVAILABLE", "reason": m.reason}
            for m in sorted(self.registry.models.values(), key=lambda m: m.name)
        ]
        return [e for e in entries if e["state"] == "READY"] if only_ready else entries

    # ---- the repository API (admin) --------------------------------------------------------

    def load(self, name: str) -> None:
        """Re-read the repository from disk with `name` loaded; every worker follows (control.py)."""
        self.control.update(load=name)
        self.refresh()
        model = self.model(name)
        if not model.ready:
            raise InvalidRequest(f"failed to load '{name}': {model.reason}")

    def unload(self, name: str) -> None:
        self.model(name)  # 404 for a model the repository does not have
        self.control.update(unload=name)
        self.refresh()
