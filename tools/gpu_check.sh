#!/bin/sh
# The training stage on a GPU, checked in one command (see tools/gpu_check.py): run from anywhere,
# with the Python that has the project installed (PYTHON=..., default python3).
set -e
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" -m tools.gpu_check "$@"
