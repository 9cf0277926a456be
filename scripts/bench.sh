#!/usr/bin/env bash
# Sets up .venv (with TensorFlow, for the naive reference server) and wrk, then runs the serving
# benchmark: the service beside a naive Keras server, same load, one table of figures and ratios.
# Arguments go to `python -m bench.run` (e.g. --duration 20, --skip-naive).
# The recordings benchmark (POST /v1/recordings on MIT-BIH record 100 beside a naive wfdb +
# NeuroKit2 + Keras script) runs separately: .venv/bin/python -m bench.recordings
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv dev
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq wrk
  else
    echo "bench: wrk is needed: sudo apt-get install wrk" >&2
    exit 2
  fi
fi
exec "$VENV/bin/python" -m bench.run "$@"
