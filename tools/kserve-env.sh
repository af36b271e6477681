#!/usr/bin/env bash
# Builds a virtual environment in DIR with the KServe SDK and model server (kserve-requirements.txt
# beside this script), on its own: kserve's pins conflict with xorlab's constraints.txt. Prints the
# path of DIR/bin/python. Safe to re-run: it does nothing when DIR already holds this build.
# Used by the benchmark's KServe rival (bench/rivals.py) and by the tests of the kserve SDK's clients.
#
# usage: kserve-env.sh DIR        (PYTHON: the interpreter to build it with; default python3)
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
mkdir -p "$(dirname "$DIR")"
DIR="$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")"
REQUIREMENTS="$(cd "$(dirname "$0")" && pwd)/kserve-requirements.txt"

if [ -x "$DIR/bin/python" ] && cmp -s "$REQUIREMENTS" "$DIR/.installed"; then
  echo "$DIR/bin/python"
  exit 0
fi
echo "kserve: installing into $DIR (once) ..." >&2
rm -rf "$DIR"
"$PYTHON" -m venv "$DIR"
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
cp "$REQUIREMENTS" "$DIR/.installed"
echo "$DIR/bin/python"
