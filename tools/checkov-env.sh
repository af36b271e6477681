#!/usr/bin/env bash
# A virtual environment in DIR with checkov, the infrastructure-as-code scanner that
# tests/deploy/test_kubernetes.py runs over deploy/kubernetes, at the versions in
# checkov-requirements.txt; on its own, because checkov's pins conflict with constraints.txt.
# Prints the path of DIR/bin/checkov.
#
# usage: checkov-env.sh DIR        (PYTHON: the interpreter to build it with; default python3)
exec bash "$(dirname "$0")/pinned-venv.sh" checkov "${1:?usage: $0 DIR}" checkov --check
