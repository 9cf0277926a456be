#!/usr/bin/env bash
# Sets up a virtual environment with the serving dependencies only (no TensorFlow) and starts the
# service on the shipped model. Extra arguments go to ecg-serve (e.g. --host 0.0.0.0 --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e .
exec "$VENV/bin/ecg-serve" "$@"
