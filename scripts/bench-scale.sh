#!/usr/bin/env bash
# The scaling-out benchmark (bench/scale.py): 1-beat load straight at a replica and through nginx
# in front of 1, 2 and 3 replicas, then bulk scoring of a 10-million-beat Parquet archive by a
# single-process loop and by ecg-bulk on 1 and 2 Dask workers. Sets up .venv, nginx and wrk.
# Arguments go to `python -m bench.scale` (e.g. --duration 20, --bulk-beats 1000000,
# --work-dir DIR for the archive: 5.6 GB at 10 million beats).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv dev
install_with_apt nginx nginx
install_with_apt wrk wrk
exec "$VENV/bin/python" -m bench.scale "$@"
