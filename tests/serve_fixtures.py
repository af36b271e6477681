"""Helpers shared by the serving tests: small limits and a real gunicorn (`Server`, `running`).
The Flask fixtures (`xor_repo`, `xor_manifest`, `app`, `client`) live in conftest.py."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests


MAX_ROWS = 8  # small limits so the tests can cross them cheaply
MAX_BODY = 64 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`python -m serve` (gunicorn, 2 workers) on a free loopback port; its log in `tmp`."""

    def __init__(self, tmp: Path, models: Path, **env: str):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")} | env
        command = [sys.executable, "-m", "xorlab.serve", "--models", str(models), "--bind", f"127.0.0.1:{self.port}", "--workers", "2"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited early:\n{self.log.read_text()}"
            try:
                if requests.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready in {timeout} s:\n{self.log.read_text()}")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@contextlib.contextmanager
def running(tmp: Path, models: Path, **env: str):
    """A ready Server for the block; afterwards it must stop cleanly on SIGTERM (exit code 0)."""
    srv = Server(tmp, models, **env)
    try:
        srv.wait_ready()
        yield srv
    finally:
        code = srv.stop() if srv.proc.poll() is None else srv.proc.returncode
    assert code == 0, srv.log.read_text()  # SIGTERM is a graceful, clean exit
