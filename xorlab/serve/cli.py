"""`xorlab-serve [--models DIR] [--bind HOST:PORT] [--workers N] [--grpc-bind HOST:PORT]`: gunicorn
with xorlab's config.

The flags become XORLAB_* environment variables, so gunicorn's config, its workers and the app all
see one set of settings; then this process becomes the gunicorn master (exec), keeping its pid for
signals (SIGTERM: graceful stop; SIGHUP: reload).
"""

from __future__ import annotations

import argparse
import os
import sys

from xorlab.serve.config import ENV_PREFIX, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="xorlab-serve", description="Serve the XOR models over KServe V1 and V2 (HTTP and gRPC)."
    )
    parser.add_argument("--models", metavar="DIR", help="model repository folder (default: models)")
    parser.add_argument("--bind", metavar="HOST:PORT", help="address to listen on (default: 127.0.0.1:8000)")
    parser.add_argument("--workers", metavar="N", type=int, help="gunicorn workers (default: CPU cores)")
    parser.add_argument(
        "--grpc-bind",
        metavar="HOST:PORT",
        help="gRPC address, served by every worker (default: 127.0.0.1:8001; '' turns gRPC off)",
    )
    args = parser.parse_args(argv)

    for name in ("models", "bind", "workers", "grpc_bind"):
        value = getattr(args, name)
        if value is not None:
            os.environ[ENV_PREFIX + name.upper()] = str(value)
    try:
        Settings.from_env()  # refuse bad settings here, with a clear line, not in every worker
    except ValueError as exc:
        parser.error(str(exc))

    # The workers import `xorlab` from wherever this process found it, installed or not.
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [package_root] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    command = [sys.executable, "-m", "gunicorn", "--config", "python:xorlab.serve.hosting.gunicorn_config"]
    os.execv(sys.executable, command)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
