"""Schemathesis against a live 2-worker gunicorn, every check it has (`--checks all`: no 5xx but the
documented 501s, every status, header, Content-Type and body as the document says, schema-valid
requests accepted, schema-invalid ones refused, Allow headers, missing auth answered 401, ...) with
the repository's schemathesis.toml, over every operation in /openapi.json, on a server with an admin
token (schemathesis does not have it: 401s) and on one without (the admin routes are off: 501).

    python -m tests.serve.operations.fuzz [--examples 1000] [--seed 8]   # thousands of requests per operation

The suite's version: tests/serve/operations/test_openapi.py::test_schemathesis_finds_no_failure_with_every_check
(a few examples per operation, every phase), and the in-process
tests/serve/operations/test_openapi.py::test_every_operation_conforms_to_the_openapi_document.
Prints schemathesis' summaries; exits with status 0 when every check passed on both servers.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import ROOT
from tools.live_server import running

CONFIG = ROOT / "schemathesis.toml"


def command(url: str, examples: int, seed: int, workers: int = 4) -> list[str]:
    """`schemathesis run` with every check, against the server at `url`, configured by CONFIG."""
    return [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/openapi.json",
        "--checks",
        "all",
        "--max-examples",
        str(examples),
        "--seed",
        str(seed),
        "--suppress-health-check",
        "all",
        "--request-timeout",
        "30",
        "--workers",
        str(workers),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.serve.operations.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="test cases per operation (default 1000)")
    parser.add_argument("--seed", type=int, default=8, help="schemathesis' random seed (default 8)")
    args = parser.parse_args(argv)
    code = 0
    for env in ({"XORLAB_ADMIN_TOKEN": "bench-fuzz-token"}, {}):
        with tempfile.TemporaryDirectory(prefix="xorlab-fuzz-") as tmp:
            with running(Path(tmp), ROOT / "models", **env) as target:
                print(f"--- a server {'with' if env else 'without'} an admin token", flush=True)
                code = subprocess.run(command(target.url, args.examples, args.seed), cwd=tmp).returncode or code
            log = target.log.read_text()
            if "Traceback" in log:
                print("the server logged an unhandled error:", file=sys.stderr)
                print(log[-5000:], file=sys.stderr)
                code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main())
