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
