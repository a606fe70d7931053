#!/usr/bin/env bash
# Builds berth's A/B GPT boot disk from the outputs of image/build.sh, without loop mounts or root:
#   1 BERTH-ESP     EF00 FAT32: systemd-boot (if installed), loader/loader.conf, loader/entries/berth-<v>.conf,
#                   kernel + initramfs under /berth/<v>/
#   2 BERTH-ROOT-A  the first version's root.img (read-only ext4 + dm-verity hash tree at its hash offset)
#   3 BERTH-ROOT-B  empty: the first update goes here
#   4 BERTH-STATE   state.img (ext4 labelled BERTHSTATE, mounted on /var) if the input has one
# The entry boots its slot by partition label (berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A) with the
# slot's root hash. The first entry has no boot counter: the factory image has nothing to fall back to
# (--tries N gives it one, berth-<v>+N.conf, for tests of boot assessment: the boot must be blessed).
# Boot order is systemd-boot's sort order (`default berth-*`, `sort-key berth`, `version` = install
# generation); see src/updates/disk/entries.ts, which writes the entries of later versions the same way.
#
# Usage: image/disk.sh [--in DIR] [--out FILE] [--version V] [--tries N] [--slot-mib N] [--esp-mib N] [--state-mib N]
#   --in      build.sh's output dir (root.img, vmlinuz, initrd.img, cmdline, image.env); default .cache/image/out
#   --out     the disk image to write (replaced); default <in>/disk.img
#   --version the version of this build (default: VERSION from image.env, else 1.0.0)
#   --tries   boot counter of the first entry (default: none)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
T0=$SECONDS

IN="$OUT"; DISK=""; VERSION=""; TRIES=""; SLOT_MIB=""; ESP_MIB=256; STATE_MIB=""
while [ $# -gt 0 ]; do
  case "$1" in
    --in) IN=$2; shift 2 ;;
    --out) DISK=$2; shift 2 ;;
    --version) VERSION=$2; shift 2 ;;
    --tries) TRIES=$2; shift 2 ;;
    --slot-mib) SLOT_MIB=$2; shift 2 ;;
    --esp-mib) ESP_MIB=$2; shift 2 ;;
    --state-mib) STATE_MIB=$2; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
DISK=${DISK:-$IN/disk.img}
for f in root.img vmlinuz initrd.img cmdline image.env; do [ -f "$IN/$f" ] || die "--in $IN: $f is missing (run image/build.sh first)"; done
for t in sgdisk mkfs.vfat mcopy mmd; do command -v "$t" >/dev/null || die "$t is not installed (gdisk, dosfstools, mtools)"; done
ROOTHASH=$(sed -n 's/^ROOTHASH=//p' "$IN/image.env"); HASH_OFFSET=$(sed -n 's/^HASH_OFFSET=//p' "$IN/image.env")
[ -n "$VERSION" ] || VERSION=$(sed -n 's/^VERSION=//p' "$IN/image.env")
VERSION=${VERSION:-1.0.0}
[[ "$VERSION" =~ ^[0-9A-Za-z][0-9A-Za-z._~^-]{0,63}$ ]] || die "--version $VERSION is invalid: letters, digits and . _ ~ ^ - (no +)"
[[ "$ROOTHASH" =~ ^[0-9a-f]{64,128}$ ]] || die "image.env: ROOTHASH is missing or not hex"
[[ "$HASH_OFFSET" =~ ^[0-9]+$ ]] || die "image.env: HASH_OFFSET is missing"
[ -z "$TRIES" ] || [[ "$TRIES" =~ ^[1-9]$ ]] || die "--tries $TRIES is invalid: 1 to 9"
for n in "$ESP_MIB" ${SLOT_MIB:+"$SLOT_MIB"} ${STATE_MIB:+"$STATE_MIB"}; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || die "sizes are whole MiB (got $n)"; done
[ "$ESP_MIB" -ge 34 ] || die "--esp-mib $ESP_MIB is too small for FAT32 (at least 34)"

mib_of() { echo $(( ($(stat -L -c %s "$1") + 1048575) / 1048576 )); }
ROOT_MIB=$(mib_of "$IN/root.img")
# Room for later versions to grow: half again the first root, at least 1.5 GiB.
if [ -z "$SLOT_MIB" ]; then SLOT_MIB=$(( ROOT_MIB * 3 / 2 )); [ "$SLOT_MIB" -ge 1536 ] || SLOT_MIB=1536; fi
[ "$ROOT_MIB" -le "$SLOT_MIB" ] || die "root.img ($ROOT_MIB MiB) does not fit --slot-mib $SLOT_MIB"
STATE_IMG=""; [ -f "$IN/state.img" ] && STATE_IMG="$IN/state.img"
if [ -z "$STATE_MIB" ]; then STATE_MIB=2048; [ -n "$STATE_IMG" ] && STATE_MIB=$(mib_of "$STATE_IMG"); fi
[ -z "$STATE_IMG" ] || [ "$(mib_of "$STATE_IMG")" -le "$STATE_MIB" ] || die "state.img does not fit --state-mib $STATE_MIB"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-disk.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
NEW="$DISK.tmp"; rm -f "$NEW"
# 1 MiB before the first partition, 1 MiB after the last for the backup GPT.
truncate -s $(( (2 + ESP_MIB + 2 * SLOT_MIB + STATE_MIB) * 1048576 )) "$NEW"
sgdisk -o \
  -n 1:2048:+${ESP_MIB}M -t 1:EF00 -c 1:BERTH-ESP \
  -n 2:0:+${SLOT_MIB}M -t 2:8300 -c 2:BERTH-ROOT-A \
  -n 3:0:+${SLOT_MIB}M -t 3:8300 -c 3:BERTH-ROOT-B \
  -n 4:0:+${STATE_MIB}M -t 4:8300 -c 4:BERTH-STATE "$NEW" >/dev/null
first_sector() { local s; s=$(sgdisk -i "$1" "$NEW" | sed -n 's/^First sector: \([0-9]*\).*/\1/p'); [ -n "$s" ] || die "sgdisk did not create partition $1"; echo "$s"; }
ESP_OFF=$(( $(first_sector 1) * 512 )); A_OFF=$(( $(first_sector 2) * 512 )); STATE_OFF=$(( $(first_sector 4) * 512 ))

# ESP: a FAT32 file system made in a file and written at the partition's offset.
mkfs.vfat -F 32 -n BERTHESP -C "$TMP/esp.img" $(( ESP_MIB * 1024 )) >/dev/null
export MTOOLS_SKIP_CHECK=1
E="$TMP/esp.img"
mmd -i "$E" ::/EFI ::/EFI/BOOT ::/loader ::/loader/entries ::/berth "::/berth/$VERSION"
SDBOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
if [ -f "$SDBOOT" ]; then
  mmd -i "$E" ::/EFI/systemd
  mcopy -i "$E" "$SDBOOT" ::/EFI/BOOT/BOOTX64.EFI
  mcopy -i "$E" "$SDBOOT" ::/EFI/systemd/systemd-bootx64.efi
else
  log "systemd-boot: $SDBOOT is missing (package systemd-boot-efi); the disk has no boot loader and boots only with one added"
fi
# Same text as LOADER_CONF in src/updates/disk/entries.ts.
printf 'timeout 0\ndefault berth-*\nconsole-mode keep\neditor no\n' > "$TMP/loader.conf"
mcopy -i "$E" "$TMP/loader.conf" ::/loader/loader.conf
mcopy -i "$E" "$IN/vmlinuz" "::/berth/$VERSION/vmlinuz"
mcopy -i "$E" "$IN/initrd.img" "::/berth/$VERSION/initrd.img"
opts=""
for tok in $(cat "$IN/cmdline"); do
  case "$tok" in berth.verity=*|berth.roothash=*|berth.hashoffset=*) ;; *) opts="$opts $tok" ;; esac
done
opts="${opts# } berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A berth.roothash=$ROOTHASH berth.hashoffset=$HASH_OFFSET"
printf 'title berth %s\nsort-key berth\nversion 1\nlinux /berth/%s/vmlinuz\ninitrd /berth/%s/initrd.img\noptions %s\n' \
  "$VERSION" "$VERSION" "$VERSION" "$opts" > "$TMP/entry.conf"
mcopy -i "$E" "$TMP/entry.conf" "::/loader/entries/berth-$VERSION${TRIES:+"+$TRIES"}.conf"
dd if="$E" of="$NEW" bs=1M seek="$ESP_OFF" oflag=seek_bytes conv=notrunc,sparse status=none

# Slot A: the first version. Slot B stays empty (zero, sparse) until the first update.
dd if="$IN/root.img" of="$NEW" bs=1M seek="$A_OFF" oflag=seek_bytes conv=notrunc,sparse status=none
if [ -n "$STATE_IMG" ]; then
  dd if="$STATE_IMG" of="$NEW" bs=1M seek="$STATE_OFF" oflag=seek_bytes conv=notrunc,sparse status=none
else
  log "state: no state.img in $IN; BERTH-STATE is left empty"
fi
mv "$NEW" "$DISK"
log "disk: $DISK (version $VERSION in BERTH-ROOT-A, slots ${SLOT_MIB} MiB, ESP ${ESP_MIB} MiB, state ${STATE_MIB} MiB) in $((SECONDS - T0)) s"
