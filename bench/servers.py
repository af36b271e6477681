"""The servers under test, as the benchmark starts them: the one launcher the tests use too
(tools/live_server.py), plus what the benchmark reads of them: time to ready, memory, CPU time,
and a proxy in front."""

from __future__ import annotations

from pathlib import Path

from bench.machine_cpu import process_cpu
from tools.live_server import ROOT, LiveServer, children, descendants


class Server(LiveServer):
    def __init__(
        self,
        name: str,
        command: list[str],
        port: int,
        ready_path: str,
        log: Path,
        env: dict | None = None,
        root: Path = ROOT,
    ):
        """`root`: the source tree the server runs from (its folder and first import path). Its
        own process group: a rival's processes need not all be its master's children."""
        super().__init__(
            name, command, port, ready_path, log, (env or {}) | {"PYTHONPATH": str(root)}, root, own_group=True
        )
        self.front: Server | None = None  # a proxy in front (bench/proxy.py): requests go through it

    def memory(self) -> dict:
        """RSS (and PSS: shared pages split between the processes sharing them) of the server's
        process and its children, in MB."""
        procs = [self.proc.pid] + descendants(self.proc.pid)
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
        own = [self.proc.pid] + descendants(self.proc.pid)
        return own + (self.front.pids() if self.front is not None else [])

    def worker_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each of the server's own child processes (gunicorn's or uvicorn's
        workers): how the load split between them."""
        return {pid: process_cpu([pid]) for pid in children(self.proc.pid)}

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the server's processes: per request, a figure
        that other load on the machine disturbs far less than requests/s."""
        return process_cpu([self.proc.pid] + descendants(self.proc.pid))

    def stop(self, timeout: float = 30.0) -> int:
        if self.front is not None:
            self.front.stop()
        return super().stop(timeout)


def _kb(pid: int, field: str) -> float:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(field + ":"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0
