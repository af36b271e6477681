"""`python -m bench.perf_analyzer`: NVIDIA's perf_analyzer (the load tool Triton users benchmark
with) against xorlab over HTTP and over gRPC, beside wrk sending the request perf_analyzer sends over
HTTP (one row, binary tensor data), all in the same run, interleaved in rounds; medians printed.

perf_analyzer runs from its own folder (tools/perf_analyzer-env.sh builds it there, outside any
Python environment). Its gRPC client shares one channel (one TCP connection, so one worker)
between up to 6 concurrent requests; TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT=1 gives each its
own, as separate clients would be: otherwise the gRPC figures would measure one worker.
Results: bench/out/perf_analyzer.json and .md. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

from bench import load
from bench.payloads import MODEL, xorlab_scenarios
from bench.servers import Server
from tools.live_server import ROOT, free_port, serve_command

ENV_SCRIPT = ROOT / "tools" / "perf_analyzer-env.sh"
ENV_FOLDER = ROOT / "tools" / "out" / "perf_analyzer"  # the one the tests use too


def perf_analyzer_path(folder: Path) -> Path:
    """The perf_analyzer wrapper in `folder`, built there first if needed (a few seconds, once)."""
    done = subprocess.run(
        ["bash", str(ENV_SCRIPT), str(folder)],
        capture_output=True,
        text=True,
        env=os.environ | {"PYTHON": sys.executable},
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{ENV_SCRIPT.name} failed:\n{done.stderr[-2000:]}")
    return Path(done.stdout.strip().splitlines()[-1])


def run(
    binary: Path,
    protocol: str,
    url: str,
    concurrency: int,
    interval_ms: int,
    trials: int,
    out: Path,
    stability: int = 100,
) -> dict:
    """One perf_analyzer measurement; its CSV row (µs) as a dict. Raises if it fails (a failed
    request, or windows further apart than `stability` percent)."""
    csv_path = out / f"pa-{protocol}-{concurrency}.csv"
    command = [
        str(binary),
        "-m",
        MODEL,
        "-u",
        url,
        "-i",
        protocol,
        "--concurrency-range",
        f"{concurrency}:{concurrency}",
        "--measurement-interval",
        str(interval_ms),
        "--stability-percentage",
        str(stability),
        "--max-trials",
        str(trials),
        "-f",
        str(csv_path),
    ]
    env = os.environ | {"TRITON_CLIENT_GRPC_CHANNEL_MAX_SHARE_COUNT": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120 + trials * interval_ms / 1000)
    if done.returncode != 0:
        raise RuntimeError(
            f"perf_analyzer -i {protocol} exited {done.returncode}:\n{done.stdout[-1500:]}\n{done.stderr[-1500:]}"
        )
    row = next(csv.DictReader(io.StringIO(csv_path.read_text())))
    return {key: float(value) for key, value in row.items()} | {"stdout": done.stdout}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.perf_analyzer", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", default="1,4", help="concurrent requests, comma-separated (default 1,4)")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds over everything, interleaved; medians kept (default 3)"
    )
    parser.add_argument(
        "--interval", type=int, default=2000, help="perf_analyzer's measurement window, ms (default 2000)"
    )
    parser.add_argument("--trials", type=int, default=3, help="perf_analyzer's windows per measurement (default 3)")
    parser.add_argument(
        "--stability",
        type=int,
        default=100,
        help="how far apart (%%) its last windows may be; perf_analyzer fails beyond (default 100)",
    )
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    parser.add_argument("--models", type=Path, default=ROOT / "models", help="model repository (default: models/)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out", help="output folder (default: bench/out/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    concurrency = [int(c) for c in args.concurrency.split(",") if c]
    binary = perf_analyzer_path(ENV_FOLDER)
    wrk_scenario = next(s for s in xorlab_scenarios() if s.key == "v2bin_1")  # what perf_analyzer sends over HTTP

    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}", flush=True)
    port, grpc_port = free_port(), free_port()
    server = Server(
        "xorlab",
        serve_command(args.models, port, args.workers, f"127.0.0.1:{grpc_port}"),
        port,
        "/v2/health/ready",
        args.out / "xorlab-perf_analyzer.log",
    )
    runs: dict[tuple[str, int], list[dict]] = {}
    try:
        server.wait_ready()
        for round_ in range(args.rounds):
            for c in concurrency:
                print(f"round {round_ + 1}/{args.rounds} @ {c}: perf_analyzer http, grpc; wrk ...", flush=True)
                runs.setdefault(("http", c), []).append(
                    run(binary, "http", f"127.0.0.1:{port}", c, args.interval, args.trials, args.out, args.stability)
                )
                runs.setdefault(("grpc", c), []).append(
                    run(
                        binary,
                        "grpc",
                        f"127.0.0.1:{grpc_port}",
                        c,
                        args.interval,
                        args.trials,
                        args.out,
                        args.stability,
                    )
                )
                if shutil.which("wrk"):
                    w = load.measure(server, wrk_scenario, c, args.interval / 1000, 0.5, args.out)
                    runs.setdefault(("wrk", c), []).append(
                        {
                            "Inferences/Second": w["rps"],
                            "p50 latency": w["p50_us"],
                            "p99 latency": w["p99_us"],
                            "errors": w["errors_total"],
                        }
                    )
    finally:
        server.stop()
    load_after = os.getloadavg()

    rows = []
    for (tool, c), found in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):

        def med(key, found=found):
            return statistics.median(r[key] for r in found)

        rows.append(
            {
                "tool": tool,
                "concurrency": c,
                "rps": med("Inferences/Second"),
                "p50_us": med("p50 latency"),
                "p99_us": med("p99 latency"),
                "rps_rounds": [round(r["Inferences/Second"]) for r in found],
                **(
                    {"server_compute_infer_us": med("Server Compute Infer"), "server_queue_us": med("Server Queue")}
                    if tool != "wrk"
                    else {"errors": sum(r["errors"] for r in found)}
                ),
            }
        )
    results = {
        "load_before": load_before,
        "load_after": load_after,
        "cores": len(os.sched_getaffinity(0)),
        "settings": {k: str(v) for k, v in vars(args).items()},
        "rows": rows,
    }
    (args.out / "perf_analyzer.json").write_text(json.dumps(results, indent=1))
    text = render(results)
    (args.out / "perf_analyzer.md").write_text(text)
    print("\n" + text)
    return 0


LABELS = {
    "http": "perf_analyzer, HTTP (binary tensors)",
    "grpc": "perf_analyzer, gRPC",
    "wrk": "wrk, HTTP (the same request)",
}


def render(results: dict) -> str:
    before, after = results["load_before"], results["load_after"]
    lines = [
        f"One-row inference on `{MODEL}`, {results['settings']['workers']} workers, {results['cores']} cores; "
        f"load average {before[0]:.2f} before, {after[0]:.2f} after (1-minute).",
        "",
        "| client | concurrency | inferences/s | p50 µs | p99 µs | server compute infer µs | per round |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in results["rows"]:
        infer = f"{r['server_compute_infer_us']:.0f}" if "server_compute_infer_us" in r else "–"
        lines.append(
            f"| {LABELS[r['tool']]} | {r['concurrency']} | {r['rps']:,.0f} | {r['p50_us']:,.0f} | {r['p99_us']:,.0f} "
            f"| {infer} | {', '.join(f'{v:,}' for v in r['rps_rounds'])} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
