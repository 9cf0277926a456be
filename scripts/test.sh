#!/usr/bin/env bash
# Sets up a virtual environment with every dependency (serving, training, dev) and runs all checks:
# ruff (lint and format), mypy on app/, hadolint on the Dockerfile, then the whole pytest suite,
# browser tests included (Chromium and nginx are installed with apt-get when they are missing).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv dev
install_chromium  # the browser tests drive Debian's Chromium headless
install_nginx  # the load-balancer tests run Debian's nginx in front of real replicas

export ECG_DATA_DIR=${ECG_DATA_DIR:-$PWD/../shared/data/ecg5000}
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
"$VENV/bin/hadolint" Dockerfile
"$VENV/bin/pytest" "$@"
