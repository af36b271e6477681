"""The one way the tests and the benchmarks start a real server: a command on a free loopback port,
its output in a log file, ready once its ready route answers 200, stopped by SIGTERM (`LiveServer`);
and xorlab's own server, `xorlab-serve` (gunicorn, 2 workers by default), HTTP on one free port and
gRPC on another (`grpc=False`: off), ready once every worker has started (`XorlabServer`, `running`).

    with running(tmp_path, models, XORLAB_ADMIN_TOKEN="t") as server:
        requests.get(server.url + "/v2/health/ready")
        tritonclient.grpc.InferenceServerClient(server.grpc)

The benchmark's wrappers (memory, CPU time, a proxy in front: bench/servers.py) build on
`LiveServer`; neither the tests nor the benchmark import the other.
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

ROOT = Path(__file__).resolve().parents[1]  # the repository's root
HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout: float = 60.0, log: Path | None = None) -> None:
    """Until `predicate()` holds; past `timeout`, fail with the end of the server's `log` if given."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out" + (
            f"; the server's log ends:\n{log.read_text()[-4000:]}" if log else ""
        )
        time.sleep(0.1)


def children(pid: int) -> list[int]:
    """The processes `pid` has started and not yet reaped (from /proc; any of its threads')."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:  # gone meanwhile
            continue
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """Its children, theirs, and so on."""
    return [p for child in children(pid) for p in (child, *descendants(child))]


class LiveServer:
    """`command` run from `root` with its output in `log`, serving HTTP on `port`; started at once.
    Its environment is this process's without any XORLAB_ setting, plus `env`. `own_group`: the
    server gets a process group of its own, which `stop` signals whole (a server whose processes
    are not all its master's children)."""

    ready_timeout = 120.0  # seconds `wait_ready` waits by default
    poll = 0.01  # seconds between two asks of the ready route

    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        ready_path: str,
        log: Path,
        env: dict | None = None,
        root: Path = ROOT,
        own_group: bool = False,
        preexec_fn=None,
    ):
        self.name, self.port, self.ready_path, self.log, self.own_group = name, port, ready_path, log, own_group
        self.url = f"http://{HOST}:{port}"
        log.parent.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")} | (env or {})
        self.started = time.perf_counter()
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(
                command,
                cwd=root,
                env=environ,
                stdout=f,
                stderr=subprocess.STDOUT,
                start_new_session=own_group,
                preexec_fn=preexec_fn,
            )

    @property
    def master(self) -> int:
        return self.proc.pid

    def is_ready(self) -> bool:
        # A connection of its own for each ask, closed with it: a kept-alive one could still count
        # against a worker's connection limit (XORLAB_MAX_CONNECTIONS) when the caller starts.
        return requests.get(self.url + self.ready_path, timeout=1).status_code == 200

    def wait_ready(self, timeout: float | None = None) -> float:
        """Until `is_ready`; the seconds from the start until then."""
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited early (status {self.proc.returncode}); its log, {self.log}, ends:\n"
                    f"{self.log.read_text()[-6000:]}"
                )
            try:
                if self.is_ready():
                    return time.perf_counter() - self.started
            except requests.RequestException:
                pass
            time.sleep(self.poll)
        raise TimeoutError(
            f"{self.name} not ready in {timeout} s; its log, {self.log}, ends:\n{self.log.read_text()[-6000:]}"
        )

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, and its exit status once it has exited; past `timeout`, SIGKILL."""
        if self.proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self.proc.wait(timeout=10)
        return self.proc.returncode

    def _signal(self, sig: int) -> None:
        if self.own_group:
            os.killpg(self.proc.pid, sig)
        else:
            self.proc.send_signal(sig)


def serve_command(models: Path, port: int, workers: int, grpc_bind: str | None = None) -> list[str]:
    """`python -m xorlab.serve` on `models`, HTTP on HOST:`port`; gRPC on `grpc_bind` ('' for off)
    when given, else where the environment's XORLAB_GRPC_BIND says."""
    command = [sys.executable, "-m", "xorlab.serve", "--models", str(models), "--bind", f"{HOST}:{port}"]
    command += ["--workers", str(workers)]
    return command if grpc_bind is None else [*command, "--grpc-bind", grpc_bind]


class XorlabServer(LiveServer):
    """`python -m xorlab.serve` on `models` with `workers` workers, its log `tmp`/server.log; gRPC
    on `grpc_port` (a free one by default) unless `grpc` is False. `open_files`: the server
    starts with this soft limit on open files. Other keywords are its environment (XORLAB_...)."""

    ready_timeout = 60.0
    poll = 0.05

    def __init__(
        self,
        tmp: Path,
        models: Path,
        workers: int = 2,
        grpc: bool = True,
        grpc_port: int | None = None,
        open_files: int | None = None,
        **env: str,
    ):
        port, self.models, self.workers_wanted = free_port(), models, workers
        self.grpc_port = (grpc_port or free_port()) if grpc else None
        self.grpc = f"{HOST}:{self.grpc_port}" if grpc else None  # HOST:PORT, as gRPC clients take it
        command = serve_command(models, port, workers, self.grpc or "")

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

        super().__init__(
            "xorlab-serve",
            command,
            port,
            "/v2/health/ready",
            tmp / "server.log",
            env,
            preexec_fn=limit if open_files else None,
        )
        self.host = HOST

    def workers(self) -> list[int]:
        """The gunicorn workers' pids."""
        return children(self.master)

    def is_ready(self) -> bool:
        """/v2/health/ready answers 200, every worker has started and the gRPC port listens."""
        return super().is_ready() and len(self.workers()) == self.workers_wanted and self._grpc_listens()

    def _grpc_listens(self) -> bool:
        if self.grpc_port is None:
            return True
        try:
            socket.create_connection((HOST, self.grpc_port), timeout=1).close()
            return True
        except OSError:
            return False

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
            assert time.monotonic() < deadline, (
                f"held on {held}, workers {workers}; the log ends:\n{self.log.read_text()[-4000:]}"
            )
            time.sleep(0.05)


@contextlib.contextmanager
def running(tmp: Path, models: Path, workers: int = 2, grpc: bool = True, open_files: int | None = None, **env: str):
    """A ready XorlabServer for the block; afterwards it must stop cleanly on SIGTERM (exit status 0)."""
    srv = XorlabServer(tmp, models, workers, grpc, open_files=open_files, **env)
    try:
        srv.wait_ready()
        yield srv
    finally:
        code = srv.stop()
    assert code == 0, srv.log.read_text()  # SIGTERM is a graceful, clean exit
