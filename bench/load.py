"""Drives a server with wrk (one thread: a C event loop that does not become the bottleneck here)
and returns requests/s and latency percentiles; checks one response first, so a benchmark never
measures error answers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import requests

from bench import machine_cpu
from bench.payloads import Scenario, write_body

LUA = Path(__file__).with_name("request.lua")


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("bench: wrk is not installed; install it with `apt-get install wrk` (Debian/Ubuntu)")
    return wrk


def check_response(url: str, scenario: Scenario) -> None:
    headers = {"Content-Type": scenario.content_type}
    if scenario.header_length is not None:
        headers["Inference-Header-Content-Length"] = str(scenario.header_length)
    r = requests.post(url + scenario.path, data=scenario.body, headers=headers, timeout=30)
    if r.status_code != 200:
        raise RuntimeError(f"{scenario.label}: {url}{scenario.path} answered {r.status_code}: {r.text[:300]}")


def run_wrk(url: str, scenario: Scenario, connections: int, seconds: float, out: Path) -> dict:
    env = os.environ | {
        "BENCH_METHOD": "POST",
        "BENCH_PATH": scenario.path,
        "BENCH_BODY": str(write_body(scenario, out / "bodies")),
        "BENCH_CONTENT_TYPE": scenario.content_type,
        "BENCH_HEADER_LENGTH": "" if scenario.header_length is None else str(scenario.header_length),
    }
    command = [
        require_wrk(),
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "5s",
        "-s",
        str(LUA),
        url,
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 60)
    line = next((out for out in done.stdout.splitlines() if out.startswith("BENCH_JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout[-500:]} {done.stderr[-500:]}")
    result = json.loads(line.removeprefix("BENCH_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors_total"] = sum(result["errors"].values())
    return result


def measure(
    server, scenario: Scenario, connections: int, seconds: float, warmup: float, out: Path, own_pids=None
) -> dict:
    """One measurement: wrk for `seconds` after `warmup`, with the server's CPU per request and the
    machine's load over the same interval (bench/machine_cpu.py). `own_pids`: every process of the
    benchmark's servers (the one under test included), whose CPU is not "other"."""
    check_response(server.url, scenario)
    if warmup > 0:  # connections, caches and the allocator settle; not counted
        run_wrk(server.url, scenario, connections, warmup, out)
    pids = own_pids() if own_pids is not None else server.pids()
    cpu = server.cpu_seconds()
    front = server.front.cpu_seconds() if server.front is not None else 0.0
    workers = server.worker_cpu()
    before = machine_cpu.sample(pids)
    result = run_wrk(server.url, scenario, connections, seconds, out)
    after = machine_cpu.sample(pids)
    count = max(1, result["requests"])
    result["cpu_us_per_request"] = (server.cpu_seconds() - cpu) / count * 1e6
    if server.front is not None:  # the proxy's own CPU per request, apart from the server's
        result["proxy_cpu_us_per_request"] = (server.front.cpu_seconds() - front) / count * 1e6
    # With few keep-alive connections, how they happened to split between the workers decides
    # much of the throughput (one worker with 6 of 8 connections, the other with 2): the busiest
    # worker's share of the workers' CPU says how even it was (0.5 of 2 workers: even).
    spent = [cpu - workers.get(pid, cpu) for pid, cpu in server.worker_cpu().items() if pid in workers]
    result["busiest_worker_share"] = max(spent) / sum(spent) if spent and sum(spent) > 0 else None
    result["machine"] = machine_cpu.between(before, after)
    result["valid"] = machine_cpu.valid(result["machine"])
    return result
