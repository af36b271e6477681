"""`python -m bench` (or `make bench`): the whole benchmark, one command.

Starts xorlab with its real gunicorn configuration on loopback, drives every scenario with wrk at
each connection count, measures the in-process floors, memory and time to ready, then the same
one-row V2 request against the field (a minimal Flask app; the KServe model server), and prints
every compared figure as a ratio against its baseline measured in the same run. Results go to
bench/out/ (results.json, results.md, server logs). See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
from pathlib import Path

from bench import field, inprocess, load, report
from bench.payloads import field_scenario, xorlab_scenarios
from bench.servers import ROOT, Server, free_port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of load per measurement (default 2)")
    parser.add_argument("--warmup", type=float, default=0.5, help="seconds of unmeasured load before each (default 0.5)")
    parser.add_argument("--connections", default="1,8", help="connection counts, comma-separated (default 1,8)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds over every scenario, interleaved; medians are kept (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, for every server (default 2)")
    parser.add_argument("--field", default="flask,kserve", help="field servers to compare with; empty for none (default flask,kserve)")
    parser.add_argument("--only", default="", help="xorlab scenarios to run, comma-separated keys (default: all)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="an xorlab setting for this run, e.g. --set threads=8 (XORLAB_THREADS); repeatable")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="model repository (default: models/)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder (default: bench/out/)")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.set):
        parser.error("--set takes NAME=VALUE, e.g. --set threads=8")
    load.require_wrk()
    connections = [int(c) for c in args.connections.split(",") if c]
    args.out.mkdir(parents=True, exist_ok=True)

    results: dict = {"machine": machine(), "settings": {k: str(v) for k, v in vars(args).items()}}
    print(f"machine: {results['machine']['cpu']} x{results['machine']['cores']}, load average {report.fmt_load(results['machine']['load_before'])}", flush=True)

    print("in-process floors ...", flush=True)
    results["inprocess"] = inprocess.measure(args.models)

    scenarios = xorlab_scenarios()
    if args.only:
        keep = set(args.only.split(",")) | {"noop"}
        scenarios = [s for s in scenarios if s.key in keep]
    port = free_port()
    xorlab = Server(
        "xorlab",
        [sys.executable, "-m", "xorlab.serve", "--models", str(args.models), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers)],
        port, "/v2/health/ready", args.out / "xorlab.log",
        # gRPC on a free port (not 8001, which another server here may hold), unless --set says otherwise.
        {"XORLAB_GRPC_BIND": f"127.0.0.1:{free_port()}"} | {"XORLAB_" + k.upper(): v for k, v in (item.split("=", 1) for item in args.set)},
    )
    servers = [xorlab]
    try:
        results["xorlab_ready_s"] = xorlab.wait_ready()
        field_servers = start_field(args, results)
        servers += field_servers
        runs: dict[tuple[str, str, int], list[dict]] = {}
        # Short rounds over everything, interleaved, rather than one long run each: load from other
        # processes then spreads over every scenario alike, and ratios are taken within a round.
        floors = [{k: results["inprocess"][k] for k in inprocess.FLOORS}]
        for round_ in range(args.rounds):
            if round_:  # the floors the 10,000-row requests are compared with, in every round too
                floors.append(inprocess.measure(args.models, floors_only=True))
            for c in connections:
                for scenario in scenarios:
                    jobs = [(xorlab, scenario)]
                    if scenario.key == "v2_1":  # the field right after xorlab's own, same request
                        jobs += [(server, field_scenario(server.name)) for server in field_servers]
                    for server, job in jobs:
                        print(f"round {round_ + 1}/{args.rounds} @ {c}: {server.name} {job.label} ...", flush=True)
                        runs.setdefault((server.name, scenario.key, c), []).append(
                            load.measure(server, job, c, args.duration, args.warmup, args.out))
        results["memory"] = {s.name: s.memory() for s in servers}
        results["inprocess"] |= {k: statistics.median(f[k] for f in floors) for k in inprocess.FLOORS}
        results["inprocess"]["floor_rounds"] = floors
    finally:
        for server in servers:
            server.stop()

    results["load"] = [summarize(k, v, runs) for k, v in runs.items()]
    results["labels"] = {s.key: s.label for s in scenarios}
    results["machine"]["load_after"] = os.getloadavg()
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    text = report.render(results, connections)
    (args.out / "results.md").write_text(text)
    print("\n" + text)
    print(f"written: {args.out / 'results.json'}, {args.out / 'results.md'}")
    return 0


def start_field(args, results: dict) -> list[Server]:
    started = []
    for name in [n for n in args.field.split(",") if n]:
        server = None
        try:
            server = field.start(name, args.models, args.workers, args.out)
            results.setdefault("field_ready_s", {})[name] = server.wait_ready()
            started.append(server)
        except Exception as exc:  # a field server that cannot run here is reported, not fatal
            if server is not None:
                server.stop()
            message = f"{type(exc).__name__}: {exc}"
            results.setdefault("field_errors", {})[name] = message
            print(f"{name}: cannot run here: {message[:2000]}", flush=True)
    return started


def summarize(key: tuple[str, str, int], rounds: list[dict], runs: dict) -> dict:
    """Medians over the rounds; the ratio is the median of per-round ratios against the baseline
    (xorlab's no-op for xorlab's scenarios, xorlab's own request for the field's)."""
    server, scenario, c = key
    base = runs.get(("xorlab", "noop" if server == "xorlab" else "v2_1", c), [])
    med = lambda name: statistics.median(r[name] for r in rounds)  # noqa: E731
    return {
        "server": server, "scenario": scenario, "connections": c,
        "rps": med("rps"), "cpu_us": med("cpu_us_per_request"), "p50_us": med("p50_us"), "p90_us": med("p90_us"), "p99_us": med("p99_us"),
        "rps_rounds": [round(r["rps"]) for r in rounds],
        "errors_total": sum(r["errors_total"] for r in rounds),
        "ratio": statistics.median(r["rps"] / b["rps"] for r, b in zip(rounds, base)) if base else None,
        "cpu_ratio": statistics.median(r["cpu_us_per_request"] / b["cpu_us_per_request"] for r, b in zip(rounds, base)) if base else None,
    }  # fmt: skip


def machine() -> dict:
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines() if l.startswith("model name")), platform.processor())
    from importlib.metadata import version

    return {
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in ("onnxruntime", "flask", "gunicorn", "orjson", "numpy")},
    }


if __name__ == "__main__":
    sys.exit(main())
