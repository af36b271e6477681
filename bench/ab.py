"""`python -m bench.ab --base REV`: the service as it was at commit REV against the working tree,
the same requests, in interleaved rounds: what a change bought, with the same validity rule as
`python -m bench` (bench/machine_cpu.py: a round with other processes above 0.2 of a core is not valid).

Both run `python -m xorlab.serve` with the same settings and the same model repository, each from
its own source tree (REV checked out under bench/out/, removed afterwards); with `--proxy`, each
behind this tree's nginx configuration (bench/proxy.py). Prints, per request and connection count,
each side's medians (req/s, CPU µs per request, p99) and the working tree ÷ REV ratio of req/s as
the median [least–most] of the per-round ratios. See docs/benchmarks.md, "What each change bought".

Both sides run in this venv: what it installs applies to REV too (gunicorn takes its C parser,
gunicorn_h1c, wherever it is installed, at any commit). `--base-set` measures one setting against
another at the same commit.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys

from bench import load, proxy, results_markdown
from bench.payloads import xorlab_scenarios
from bench.servers import Server
from tools.live_server import ROOT, free_port, serve_command

GENERATED = ROOT / "xorlab" / "serve" / "proto" / "_generated"  # built by `pip install -e .`, never committed


def checkout(rev: str, folder):
    """REV in `folder` (a git worktree), with this tree's generated protocol modules when REV's
    .proto files are the same (the modules are built at install time, not committed)."""
    git = ["git", "-C", str(ROOT)]
    # A .proto file this tree added (REV's code imports none of its modules) does not count.
    if (
        subprocess.run([*git, "diff", "--quiet", "--diff-filter=a", rev, "--", "xorlab/serve/proto/*.proto"]).returncode
        != 0
    ):
        raise SystemExit(
            f"bench.ab: {rev}'s .proto files differ from this tree's: install that commit in a venv of its own"
        )
    subprocess.run([*git, "worktree", "remove", "--force", str(folder)], capture_output=True)  # an interrupted run's
    subprocess.run([*git, "worktree", "prune"], capture_output=True)
    subprocess.run([*git, "worktree", "add", "--detach", str(folder), rev], check=True, capture_output=True)
    shutil.copytree(GENERATED, folder / GENERATED.relative_to(ROOT))


def settings_env(items: list[str]) -> dict[str, str]:
    """NAME=VALUE settings as the service's environment variables."""
    return {"XORLAB_" + k.upper(): v for k, v in (item.split("=", 1) for item in items)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="the commit to compare the working tree with")
    parser.add_argument("--only", default="v1_1,v2_1", help="scenario keys, comma-separated (default v1_1,v2_1)")
    parser.add_argument("--connections", default="1,8", help="connection counts (default 1,8)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per measurement (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes of each (default 2)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an xorlab setting for both, e.g. worker_class=sync",
    )
    parser.add_argument(
        "--base-set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an xorlab setting for REV only, after --set: one setting against another at the same commit, "
        "e.g. --base HEAD --base-set http_parser=python",
    )
    parser.add_argument(
        "--proxy", action="store_true", help="each behind the deployment's nginx (docker/proxy/nginx.conf)"
    )
    args = parser.parse_args(argv)
    load.require_wrk()
    out = ROOT / "bench" / "out"
    base_tree = out / "ab-base"
    env = settings_env(args.set) | {"XORLAB_GRPC_BIND": ""}
    envs = {"base": env | settings_env(args.base_set), "head": env}
    scenarios = [s for s in xorlab_scenarios() if s.key in args.only.split(",")]
    connections = [int(c) for c in args.connections.split(",")]
    out.mkdir(parents=True, exist_ok=True)
    checkout(args.base, base_tree)
    servers: list[Server] = []
    try:
        for name, root in (("base", base_tree), ("head", ROOT)):
            port = free_port()
            command = serve_command(ROOT / "models", port, args.workers)
            servers.append(
                Server(name, command, port, "/v2/health/ready", out / f"ab-{name}.log", envs[name], root=root)
            )
        for server in servers:
            server.wait_ready()
            if args.proxy:
                front = proxy.start(server, out)
                server.behind(front)
                front.wait_ready()

        def own():
            return [pid for server in servers for pid in server.pids()]

        print(
            f"load average {results_markdown.fmt_load(os.getloadavg())}; "
            f"base {args.base}, settings {args.set or 'defaults'}"
            f"{f', the base also {args.base_set}' if args.base_set else ''}"
            f"{', behind nginx' if args.proxy else ''}",
            flush=True,
        )
        runs: dict[tuple[str, int, str], list[dict]] = {}
        for round_ in range(args.rounds):
            for c in connections:
                for scenario in scenarios:
                    for server in servers if round_ % 2 == 0 else servers[::-1]:
                        result = load.measure(server, scenario, c, args.duration, 0.5, out, own)
                        runs.setdefault((scenario.key, c, server.name), []).append(result)
                        print(
                            f"  round {round_ + 1} @{c} {server.name} {scenario.key}: {result['rps']:,.0f} req/s, "
                            f"{result['cpu_us_per_request']:,.0f} µs, "
                            f"other processes {result['machine']['other_cores']:.2f} cores"
                            f"{'' if result['valid'] else ' (NOT VALID)'}",
                            flush=True,
                        )
    finally:
        for server in servers:
            server.stop()
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base_tree)], capture_output=True)
    print(f"\nworking tree ÷ {args.base}, valid rounds only:")
    for scenario in scenarios:
        for c in connections:
            base, head = runs[(scenario.key, c, "base")], runs[(scenario.key, c, "head")]
            pairs = [(b, h) for b, h in zip(base, head, strict=True) if b["valid"] and h["valid"]]
            if not pairs:
                print(f"  {scenario.key} @{c}: NO ROUND WAS VALID")
                continue

            def med(side, field, pairs=pairs):
                return statistics.median(p[side][field] for p in pairs)

            ratios = [h["rps"] / b["rps"] for b, h in pairs]
            line = "  ".join(
                f"{name} {med(i, 'rps'):,.0f} req/s {med(i, 'cpu_us_per_request'):,.0f} µs "
                f"p99 {med(i, 'p99_us') / 1e3:.2f} ms"
                for i, name in ((0, "base"), (1, "head"))
            )
            print(
                f"  {scenario.key} @{c} ({len(pairs)} rounds): {line}  ratio {statistics.median(ratios):.2f} "
                f"[{min(ratios):.2f}–{max(ratios):.2f}]"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
