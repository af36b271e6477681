"""Soak: mixed valid requests against a real 2-worker gunicorn, every answer checked, worker memory
sampled; optionally a worker killed (SIGKILL) or a new repository published and reloaded (SIGHUP)
half-way through. tests/serve/hosting/test_load.py runs short versions; the long one is a command:

    python -m tests.serve.hosting.soak --seconds 60 --connections 32 [--kill-worker | --reload]

Prints a JSON summary; exits 1 if a guarantee failed: a valid request failed (except, with
--kill-worker, those in flight on the killed worker), a worker's RSS grew more than 10% after
warm-up, or the master did not replace the killed or reloaded workers.

The load generator is threads with one keep-alive `http.client` connection each (lighter than
requests); it checks every body, which a generic tool such as wrk does not.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import select
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.serve.clients import binary_request
from tests.serve.committed import EXPECTED, MANIFEST, MODELS, NAMES
from tools.live_server import XorlabServer, running
from xorlab.modelrepo import writer

ROWS = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
RSS_GROWTH_LIMIT = 0.10
REPLACE_WAIT = 30.0  # seconds


# ---- the server ----------------------------------------------------------------------------------


def rss_kib(pid: int) -> int | None:
    """VmRSS from /proc (psutil is not a dependency)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def client_sockets(pid: int) -> int:
    """How many sockets a worker holds besides the listening one: its client connections."""
    try:
        links = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except (FileNotFoundError, ProcessLookupError):
        return 0
    return max(0, sum(link.startswith("socket:") for link in links) - 1)


def serving_a_copy(workdir: Path, **env: str):
    """A ready live server for a copy of the committed repository (which --reload republishes)."""
    models = workdir / "models"
    shutil.copytree(MODELS, models)
    return running(workdir, models, XORLAB_LOG_LEVEL="WARNING", **env)


def publish(models: Path) -> None:
    """Publish a new repository as training does, with its own writer: a complete copy staged next
    to the old one, then swapped in."""
    with writer.staging(models) as tmp:
        shutil.copytree(models, tmp, dirs_exist_ok=True)
        writer.publish(tmp, models)


# ---- the requests --------------------------------------------------------------------------------


SOLVED = {name: m["solved"] for name, m in MANIFEST["models"].items()}


def _close(values, expected) -> bool:
    return len(values) == len(expected) and bool(np.allclose(values, expected, atol=1e-5))


def _check_v1(name):
    return lambda body, headers: _close(json.loads(body)["predictions"], EXPECTED[name])


def _check_v2_json(name):
    return lambda body, headers: _close(json.loads(body)["outputs"][0]["data"], EXPECTED[name])


def _check_v2_binary(name):
    def check(body: bytes, headers) -> bool:
        n = int(headers["Inference-Header-Content-Length"])
        return _close(np.frombuffer(body[n:], dtype="<f4"), EXPECTED[name])

    return check


def _check_report(body: bytes, headers) -> bool:
    report = json.loads(body)
    return bool(report["verdict"]) and {n: m["solved"] for n, m in report["models"].items()} == SOLVED


def _kinds() -> dict[str, tuple]:
    """name: (method, path, body, headers, check(body, headers) -> bool)."""
    v2_json = json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [4, 2], "data": ROWS}]}).encode()
    binary, binary_headers = binary_request(ROWS, outputs=[{"name": "y", "parameters": {"binary_data": True}}])
    binary_headers["Content-Type"] = "application/octet-stream"
    json_headers = {"Content-Type": "application/json"}
    kinds: dict[str, tuple] = {
        "ready": ("GET", "/v2/health/ready", None, {}, lambda b, h: json.loads(b) == {"ready": True})
    }
    for name in NAMES:
        kinds[f"v1 {name}"] = (
            "POST",
            f"/v1/models/{name}:predict",
            json.dumps({"instances": ROWS}).encode(),
            json_headers,
            _check_v1(name),
        )
        kinds[f"v2 json {name}"] = ("POST", f"/v2/models/{name}/infer", v2_json, json_headers, _check_v2_json(name))
        kinds[f"v2 binary {name}"] = (
            "POST",
            f"/v2/models/{name}/infer",
            binary,
            binary_headers,
            _check_v2_binary(name),
        )
    kinds["report"] = ("GET", "/v1/report", None, {}, _check_report)
    kinds["metrics"] = ("GET", "/metrics", None, {}, lambda b, h: b"nv_inference_request_success_total" in b)
    return kinds


KINDS = _kinds()
MIX = [k for k in KINDS if k != "ready"]


def request(target: XorlabServer, method: str, path: str, body: bytes | None, headers: dict | None = None, conn=None):
    """One request; a fresh connection unless `conn` is given. (status, body, headers)."""
    own = conn is None
    conn = conn or http.client.HTTPConnection(target.host, target.port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read(), response.headers
    finally:
        if own:
            conn.close()


# ---- the load ------------------------------------------------------------------------------------


@dataclass
class Stats:
    ok: dict[str, int] = field(default_factory=dict)
    failures: list[dict] = field(default_factory=list)  # {"kind", "start", "error"}
    lock: threading.Lock = field(default_factory=threading.Lock)


def _stale(conn: http.client.HTTPConnection) -> bool:
    # A kept-alive connection the server closed (a worker that stopped or died) reads as
    # end-of-data before we send: reconnect, as urllib3 does, instead of sending into it.
    return conn.sock is not None and bool(select.select([conn.sock], [], [], 0)[0])


def client(target: XorlabServer, offset: int, stop: threading.Event, stats: Stats) -> None:
    conn = http.client.HTTPConnection(target.host, target.port, timeout=30)
    i = offset
    while not stop.is_set():
        kind = MIX[i % len(MIX)]
        i += 1
        method, path, body, headers, check = KINDS[kind]
        start = time.monotonic()
        try:
            if _stale(conn):
                conn.close()
            status, data, response_headers = request(target, method, path, body, headers, conn)
            good = status == 200 and check(data, response_headers)
            error = None if good else f"{status} {data[:200]!r}"
        except Exception as exc:  # noqa: BLE001 - every failure counts, whatever it is
            conn.close()
            error = repr(exc)
        with stats.lock:
            if error is None:
                stats.ok[kind] = stats.ok.get(kind, 0) + 1
            else:
                stats.failures.append({"kind": kind, "start": round(start, 3), "error": error})
    conn.close()


def soak(
    target: XorlabServer, seconds: float, connections: int, kill_worker: bool = False, reload: bool = False
) -> dict:
    """Run the load for `seconds`; sample each worker's RSS every 0.5 s; half-way through, kill a
    worker or publish and reload if asked. Returns the summary (see `guarantees`)."""
    stats, stop = Stats(), threading.Event()
    threads = [threading.Thread(target=client, args=(target, n, stop, stats), daemon=True) for n in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    warmup_end, event_at = t0 + max(2.0, seconds * 0.2), t0 + seconds / 2
    samples: dict[int, list[tuple[float, int]]] = {}
    event: dict = {}
    first = target.workers()
    # The load runs `seconds`, and on until the master has replaced the workers after the event (at
    # most REPLACE_WAIT more: a busy machine starts workers slowly, and that is not a failure).
    while (now := time.monotonic()) < t0 + seconds or (
        event and "replaced_at" not in event and now < t0 + seconds + REPLACE_WAIT
    ):
        for pid in target.workers():
            if (kib := rss_kib(pid)) is not None:
                samples.setdefault(pid, []).append((now - t0, kib))
        if now >= event_at and not event and (kill_worker or reload):
            event = _disturb(target, kill_worker, t0)
        if event and "replaced_at" not in event:
            current = target.workers()
            if len(current) == len(first) and not set(current) & set(event["gone"]):
                event["replaced_at"] = round(time.monotonic() - t0, 3)
        time.sleep(0.1 if event and "replaced_at" not in event else 0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    elapsed = time.monotonic() - t0
    for f in stats.failures:
        f["start"] = round(f["start"] - t0, 3)
    total = sum(stats.ok.values()) + len(stats.failures)
    return {
        "seconds": round(elapsed, 1),
        "connections": connections,
        "requests": total,
        "requests_per_second": round(total / elapsed),
        "ok": stats.ok,
        "failed": len(stats.failures),
        "failures": stats.failures[:50],
        "rss": _rss_summary(samples, warmup_end - t0, first),
        "event": event,
    }


def _disturb(target: XorlabServer, kill_worker: bool, t0: float) -> dict:
    before = target.workers()
    if kill_worker:
        # The worker with the most connections: the kernel hands them out unevenly.
        victim = max(before, key=client_sockets)
        held = client_sockets(victim)
        os.kill(victim, signal.SIGKILL)
        return {
            "what": "SIGKILL",
            "at": round(time.monotonic() - t0, 3),
            "gone": [victim],
            "killed": victim,
            "its_connections": held,
        }
    publish(target.models)
    os.kill(target.master, signal.SIGHUP)
    return {"what": "publish + SIGHUP", "at": round(time.monotonic() - t0, 3), "gone": before}


def _rss_summary(samples: dict[int, list[tuple[float, int]]], warmup: float, first: list[int]) -> dict:
    """Per worker that lived from warm-up to the end: RSS at the end of warm-up, the most after it,
    and the growth. (Workers that were replaced have too short a life to say anything.)"""
    out = {}
    for pid, points in samples.items():
        after = [kib for t, kib in points if t >= warmup]
        if pid not in first or len(after) < 2:
            continue
        base = after[0]
        out[str(pid)] = {"warm_kib": base, "max_kib": max(after), "growth": round(max(after) / base - 1, 4)}
    return out


def guarantees(summary: dict, kill_worker: bool = False) -> list[str]:
    """What the summary breaks, as sentences; empty when everything held."""
    broken = []
    event = summary["event"]
    if event and "replaced_at" not in event:
        broken.append(f"the master did not replace the workers after {event['what']}")
    failed = summary["failures"]
    if kill_worker and event:
        # Only requests in flight on the killed worker may fail: at most one per connection it
        # held, all started before the master's replacement was seen.
        late = [f for f in failed if f["start"] > event.get("replaced_at", float("inf"))]
        if summary["failed"] > event["its_connections"] or late:
            broken.append(f"{summary['failed']} requests failed around the SIGKILL ({len(late)} after the replacement)")
    elif summary["failed"]:
        broken.append(f"{summary['failed']} valid requests failed, e.g. {failed[:3]}")
    for pid, rss in summary["rss"].items():
        if rss["growth"] > RSS_GROWTH_LIMIT:
            broken.append(
                f"worker {pid} RSS grew {rss['growth']:.1%} after warm-up ({rss['warm_kib']} -> {rss['max_kib']} KiB)"
            )
    if not kill_worker and not event and not summary["rss"]:
        broken.append("no worker's memory could be sampled")
    if set(summary["ok"]) != set(MIX):
        broken.append(f"kinds never answered: {sorted(set(MIX) - set(summary['ok']))}")
    return broken


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.serve.hosting.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--connections", type=int, default=32)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--kill-worker", action="store_true", help="SIGKILL one worker half-way through")
    group.add_argument("--reload", action="store_true", help="publish a new repository and SIGHUP half-way through")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xorlab-soak-") as tmp:
        with serving_a_copy(Path(tmp)) as target:
            summary = soak(target, args.seconds, args.connections, args.kill_worker, args.reload)
    summary["broken"] = guarantees(summary, args.kill_worker)
    print(json.dumps(summary, indent=1))
    return 1 if summary["broken"] else 0


if __name__ == "__main__":
    sys.exit(main())
