"""The data plane: what every front end (HTTP and gRPC) asks of the service, answered once. Which
registry is current, which model a request names and whether it may answer, server and model
metadata, model configuration and statistics (Triton's extensions), the repository index, load and
unload and who may use them. After MLServer's handlers/dataplane.py and KServe's
protocol/dataplane.py: the front ends only translate their wire format to these calls and back.

Which registry is current, and why:
- at start, the repository in XORLAB_MODELS;
- every XORLAB_POLL_SECONDS (like Triton's poll mode), a repository published there since, read
  whole in the background and swapped in at once (requests in flight finish on the old one);
- a model loaded or unloaded through the API (shared_state.py), that model alone;
- never a worse one: when a new repository cannot be read, the registry serving goes on serving,
  and a model that fails in a new repository keeps its last good version; the failure is logged,
  counted (xorlab_repository_reloads_total) and shown in readiness. New workers (a SIGHUP reload)
  fall back the same way to the last good repository kept in the runtime folder (snapshot.py).
"""

from __future__ import annotations

import functools
import hmac
import logging
import os
import threading
import time
from collections.abc import Callable

import numpy as np

from xorlab import __version__
from xorlab.modelrepo import reader
from xorlab.serve import logs, logsettings, metrics, modelconfig
from xorlab.serve.config import Settings
from xorlab.serve.errors import (
    Forbidden,
    InvalidRequest,
    ModelNotReady,
    NotOffered,
    ServerNotReady,
    Unauthorized,
    UnknownModel,
)
from xorlab.serve.infer_codec import InferRequest
from xorlab.serve.registry import UNLOADED, Registry, load_model, load_registry, refused
from xorlab.serve.runtime import OnnxModel
from xorlab.serve.shared_state import RUNTIME_DIR, SharedState, State
from xorlab.serve.snapshot import Snapshot, identity

log = logging.getLogger("xorlab.serve")
# What /v2 (and gRPC ServerMetadata) advertise: only what is served. Not "classification": output
# 'y' is one probability, not class scores (codecs refuses the parameter).
EXTENSIONS = ["binary_tensor_data", "model_configuration", "statistics"]
# What the admin token turns on (each answers 501 / UNIMPLEMENTED without one, in the same words).
ADMIN_EXTENSIONS = ["model_repository", "logging"]


class Call:
    """One request's life, whatever front end received it: its request id and the times of its
    phases, and once named, the model and the rows asked for. Made when the request arrives, filled
    in by `DataPlane.infer`, and closed by `DataPlane.finish` (metrics and the access line)."""

    __slots__ = ("protocol", "request_id", "start", "queued", "input_done", "infer_done", "model", "rows")

    def __init__(self, protocol: str, request_id: str, start: float):
        self.protocol, self.request_id = protocol, request_id
        # perf_counter() seconds. queued: when the work began (gRPC waits for a pool thread; an HTTP
        # request is read by the thread that serves it, so it has no queue).
        self.start = self.queued = self.input_done = self.infer_done = start
        self.model: OnnxModel | None = None
        self.rows = 0


class DataPlane:
    def __init__(self, settings: Settings, shared: SharedState | None = None):
        self.settings = settings
        self.shared = shared if shared is not None else SharedState()
        self.snapshot = Snapshot(os.environ.get(RUNTIME_DIR))
        self._lock = threading.Lock()  # one change at a time; readers never wait for it
        self._seen = self.shared.generation()
        self._state = self.shared.state()
        self._identity = identity(settings.models)
        self._load_errors: dict[str, str] = {}  # model -> why its last API load failed, in this worker
        self._watching = False
        self.registry: Registry = self._adopt(load_registry(settings.models, self._state.unloaded), None)
        if self._state.log_level:  # set through the logging extension before this worker started
            logsettings.apply(self._state.log_level)

    # ---- which registry ------------------------------------------------------------------------

    def refresh(self) -> None:
        """Apply what the load/unload API changed since this worker last looked: one memory read."""
        if self.shared.generation() == self._seen:
            return
        with self._lock:  # one thread applies it; the others wait and then see its result
            generation = self.shared.generation()
            if generation == self._seen:
                return
            state = self.shared.state()
            registry = self.registry
            read = functools.cache(
                lambda: reader.read(self.settings.models)
            )  # once for all the models changed, if at all
            for name in sorted(state.changed(self._state)):
                registry = self._apply(registry, name, state, read)
            if state.log_level != self._state.log_level:
                logsettings.apply((state.log_level or self.settings.log_level).upper())
            self.registry, self._state, self._seen = registry, state, generation

    def poll(self) -> None:
        """Swap in a repository published since the last look (or first published at all)."""
        current = identity(self.settings.models)
        if current == self._identity:
            return
        with self._lock:
            self._identity = current
            log.info("the model repository changed; reading it")
            self.registry = self._adopt(load_registry(self.settings.models, self._state.unloaded), self.registry)

    def start_polling(self) -> None:
        """Watch the repository from a thread of this process (a gunicorn worker, after the fork)."""
        seconds = self.settings.poll_seconds
        if seconds <= 0 or self._watching:
            return
        self._watching = True
        stop = threading.Event()

        def watch() -> None:
            while not stop.wait(seconds):
                try:
                    self.poll()
                except Exception:  # the watch must outlive any one failure (logged below)
                    log.exception("watching the model repository failed; trying again in %s s", seconds)

        threading.Thread(target=watch, name="xorlab-repository-watch", daemon=True).start()

    def _adopt(self, new: Registry, previous: Registry | None) -> Registry:
        """What to serve after reading the repository: `new`, unless it is worse than what served
        before (or, in a new worker, than the last good repository kept in the runtime folder)."""
        fallback = previous if previous is not None and previous.ready else None
        if fallback is None and (new.error or not all(m.ready or m.reason == UNLOADED for m in new.models.values())):
            fallback = self._last_good()
        if new.error:
            if fallback is None:
                return new  # nothing better to serve: not ready, saying why
            return self._failed(fallback, f"the repository could not be read: {new.error}")
        kept = []
        for name, model in new.models.items():
            old = fallback.models.get(name) if fallback else None
            if not model.ready and model.reason != UNLOADED and old is not None and old.ready:
                old.note = f"serving the last good version: the new one was refused: {model.reason}"
                new.models[name] = old
                kept.append(f"{name} ({model.reason})")
        if kept:
            return self._failed(new, "kept the last good version of " + "; ".join(kept))
        metrics.safely(metrics.observe_reload, "ok")
        if new.ready and new.root is not None:
            self.snapshot.save(new.root)
        return new

    def _failed(self, registry: Registry, error: str) -> Registry:
        metrics.safely(metrics.observe_reload, "failed")
        log.warning("repository reload failed: %s; serving the models loaded at %s", error, registry.loaded_at)
        return registry.replace(reload_error=error)

    def _last_good(self) -> Registry | None:
        if not self.snapshot.exists():
            return None
        registry = load_registry(self.snapshot.path, self._state.unloaded)
        return registry if registry.ready else None

    def _apply(self, registry: Registry, name: str, state: State, read) -> Registry:
        """One model's change through the API, in a new registry; the others are left as they are.
        `read()` gives the repository's reading (made once per refresh)."""
        models = dict(registry.models)
        if name in state.unloaded:
            if name in models:
                models[name] = refused(name, models[name].entry, UNLOADED)
            return registry.replace(models=models)
        self._load_errors.pop(name, None)
        try:
            reading = read()
            entry = reading.manifest.models.get(name)
            if entry is None:
                raise reader.RepositoryError(
                    reading.refused_models.get(name, "the repository's manifest does not name it")
                )
            model = load_model(reading.root, name, entry)
        except reader.RepositoryError as exc:
            model = refused(name, models[name].entry if name in models else None, str(exc))
        if not model.ready:
            self._load_errors[name] = model.reason
            if name in models and models[name].ready:
                return registry  # a failed load leaves the version that serves
        models[name] = model
        return registry.replace(models=models)

    # ---- health and metadata ---------------------------------------------------------------

    def check_ready(self) -> dict:
        """The ready answer; 503 with the reasons when no model can answer."""
        registry = self.registry
        if not registry.ready:
            reason = registry.not_ready_reason()
            if self._watching and registry.error:
                reason += f"; waiting for a repository to be published (checked every {self.settings.poll_seconds} s)"
            raise ServerNotReady(reason)
        if registry.reload_error:
            return {"ready": True, "reload_failed": registry.reload_error, "serving_since": registry.loaded_at}
        return {"ready": True}

    def server_metadata(self) -> dict:
        # model_repository (index, load, unload) and logging only when the admin routes are on.
        extensions = EXTENSIONS + (ADMIN_EXTENSIONS if self.settings.admin_token else [])
        return {"name": "xorlab", "version": __version__, "extensions": extensions}

    def model(self, name: str, version: str | None = None) -> OnnxModel:
        """The named model, ready or not: 404 for an unknown name or version."""
        return self.registry.find(name, version)

    def ready_model(self, model: OnnxModel) -> OnnxModel:
        """`model` if it may answer; 503 with its reason if not."""
        if not model.ready:
            raise ModelNotReady(_not_ready(model))
        return model

    def model_status(self, name: str, version: str | None = None) -> tuple[dict, bool]:
        """The model-ready answer, {"name", "ready"[, "error"]}, and whether it is ready."""
        model = self.model(name, version)
        if not model.ready:
            return {"name": name, "ready": False, "error": _not_ready(model)}, False
        return {"name": name, "ready": True}, True

    def index(self, only_ready: bool = False) -> list[dict]:
        # Triton's repository index entry: name, version, state, reason.
        entries = [
            {
                "name": m.name,
                "version": m.version,
                "state": "READY" if m.ready else "UNAVAILABLE",
                "reason": m.note if m.ready else m.reason,
            }
            for m in sorted(self.registry.models.values(), key=lambda m: m.name)
        ]
        return [e for e in entries if e["state"] == "READY"] if only_ready else entries

    # ---- one inference request, for every front end ---------------------------------------------

    def infer(
        self, call: Call, name: str, version: str | None, decode: Callable[[OnnxModel], InferRequest]
    ) -> tuple[OnnxModel, InferRequest, np.ndarray]:
        """The one place a model is asked for an answer: the named model (404 unknown, 503 not
        ready; recorded in `call` first, so a refusal counts in that model's metrics), the request
        decoded by the front end's `decode(model)` within the limits (a 4xx otherwise), and the
        model's answer: (model, request, outputs). What came before (admission: the bytes and
        counts that may be sent) is the front end's, since only it sees the wire; what comes after
        is `finish`."""
        call.model = model = self.registry.find(name, version)
        if not model.ready:
            raise ModelNotReady(_not_ready(model))
        request = decode(model)
        call.rows = len(request.x)
        call.input_done = time.perf_counter()
        y = model.predict(request.x)
        call.infer_done = time.perf_counter()
        return model, request, y

    @staticmethod
    def finish(call: Call, status: int, method: str, path: str, logged_status: int | None = None) -> None:
        """A request's end, on every front end: its inference metrics (when it named a model; a
        success's time split as Triton's statistics split it) and its access line. `status`: the
        HTTP status (a gRPC error carries one too); `logged_status`: what the line says instead
        (a gRPC status code's number)."""
        seconds = time.perf_counter() - call.start
        model = call.model
        if model is not None:
            phases = (
                call.queued - call.start,
                call.input_done - call.queued,
                call.infer_done - call.input_done,
                call.start + seconds - call.infer_done,
            )
            metrics.safely(
                metrics.observe_inference, model.name, model.version, status, call.rows, seconds, phases, call.protocol
            )
        logs.log_request(
            method,
            path,
            status if logged_status is None else logged_status,
            seconds,
            model.name if model is not None else None,
            call.request_id,
            call.protocol,
        )

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

    def authorize(self, credentials: str, api: str = "repository") -> None:
        """The admin routes' check of an Authorization value (header or gRPC metadata): 501 (gRPC
        UNIMPLEMENTED) when the server has no token, 401 without credentials, 403 with wrong ones,
        compared in constant time. `api` names the API in the answer: "repository", "logging"."""
        token = self.settings.admin_token
        if token is None:
            raise NotOffered(f"the {api} API is off: the server has no XORLAB_ADMIN_TOKEN")
        if not credentials:
            raise Unauthorized("this route needs 'Authorization: Bearer <token>'")
        if not hmac.compare_digest(credentials.encode(), f"Bearer {token}".encode()):
            raise Forbidden("the token is not valid for this route")

    @staticmethod
    def check_load_parameters(names, allowed: tuple[str, ...] = ()) -> None:
        """Triton's load may carry a new config or model files (`config`, `file:<path>`): they would
        change what is served, and the repository on disk is the one source. Refused by name, on
        both protocols. unload_dependents (tritonclient always sends it) concerns ensembles, which
        this repository has none of."""
        other = sorted(set(names) - set(allowed))
        if other:
            raise InvalidRequest(
                f"the repository API does not take the parameter(s) {', '.join(other)[:100]}; "
                f"it loads what the repository on disk holds"
            )

    def log_settings(self, changes: dict | None = None) -> dict:
        """Triton's logging extension (logsettings.py): the settings, after `changes` if any, which
        reach every worker (shared_state.py) before its next request."""
        level = (self._state.log_level or self.settings.log_level).upper()
        if changes:
            new = logsettings.level_after(level, changes)
            if new != level:
                self.shared.update(log_level=new)
                self.refresh()
                level = new
        return logsettings.read(level)

    def load(self, name: str) -> None:
        """(Re)load `name` from the repository on disk, in every worker (shared_state.py); the other
        models are not touched. A model the manifest does not name is a 404 and changes nothing."""
        try:
            names = reader.read(self.settings.models).names
        except reader.RepositoryError as exc:
            raise InvalidRequest(f"failed to load '{name}': {exc}") from None
        if name not in names:
            raise UnknownModel(
                f"model '{name[:100]}' is not in the repository's manifest; it names: {', '.join(names) or 'none'}"
            )
        self.shared.update(load=name)
        self.refresh()
        if name in self._load_errors:
            raise InvalidRequest(f"failed to load '{name}': {self._load_errors[name]}")

    def unload(self, name: str) -> None:
        self.model(name)  # 404 for a model the repository does not have
        self.shared.update(unload=name)
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
            "fail": {"count": int(totals.get("fail", 0)), "ns": round(totals.get("fail_seconds", 0.0) * 1e9)},
            **phases,
            "cache_hit": zero,
            "cache_miss": dict(zero),
        },
        "response_stats": {},
        "batch_stats": [],
        "memory_usage": [],
    }


def _not_ready(model: OnnxModel) -> str:
    return f"model '{model.name}' is not ready: {model.reason}"
