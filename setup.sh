#!/usr/bin/env bash
# Install, update and roll back the jump-landing screening kiosk.
#   ./setup.sh --dev     developer/CI set-up on any Debian-like machine: .venv, package + dev extras, models verified
#   ./setup.sh           station install on Raspberry Pi OS (apt packages, venv with system site packages)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then sudo "$@"
    else return 1
    fi
}

apt_install() {
    # Installs the named Debian packages that are missing; returns 1 if it cannot (no root).
    local missing=()
    for pkg in "$@"; do
        dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null || return 1
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null || return 1
}

pick_python() {
    local py
    for py in python3.13 python3.12 python3.11 python3; do
        if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$py"; return 0
        fi
    done
    die "Python 3.11 or newer is needed (Raspberry Pi OS Bookworm or newer has it)"
}

make_venv() {
    local py="$1"; shift
    if [ ! -x .venv/bin/python ]; then
        if ! "$py" -c 'import venv, ensurepip' 2>/dev/null; then
            apt_install python3-venv || die "python3-venv is missing and cannot be installed without root"
        fi
        log "creating .venv with $py $*"
        "$py" -m venv "$@" .venv
    fi
    .venv/bin/python -m pip install -q --upgrade pip
}

dev() {
    local py; py="$(pick_python)"
    make_venv "$py"
    log "installing the package with its dev extras (editable)"
    .venv/bin/python -m pip install -q -e '.[dev]'
    # Chromium drives the UI tests; without it those tests skip with a reason.
    if ! command -v chromium >/dev/null 2>&1; then
        apt_install chromium || log "Chromium is not installed and cannot be without root: browser tests will skip"
    fi
    log "verifying the models"
    .venv/bin/jumpkiosk models --verify
    log "done: run the tests with .venv/bin/python -m pytest, the demo with .venv/bin/jumpkiosk demo"
}

station() {
    local py; py="$(pick_python)"
    apt_install python3-venv python3-picamera2 python3-lgpio || die "cannot install apt packages (run as root or with sudo)"
    # picamera2 and lgpio come from apt, so the venv sees the system site packages.
    make_venv "$py" --system-site-packages
    .venv/bin/python -m pip install -q .
    .venv/bin/jumpkiosk models --verify
    log "installed; services come with the operations set-up"
}

case "${1:-}" in
    --dev) dev ;;
    ""|install) station ;;
    -h|--help) sed -n '2,4p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown option '$1' (see --help)" ;;
esac
