# Shared helpers for image/build.sh, image/vm-test.sh and image/vm-update-test.sh (sourced, not run).
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE="$REPO/.cache/image"
# BERTH_IMAGE_OUT: where build.sh writes (vm-update-test builds several versions side by side).
OUT=${BERTH_IMAGE_OUT:-$CACHE/out}
SUITE=bookworm
MIRROR=${BERTH_IMAGE_MIRROR:-http://deb.debian.org/debian}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Packages of the host image. The policy build tools (selinux-policy-dev/-src, checkpolicy, make, m4)
# are in the cached base only to compile the modules; they are purged from the image.
IMAGE_PACKAGES=(
  systemd systemd-sysv udev dbus kmod procps iproute2 util-linux
  linux-image-amd64 initramfs-tools cryptsetup-bin
  systemd-boot mtools zstd
  selinux-policy-default policycoreutils libselinux1
  containerd runc crun busybox-static libstdc++6 ca-certificates
)
BUILD_ONLY_PACKAGES=(selinux-policy-dev selinux-policy-src checkpolicy make m4)

require_root() { [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mkfs)"; }

# Host tools, installed only when missing.
ensure_host_tools() {
  local -A need=([debootstrap]=debootstrap [qemu-system-x86_64]=qemu-system-x86 [veritysetup]=cryptsetup-bin
    [mkfs.ext4]=e2fsprogs [gcc]=gcc [setfattr]=attr [sgdisk]=gdisk [mcopy]=mtools [mkfs.vfat]=dosfstools [zstd]=zstd)
  # Files, not commands: the UEFI firmware and the boot loader image/disk.sh puts on the ESP.
  local -A need_file=([/usr/share/OVMF/OVMF_CODE_4M.fd]=ovmf [/usr/lib/systemd/boot/efi/systemd-bootx64.efi]=systemd-boot-efi)
  local missing=() c
  for c in "${!need[@]}"; do command -v "$c" >/dev/null 2>&1 || missing+=("${need[$c]}"); done
  for c in "${!need_file[@]}"; do [ -e "$c" ] || missing+=("${need_file[$c]}"); done
  # static libc for the probe binary
  [ -e /usr/lib/x86_64-linux-gnu/libc.a ] || missing+=(libc6-dev)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing host tools: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq </dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  fi
}

hash_of() { # hash of files/dirs given (content + relative names)
  (cd "$REPO" && find "$@" -type f -print0 2>/dev/null | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16
}

# ---- VM runs (image/vm-test.sh, image/vm-update-test.sh) ------------------------------------------------

# Flips every bit of the byte at OFFSET of FILE, in place: a tampered copy for the integrity checks.
flip_byte() { # FILE OFFSET
  local orig
  orig=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
  printf "$(printf '\\%03o' $(( (orig ^ 0xff) & 0xff )))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# Stops a QEMU started by this script, by its PID: TERM, then KILL a second later.
stop_qemu() { # PID (may be empty)
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then kill "$1" 2>/dev/null || true; sleep 1; kill -9 "$1" 2>/dev/null || true; fi
}

_vm_shown=0
_vm_new_lines() { # CONSOLE SHOW: each console line not handed on yet, without its \r, to the function SHOW
  local n line
  [ -f "$1" ] || return 0
  n=$(wc -l < "$1")
  [ "$n" -gt "$_vm_shown" ] || return 0
  while IFS= read -r line; do "$2" "$line"; done < <(sed -n "$((_vm_shown + 1)),${n}p" "$1" | tr -d '\r')
  _vm_shown=$n
}

# Follows the serial console of QEMU (PID) until it exits or TIMEOUT seconds have passed, handing each new
# line to the function SHOW. A guest that cannot boot never gets to its checks: waiting stops at once. A QEMU
# still running then is stopped; VM_TIMED_OUT says whether it had to be.
follow_vm() { # PID CONSOLE TIMEOUT SHOW
  local deadline=$((SECONDS + $3))
  _vm_shown=0
  VM_TIMED_OUT=0
  while kill -0 "$1" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
    _vm_new_lines "$2" "$4"
    if grep -qaE 'You are in emergency mode|Kernel panic' "$2" 2>/dev/null; then sleep 2; break; fi
    sleep 1
  done
  if kill -0 "$1" 2>/dev/null; then VM_TIMED_OUT=1; stop_qemu "$1"; fi
  wait "$1" 2>/dev/null || true
  _vm_new_lines "$2" "$4"
}

# The checks' outcome on CONSOLE: VM_PASS and VM_FAIL count the PASS and FAIL lines; a run that never printed
# BERTH-VMTEST DONE counts as one more failure, and its last lines are shown. NAME and TIMEOUT for the message.
vm_tally() { # CONSOLE NAME TIMEOUT
  VM_PASS=$(tr -d '\r' < "$1" | grep -ac '^PASS' || true)
  VM_FAIL=$(tr -d '\r' < "$1" | grep -ac '^FAIL' || true)
  if ! tr -d '\r' < "$1" | grep -aq '^BERTH-VMTEST DONE'; then
    log "$2: the checks did not finish ($([ "$VM_TIMED_OUT" = 1 ] && echo "timed out after ${3}s" || echo "VM stopped early")); last console lines:"
    tail -40 "$1" | sed 's/^/  | /' >&2
    VM_FAIL=$((VM_FAIL + 1))
  fi
}
