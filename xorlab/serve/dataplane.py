"""The data plane: what every front end (HTTP and gRPC) asks of the service, answered once. Which
registry is current (re-read when the load/unload API changed it), which model a request names and
whether it may answer, server and model metadata, model configuration and statistics (Triton's
extensions), the repository index, load and unload and who may use them. After MLServer's
handlers/dataplane.py and KServe's protocol/dataplane.py: the front ends only translate their wire
format to these calls and back."""

from __future__ import annotations

import hmac
import threading

from xorlab import __version__
from xorlab.serve import metrics, modelconfig
from xorlab.serve.config import Settings
from xorlab.serve.control import Control
from xorlab.serve.errors import Forbidden, InvalidRequest, ModelNotReady, ServerNotReady, Unauthorized
from xorlab.serve.registry import Registry, load_registry
from xorlab.serve.runtime import OnnxModel

# What /v2 (and gRPC ServerMetadata) advertise: only what is served. Not "classification": output
# 'y' is one probability, not class scores (codecs refuses the parameter).
EXTENSIONS = ["binary_tensor_data", "model_configuration", "statistics"]


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

    # ---- Triton's model configuration and statistics extensions ------------------------------

    def model_config(self, name: str, version: str | None = None) -> modelconfig.ModelConfig:
        """The model's config.pbtxt as Triton's normalized ModelConfig: 404 unknown, 503 not ready."""
        return self.ready_model(self.model(name, version)).config

    def statistics(self, name: str | None = None, version: str | None = None) -> list[dict]:
        """Triton's model statistics, one entry per model (every ready one when `name` is None),
        from the metrics every worker writes: exact across workers, HTTP and gRPC together."""
        if name is None:
            models = [m for m in sorted(self.registry.models.values(), key=lambda m: m.name) if m.ready]
        else:
            models = [self.ready_model(self.model(name, version))]
        totals = metrics.totals()
        return [_statistics(m, totals.get((m.name, m.version), {})) for m in models]

    # ---- the repository API (admin) --------------------------------------------------------

    def authorize(self, credentials: str) -> None:
        """The repository API's check of an Authorization value (header or gRPC metadata): 401
        without one, 403 with a wrong one, compared in constant time. The front ends offer no
        repository API at all without a token; were one to ask, nobody is let in."""
        token = self.settings.admin_token
        if token is None:
            raise Forbidden("the repository API is off: XORLAB_ADMIN_TOKEN is not set")
        if not credentials:
            raise Unauthorized("this route needs 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(credentials.encode(), f"Bearer {token}".encode()):
            raise Forbidden("the token is not valid for this route")

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


def _statistics(model: OnnxModel, totals: dict[str, float]) -> dict:
    # Triton's entry (core tritonserver.cc): every count and duration a number, the version a
    # string. Each success passes every phase once, so the phases' counts are the success count
    # and their durations add up to the successes'. No response cache: its hits and misses are 0.
    # batch_stats stays empty: one entry per distinct row count would be unbounded.
    success = int(totals.get("success", 0))
    phases = {p: {"count": success, "ns": round(totals.get(f"{p}_us", 0.0) * 1e3)} for p in metrics.PHASES}
    zero = {"count": 0, "ns": 0}
    return {
        "name": model.name,
        "version": model.version,
        "last_inference": round(totals.get("last_inference", 0.0) * 1e3),  # ms since the epoch
        "inference_count": int(totals.get("inference_count", 0)),
        "execution_count": int(totals.get("execution_count", 0)),
        "inference_stats": {
            "success": {"count": success, "ns": sum(p["ns"] for p in phases.values())},
            "fail": {"count": int(totals.get("fail", 0)), "ns": round(totals.get("fail_us", 0.0) * 1e3)},
            **phases,
            "cache_hit": zero,
            "cache_miss": dict(zero),
        },
        "response_stats": {},
        "batch_stats": [],
        "memory_usage": [],
    }
