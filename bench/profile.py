"""`python -m bench.profile`: where one worker's time goes. One gevent worker (of one) under
`wrk -t1 -c1` sending one-row requests, sampled by py-spy; prints the share of the samples in each
stage of a request, as docs/benchmarks.md ("Where the time goes") reports them.

py-spy is not a dependency of the project (`pip install py-spy`; it reads another process's
memory: root, or ptrace allowed). It counts only the samples in which the worker runs, so the
shares are of the worker's busy time, not of the wall clock.
"""

from __future__ import annotations

import argparse
import collections
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import load, proxy
from bench.ab import settings_env
from bench.payloads import xorlab_scenarios
from bench.servers import Server
from tools.live_server import ROOT, free_port, serve_command

# The stages, each a frame (function, the end of its file's path) as py-spy names it; a sample is
# in a stage when its stack holds that frame. "handling" is gunicorn's handling of a connection's
# request, the rest of the busy time is gevent's loop between requests.
STAGES = {
    "handling a request": ("GeventWorker.handle", "gunicorn/workers/ggevent.py"),
    "gunicorn reading and parsing it": ("Parser.__next__", "gunicorn/http/parser.py"),
    "the C parser's own call": ("Request._parse_fast", "gunicorn/http/message.py"),
    "building the environ": ("create", "gunicorn/http/wsgi.py"),
    "writing the answer": ("Response.write", "gunicorn/http/wsgi.py"),
    "the app (WSGI)": ("Flask.__call__", "flask/app.py"),
    "onnxruntime": ("OnnxModel.predict", "xorlab/serve/runtime.py"),
    "the metrics and the access line": ("record", "xorlab/serve/http/fast_path.py"),
}
_FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^():]*)(?::\d+)?\)$")


def frames(stack: str) -> set[tuple[str, str]]:
    """(function, file) of each frame of one stack of py-spy's raw output."""
    found = set()
    for frame in stack.split(";"):
        match = _FRAME.match(frame)
        if match:
            found.add((match["function"], match["file"]))
    return found


def shares(raw: str) -> tuple[int, dict[str, float]]:
    """The samples in py-spy's raw output ("frame;frame;... count" lines), and the share of them
    in each of STAGES."""
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        total += int(count)
        held = frames(stack)
        for stage, (function, file) in STAGES.items():
            if any(f == function and path.endswith(file) for f, path in held):
                counts[stage] += int(count)
    return total, {stage: counts[stage] / total if total else 0.0 for stage in STAGES}


def require_py_spy() -> str:
    found = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("bench.profile: py-spy is not installed; install it with `pip install py-spy`")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="v1_1", help="the scenario key (default v1_1)")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds sampled (default 10)")
    parser.add_argument("--rate", type=int, default=500, help="samples per second (default 500)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="NAME=VALUE", help="an xorlab setting, e.g. http_parser=python"
    )
    parser.add_argument("--proxy", action="store_true", help="behind the deployment's nginx (docker/proxy/nginx.conf)")
    args = parser.parse_args(argv)
    py_spy = require_py_spy()
    load.require_wrk()
    (scenario,) = [s for s in xorlab_scenarios() if s.key == args.only]
    out = ROOT / "bench" / "out"
    port = free_port()
    command = serve_command(ROOT / "models", port, 1)
    env = {"XORLAB_GRPC_BIND": "", "XORLAB_WORKER_CLASS": "gevent"} | settings_env(args.set)
    server = Server("profile", command, port, "/v2/health/ready", out / "profile.log", env)
    try:
        server.wait_ready()
        if args.proxy:
            front = proxy.start(server, out)
            server.behind(front)
            front.wait_ready()
        load.check_response(server.url, scenario)
        (worker,) = server.worker_cpu()
        result = {}
        wrk = threading.Thread(
            target=lambda: result.update(load.run_wrk(server.url, scenario, 1, args.seconds + 3, out))
        )
        wrk.start()
        time.sleep(1.5)
        raw = out / "profile.txt"
        subprocess.run(
            [
                py_spy,
                "record",
                "-p",
                str(worker),
                "-d",
                str(round(args.seconds)),
                "-r",
                str(args.rate),
                "-f",
                "raw",
                "-o",
                str(raw),
            ],
            check=True,
            capture_output=True,
        )
        wrk.join()
    finally:
        server.stop()
    total, found = shares(raw.read_text())
    print(
        f"{scenario.label}, 1 connection{', behind nginx' if args.proxy else ''}, settings {args.set or 'defaults'}: "
        f"{result['rps']:,.0f} req/s; "
        f"{total:,} samples of the worker running ({raw})"
    )
    handling = found["handling a request"]
    print(f"  {'stage':<36} {'of the samples':>15} {'of the handling':>16}")
    for stage, share in found.items():
        print(f"  {stage:<36} {share:>14.0%} {share / handling if handling else 0:>15.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
