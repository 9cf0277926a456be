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
