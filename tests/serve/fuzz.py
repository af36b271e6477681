"""Schemathesis against a live 2-worker gunicorn: thousands of generated requests (valid and
invalid) over every operation in /openapi.json; no 5xx, every status, Content-Type and body as the
document says.

    python -m tests.serve.fuzz [--examples 1000]   # the most per operation

The suite's short version is tests/serve/test_operations.py::
test_every_operation_conforms_to_the_openapi_document (12 examples per operation).
Prints schemathesis' summary; exits with its status (0: every check passed).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import ROOT
from tests.live import running

CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.serve.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=1000, help="test cases per operation (default 1000)")
    parser.add_argument("--seed", type=int, default=8, help="schemathesis' random seed (default 8)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="xorlab-fuzz-") as tmp:
        # The admin token is set so the admin routes exist; schemathesis does not have it (401s).
        with running(Path(tmp), ROOT / "models", XORLAB_ADMIN_TOKEN="bench-fuzz-token") as target:
            command = [
                sys.executable, "-m", "schemathesis.cli", "run", f"{target.url}/openapi.json",
                "--checks", CHECKS, "--max-examples", str(args.examples), "--seed", str(args.seed),
                "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all",
                "--request-timeout", "30", "--workers", "4",
            ]  # fmt: skip
            code = subprocess.run(command, cwd=tmp).returncode
        log = target.log.read_text()
        if "Traceback" in log:
            print("the server logged an unhandled error:", file=sys.stderr)
            print(log[-5000:], file=sys.stderr)
            code = code or 1
    return code


if __name__ == "__main__":
    sys.exit(main())
