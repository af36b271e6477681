"""Starting the servers under test on loopback: time to ready, memory, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

from bench.machine_cpu import process_cpu

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, command: list[str], port: int, ready_path: str, log: Path, env: dict | None = None,
                 root: Path = ROOT):  # fmt: skip
        """`root`: the source tree the server runs from (its folder and first import path)."""
        self.name, self.port, self.ready_path, self.log = name, port, ready_path, log
        self.url = f"http://127.0.0.1:{port}"
        self.front: Server | None = None  # a proxy in front (bench/proxy.py): requests go through it
        log.parent.mkdir(parents=True, exist_ok=True)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("XORLAB_")} | (env or {})
        environ["PYTHONPATH"] = str(root)
        self.started = time.perf_counter()
        with open(log, "wb") as f:
            self.proc = subprocess.Popen(command, cwd=root, env=environ, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)

    def wait_ready(self, timeout: float = 120.0) -> float:
        """Seconds from the start to the first 200 from the ready route."""
        deadline = time.monotonic() + timeout
        with requests.Session() as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited early; see {self.log}:\n{self.log.read_text()[-2000:]}")
                try:
                    if http.get(self.url + self.ready_path, timeout=1).status_code == 200:
                        return time.perf_counter() - self.started
                except requests.RequestException:
                    pass
                time.sleep(0.01)
        raise TimeoutError(f"{self.name} not ready in {timeout} s; see {self.log}")

    def memory(self) -> dict:
        """RSS (and PSS: shared pages split between the processes sharing them) of the server's
        process and its children, in MB."""
        procs = [self.proc.pid] + _descendants(self.proc.pid)
        rows = [{"pid": pid, "rss_mb": _kb(pid, "Rss") / 1024, "pss_mb": _kb(pid, "Pss") / 1024} for pid in procs]
        return {
            "processes": rows,
            "rss_total_mb": sum(r["rss_mb"] for r in rows),
            "pss_total_mb": sum(r["pss_mb"] for r in rows),
        }

    def behind(self, front: Server) -> None:
        """From now on, requests go to `front` (a proxy to this server)."""
        self.front, self.url = front, front.url

    def pids(self) -> list[int]:
        """This server's processes, its front's included."""
        own = [self.proc.pid] + _descendants(self.proc.pid)
        return own + (self.front.pids() if self.front is not None else [])

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each of the server's own child processes (gunicorn's or uvicorn's
        workers): how the load split between them."""
        return {pid: process_cpu([pid]) for pid in _children(self.proc.pid)}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes: per request, a figure
        that other load on the machine disturbs far less than requests/s."""
        return process_cpu([self.proc.pid] + _descendants(self.proc.pid))

    def stop(self) -> None:
        if self.front is not None:
            self.front.stop()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child] + _descendants(child)
    return found


def _kb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0
