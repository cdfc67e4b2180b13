# shellcheck shell=bash
# Sourced by scripts/demo and scripts/test: brings a fresh Debian machine to the state the project needs,
# doing nothing that is already done. Safe to run any number of times.
#   - Debian packages the project needs at run time (apt-get update only when something is missing)
#   - a virtual environment in .venv with the project installed editable, reinstalled only when
#     pyproject.toml changes
set -euo pipefail

GRIDPASS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export GRIDPASS_ROOT
VENV="$GRIDPASS_ROOT/.venv"

# Debian packages the project uses; add here when an issue needs a new one.
APT_PACKAGES=(libzbar0 mosquitto mosquitto-clients postgresql chromium)

log() { printf '\033[1m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root to run: $* (install it by hand, then run again)"; return 1
  fi
}

ensure_apt_packages() {
  local missing=() pkg
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if ! command -v apt-get >/dev/null 2>&1; then
    log "missing system packages ${missing[*]} and no apt-get here: install them with your package manager"
    return 1
  fi
  log "installing system packages: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
  local c
  for c in python3.13 python3.12 python3.11 python3; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  log "gridpass needs Python 3.11 or newer: install python3 (>= 3.11) and python3-venv"
  return 1
}

ensure_venv() {
  local stamp="$VENV/.gridpass-installed" want
  want="$(sha256sum "$GRIDPASS_ROOT/pyproject.toml" | cut -d' ' -f1)"
  if [ ! -x "$VENV/bin/python" ]; then
    log "creating virtual environment in .venv"
    "$(pick_python)" -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    log "installing gridpass and its dependencies into .venv"
    local log="$VENV/pip-install.log"
    if ! { "$VENV/bin/python" -m pip install -q --upgrade pip &&
           "$VENV/bin/python" -m pip install -q -e "$GRIDPASS_ROOT[dev]"; } >"$log" 2>&1; then
      cat "$log" >&2
      log "installing into .venv failed (full log above, also in $log)"
      return 1
    fi
    echo "$want" > "$stamp"
  fi
}

ensure_apt_packages
ensure_venv
export PATH="$VENV/bin:$PATH"
