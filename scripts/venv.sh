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

# Debian's nginx for the load-balancer tests (tests/deploy), unless one is on PATH or ECG_NGINX
# names it. Only the binary is used: the tests start it on loopback with the project's config.
install_nginx() {
  if [ -n "${ECG_NGINX:-}" ] || command -v nginx >/dev/null || [ -x /usr/sbin/nginx ]; then
    return 0
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing nginx for the load-balancer tests (apt-get install nginx)" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends nginx >/dev/null
  # Debian starts the packaged service on port 80; the tests need only the binary
  $sudo service nginx stop >/dev/null 2>&1 || true
}
