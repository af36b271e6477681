"""The field's servers, each serving the same ONNX file with `workers` processes:
a minimal Flask app under gunicorn (this venv), and the KServe model server (its own venv under
bench/out/, made here on first use: its pins would fight ours)."""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

from bench.payloads import MODEL
from bench.servers import ROOT, Server, free_port

KSERVE_REQUIREMENTS = Path(__file__).with_name("kserve-requirements.txt")


def start(name: str, models: Path, workers: int, out: Path, worker_class: str = "gthread", threads: int = 4) -> Server:
    onnx = str((models / MODEL / "1" / "model.onnx").resolve())
    port = free_port()
    if name == "flask":
        # The same gunicorn worker settings as xorlab's: its worker class, threads (one for sync), keep-alive.
        threads = threads if worker_class == "gthread" else 1
        command = [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--worker-class", worker_class, "--threads", str(threads),
                   "--bind", f"127.0.0.1:{port}", "--log-level", "warning", "bench.field_flask:app"]  # fmt: skip
        return Server(name, command, port, "/v2/health/ready", out / "flask.log", {"BENCH_ONNX": onnx})
    if name == "kserve":
        python = kserve_python(out)
        command = [str(python), str(Path(__file__).with_name("field_kserve.py")), "--http_port", str(port),
                   "--grpc_port", str(free_port()), "--workers", str(workers), "--model_name", MODEL, "--onnx", onnx]  # fmt: skip
        return Server(name, command, port, f"/v2/models/{MODEL}/ready", out / "kserve.log")
    raise ValueError(f"unknown field server {name!r}; known: flask, kserve")


def kserve_python(out: Path) -> Path:
    """The KServe venv's python, creating the venv first if needed (a few minutes, once)."""
    folder = out / "kserve-venv"
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if marker.exists() and marker.read_text() == KSERVE_REQUIREMENTS.read_text():
        return python
    print(f"kserve: installing into {folder} (once) ...", flush=True)
    venv.create(folder, with_pip=True, clear=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(KSERVE_REQUIREMENTS)],
                          capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"pip install -r {KSERVE_REQUIREMENTS.name} failed:\n{done.stderr[-3000:]}")
    marker.write_text(KSERVE_REQUIREMENTS.read_text())
    return python
