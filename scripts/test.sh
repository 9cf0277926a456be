#!/usr/bin/env bash
# Sets up a virtual environment with every dependency (serving, training, dev) and runs all checks:
# ruff (lint and format), mypy on app/, hadolint on the Dockerfile, then the whole pytest suite,
# browser and deployment tests included (Chromium and nginx are installed with apt-get when
# they are missing, checkov in .venv-policy; kubectl must be on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh
setup_venv dev
install_chromium  # the browser tests drive Debian's Chromium headless
install_with_apt nginx nginx  # the load-balancer tests run it in front of real replicas
# kubectl (kubectl kustomize) is on this kind of machine at /usr/bin/kubectl; Debian's own
# kubernetes-client (1.20) is too old to render the manifests, so it is not installed here
setup_policy_venv  # checkov, the policy scanner of the Kubernetes manifests

# The data: ECG_DATA_DIR if set, else ../shared/data/ecg5000, else the public copy downloaded
# into ~/.cache/ecg-anomaly (tests/conftest.py); with none of them the run stops in one line.
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
"$VENV/bin/mypy"
"$VENV/bin/hadolint" Dockerfile
"$VENV/bin/pytest" "$@"
