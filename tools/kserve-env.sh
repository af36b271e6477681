#!/usr/bin/env bash
# A virtual environment in DIR with the KServe SDK and model server (kserve-requirements.txt), on
# its own: kserve's pins conflict with xorlab's constraints.txt. Prints the path of DIR/bin/python.
# Used by the benchmark's KServe rival (bench/rivals.py) and by the tests of the kserve SDK's clients.
#
# usage: kserve-env.sh DIR        (PYTHON: the interpreter to build it with; default python3)
exec bash "$(dirname "$0")/pinned-venv.sh" kserve "${1:?usage: $0 DIR}" python
