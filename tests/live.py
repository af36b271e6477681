"""The one way the tests start a real server: `xorlab-serve` (gunicorn, 2 workers by default) on a
free loopback port, gRPC on another (`grpc=False`: off), with its log in a file, stopped by SIGTERM.

    with running(tmp_path, models, XORLAB_ADMIN_TOKEN="t") as server:
        requests.get(server.url + "/v2/health/ready")
        tritonclient.grpc.InferenceServerClient(server.grpc)
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import requests

from tests import ROOT

HOST = "127.0.0.1"
# gRPC channel arguments for a connection of the client's own: by default a process's channels to
# one address share a connection, so every call would reach one worker.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


def wait_until(predicate, timeout: float = 60.0, log: Path | None = None) -> None:
    """Until `predicate()` holds; past `timeout`, fail with the end of the server's `log` if given."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out" + (f"; the server's log ends:\n{log.read_text()[-4000:]}" if log else "")
        time.sleep(0.1)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, tmp: Path, models: Path, workers: int = 2, grpc: bool = True, grpc_port: int | None = None,
                 open_files: int | None = None, **env: str):  # fmt: skip
        self.host, self.port, self.models = HOST, free_port(), models
        self.url = f"http://{HOST}:{self.port}"
        self.grpc_port = (grpc_port or free_port()) if grpc else None
        self.grpc = f"{HOST}:{self.grpc_port}" if grpc else None  # HOST:PORT, as gRPC clients take it
        self.workers_wanted = workers
        self.log = tmp / "server.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")} | env
        command = [sys.executable, "-m", "xorlab.serve", "--models", str(models), "--bind", f"{HOST}:{self.port}",
                   "--workers", str(workers), "--grpc-bind", self.grpc or ""]  # fmt: skip
        def limit() -> None:  # open_files: the server starts with this soft limit on open files
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         preexec_fn=limit if open_files else None)  # fmt: skip

    @property
    def master(self) -> int:
        return self.proc.pid

    def workers(self) -> list[int]:
        """The gunicorn workers' pids, from /proc."""
        try:
            return sorted(int(p) for p in Path(f"/proc/{self.master}/task/{self.master}/children").read_text().split())
        except FileNotFoundError:
            return []

    def worker_of(self, request_id: str) -> int | None:
        """The pid of the worker that answered the request with this X-Request-ID, from its access
        line (written before the answer is sent); None if there is no such line."""
        for line in self.log.read_text().splitlines():
            if request_id in line:
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    return entry["pid"]
        return None

    def on_every_worker(self, check, timeout: float = 60.0) -> None:
        """Until `check(headers)`, one request sent with `headers`, has held in an answer from each
        of the server's workers. Fresh connections need not alternate between workers, so which
        worker answered is read from its access line (the request id in `headers`: X-Request-ID,
        for gRPC the `x-request-id` metadata), not assumed from a run of answers. A check that
        asserts fails at once; one that returns False is asked again until `timeout`."""
        held: set[int | None] = set()
        deadline = time.monotonic() + timeout
        while True:
            rid = uuid.uuid4().hex
            if check({"X-Request-ID": rid, "Connection": "close"}):
                held.add(self.worker_of(rid))
            workers = set(self.workers())
            if len(workers) == self.workers_wanted and workers <= held:
                return
            assert time.monotonic() < deadline, f"held on {held}, workers {workers}; the log ends:\n{self.log.read_text()[-4000:]}"
            time.sleep(0.05)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Until /v2/health/ready answers 200, every worker has started and the gRPC port listens."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"server exited early:\n{self.log.read_text()}"
            try:
                ready = requests.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200
                if ready and len(self.workers()) == self.workers_wanted and self._grpc_listens():
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.05)
        raise TimeoutError(f"server not ready in {timeout} s:\n{self.log.read_text()}")

    def _grpc_listens(self) -> bool:
        if self.grpc_port is None:
            return True
        try:
            socket.create_connection((HOST, self.grpc_port), timeout=1).close()
            return True
        except OSError:
            return False

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=60)


@contextlib.contextmanager
def running(tmp: Path, models: Path, workers: int = 2, grpc: bool = True, open_files: int | None = None, **env: str):
    """A ready Server for the block; afterwards it must stop cleanly on SIGTERM (exit code 0)."""
    srv = Server(tmp, models, workers, grpc, open_files=open_files, **env)
    try:
        srv.wait_ready()
        yield srv
    finally:
        code = srv.stop() if srv.proc.poll() is None else srv.proc.returncode
    assert code == 0, srv.log.read_text()  # SIGTERM is a graceful, clean exit
