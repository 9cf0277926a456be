# Sourced by the scripts here: creates .venv (or $VENV) if needed and installs the project into it
# with the extras named in $1 (e.g. "dev"; empty: serving dependencies only).
setup_venv() {
  VENV=${VENV:-.venv}
  local python=${PYTHON:-python3}
  local target="."
  [ -n "${1:-}" ] && target=".[$1]"
  [ -x "$VENV/bin/python" ] || "$python" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip
  "$VENV/bin/python" -m pip install --quiet -e "$target"
}

# Debian's Chromium for the Playwright browser tests, unless one is on PATH or ECG_CHROMIUM names it.
install_chromium() {
  if [ -n "${ECG_CHROMIUM:-}" ] || command -v chromium >/dev/null; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing Chromium for the browser tests (apt-get install chromium)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
}

# A Debian package, unless its command is on PATH (or in /usr/sbin): `install_with_apt nginx
# nginx` for the load balancer the tests and bench/scale.py run in front of real replicas.
install_with_apt() {
  local command=$1 package=$2
  if command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ]; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing $package (apt-get install $package)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$package" \
    >/dev/null
  if [ "$package" = nginx ]; then  # Debian starts the packaged server; the tests need the binary
    $sudo service nginx stop >/dev/null 2>&1 || true
  fi
}

# checkov in a venv of its own (.venv-policy): its pins clash with the dev tools (pyproject.toml)
setup_policy_venv() {
  (VENV=.venv-policy setup_venv policy)
  export ECG_CHECKOV=$PWD/.venv-policy/bin/checkov
}
