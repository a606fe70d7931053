# Shared helpers for image/build.sh and image/vm-test.sh (sourced, not run).
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
  systemd-boot mtools
  selinux-policy-default policycoreutils libselinux1
  containerd runc crun busybox-static libstdc++6 ca-certificates
)
BUILD_ONLY_PACKAGES=(selinux-policy-dev selinux-policy-src checkpolicy make m4)

require_root() { [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot, mkfs)"; }

# Host tools, installed only when missing.
ensure_host_tools() {
  local -A need=([debootstrap]=debootstrap [qemu-system-x86_64]=qemu-system-x86 [veritysetup]=cryptsetup-bin
    [mkfs.ext4]=e2fsprogs [gcc]=gcc [setfattr]=attr [sgdisk]=gdisk [mcopy]=mtools [mkfs.vfat]=dosfstools)
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
