#!/usr/bin/env bash
# `npm run vm-test`: builds (or reuses) the host image, writes the A/B GPT disk (image/disk.sh: ESP with
# systemd-boot, BERTH-ROOT-A/B, BERTH-STATE), boots it under QEMU (TCG) with OVMF from the disk, as a host
# boots: systemd-boot picks the entry, whose command line names slot A and its root hash; SELinux enforcing.
# The entry carries a boot counter (+3), so the boot must pass berth-boot-check.service and be blessed.
# Runs image/vm/checks.sh inside (a oneshot service; results on the serial console), powers off, and exits
# non-zero if any check failed. Non-interactive; every process it starts is stopped by PID.
#   BERTH_VM_REBUILD=0   reuse .cache/image/out if present (default: run image/build.sh, itself cached)
#   BERTH_VM_TIMEOUT=S   give up on the VM after S seconds (default 1200: TCG on a loaded 2-core machine has taken 480 s,
#                        and 900 s with the disk boot while a unit test suite ran alongside)
#   BERTH_VM_BOOT=kernel fallback: boot root.img and state.img as plain disks with QEMU's -kernel/-initrd
#                        (no firmware, no boot loader; for debugging the image when the disk boot is broken;
#                        the UEFI/slot and blessing checks then fail)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
T0=$SECONDS
if [ "${BERTH_VM_REBUILD:-1}" = 1 ] || [ ! -f "$OUT/image.env" ]; then
  bash "$REPO/image/build.sh"
fi
ensure_host_tools
. "$OUT/image.env"
BUILD_S=$((SECONDS - T0))

RUN=$(mktemp -d "$CACHE/run.XXXXXX")
QPID=""
cleanup() {
  stop_qemu "$QPID"
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

BOOT_MODE=${BERTH_VM_BOOT:-disk}
case "$BOOT_MODE" in disk|kernel) ;; *) die "BERTH_VM_BOOT=$BOOT_MODE: expected disk or kernel" ;; esac
CMDLINE="$(sed "s/enforcing=1/enforcing=${BERTH_VM_ENFORCING:-1}/" "$OUT/cmdline") berth.vmtest${BERTH_VM_DEBUG:+ systemd.journald.forward_to_console=1 loglevel=6}"
DISK0=$SECONDS
if [ "$BOOT_MODE" = disk ]; then
  # The disk a host ships with, from the build's outputs, with the test's command line in its boot entry
  # (systemd-boot's editor is off: the entry is the only way in). State: the build's state.img, copied in.
  mkdir -p "$RUN/in"
  for f in root.img vmlinuz initrd.img state.img image.env; do ln -s "$OUT/$f" "$RUN/in/$f"; done
  echo "$CMDLINE" > "$RUN/in/cmdline"
  bash "$REPO/image/disk.sh" --in "$RUN/in" --out "$RUN/disk.img" --tries 3
  cp /usr/share/OVMF/OVMF_VARS_4M.fd "$RUN/ovmf-vars.fd"
  BOOT_ARGS=(
    -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd
    -drive if=pflash,format=raw,unit=1,file="$RUN/ovmf-vars.fd"
    -drive if=none,id=disk,file="$RUN/disk.img",format=raw -device virtio-blk-pci,drive=disk,serial=berthdisk,bootindex=0
  )
else
  cp --sparse=always "$OUT/state.img" "$RUN/state.img"
  BOOT_ARGS=(
    -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.img" -append "$CMDLINE"
    -drive if=none,id=root,file="$OUT/root.img",format=raw,readonly=on -device virtio-blk-pci,drive=root,serial=berthroot
    -drive if=none,id=state,file="$RUN/state.img",format=raw -device virtio-blk-pci,drive=state,serial=berthstate
  )
fi
DISK_S=$((SECONDS - DISK0))

# A tampered copy of the root (one byte flipped in a file's data block) for the dm-verity check; the checks
# as a tar on a raw disk.
cp --sparse=always "$OUT/root.img" "$RUN/tampered.img"
flip_byte "$RUN/tampered.img" "$CANARY_OFFSET"
mkdir -p "$RUN/test"
cp "$REPO/image/vm/checks.sh" "$RUN/test/"
cp -r "$REPO/image/vm/units" "$RUN/test/" 2>/dev/null || true
gcc -static -O2 -o "$RUN/test/apiprobe" "$REPO/image/vm/apiprobe.c"
cat > "$RUN/test/env" <<ENV
ROOTHASH=$ROOTHASH
HASH_OFFSET=$HASH_OFFSET
CANARY_PATH=$CANARY_PATH
CANARY_OFFSET=$CANARY_OFFSET
ENV
tar -C "$RUN/test" -cf "$RUN/test.tar" .
truncate -s %1M "$RUN/test.tar"

log "vm: booting ($([ "$BOOT_MODE" = disk ] && echo "OVMF + systemd-boot from the A/B disk" || echo "-kernel fallback"); TCG, 2 vCPU, 2 GiB; SELinux enforcing; root on dm-verity)"
BOOT0=$SECONDS
timeout_s=${BERTH_VM_TIMEOUT:-1200}
# -no-reboot: a reboot (a failed boot check's FailureAction) ends QEMU, and so the run, instead of looping.
qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic -no-reboot -nodefaults -serial stdio \
  "${BOOT_ARGS[@]}" \
  -drive if=none,id=test,file="$RUN/test.tar",format=raw,readonly=on -device virtio-blk-pci,drive=test,serial=berthtest \
  -drive if=none,id=tampered,file="$RUN/tampered.img",format=raw,readonly=on -device virtio-blk-pci,drive=tampered,serial=berthtampered \
  -device virtio-rng-pci -nic none \
  </dev/null >"$RUN/console.log" 2>&1 &
QPID=$!
# Follow the console: print the check lines as they come.
show_check_line() { case "$1" in PASS*|FAIL*|INFO*|BERTH-VMTEST*) echo "$1" ;; esac; }
follow_vm "$QPID" "$RUN/console.log" "$timeout_s" show_check_line
QPID=""
cp "$RUN/console.log" "$CACHE/last-console.log"
BOOT_S=$((SECONDS - BOOT0))

vm_tally "$RUN/console.log" vm "$timeout_s"
log "vm: image build ${BUILD_S}s, disk ${DISK_S}s, VM run ${BOOT_S}s ($BOOT_MODE boot), total $((SECONDS - T0))s; console log: $CACHE/last-console.log"
echo "vm-test: $VM_PASS passed, $VM_FAIL failed"
[ "$VM_FAIL" -eq 0 ]
