"""`python -m bench` (or `make bench`): the whole benchmark, one command.

Starts xorlab with its real gunicorn configuration on loopback, drives every scenario with wrk at
each connection count in interleaved rounds, with the floors of the stack (the no-op route, and a
raw WSGI hello-world under the same gunicorn settings) and the rivals (a minimal Flask app under
xorlab's worker settings and under gunicorn's default sync worker; the KServe model server) on
the same one-row requests right after xorlab's own; measures the in-process floors, memory and
time to ready; and prints every comparison as the median of per-round ratios with its range,
beside the CPU time per request.

The machine's load is measured during every measurement (bench/machine_cpu.py): a round in which other
processes used more than 0.2 of a core is not valid, and the headline figures come from the valid
rounds only (or, with none, are printed as NOT VALID). Results go to bench/out/ (results.json,
results.md, server logs). See docs/benchmarks.md.
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

from bench import inprocess, load, machine_cpu, proxy, results_markdown, rivals
from bench.payloads import RIVAL_KEYS, xorlab_scenarios
from bench.servers import Server
from tools.live_server import ROOT, free_port, serve_command
from xorlab.serve.config import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=2.0, help="seconds of load per measurement (default 2)")
    parser.add_argument(
        "--warmup", type=float, default=0.5, help="seconds of unmeasured load before each (default 0.5)"
    )
    parser.add_argument("--connections", default="1,8", help="connection counts, comma-separated (default 1,8)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="rounds over every scenario, interleaved; medians are kept (default 4)"
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes, for every server (default 2)")
    parser.add_argument(
        "--rivals",
        default="flask,flask-sync,kserve",
        help="rival servers to compare with; empty for none (default flask,flask-sync,kserve)",
    )
    parser.add_argument("--only", default="", help="xorlab scenarios to run, comma-separated keys (default: all)")
    parser.add_argument(
        "--no-inprocess", action="store_true", help="skip the in-process floors (onnxruntime, JSON, the app alone)"
    )
    parser.add_argument(
        "--proxy",
        action="store_true",
        help="measure every server through the deployment's nginx (docker/proxy/nginx.conf), one in front of each",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an xorlab setting for this run, e.g. --set threads=8 (XORLAB_THREADS); repeatable",
    )
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="model repository (default: models/)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder (default: bench/out/)")
    args = parser.parse_args(argv)
    if any("=" not in item for item in args.set):
        parser.error("--set takes NAME=VALUE, e.g. --set threads=8")
    load.require_wrk()
    if args.proxy:
        proxy.require_nginx()
    connections = [int(c) for c in args.connections.split(",") if c]
    args.out.mkdir(parents=True, exist_ok=True)
    env = {"XORLAB_" + k.upper(): v for k, v in (item.split("=", 1) for item in args.set)}

    results: dict = {"machine": machine(), "settings": {k: str(v) for k, v in vars(args).items()}}
    idle = machine_cpu.idle_check()
    results["machine"]["idle_check"] = idle
    print(
        f"machine: {results['machine']['cpu']} x{results['machine']['cores']}, load average "
        f"{results_markdown.fmt_load(results['machine']['load_before'])}; "
        f"other processes {idle['other_cores']:.2f} cores "
        f"over {idle['wall_s']:.0f} s before starting (valid up to {machine_cpu.OTHER_LIMIT})",
        flush=True,
    )

    if not args.no_inprocess:
        print("in-process floors ...", flush=True)
        results["inprocess"] = inprocess.measure(args.models)

    scenarios = xorlab_scenarios()
    if args.only:
        keep = set(args.only.split(",")) | {"noop"}
        scenarios = [s for s in scenarios if s.key in keep]
    port = free_port()
    xorlab = Server(
        "xorlab",
        serve_command(args.models, port, args.workers),
        port,
        "/v2/health/ready",
        args.out / "xorlab.log",
        # gRPC on a free port (not 8001, which another server here may hold), unless --set says otherwise.
        {"XORLAB_GRPC_BIND": f"127.0.0.1:{free_port()}"} | env,
    )
    servers = [xorlab]
    try:
        results["xorlab_ready_s"] = xorlab.wait_ready()
        floor = start_floor(args, env)
        servers.append(floor)
        results["floor_ready_s"] = floor.wait_ready()
        rival_servers = start_rivals(
            args,
            results,
            env.get("XORLAB_WORKER_CLASS", Settings.worker_class),
            int(env.get("XORLAB_THREADS", Settings.threads)),
        )
        servers += rival_servers
        if args.proxy:
            for server in servers:
                front = proxy.start(server, args.out)
                server.behind(front)
                front.wait_ready()

        def own():
            return [pid for server in servers for pid in server.pids()]

        runs: dict[tuple[str, str, int], list[dict]] = {}
        rounds: list[dict] = []
        # Short rounds over everything, interleaved, rather than one long run each: load from other
        # processes then spreads over every scenario alike, and ratios are taken within a round.
        floors = [{k: results["inprocess"][k] for k in inprocess.FLOORS}] if not args.no_inprocess else []
        for round_ in range(args.rounds):
            # the floors the 10,000-row requests are compared with, in every round too
            if round_ and not args.no_inprocess:
                floors.append(inprocess.measure(args.models, floors_only=True))
            info = {"round": round_, "load_before": os.getloadavg(), "measurements": []}
            print(
                f"round {round_ + 1}/{args.rounds}: load average {results_markdown.fmt_load(info['load_before'])}",
                flush=True,
            )
            for c in connections:
                for scenario in scenarios:
                    jobs = [(xorlab, scenario)]
                    if scenario.key == "noop":  # the hello-world floor right after the no-op route
                        jobs.append((floor, scenario))
                    if scenario.key in RIVAL_KEYS:  # the rivals right after xorlab's own, same request
                        jobs += [(server, scenario) for server in rival_servers]
                    for server, job in jobs:
                        result = load.measure(server, job, c, args.duration, args.warmup, args.out, own)
                        result["round"] = round_
                        runs.setdefault((server.name, scenario.key, c), []).append(result)
                        m = result["machine"]
                        info["measurements"].append(m["other_cores"])
                        share = result["busiest_worker_share"]
                        print(
                            f"  @{c} {server.name} {job.label}: {result['rps']:,.0f} req/s, "
                            f"{result['cpu_us_per_request']:,.0f} CPU µs/req, "
                            f"busiest worker {share if share is None else round(share, 2)}, "
                            f"other processes {m['other_cores']:.2f} cores{'' if result['valid'] else ' (NOT VALID)'}",
                            flush=True,
                        )
            info["max_other_cores"] = max(info["measurements"])
            info["valid"] = info["max_other_cores"] <= machine_cpu.OTHER_LIMIT
            rounds.append(info)
        results["memory"] = {s.name: s.memory() for s in servers}
        if args.proxy:
            results["proxy_memory"] = {s.name: s.front.memory() for s in servers}
        if floors:
            results["inprocess"] |= {k: statistics.median(f[k] for f in floors) for k in inprocess.FLOORS}
            results["inprocess"]["floor_rounds"] = floors
    finally:
        for server in servers:
            server.stop()

    results["rounds"] = rounds
    valid = [r["round"] for r in rounds if r["valid"]]
    results["valid_rounds"] = valid
    # Headline figures from the valid rounds only; with none, from every round, and marked so.
    use = set(valid) if valid else {r["round"] for r in rounds}
    results["figures_from"] = "valid" if valid else "all (none valid)"
    results["load"] = [summarize(k, v, use) for k, v in runs.items()]
    results["comparisons"] = comparisons(
        runs, use, connections, [s.key for s in scenarios], [s.name for s in rival_servers]
    )
    results["labels"] = {s.key: s.label for s in scenarios}
    results["machine"]["load_after"] = os.getloadavg()
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    text = results_markdown.render(results, connections)
    (args.out / "results.md").write_text(text)
    print("\n" + text)
    print(f"written: {args.out / 'results.json'}, {args.out / 'results.md'}")
    return 0


def start_floor(args, env: dict) -> Server:
    """The raw WSGI hello-world under xorlab's gunicorn settings (bench/hello_gunicorn_conf.py)."""
    port = free_port()
    command = [sys.executable, "-m", "gunicorn", "--config", "python:bench.hello_gunicorn_conf"]
    env = env | {
        "XORLAB_BIND": f"127.0.0.1:{port}",
        "XORLAB_WORKERS": str(args.workers),
        "XORLAB_MODELS": str(args.models),
        "XORLAB_GRPC_BIND": "",
    }  # HTTP only: the floor of the HTTP stack
    return Server("floor", command, port, "/v2/health/ready", args.out / "floor.log", env)


def start_rivals(args, results: dict, worker_class: str, threads: int) -> list[Server]:
    started = []
    for name in [n for n in args.rivals.split(",") if n]:
        server = None
        try:
            server = rivals.start(name, args.models, args.workers, args.out, worker_class, threads)
            results.setdefault("rivals_ready_s", {})[name] = server.wait_ready()
            started.append(server)
        except Exception as exc:  # noqa: BLE001 - a rival server that cannot run here is reported, not fatal
            if server is not None:
                server.stop()
            message = f"{type(exc).__name__}: {exc}"
            results.setdefault("rival_errors", {})[name] = message
            print(f"{name}: cannot run here: {message[:2000]}", flush=True)
    return started


def summarize(key: tuple[str, str, int], rounds: list[dict], use: set[int]) -> dict:
    """Medians over the rounds in `use` (the valid ones, when there are any)."""
    server, scenario, c = key
    kept = [r for r in rounds if r["round"] in use]

    def med(name):
        return statistics.median(r[name] for r in kept)

    return {
        "server": server,
        "scenario": scenario,
        "connections": c,
        "rounds_used": len(kept),
        "rps": med("rps"),
        "cpu_us": med("cpu_us_per_request"),
        "p50_us": med("p50_us"),
        "p90_us": med("p90_us"),
        "p99_us": med("p99_us"),
        "proxy_cpu_us": med("proxy_cpu_us_per_request") if "proxy_cpu_us_per_request" in kept[0] else None,
        "rps_rounds": [round(r["rps"]) for r in rounds],
        "other_cores_rounds": [round(r["machine"]["other_cores"], 3) for r in rounds],
        "busiest_worker_share_rounds": [
            None if r["busiest_worker_share"] is None else round(r["busiest_worker_share"], 2) for r in rounds
        ],
        "errors_total": sum(r["errors_total"] for r in rounds),
    }


def comparisons(
    runs: dict, use: set[int], connections: list[int], keys: list[str], rival_names: list[str]
) -> list[dict]:
    """Every ratio the report gives, each taken within a round (both measurements seconds apart)
    and summarised over the rounds in `use` as the median with its range."""
    wanted = []
    for c in connections:
        wanted.append(("noop ÷ floor", ("xorlab", "noop", c), ("floor", "noop", c)))
        for key in keys:
            if key != "noop":
                wanted.append((f"{key} ÷ noop", ("xorlab", key, c), ("xorlab", "noop", c)))
        for key in RIVAL_KEYS:
            for name in rival_names:
                wanted.append((f"{key} xorlab ÷ {name}", ("xorlab", key, c), (name, key, c)))
    out = []
    for what, num, den in wanted:
        a = {r["round"]: r for r in runs.get(num, [])}
        b = {r["round"]: r for r in runs.get(den, [])}
        both = sorted(set(a) & set(b) & use)
        if not both:
            continue
        rps = [a[i]["rps"] / b[i]["rps"] for i in both]
        # CPU per request the other way round (den ÷ num), so above 1 means the numerator is cheaper.
        cpu = [b[i]["cpu_us_per_request"] / a[i]["cpu_us_per_request"] for i in both]
        out.append(
            {
                "what": what,
                "num": list(num),
                "den": list(den),
                "connections": num[2],
                "rounds": both,
                "rps_ratio": spread(rps),
                "cpu_ratio": spread(cpu),
            }
        )
    return out


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def machine() -> dict:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    from importlib.metadata import version

    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpu": cpu,
        "cores": len(os.sched_getaffinity(0)),
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "versions": {name: version(name) for name in ("onnxruntime", "flask", "gunicorn", "orjson", "numpy")},
    }


if __name__ == "__main__":
    sys.exit(main())
