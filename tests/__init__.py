"""xorlab's tests, one folder per package under test (modelrepo, train, serve), plus deploy (the
images and the compose stack) and project (documentation, pinned dependencies).

Shared helpers: `tests.fixtures` (small repositories written through the real writer, and the
test app's limits); a real server is started with tools/live_server.py, the launcher the benchmark
uses too."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository's root
