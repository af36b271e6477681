#!/usr/bin/env bash
# Builds a virtual environment in DIR holding exactly NAME-requirements.txt (beside this script), for
# a field tool whose own pins conflict with xorlab's constraints.txt, and prints the path of
# DIR/bin/BINARY. Safe to re-run: it does nothing when DIR already holds this build.
#
# usage: pinned-venv.sh NAME DIR BINARY [--check]   (PYTHON: the interpreter to build it with;
#        default python3; --check: pip check the result too)
set -euo pipefail

NAME=${1:?usage: $0 NAME DIR BINARY [--check]}
DIR=${2:?usage: $0 NAME DIR BINARY [--check]}
BINARY=${3:?usage: $0 NAME DIR BINARY [--check]}
PYTHON=${PYTHON:-python3}
mkdir -p "$(dirname "$DIR")"
DIR="$(cd "$(dirname "$DIR")" && pwd)/$(basename "$DIR")"
REQUIREMENTS="$(cd "$(dirname "$0")" && pwd)/$NAME-requirements.txt"

if [ -x "$DIR/bin/$BINARY" ] && cmp -s "$REQUIREMENTS" "$DIR/.installed"; then
  echo "$DIR/bin/$BINARY"
  exit 0
fi
echo "$NAME: installing into $DIR (once) ..." >&2
rm -rf "$DIR"
"$PYTHON" -m venv "$DIR"
"$DIR/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQUIREMENTS" >&2
if [ "${4:-}" = --check ]; then
  "$DIR/bin/python" -m pip check >&2
fi
cp "$REQUIREMENTS" "$DIR/.installed"
echo "$DIR/bin/$BINARY"
