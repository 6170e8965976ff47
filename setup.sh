#!/usr/bin/env bash
# Install, update and roll back the jump-landing screening kiosk.
#   ./setup.sh --dev           developer/CI set-up on any Debian-like machine: .venv, package + dev extras, models verified
#   sudo ./setup.sh [install]  station install on Raspberry Pi OS Bookworm/Trixie (see docs/OPERATIONS.md)
#   sudo ./setup.sh update [REF]   build REF (git ref; default: this tree) beside the running release, back up
#                                  the database, migrate, switch, restart; rolls back by itself if unhealthy
#   sudo ./setup.sh rollback [--restore-db]   back to the previous release
#   sudo ./setup.sh build [REF]    only build a release under /opt/jumpkiosk/releases (no switch)
#   ./setup.sh --check         dry run of install: every step, what is done, what it would do; changes nothing
set -euo pipefail
# Functions run in $(...) (build_release, backup_db) stop at their first failure too.
shopt -s inherit_errexit

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

exit_status() {
    # How a command ended, for messages: "exited with status 2" or, past 128, the signal that
    # killed it ("was killed by SIGSEGV (status 139)"): a native crash names itself.
    local rc="$1" sig
    if [ "$rc" -gt 128 ] && sig="$(kill -l "$((rc - 128))" 2>/dev/null)"; then
        printf 'was killed by SIG%s (status %s)' "${sig#SIG}" "$rc"
    else
        printf 'exited with status %s' "$rc"
    fi
}

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
    # What the tests drive besides Python: Chromium (UI tests), poppler-utils (the printed report),
    # LibreOffice Calc (the CSV exports), shellcheck and systemd (the operations checks). Without
    # them those tests skip with a reason.
    apt_install chromium poppler-utils libreoffice-calc-nogui shellcheck systemd \
        || log "the test tools (Chromium, poppler-utils, LibreOffice Calc, shellcheck, systemd) could not all be installed (no root?): those tests will skip"
    log "verifying the models"
    local rc=0
    .venv/bin/jumpkiosk models --verify || rc=$?
    [ "$rc" -eq 0 ] || die "the models do not verify: jumpkiosk models --verify $(exit_status "$rc")"
    log "done: run the tests with .venv/bin/python -m pytest, the demo with .venv/bin/jumpkiosk demo"
}

# --- station: install / update / rollback on Raspberry Pi OS ------------------------------------
# Every path hangs off $JUMPKIOSK_ROOT and every system command is called by name through PATH,
# so the tests run these steps in a fake root with recording fakes of apt-get, systemctl, ...

ROOT="${JUMPKIOSK_ROOT:-}"
OPT_DIR="$ROOT/opt/jumpkiosk"
RELEASES="$OPT_DIR/releases"
CURRENT="$OPT_DIR/current"
PREVIOUS="$OPT_DIR/previous"
ETC_DIR="$ROOT/etc/jumpkiosk"
CONFIG_FILE="$ETC_DIR/station.toml"
STATE_DIR="$ROOT/var/lib/jumpkiosk"
BACKUP_DIR="$STATE_DIR/backups"
UNIT_DIR="$ROOT/etc/systemd/system"
SETUP_LOG="${JUMPKIOSK_LOG:-$ROOT/var/log/jumpkiosk-setup.log}"
SERVICE_USER=jumpkiosk
SERVICE=jumpkiosk.service
TIMER=jumpkiosk-nightly.timer
UNITS=(jumpkiosk.service jumpkiosk-nightly.service jumpkiosk-nightly.timer)
DB_NAME=jumpkiosk.sqlite3
STATION_PYTHON="${JUMPKIOSK_PYTHON:-python3}"
HEALTH_TIMEOUT="${JUMPKIOSK_HEALTH_TIMEOUT:-90}"
HEALTH_INTERVAL="${JUMPKIOSK_HEALTH_INTERVAL:-2}"
KEEP_RELEASES="${JUMPKIOSK_KEEP_RELEASES:-3}"
KEEP_BACKUPS="${JUMPKIOSK_KEEP_BACKUPS:-10}"
# Test hook: a command run as `CMD SRC_DIR RELEASE_DIR` instead of venv + pip install.
BUILD_CMD="${JUMPKIOSK_BUILD_CMD:-}"
CHECK=0       # 1: --check, report only
CHANGED=0     # something the running service reads changed: restart it

step() { log "== $*"; }
ok() { log "   ok: $*"; }
warn() { log "   warning: $*"; }

# act DESCRIPTION CMD...: run CMD, or in --check mode only say what would run.
act() {
    local what="$1"; shift
    if [ "$CHECK" -eq 1 ]; then log "   would: $what"; return 0; fi
    log "   $what"
    "$@"
}

# Wrappers for the system commands (a test's fakes come first on PATH).
sys_apt_get() { env DEBIAN_FRONTEND=noninteractive apt-get "$@"; }
sys_systemctl() { systemctl "$@"; }
sys_curl() { curl "$@"; }
as_service_user() {
    # Runs a jumpkiosk command as the service user with the service's environment.
    runuser -u "$SERVICE_USER" -- env JUMPKIOSK_CONFIG="$CONFIG_FILE" STATE_DIRECTORY="$STATE_DIR" \
        JUMPKIOSK_MODELS="$CURRENT/src/models" HOME="$STATE_DIR" "$@"
}

require_root() {
    # A fake root (tests) needs no root; the real one does.
    if [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
        die "the station set-up changes the system: run it as root (sudo ./setup.sh ${1:-install})"
    fi
}

start_log() {
    mkdir -p "$(dirname "$SETUP_LOG")"
    exec > >(tee -a "$SETUP_LOG") 2> >(tee -a "$SETUP_LOG" >&2)
    log "---- $(date '+%F %T') setup.sh $* (from $here)"
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
# grep reads to the end (no -q): quitting at the match would kill apt-cache with SIGPIPE while it
# still prints the version table, and pipefail would make that "no candidate".
pkg_available() { apt-cache policy "$1" 2>/dev/null | grep 'Candidate: [^(]' >/dev/null; }
user_exists() { getent passwd "$1" >/dev/null 2>&1; }
group_exists() { getent group "$1" >/dev/null 2>&1; }
in_group() {
    # getent group prints name:x:gid:member,member
    local members; members="$(getent group "$1" | cut -d: -f4)"
    case ",$members," in *",$2,"*) return 0 ;; *) return 1 ;; esac
}

# --- steps ---------------------------------------------------------------------------------------

check_os() {
    step "operating system"
    local codename=""
    if [ -r "$ROOT/etc/os-release" ]; then
        codename="$(sed -n 's/^VERSION_CODENAME=["]\{0,1\}\([a-z]*\).*/\1/p' "$ROOT/etc/os-release")"
    fi
    case "$codename" in
        bookworm|trixie) ok "Debian/Raspberry Pi OS $codename" ;;
        "") warn "cannot tell the OS release; continuing as if Raspberry Pi OS" ;;
        *) warn "tested on Raspberry Pi OS Bookworm and Trixie, this is '$codename'; continuing" ;;
    esac
}

# The Raspberry Pi archive's packages: the Pi camera and the GPIO mat need them, a plain Debian
# box (USB camera, no GPIO) runs without them (docs/OPERATIONS.md, "Plain Debian").
PI_PACKAGES=(python3-picamera2 python3-lgpio)

apt_packages() {
    step "Debian packages"
    local want=(python3-venv python3-pip sqlite3 curl ca-certificates "${PI_PACKAGES[@]}")
    local missing=() install=() absent=() pi_absent=() pkg browser=""
    for pkg in "${want[@]}"; do pkg_installed "$pkg" || missing+=("$pkg"); done
    # The browser package is 'chromium' on current images, 'chromium-browser' on older ones.
    if pkg_installed chromium || pkg_installed chromium-browser; then
        ok "Chromium installed"
    else
        browser=pick
    fi
    if [ "${#missing[@]}" -eq 0 ] && [ -z "$browser" ]; then ok "all present: ${want[*]}"; return 0; fi
    act "apt-get update" sys_apt_get update -q || warn "apt-get update failed; using the package lists as they are"
    if [ "$CHECK" -eq 1 ] && ! compgen -G "$ROOT/var/lib/apt/lists/*Packages*" >/dev/null; then
        warn "apt's package lists are empty (apt-get update never ran here): the candidates below are not known yet"
    fi
    # Only packages apt can install are asked for: one that no configured source has would make
    # apt-get refuse the whole list, Chromium included.
    for pkg in "${missing[@]}"; do
        if pkg_available "$pkg"; then install+=("$pkg")
        elif [[ " ${PI_PACKAGES[*]} " == *" $pkg "* ]]; then pi_absent+=("$pkg")
        else absent+=("$pkg")
        fi
    done
    if [ -n "$browser" ]; then
        if pkg_available chromium; then install+=(chromium)
        elif pkg_available chromium-browser; then install+=(chromium-browser)
        else warn "no install candidate for chromium or chromium-browser: the kiosk browser will not start by itself"
        fi
    fi
    if [ "${#absent[@]}" -gt 0 ]; then
        local why="no install candidate for ${absent[*]} in the configured apt sources (apt-cache policy ${absent[0]}); the station needs them"
        [ "$CHECK" -eq 1 ] || die "$why"
        warn "$why: the install would stop here"
    fi
    if [ "${#pi_absent[@]}" -gt 0 ]; then
        warn "no install candidate for ${pi_absent[*]}: not Raspberry Pi OS, or the Raspberry Pi archive is not configured"
        warn "going on without them: no Pi camera (picamera2), no GPIO mat (lgpio); a USB camera (V4L2) works (docs/OPERATIONS.md, Plain Debian)"
    fi
    [ "${#install[@]}" -gt 0 ] || return 0
    act "apt-get install ${install[*]}" sys_apt_get install -y -q --no-install-recommends "${install[@]}" \
        || die "apt-get install ${install[*]} failed (see $SETUP_LOG)"
}

service_user() {
    step "service user '$SERVICE_USER'"
    if user_exists "$SERVICE_USER"; then
        ok "user exists"
    else
        act "useradd --system $SERVICE_USER" useradd --system --user-group --home-dir /var/lib/jumpkiosk \
            --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER" || die "useradd $SERVICE_USER failed"
    fi
    local g
    for g in video gpio render; do
        if ! group_exists "$g"; then
            warn "group '$g' does not exist on this system (not a Raspberry Pi?); skipped"
        elif in_group "$g" "$SERVICE_USER"; then
            ok "in group $g"
        else
            act "usermod -aG $g $SERVICE_USER" usermod -aG "$g" "$SERVICE_USER" || die "usermod -aG $g failed"
        fi
    done
}

directories() {
    step "folders"
    local d
    for d in "$RELEASES" "$ETC_DIR" "$STATE_DIR" "$BACKUP_DIR"; do
        if [ -d "$d" ]; then ok "$d"; else act "mkdir $d" mkdir -p "$d"; fi
    done
    # Config: root writes, the service reads. State: the service owns it (systemd would too).
    act "owner/mode of $ETC_DIR (root:$SERVICE_USER 0750)" set_owner root "$SERVICE_USER" 0750 "$ETC_DIR"
    act "owner/mode of $STATE_DIR ($SERVICE_USER 0750)" set_owner "$SERVICE_USER" "$SERVICE_USER" 0750 "$STATE_DIR" "$BACKUP_DIR"
}

set_owner() {
    local user="$1" group="$2" mode="$3"; shift 3
    chown "$user:$group" "$@" && chmod "$mode" "$@"
}

source_version() {
    # __version__ from a source tree, without importing it.
    sed -n 's/^__version__ = "\(.*\)"$/\1/p' "$1/kiosk/__init__.py" | head -n 1
}

export_source() {
    # export_source REF DEST: the tree at git REF, or (empty REF) this working tree without
    # local clutter (venvs, caches, instance data).
    local ref="$1" dest="$2"
    mkdir -p "$dest"
    if [ -n "$ref" ]; then
        git -C "$here" rev-parse --verify -q "$ref^{commit}" >/dev/null || die "'$ref' is not a commit in $here"
        git -C "$here" archive --format=tar "$ref" | tar -x -C "$dest"
    else
        tar -C "$here" --exclude=./.git --exclude=./.venv --exclude=./instance --exclude=./var \
            --exclude=./test-artifacts --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
            --exclude=.ruff_cache --exclude=./build --exclude=./dist -cf - . | tar -x -C "$dest"
    fi
}

# build_release REF: builds /opt/jumpkiosk/releases/<version>-<gitid>-<timestamp> and prints its
# name on fd 3. A release is only used once it holds a .complete marker: a build cut off by a
# power loss is never switched to, and the next run removes it.
build_release() {
    local ref="$1" gitid="" version name dest py
    if [ -n "$ref" ]; then
        gitid="$(git -C "$here" rev-parse --short "$ref^{commit}" 2>/dev/null)" || die "'$ref' is not a commit in $here"
    elif git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
        gitid="$(git -C "$here" describe --always --dirty 2>/dev/null || true)"
    fi
    local src_tmp; src_tmp="$(mktemp -d)"
    export_source "$ref" "$src_tmp"
    version="$(source_version "$src_tmp")"
    [ -n "$version" ] || die "no __version__ in kiosk/__init__.py of ${ref:-this tree}"
    name="$version${gitid:+-$gitid}-$(date +%Y%m%d-%H%M%S)"
    dest="$RELEASES/$name"
    [ -e "$dest" ] && die "$dest exists already"
    mkdir -p "$dest"
    mv "$src_tmp" "$dest/src"
    chmod 0755 "$dest" "$dest/src"
    log "   building release $name in $dest"
    if [ -n "$BUILD_CMD" ]; then
        $BUILD_CMD "$dest/src" "$dest" || { rm -rf "$dest"; die "build of $name failed"; }
    else
        py="$(station_python)"
        # The venv sees apt's picamera2 and lgpio (system site packages); pip keeps apt's numpy
        # where it is new enough, which picamera2's compiled parts need.
        if ! "$py" -m venv --system-site-packages "$dest/.venv" \
            || ! "$dest/.venv/bin/python" -m pip install -q --disable-pip-version-check "$dest/src"; then
            rm -rf "$dest"; die "build of $name failed (see $SETUP_LOG)"
        fi
    fi
    if ! "$dest/.venv/bin/jumpkiosk" --version >/dev/null; then
        rm -rf "$dest"; die "the new release $name does not run (jumpkiosk --version failed)"
    fi
    local rc=0
    JUMPKIOSK_MODELS="$dest/src/models" "$dest/.venv/bin/jumpkiosk" models --verify || rc=$?
    if [ "$rc" -ne 0 ]; then
        rm -rf "$dest"; die "the models of release $name do not verify: jumpkiosk models --verify $(exit_status "$rc")"
    fi
    touch "$dest/.complete"
    printf '%s\n' "$name" >&3
}

station_python() {
    command -v "$STATION_PYTHON" >/dev/null 2>&1 || die "$STATION_PYTHON not found"
    "$STATION_PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$STATION_PYTHON is older than 3.11 (Raspberry Pi OS Bookworm or newer has 3.11+)"
    echo "$STATION_PYTHON"
}

current_release() { [ -L "$CURRENT" ] && basename "$(readlink "$CURRENT")"; }
previous_release() { [ -L "$PREVIOUS" ] && basename "$(readlink "$PREVIOUS")"; }

# point LINK NAME: atomically make LINK -> releases/NAME (rename(2) over the old link).
point() {
    local link="$1" name="$2"
    [ -f "$RELEASES/$name/.complete" ] || die "release $name is missing or incomplete"
    ln -sfn "releases/$name" "$link.new"
    mv -T "$link.new" "$link"
}

release() {
    step "release in $OPT_DIR"
    local cur; cur="$(current_release || true)"
    if [ -n "$cur" ] && [ -f "$RELEASES/$cur/.complete" ]; then
        ok "installed: $cur (a new version comes with 'setup.sh update')"
        return 0
    fi
    if [ "$CHECK" -eq 1 ]; then log "   would: build a release from this tree and point $CURRENT at it"; return 0; fi
    local name
    name="$(build_release "" 3>&1 >&2)"
    point "$CURRENT" "$name"
    CHANGED=1
    ok "current -> releases/$name"
}

station_hardware() {
    # "camera=SOURCE mat=KIND" for a new config: the Pi camera and the GPIO mat where the Raspberry
    # Pi archive's picamera2/lgpio are installed; else a USB camera (V4L2) and events from the
    # video alone (plain Debian: no GPIO header to wire a mat to).
    local camera=v4l2 mat=none
    { pkg_installed python3-picamera2 || pkg_available python3-picamera2; } && camera=picamera2
    { pkg_installed python3-lgpio || pkg_available python3-lgpio; } && mat=gpio
    printf 'camera=%s mat=%s' "$camera" "$mat"
}

config_file() {
    step "config $CONFIG_FILE"
    if [ -f "$CONFIG_FILE" ]; then
        ok "present (kept as it is)"
    elif [ "$CHECK" -eq 1 ]; then
        log "   would: write it with a new random [web] secret_key ($(station_hardware))"
    else
        log "   writing it with a new random [web] secret_key ($(station_hardware))"
        local secret tmp camera mat
        secret="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
        [ "${#secret}" -eq 64 ] || die "cannot make a secret key"
        read -r camera mat <<<"$(station_hardware)"
        camera="${camera#camera=}"; mat="${mat#mat=}"
        tmp="$(mktemp "$ETC_DIR/.station.toml.XXXXXX")"
        cat >"$tmp" <<TOML
# Station config, written by setup.sh on $(date +%F). Only what differs from the defaults is here;
# every key with its default and meaning: jumpkiosk config --defaults (docs/CONFIG.md).
# After editing: sudo systemctl restart jumpkiosk

[station]
state_dir = "${STATE_DIR}"

[camera]
source = "$camera"

[mat]
kind = "$mat"

[web]
host = "127.0.0.1"
port = 8080
secret_key = "$secret"
TOML
        set_owner root "$SERVICE_USER" 0640 "$tmp"
        mv -f "$tmp" "$CONFIG_FILE"
        CHANGED=1
    fi
    if [ "$CHECK" -eq 0 ]; then
        # The secret must stay private whatever an admin did to the file.
        set_owner root "$SERVICE_USER" 0640 "$CONFIG_FILE"
        as_service_user "$CURRENT/.venv/bin/jumpkiosk" --config "$CONFIG_FILE" config \
            || die "$CONFIG_FILE is not valid (the line is named above); fix it and run setup.sh again"
    fi
}

# tls_cert: the station's HTTPS certificate for coaches on the LAN, made once (kept when present).
tls_cert() {
    step "HTTPS certificate"
    act "jumpkiosk tls-cert (as $SERVICE_USER; its fingerprint is shown on the station and by doctor)" \
        as_service_user "$CURRENT/.venv/bin/jumpkiosk" tls-cert || die "jumpkiosk tls-cert failed (is openssl installed?)"
}

migrate() {
    step "database migration"
    act "jumpkiosk migrate (as $SERVICE_USER, state in $STATE_DIR)" \
        as_service_user "$CURRENT/.venv/bin/jumpkiosk" migrate || die "jumpkiosk migrate failed"
}

# install_units: copies the current release's units into /etc/systemd/system when they differ.
install_units() {
    step "systemd units"
    local unit src changed=0
    for unit in "${UNITS[@]}"; do
        src="$CURRENT/src/systemd/$unit"
        if [ "$CHECK" -eq 1 ] && [ ! -f "$src" ]; then src="$here/systemd/$unit"; fi
        if [ -f "$UNIT_DIR/$unit" ] && cmp -s "$src" "$UNIT_DIR/$unit"; then
            ok "$unit up to date"
        else
            act "install $unit" install -D -m 0644 "$src" "$UNIT_DIR/$unit"
            changed=1
        fi
    done
    if [ "$changed" -eq 1 ]; then
        act "systemctl daemon-reload" sys_systemctl daemon-reload
        CHANGED=1
    fi
    for unit in "$SERVICE" "$TIMER"; do
        if sys_systemctl is-enabled --quiet "$unit" 2>/dev/null; then
            ok "$unit enabled"
        else
            act "systemctl enable $unit" sys_systemctl enable "$unit"
        fi
    done
}

# --- kiosk browser -------------------------------------------------------------------------------
MARK_BEGIN="# >>> jumpkiosk kiosk browser (managed by setup.sh; this block is replaced on re-runs) >>>"
MARK_END="# <<< jumpkiosk kiosk browser <<<"

desktop_user() {
    # The user whose labwc session shows the kiosk: $JUMPKIOSK_DESKTOP_USER, the sudo caller,
    # else the first normal user (uid 1000, 'pi' or the one made at first boot).
    local u="${JUMPKIOSK_DESKTOP_USER:-${SUDO_USER:-}}"
    # An image prepared by root only has no uid 1000: no user then, not a failure.
    if [ -z "$u" ] || [ "$u" = root ]; then u="$(getent passwd 1000 | cut -d: -f1 || true)"; fi
    printf '%s' "$u"
}

autostart_block() {
    local url="$1"
    printf '%s\n' "$MARK_BEGIN"
    grep -v '^#' "$2" | sed "s#@URL@#$url#g"
    printf '%s\n' "$MARK_END"
}

# write_autostart FILE BLOCK_FILE: FILE without any old block, plus the new block at the end.
write_autostart() {
    local file="$1" block="$2" tmp
    tmp="$(mktemp "$(dirname "$file")/.autostart.XXXXXX")"
    if [ -f "$file" ]; then
        awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0==b{skip=1; next} $0==e{skip=0; next} !skip' "$file" >"$tmp"
    fi
    cat "$block" >>"$tmp"
    mv -f "$tmp" "$file"
}

kiosk_browser() {
    step "kiosk browser (labwc autostart)"
    local user home file url snippet block
    user="$(desktop_user)"
    if [ -z "$user" ] || ! user_exists "$user"; then
        warn "no desktop user found (set JUMPKIOSK_DESKTOP_USER); the browser will not start by itself"
        return 0
    fi
    command -v labwc >/dev/null 2>&1 || pkg_installed labwc \
        || warn "labwc is not installed: this looks like a Lite image; the autostart is written for when a desktop is added"
    home="$ROOT$(getent passwd "$user" | cut -d: -f6)"
    file="$home/.config/labwc/autostart"
    url="http://$(web_address)/"
    snippet="$CURRENT/src/systemd/labwc-autostart"
    [ -f "$snippet" ] || snippet="$here/systemd/labwc-autostart"
    block="$(mktemp)"
    autostart_block "$url" "$snippet" >"$block"
    if [ -f "$file" ] && awk -v b="$MARK_BEGIN" -v e="$MARK_END" '$0==b{p=1} p{print} $0==e{p=0}' "$file" | cmp -s - "$block"; then
        ok "$file starts the browser on $url"
    elif [ "$CHECK" -eq 1 ]; then
        log "   would: add the browser block to $file (for $user, on $url)"
    else
        log "   writing the browser block into $file (for $user, on $url)"
        mkdir -p "$(dirname "$file")"
        write_autostart "$file" "$block"
        chown "$user:" "$file" "$(dirname "$file")"
    fi
    rm -f "$block"
    if command -v raspi-config >/dev/null 2>&1; then
        # nonint: 1 means "no": screen blanking off. B4: desktop, logged in automatically.
        act "raspi-config: screen blanking off" raspi-config nonint do_blanking 1 || warn "raspi-config do_blanking failed"
        act "raspi-config: boot to the desktop, logged in" raspi-config nonint do_boot_behaviour B4 \
            || warn "raspi-config do_boot_behaviour failed"
    else
        warn "raspi-config not found: turn screen blanking off and desktop auto-login on by hand"
    fi
}

# --- health, backups ----------------------------------------------------------------------------

web_address() {
    # host:port the station listens on, from the config ([web] host/port), as the browser and
    # the health check reach it locally.
    local hp="127.0.0.1:8080"
    if [ -r "$CONFIG_FILE" ]; then
        hp="$("$STATION_PYTHON" - "$CONFIG_FILE" <<'PY' 2>/dev/null || echo 127.0.0.1:8080
import sys, tomllib
web = tomllib.load(open(sys.argv[1], "rb")).get("web", {})
host = web.get("host", "127.0.0.1")
host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(host, host)
print(f"{host}:{web.get('port', 8080)}")
PY
)"
    fi
    printf '%s' "$hp"
}

# healthy VERSION: waits up to $HEALTH_TIMEOUT s for GET /healthz to say ok (and VERSION, if
# given). Where the endpoint is missing (404) or curl is absent, the unit being active counts.
healthy() {
    local expect="$1" url body code deadline verdict
    url="http://$(web_address)/healthz"
    deadline=$(( $(date +%s) + HEALTH_TIMEOUT ))
    body="$(mktemp)"
    while [ "$(date +%s)" -le "$deadline" ]; do
        if sys_systemctl is-failed --quiet "$SERVICE"; then
            log "   $SERVICE failed while starting"; rm -f "$body"; return 1
        fi
        if command -v curl >/dev/null 2>&1; then
            code="$(sys_curl -s -o "$body" -w '%{http_code}' --max-time 3 "$url" || true)"
            # 200 "ok" is healthy. 503 "fault" is a running station that reports a hardware fault
            # (camera unplugged, mat stuck): rolling back cannot fix a cable, so it counts as up,
            # with a warning. Anything else (503 "error", no answer) is not healthy.
            if [ "$code" = 200 ] || [ "$code" = 503 ]; then
                verdict="$("$STATION_PYTHON" - "$body" "$expect" <<'PY' || true
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except ValueError:
    data = {}
version_ok = not sys.argv[2] or "version" not in data or data["version"] == sys.argv[2]
if data.get("status") == "ok" and version_ok:
    print("ok")
elif data.get("status") == "fault" and version_ok:
    print("fault " + str(data.get("fault", "")))
PY
)"
                case "$verdict" in
                    ok) log "   healthy: $url says $(tr -d '\n' <"$body")"; rm -f "$body"; return 0 ;;
                    fault*) log "   up, but the station reports a hardware fault (${verdict#fault }): check the camera and mat"
                            rm -f "$body"; return 0 ;;
                esac
            fi
            if [ "$code" = 404 ] && sys_systemctl is-active --quiet "$SERVICE"; then
                log "   healthy: $SERVICE is active ($url is not there)"; rm -f "$body"; return 0
            fi
        elif sys_systemctl is-active --quiet "$SERVICE"; then
            log "   healthy: $SERVICE is active (no curl to ask $url)"; rm -f "$body"; return 0
        fi
        sleep "$HEALTH_INTERVAL"
    done
    log "   not healthy within ${HEALTH_TIMEOUT}s: $url last answered '${code:-nothing}'"
    rm -f "$body"
    return 1
}

# backup_db LABEL: a consistent copy of the results database (SQLite's online backup API, safe
# while it is open) into $BACKUP_DIR/<timestamp>-LABEL/; prints that folder on fd 3.
backup_db() {
    local label="$1" dir
    dir="$BACKUP_DIR/$(date +%Y%m%d-%H%M%S)-$label"
    mkdir -p "$dir"
    if [ -f "$STATE_DIR/$DB_NAME" ]; then
        "$STATION_PYTHON" - "$STATE_DIR/$DB_NAME" "$dir/$DB_NAME" <<'PY' || die "database backup failed; nothing was changed"
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
with dst:
    src.backup(dst)
ok = dst.execute("PRAGMA integrity_check").fetchone()[0]
dst.close(); src.close()
sys.exit(ok != "ok")
PY
        log "   database backed up to $dir/$DB_NAME"
    else
        log "   no database yet; nothing to back up"
        : >"$dir/NO_DATABASE"
    fi
    set_owner "$SERVICE_USER" "$SERVICE_USER" 0750 "$dir"
    printf '%s\n' "$dir" >&3
}

# restore_db DIR: puts the backup in DIR back (the service must be stopped). Written through
# SQLite's backup API into the live file, so its WAL stays consistent; a database the failed
# version created from nothing is moved into DIR rather than deleted.
restore_db() {
    local dir="$1" db="$STATE_DIR/$DB_NAME"
    if [ -f "$dir/$DB_NAME" ]; then
        "$STATION_PYTHON" - "$dir/$DB_NAME" "$db" <<'PY' || die "restoring $dir/$DB_NAME failed: copy it over $STATE_DIR/$DB_NAME by hand"
import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.execute("PRAGMA wal_checkpoint(TRUNCATE)")
dst.close(); src.close()
PY
        log "   database restored from $dir"
    elif [ -f "$dir/NO_DATABASE" ] && [ -f "$db" ]; then
        mv "$db" "$dir/$DB_NAME.from-failed-update"
        rm -f "$db-wal" "$db-shm"
        log "   database made by the failed version moved to $dir"
    fi
}

prune() {
    # Keeps current, previous and the newest $KEEP_RELEASES releases; the newest backups.
    local cur prev name n=0
    cur="$(current_release || true)"; prev="$(previous_release || true)"
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        [ "$name" = "$cur" ] || [ "$name" = "$prev" ] && continue
        n=$((n + 1))
        if [ ! -f "$RELEASES/$name/.complete" ] || [ "$n" -gt "$KEEP_RELEASES" ]; then
            log "   removing old release $name"; rm -rf "${RELEASES:?}/$name"
        fi
    done < <(ls -1t "$RELEASES" 2>/dev/null)
    n=0
    while IFS= read -r name; do
        [ -n "$name" ] || continue
        n=$((n + 1))
        if [ "$n" -gt "$KEEP_BACKUPS" ]; then log "   removing old backup $name"; rm -rf "${BACKUP_DIR:?}/$name"; fi
    done < <(ls -1t "$BACKUP_DIR" 2>/dev/null)
}

start_service() {
    step "start"
    if [ "$CHANGED" -eq 1 ] || ! sys_systemctl is-active --quiet "$SERVICE"; then
        act "systemctl restart $SERVICE" sys_systemctl restart "$SERVICE" || warn "$SERVICE did not start"
    else
        ok "$SERVICE running, nothing changed"
    fi
    act "systemctl start $TIMER" sys_systemctl start "$TIMER" || warn "$TIMER did not start"
    if [ "$CHECK" -eq 0 ]; then
        healthy "" || warn "the station is not answering yet: journalctl -u jumpkiosk"
    fi
}

doctor() {
    step "jumpkiosk doctor"
    if [ "$CHECK" -eq 1 ]; then log "   would: run jumpkiosk doctor"; return 0; fi
    if as_service_user "$CURRENT/.venv/bin/jumpkiosk" doctor; then
        ok "doctor found no problem"
    else
        warn "doctor reported problems (above); expected without a camera or mat connected"
    fi
}

# --- modes ---------------------------------------------------------------------------------------

station_install() {
    require_root install
    [ "$CHECK" -eq 1 ] || start_log install
    [ "$CHECK" -eq 0 ] || log "dry run: nothing is changed"
    check_os
    apt_packages
    service_user
    directories
    release
    config_file
    migrate
    tls_cert
    install_units
    kiosk_browser
    start_service
    doctor
    if [ "$CHECK" -eq 1 ]; then log "dry run done"; else log "installed: $(current_release); log in $SETUP_LOG"; fi
}

station_build() {
    require_root build
    start_log build "$@"
    mkdir -p "$RELEASES"
    local name; name="$(build_release "${1:-}" 3>&1 >&2)"
    log "built $RELEASES/$name (not switched to)"
}

station_update() {
    require_root update
    start_log update "$@"
    local ref="${1:-}" old new backup want migrated=0
    old="$(current_release || true)"
    [ -n "$old" ] || die "no station installed here; run 'sudo ./setup.sh' first"
    step "build ${ref:-this tree} beside $old"
    new="$(build_release "$ref" 3>&1 >&2)"
    want="$(source_version "$RELEASES/$new/src")"

    step "switch $old -> $new"
    sys_systemctl stop "$SERVICE" || warn "stopping $SERVICE failed"
    backup="$(backup_db "pre-$new" 3>&1 >&2)"
    if ! runuser -u "$SERVICE_USER" -- env JUMPKIOSK_CONFIG="$CONFIG_FILE" STATE_DIRECTORY="$STATE_DIR" \
            JUMPKIOSK_MODELS="$RELEASES/$new/src/models" HOME="$STATE_DIR" "$RELEASES/$new/.venv/bin/jumpkiosk" migrate; then
        log "   migration failed: keeping $old"
        restore_db "$backup"
        sys_systemctl start "$SERVICE" || true
        die "update to $new failed at the migration; $old is running with the database as it was"
    fi
    migrated=1
    point "$PREVIOUS" "$old"
    point "$CURRENT" "$new"
    CHANGED=1
    install_units
    sys_systemctl start "$SERVICE" || true

    step "health check (up to ${HEALTH_TIMEOUT}s)"
    if healthy "$want"; then
        step "tidy up"
        prune
        log "updated: $old -> $new; database backup in $backup"
        return 0
    fi

    step "rolling back to $old"
    sys_systemctl stop "$SERVICE" || true
    point "$CURRENT" "$old"
    rm -f "$PREVIOUS"
    [ "$migrated" -eq 1 ] && restore_db "$backup"
    install_units
    sys_systemctl reset-failed "$SERVICE" || true
    sys_systemctl start "$SERVICE" || true
    if healthy ""; then
        die "update to $new failed its health check; rolled back to $old (healthy). Failed build kept in $RELEASES/$new; see journalctl -u jumpkiosk"
    fi
    die "update to $new failed and $old is not healthy either; see journalctl -u jumpkiosk and docs/OPERATIONS.md"
}

station_rollback() {
    require_root rollback
    start_log rollback "$@"
    local restore=0 cur prev backup
    case "${1:-}" in
        --restore-db) restore=1 ;;
        "") ;;
        *) die "unknown rollback option '$1' (only --restore-db)" ;;
    esac
    cur="$(current_release || true)"; prev="$(previous_release || true)"
    [ -n "$prev" ] || die "no previous release to roll back to (only one installed)"
    step "roll back $cur -> $prev"
    sys_systemctl stop "$SERVICE" || warn "stopping $SERVICE failed"
    backup="$(backup_db "pre-rollback-$prev" 3>&1 >&2)"
    if [ "$restore" -eq 1 ]; then
        # The backup taken when $cur was installed: the database as $prev left it.
        local before
        # shellcheck disable=SC2012  # our own timestamped names: no odd characters
        before="$(ls -1dt "$BACKUP_DIR"/*-pre-"$cur" 2>/dev/null | head -n 1)"
        [ -n "$before" ] || die "no backup from before $cur was installed; nothing restored (the service is stopped)"
        restore_db "$before"
    fi
    point "$CURRENT" "$prev"
    point "$PREVIOUS" "$cur"
    CHANGED=1
    install_units
    sys_systemctl reset-failed "$SERVICE" || true
    sys_systemctl start "$SERVICE" || true
    step "health check (up to ${HEALTH_TIMEOUT}s)"
    healthy "" || die "$prev does not answer after the rollback; if its database schema is older, run: sudo ./setup.sh rollback --restore-db (see docs/OPERATIONS.md)"
    log "rolled back: $cur -> $prev; the database before the rollback is in $backup"
}

usage() { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; }

case "${1:-}" in
    --dev) dev ;;
    ""|install) station_install ;;
    --check) CHECK=1; station_install ;;
    update) shift; station_update "$@" ;;
    rollback) shift; station_rollback "$@" ;;
    build) shift; station_build "$@" ;;
    -h|--help) usage ;;
    *) die "unknown option '$1' (see --help)" ;;
esac
