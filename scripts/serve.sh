#!/usr/bin/env bash
# Sets up a virtual environment with the serving dependencies only (no TensorFlow) and starts the
# service on the shipped model. Extra arguments go to ecg-serve (e.g. --host 0.0.0.0 --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv
exec "$VENV/bin/ecg-serve" "$@"
