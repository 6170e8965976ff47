#!/usr/bin/env bash
# The kiosk on 64-bit Arm, emulated: builds (or reuses) a Debian arm64 root per release with
# debootstrap and qemu-user-static (binfmt_misc), copies this checkout in and runs the install
# and a smoke test in it, one line per step. See tools/arm64_check/README.md.
#
#   sudo tools/arm64_check/run.sh [RELEASE...]      RELEASE: bookworm, trixie (default: both)
#
# Environment: ARM64_CHECK_CACHE (default /var/tmp/jumpkiosk-arm64) holds the roots, the pip
# cache and the logs; ARM64_CHECK_MIRROR overrides the Debian mirror read from this machine's
# apt sources; ARM64_CHECK_DATA is the reference data folder (default: ../shared/data beside the
# checkout; without it the tests that need it skip). Exit status: the number of failed steps.
set -euo pipefail
shopt -s inherit_errexit

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${ARM64_CHECK_CACHE:-/var/tmp/jumpkiosk-arm64}"
DATA="${ARM64_CHECK_DATA:-$repo/../shared/data}"
# What a Raspberry Pi OS Lite image has and setup.sh relies on; nothing of the kiosk's own.
BASE_PACKAGES=python3,python3-venv,python3-pip,ca-certificates,curl,sqlite3,git,procps
BASE_VERSION=1  # bump when BASE_PACKAGES changes, so cached roots are rebuilt
# A developer account that is not uid 1000: the station steps then run on an image without the
# first-boot user, as on an image prepared by root only.
DEV_UID=1500
# Tests that need no browser and finish in minutes under emulation: the models in the runtime,
# the crash report, config, geometry. (Real inference runs in the analyze and digest steps, and
# setup.sh's plain-Debian path for real in the setup.sh steps.)
TESTS=(tests/test_pose_models.py tests/test_pose_runtime_crash.py tests/test_config.py tests/test_geometry.py)
DIGEST_EVERY=4  # keypoints of every 4th frame in the digest: inference is slow under emulation

say() { printf '[arm64] %s\n' "$*"; }
die() { printf '[arm64] error: %s\n' "$*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, chroot and mounts need it): sudo $0 $*"
command -v apt-get >/dev/null 2>&1 || die "this needs a Debian (or Debian-based) machine"

host_tools() {
    local need=()
    command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
    [ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
    command -v update-binfmts >/dev/null 2>&1 || need+=(binfmt-support)
    [ "${#need[@]}" -eq 0 ] && return 0
    say "installing on this machine: ${need[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >/dev/null
}

binfmt() {
    # Arm64 binaries run through qemu-aarch64-static by the kernel's binfmt_misc; the Debian
    # entry has the F flag, so the interpreter need not be inside the root.
    local dir=/proc/sys/fs/binfmt_misc
    if [ ! -e "$dir/register" ]; then
        mount -t binfmt_misc binfmt_misc "$dir" \
            || die "cannot mount binfmt_misc at $dir (a container without that right?): arm64 binaries cannot run here"
    fi
    if [ ! -e "$dir/qemu-aarch64" ]; then
        update-binfmts --enable qemu-aarch64 || die "cannot register qemu-aarch64 with binfmt_misc"
    fi
    grep -qx enabled "$dir/qemu-aarch64" || die "binfmt_misc entry qemu-aarch64 is disabled"
}

host_mirror() {
    # The Debian mirror this machine's apt uses: the URI of the first source for the host's own
    # release suite (one-line .list and deb822 .sources formats).
    local codename f
    codename="$(sed -n 's/^VERSION_CODENAME=["]\{0,1\}\([a-z]*\).*/\1/p' /etc/os-release)"
    {
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [ -r "$f" ] || continue
            awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } print $i, $(i + 1) }' "$f"
        done
        for f in /etc/apt/sources.list.d/*.sources; do
            [ -r "$f" ] || continue
            awk 'BEGIN { RS = ""; FS = "\n" }
                 { types = uris = suites = ""; enabled = "yes"
                   for (i = 1; i <= NF; i++) {
                       if ($i ~ /^#/) continue
                       split($i, kv, ":[ \t]*"); key = tolower(kv[1]); val = substr($i, length(kv[1]) + 2)
                       sub(/^[ \t]+/, "", val)
                       if (key == "types") types = val; else if (key == "uris") uris = val
                       else if (key == "suites") suites = val; else if (key == "enabled") enabled = tolower(val) }
                   if (enabled == "no" || types !~ /(^| )deb( |$)/) next
                   n = split(uris, u, /[ \t]+/); m = split(suites, s, /[ \t]+/)
                   for (a = 1; a <= n; a++) for (b = 1; b <= m; b++) print u[a], s[b] }' "$f"
        done
    } | awk -v c="$codename" '$2 == c { print $1; exit }'
}

write_cpuinfo() {
    # qemu-user (before 8.1) shows the host's x86 /proc/cpuinfo to arm64 programs; LiteRT's CPU
    # detection (the cpuinfo library) reads it and, finding no Arm processor lines, misdetects
    # the cores and crashes in allocate_tensors. A Raspberry Pi 5's cpuinfo (4 x Cortex-A76) is
    # bound over /proc/cpuinfo inside the root. This is an emulation need only, never the product's.
    local i
    for i in 0 1 2 3; do
        printf 'processor\t: %s\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\n' "$i"
        printf 'CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
    done
    printf 'Revision\t: d04170\nSerial\t\t: 0000000000000000\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n'
}

base_root() {
    # $CACHE/RELEASE/base: debootstrap's minimal root plus BASE_PACKAGES, built once.
    local rel="$1" mirror="$2" dir="$CACHE/$1/base"
    if [ -f "$dir/.arm64-check-base-$BASE_VERSION" ]; then update_lists "$dir"; return 0; fi
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$CACHE/$rel"
    say "$rel: debootstrap --arch=arm64 from $mirror (once; some minutes)"
    debootstrap --arch=arm64 --variant=minbase --include="$BASE_PACKAGES" "$rel" "$dir.tmp" "$mirror" \
        >"$CACHE/$rel/debootstrap.log" 2>&1 || die "debootstrap $rel failed: $CACHE/$rel/debootstrap.log"
    mv "$dir.tmp" "$dir"
    touch "$dir/.arm64-check-base-$BASE_VERSION"
    update_lists "$dir"
}

update_lists() {
    # A day old at most: apt-cache policy answers from them (setup.sh --check's candidates).
    local dir="$1"
    [ -n "$(find "$dir/.arm64-check-lists" -mmin -1440 2>/dev/null)" ] && return 0
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    chroot "$dir" apt-get update -q >"$dir/.arm64-check-lists.log" 2>&1 || die "apt-get update in $dir failed: $dir/.arm64-check-lists.log"
    touch "$dir/.arm64-check-lists"
}

MOUNTED=()
mount_in() {
    # mount_in ROOT: the kernel file systems, the fake cpuinfo, the pip cache and the data.
    local r="$1"
    mount -t proc proc "$r/proc"; MOUNTED+=("$r/proc")
    mount --bind "$CACHE/cpuinfo-arm64" "$r/proc/cpuinfo"; MOUNTED+=("$r/proc/cpuinfo")
    mount -t sysfs sysfs "$r/sys"; MOUNTED+=("$r/sys")
    mount --bind /dev "$r/dev"; MOUNTED+=("$r/dev")
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$r/dev/pts"; MOUNTED+=("$r/dev/pts")
    mount -t tmpfs tmpfs "$r/dev/shm"; MOUNTED+=("$r/dev/shm")
    mkdir -p "$r/var/cache/arm64-check-pip"
    mount --bind "$CACHE/pip-$REL" "$r/var/cache/arm64-check-pip"; MOUNTED+=("$r/var/cache/arm64-check-pip")
    if [ -d "$DATA" ]; then
        mkdir -p "$r/srv/shared/data"
        mount --bind -o ro "$DATA" "$r/srv/shared/data"; MOUNTED+=("$r/srv/shared/data")
    fi
}

unmount_all() {
    local i
    for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do umount -l "${MOUNTED[$i]}" 2>/dev/null || true; done
    MOUNTED=()
}
trap unmount_all EXIT

copy_checkout() {
    # The checkout's HEAD commit (git archive): what is checked is a commit, not work in progress.
    mkdir -p "$1"
    git -C "$repo" archive --format=tar HEAD | tar -x -C "$1"
}

# in_root USER CMD: a login-like shell in the root, in the checkout, as USER (root or dev).
in_root() {
    local user="$1"; shift
    local home=/root; [ "$user" = root ] || home="/home/$user"
    chroot "$RUN" /usr/bin/env -i HOME="$home" USER="$user" LANG=C.UTF-8 TERM=dumb \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        PIP_CACHE_DIR=/var/cache/arm64-check-pip PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_DEFAULT_TIMEOUT=180 \
        PIP_PROGRESS_BAR=off PIP_NO_COMPILE=1 \
        setpriv --reuid="$user" --regid="$user" --init-groups -- bash -c "cd /srv/main && $*"
}

FAILED=0
# step NAME USER CMD: runs CMD in the root, logs its output, prints one line.
step() {
    local name="$1" user="$2" cmd="$3" t0 rc log
    STEP_NO=$((STEP_NO + 1))
    log="$LOGS/$(printf '%02d' "$STEP_NO")-${name// /-}.log"
    t0="$(date +%s.%N)"
    set +e
    in_root "$user" "$cmd" >"$log" 2>&1
    rc=$?
    set -e
    report "$name" "$rc" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')" "$log"
}

# step_host NAME CMD...: like step, but CMD runs on the host (comparisons).
step_host() {
    local name="$1" t0 rc log; shift
    STEP_NO=$((STEP_NO + 1))
    log="$LOGS/$(printf '%02d' "$STEP_NO")-${name// /-}.log"
    t0="$(date +%s)"
    rc=0; "$@" >"$log" 2>&1 || rc=$?
    report "$name" "$rc" "$(( $(date +%s) - t0 ))" "$log"
    sed 's/^/          /' "$log"
}

report() {
    local name="$1" rc="$2" secs="$3" log="$4"
    if [ "$rc" -eq 0 ]; then
        printf '%-8s  %-4s  %5s s  %s\n' "$REL" OK "$secs" "$name"
    else
        printf '%-8s  %-4s  %5s s  %s  (exit %s; %s)\n' "$REL" FAIL "$secs" "$name" "$rc" "$log"
        FAILED=$((FAILED + 1))
    fi
}

check_release() {
    REL="$1"; STEP_NO=0
    local mirror="$2"
    base_root "$REL" "$mirror"
    RUN="$CACHE/$REL/run"
    LOGS="$CACHE/$REL/logs"
    rm -rf "$RUN" "$LOGS"
    mkdir -p "$LOGS" "$CACHE/pip-$REL"
    chmod 0777 "$CACHE/pip-$REL"
    say "$REL: fresh copy of the root, checkout copied to /srv/main (logs: $LOGS)"
    cp -a "$CACHE/$REL/base" "$RUN"
    # The host's CA bundle: it may hold a proxy's CA that pip and curl must trust here too.
    cp /etc/ssl/certs/ca-certificates.crt "$RUN/etc/ssl/certs/ca-certificates.crt"
    cp /etc/resolv.conf "$RUN/etc/resolv.conf"
    chroot "$RUN" groupadd -g "$DEV_UID" dev
    chroot "$RUN" useradd -m -u "$DEV_UID" -g dev -s /bin/bash dev
    copy_checkout "$RUN/srv/main"
    chroot "$RUN" chown -R dev:dev /srv/main
    mount_in "$RUN"
    local arch; arch="$(chroot "$RUN" dpkg --print-architecture)"
    [ "$arch" = arm64 ] || die "the root of $REL is $arch, not arm64"
    say "$REL: $(chroot "$RUN" python3 --version), glibc $(chroot "$RUN" ldd --version | sed -n '1s/.* //p')"

    # The station steps run as root on an image without a uid-1000 user.
    step "setup.sh --check" root "./setup.sh --check"
    step "setup.sh build" root "./setup.sh build"
    step "setup.sh --dev" dev "./setup.sh --dev"
    step "jumpkiosk models --verify" dev ".venv/bin/jumpkiosk models --verify"
    step "simulate a 30 fps clip" dev ".venv/bin/jumpkiosk simulate --out /tmp/clip --seed 3 --fps 30"
    step "analyze the clip" dev ".venv/bin/jumpkiosk analyze /tmp/clip/clip.mp4 --mat /tmp/clip/mat.csv --json >/tmp/clip/result.json && grep -q verdict /tmp/clip/result.json"
    # A Pi's config without a Pi: doctor must say what is missing (FAIL lines, exit 1), not crash.
    step "doctor (Pi config, no Pi)" dev "printf '[camera]\nsource = \"picamera2\"\n[mat]\nkind = \"gpio\"\n' >/tmp/pi.toml; .venv/bin/jumpkiosk --config /tmp/pi.toml doctor --camera-seconds 1 >/tmp/doctor.out 2>&1; rc=\$?; cat /tmp/doctor.out; [ \$rc -le 1 ] && ! grep -q Traceback /tmp/doctor.out"
    local port; port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$RUN/tmp/demo-state"
    cp -a "$CACHE/demo-clips" "$RUN/tmp/demo-state/demo"
    chroot "$RUN" chown -R dev:dev /tmp/demo-state
    step "demo answers /healthz" dev "STATE_DIRECTORY=/tmp/demo-state .venv/bin/jumpkiosk demo --host 127.0.0.1 --port $port >/tmp/demo.log 2>&1 & pid=\$!
        for i in \$(seq 1 600); do
            code=\$(curl -s -o /tmp/healthz -w '%{http_code}' --max-time 5 http://127.0.0.1:$port/healthz || true)
            [ \"\$code\" = 200 ] && break
            kill -0 \$pid 2>/dev/null || break
            sleep 3
        done
        cat /tmp/demo.log; echo; echo \"healthz: \$code \$(cat /tmp/healthz 2>/dev/null)\"
        kill \$pid; wait \$pid; [ \"\$code\" = 200 ]"
    # Same clip, same pixels? The host's digest was made before; see decode_digest.py.
    cp "$DIGEST_CLIP" "$RUN/tmp/digest.mp4"
    step "decode and pose digest" dev ".venv/bin/python tools/arm64_check/decode_digest.py /tmp/digest.mp4 /tmp/digest.json --every $DIGEST_EVERY"
    step_host "same frames as on the host" python3 "$repo/tools/arm64_check/decode_digest.py" --compare \
        "$HOST_DIGEST" "$RUN/tmp/digest.json"
    step "pytest (subset)" dev ".venv/bin/python -m pytest -q -p no:cacheprovider -m 'not slow and not browser' ${TESTS[*]}"
    unmount_all
}

host_prepare() {
    # On the host, with the checkout's own venv (./setup.sh --dev): the reference digest of the
    # clip both sides decode, and the demo's synthetic clips. Rendering those under emulation
    # takes most of an hour; they are data, and the renderer itself runs in the root in the
    # "simulate" step.
    local py="$repo/.venv/bin/python" commit
    [ -x "$py" ] || die "no $repo/.venv: run ./setup.sh --dev in the checkout first"
    commit="$(git -C "$repo" rev-parse --short HEAD)"
    exec 9>"$CACHE/.host-prepare.lock"
    flock 9  # two releases checked at once share these files
    DIGEST_CLIP="$DATA/tfjs-movenet-reference/pose_1.mp4"
    if [ ! -f "$DIGEST_CLIP" ]; then
        DIGEST_CLIP="$CACHE/digest-clip/clip.mp4"
        [ -f "$DIGEST_CLIP" ] || "$py" -m kiosk simulate --out "$CACHE/digest-clip" --seed 3 --fps 30 >/dev/null
    fi
    HOST_DIGEST="$CACHE/host-digest-$commit-$DIGEST_EVERY.json"
    if [ ! -f "$HOST_DIGEST" ]; then
        say "host: decode and pose digest of $DIGEST_CLIP"
        (cd "$repo" && "$py" tools/arm64_check/decode_digest.py "$DIGEST_CLIP" "$HOST_DIGEST.tmp" --every "$DIGEST_EVERY")
        mv "$HOST_DIGEST.tmp" "$HOST_DIGEST"
    fi
    say "host: the demo's clips"
    (cd "$repo" && "$py" -c 'import sys; from kiosk.synth.demo import ensure_demo_clips, ensure_howto_clip; ensure_demo_clips(sys.argv[1]); ensure_howto_clip(sys.argv[1])' "$CACHE/demo-clips")
    flock -u 9
}

host_tools
binfmt
mirror="${ARM64_CHECK_MIRROR:-$(host_mirror)}"
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list*; set ARM64_CHECK_MIRROR"
mkdir -p "$CACHE"
write_cpuinfo >"$CACHE/cpuinfo-arm64"
releases=("$@")
[ "${#releases[@]}" -gt 0 ] || releases=(bookworm trixie)
for rel in "${releases[@]}"; do
    case "$rel" in bookworm|trixie) ;; *) die "unknown release '$rel' (bookworm or trixie)" ;; esac
done
say "commit $(git -C "$repo" rev-parse --short HEAD) of $repo, mirror $mirror"
host_prepare
for rel in "${releases[@]}"; do check_release "$rel" "$mirror"; done
say "$FAILED step(s) failed"
exit "$FAILED"
