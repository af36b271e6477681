#!/usr/bin/env bash
# Builds a virtual environment in DIR with checkov, the infrastructure-as-code scanner that
# tests/deploy/test_kubernetes.py runs over deploy/kubernetes, and every package it installs at the
# versions in checkov-requirements.txt beside this script; on its own, because checkov's pins
# conflict with constraints.txt. Prints the path of DIR/bin/checkov. Safe to re-run: it does nothing
# when DIR already holds this build.
#
# usage: checkov-env.sh DIR        (PYTHON: the interpreter to build it with; default python3)
set -euo pipefail

DIR=${1:?usage: $0 DIR}
PYTHON=${PYTHON:-python3}
mkdir -p "$(dirname "$DIR")"
DIR="$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")"
REQUIREMENTS="$(cd "$(dirname "$0")" && pwd)/checkov-requirements.txt"

if [ -x "$DIR/bin/checkov" ] && cmp -s "$REQUIREMENTS" "$DIR/.installed"; then
  echo "$DIR/bin/checkov"
  exit 0
fi
echo "checkov: installing into $DIR (once) ..." >&2
rm -rf "$DIR"
"$PYTHON" -m venv "$DIR"
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
"$DIR/bin/python" -m pip check >&2
cp "$REQUIREMENTS" "$DIR/.installed"
echo "$DIR/bin/checkov"
