#!/usr/bin/env bash
# Sets up a virtual environment with every dependency (serving, training, dev) and runs all checks:
# ruff (lint and format), mypy on app/, hadolint on the Dockerfile, then the whole pytest suite,
# browser tests included (Chromium is installed with apt-get when it is missing).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv dev
install_chromium  # the browser tests drive Debian's Chromium headless

# The data: ECG_DATA_DIR if set, else ../shared/data/ecg5000, else the public copy downloaded
# into ~/.cache/ecg-anomaly (tests/conftest.py); with none of them the run stops in one line.
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
"$VENV/bin/hadolint" Dockerfile
"$VENV/bin/pytest" "$@"
