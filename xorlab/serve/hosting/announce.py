"""Where to point a browser and the clients: said once per start of the server, by the first worker
that serves (gunicorn_config.post_worker_init), after its models are loaded and its gRPC server
runs. Always as a log line (JSON, with the addresses as fields); on a terminal also as a few plain
lines, which a person running `make run` reads among the JSON.
"""

from __future__ import annotations

import os
import sys

from xorlab.serve.config import ENV_PREFIX, split_address
from xorlab.serve.shared_state import RUNTIME_DIR

_ANY = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # a wildcard bind answers on loopback too


def host_port(host: str, port: int) -> str:
    host = _ANY.get(host, host)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def http_root(address) -> str:
    """The URL of a listening socket's address (getsockname()); unix:PATH for a unix socket."""
    if isinstance(address, str):
        return f"unix:{address}"
    return f"http://{host_port(address[0], address[1])}"


def grpc_address(grpc_bind: str) -> str | None:
    if not grpc_bind:
        return None
    host, port = split_address(grpc_bind, f"{ENV_PREFIX}GRPC_BIND")
    return host_port(host, port)


def addresses(http: str, grpc: str | None) -> dict[str, str | None]:
    return {"report": f"{http}/", "http_api": f"{http}/v2", "kserve_v1": f"{http}/v1/models", "grpc_api": grpc}


def message(found: dict[str, str | None], ready: int, models: int, folder: str) -> str:
    grpc = f"{found['grpc_api']} (Open Inference Protocol)" if found["grpc_api"] else "off"
    return (
        f"serving {ready} of {models} models from {folder}: the report {found['report']} ; "
        f"HTTP API {found['http_api']} (Open Inference Protocol; KServe V1 at {found['kserve_v1']}) ; gRPC API {grpc}"
    )


def plain(found: dict[str, str | None], ready: int, models: int, folder: str) -> str:
    grpc = f"{found['grpc_api']}  (Open Inference Protocol)" if found["grpc_api"] else "off"
    return (
        f"\nxorlab-serve: serving {ready} of {models} models from {folder} (Ctrl-C stops it)\n"
        f"  the report:  {found['report']}\n"
        f"  HTTP API:    {found['http_api']}  (Open Inference Protocol; KServe V1: {found['kserve_v1']})\n"
        f"  gRPC API:    {grpc}\n\n"
    )


def first() -> bool:
    """Whether this process is the first of this start to get here (once per master: a SIGHUP
    reload's new workers keep the runtime folder, and say nothing)."""
    runtime = os.environ.get(RUNTIME_DIR)
    if not runtime:
        return True
    try:
        os.close(os.open(os.path.join(runtime, "announced"), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False
    except OSError:  # an unwritable runtime folder must not stop a worker
        return True


def announce(worker) -> None:
    """In a worker, once its app and gRPC server run."""
    if not first():
        return
    plane = worker.wsgi.extensions["xorlab"]
    found = addresses(http_root(worker.sockets[0].getsockname()), grpc_address(plane.settings.grpc_bind))
    models = plane.registry.models.values()
    ready = sum(1 for m in models if m.ready)
    worker.log.info(message(found, ready, len(models), plane.settings.models), extra={"fields": found})
    if sys.stderr.isatty():
        sys.stderr.write(plain(found, ready, len(models), plane.settings.models))
        sys.stderr.flush()
