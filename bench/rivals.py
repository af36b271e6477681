"""The rival servers xorlab is compared with, each serving the same ONNX file with `workers`
processes: a minimal Flask app under gunicorn (this venv), and the KServe model server (its own
venv under tools/out/, made on first use by tools/kserve-env.sh: its pins would fight ours)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench.payloads import MODEL
from bench.servers import Server
from tools.live_server import ROOT, free_port
from xorlab.serve.config import WORKERS, Settings

KSERVE_ENV = ROOT / "tools" / "kserve-env.sh"  # builds the venv from kserve-requirements.txt
KSERVE_VENV = ROOT / "tools" / "out" / "kserve-venv"  # the one the tests of the kserve SDK use too


def start(
    name: str,
    models: Path,
    workers: int,
    out: Path,
    worker_class: str = Settings.worker_class,
    threads: int = Settings.threads,
) -> Server:
    onnx = str((models / MODEL / "1" / "model.onnx").resolve())
    port = free_port()
    if name in ("flask", "flask-sync"):
        # flask: the same gunicorn worker settings as xorlab's (its worker class, threads: one for
        # sync). flask-sync: gunicorn's default worker, as the issue that set the targets ran the
        # minimal app (one request per connection: wrk reconnects for each).
        threads = threads if worker_class == "gthread" and name == "flask" else 1
        # flask: xorlab's variant of gevent or sync (no monkey-patching, a turn per request, one
        # send per answer, ...), as xorlab itself gets; flask-sync: gunicorn's own.
        worker_class = "sync" if name == "flask-sync" else WORKERS.get(worker_class, worker_class)
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--workers",
            str(workers),
            "--worker-class",
            worker_class,
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "bench.rival_flask:app",
        ]
        return Server(name, command, port, "/v2/health/ready", out / f"{name}.log", {"BENCH_ONNX": onnx})
    if name == "kserve":
        python = kserve_python()
        command = [
            str(python),
            str(Path(__file__).with_name("rival_kserve.py")),
            "--http_port",
            str(port),
            "--grpc_port",
            str(free_port()),
            "--workers",
            str(workers),
            "--model_name",
            MODEL,
            "--onnx",
            onnx,
        ]
        return Server(name, command, port, f"/v2/models/{MODEL}/ready", out / "kserve.log")
    raise ValueError(f"unknown rival server {name!r}; known: flask, flask-sync, kserve")


def kserve_python() -> Path:
    """The KServe venv's python, creating the venv first if needed (a few minutes, once)."""
    done = subprocess.run(
        ["bash", str(KSERVE_ENV), str(KSERVE_VENV)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHON": sys.executable},
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{KSERVE_ENV.name} failed:\n{done.stderr[-3000:]}")
    return Path(done.stdout.strip().splitlines()[-1])
