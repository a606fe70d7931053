#!/usr/bin/env bash
# `npm run vm-update-test`: an image-based update and an automatic rollback, end to end, in a VM booted from
# its A/B disk with OVMF + systemd-boot (TCG), SELinux enforcing, root on dm-verity:
#   1. builds three versions of the host image (image/build.sh): 1.0.0 (the factory image), 2.0.0, and 3.0.0
#      whose control container is never healthy (its unit gets a health check that always fails); all three
#      trust the root.json of a repository made here with `berth-repo init`;
#   2. publishes them with `berth-repo add`: repository 1 holds 2.0.0, repository 2 also 3.0.0, and a copy of
#      repository 2 has one byte of 3.0.0's root image changed after signing;
#   3. boots 1.0.0 with the repositories on an extra read-only disk, served inside the guest on 127.0.0.1
#      (the guest has no network device); image/vm/update-checks.sh then walks, across reboots:
#      v1 → update check shows 2.0.0 → update apply --reboot → 2.0.0 runs, blessed, settings kept, admin still
#      on → apply 3.0.0 → reboot → its boot check fails, three tries → systemd-boot falls back to 2.0.0 →
#      update status reports the rollback of 3.0.0 and why → the tampered repository is refused.
# Prints a timeline (host clock) and exits non-zero if a check failed or the run did not finish.
#   BERTH_VM_TIMEOUT=S    give up after S seconds of VM time (default 1800)
#   BERTH_VM_ENFORCING=0  boot SELinux permissive (to list AVC denials while changing the policy)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
ensure_host_tools
T0=$SECONDS
cd "$REPO"
[ -f dist/src/repo/main.js ] || npm run build --silent
UPD="$CACHE/update"
mkdir -p "$CACHE" # a fresh checkout: vm-test, which creates it, need not have run first
RUN=$(mktemp -d "$CACHE/update-run.XXXXXX")
QPID=""
cleanup() {
  stop_qemu "$QPID"
  rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
TL="$RUN/timeline"
mark() { printf '%5ss  %s\n' "$((SECONDS - T0))" "$*" | tee -a "$TL" >&2; }

# ---- 1. a repository's keys and trusted root; three image versions that trust it ------------------------
node dist/src/repo/main.js init "$RUN/repo1" --expires 2d >/dev/null
ROOTJSON="$RUN/repo1/metadata/1.root.json"
mkdir -p "$RUN/v3-overlay/usr/share/berth/units"
{ cat rootfs/usr/share/berth/units/control.toml
  printf '\n# 3.0.0 of the update test: a control container that is never healthy.\n[health]\ncommand = ["/bin/sh", "-c", "exit 1"]\ninterval = "2s"\nretries = 1\n'
} > "$RUN/v3-overlay/usr/share/berth/units/control.toml"
for v in 1.0.0 2.0.0 3.0.0; do
  overlay=""; [ "$v" = 3.0.0 ] && overlay="$RUN/v3-overlay"
  BERTH_IMAGE_VERSION=$v BERTH_IMAGE_OUT="$UPD/out-$v" BERTH_IMAGE_TRUSTED_ROOT="$ROOTJSON" BERTH_IMAGE_OVERLAY="$overlay" \
    bash image/build.sh
done
mark "built 1.0.0, 2.0.0 and 3.0.0 (the latter with a control that is never healthy)"

# ---- 2. publish --------------------------------------------------------------------------------------------
publish() { # REPO VERSION
  local out="$UPD/out-$2"
  # zstd, as the image ships it to unpack (gzip and an unpacked image are taken too; the first bytes say which).
  zstd -q -T0 -3 -c "$out/root.img" > "$RUN/root-$2.img.zst"
  node dist/src/repo/main.js add "$1" --version "$2" --variant "$(sed -n 's/^VARIANT=//p' "$out/image.env")" \
    --root-image "$RUN/root-$2.img.zst" --root-hash "$(sed -n 's/^ROOTHASH=//p' "$out/image.env")" \
    --hash-offset "$(sed -n 's/^HASH_OFFSET=//p' "$out/image.env")" --kernel "$out/vmlinuz" --initramfs "$out/initrd.img" --expires 2d >/dev/null
  rm -f "$RUN/root-$2.img.zst"
}
publish "$RUN/repo1" 2.0.0
cp -a "$RUN/repo1" "$RUN/repo2"
publish "$RUN/repo2" 3.0.0
# What the guest serves: metadata and targets only (never the keys); copies share their files by hard link.
SRV="$RUN/served"
mkdir -p "$SRV"
for r in repo1 repo2; do mkdir -p "$SRV/$r"; cp -al "$RUN/$r/metadata" "$RUN/$r/targets" "$SRV/$r/"; done
mkdir -p "$SRV/tampered"; cp -al "$SRV/repo2/metadata" "$SRV/repo2/targets" "$SRV/tampered/"
victim=$(ls -S "$SRV/tampered/targets/" | grep -- '3\.0\.0' | head -1)
[ -n "$victim" ] || die "no 3.0.0 target in the repository"
cp --remove-destination "$RUN/repo2/targets/$victim" "$SRV/tampered/targets/$victim" # its own copy, not the link
flip_byte "$SRV/tampered/targets/$victim" $(( $(stat -c %s "$SRV/tampered/targets/$victim") / 2 ))
mb=$(( $(du -sk "$SRV" | cut -f1) / 1024 + 64 ))
mkfs.ext4 -q -F -L BERTHREPO -d "$SRV" "$RUN/repo.img" "${mb}M"
mark "published: repository 1 (2.0.0), 2 (2.0.0, 3.0.0), and 2 with a byte of $victim changed; repository disk ${mb} MiB"

# ---- 3. the factory disk (1.0.0 in slot A) and the guest's script -----------------------------------------
V1="$UPD/out-1.0.0"
mkdir -p "$RUN/in"
for f in root.img vmlinuz initrd.img state.img image.env; do ln -s "$V1/$f" "$RUN/in/$f"; done
echo "$(sed "s/enforcing=1/enforcing=${BERTH_VM_ENFORCING:-1}/" "$V1/cmdline") berth.vmtest" > "$RUN/in/cmdline"
bash image/disk.sh --in "$RUN/in" --out "$RUN/disk.img" >/dev/null 2>&1
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$RUN/ovmf-vars.fd"
mkdir -p "$RUN/test"
cp image/vm/update-checks.sh "$RUN/test/checks.sh"
: > "$RUN/test/env"
tar -C "$RUN/test" -cf "$RUN/test.tar" .
truncate -s %1M "$RUN/test.tar"
mark "factory disk written (1.0.0 in BERTH-ROOT-A); booting (OVMF + systemd-boot, TCG, 2 vCPU, 2 GiB, SELinux enforcing=${BERTH_VM_ENFORCING:-1})"

# ---- 4. the run: QEMU may reboot (each update, each failed boot); the guest powers off when it is done ---
BOOT0=$SECONDS
qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic -nodefaults -serial stdio \
  -drive if=pflash,format=raw,unit=0,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
  -drive if=pflash,format=raw,unit=1,file="$RUN/ovmf-vars.fd" \
  -drive if=none,id=disk,file="$RUN/disk.img",format=raw -device virtio-blk-pci,drive=disk,serial=berthdisk,bootindex=0 \
  -drive if=none,id=test,file="$RUN/test.tar",format=raw,readonly=on -device virtio-blk-pci,drive=test,serial=berthtest \
  -drive if=none,id=repo,file="$RUN/repo.img",format=raw,readonly=on -device virtio-blk-pci,drive=repo,serial=berthrepo \
  -device virtio-rng-pci -nic none \
  </dev/null >"$RUN/console.log" 2>&1 &
QPID=$!
show_line() {
  case "$1" in
    TIMELINE*) mark "${1#TIMELINE }" ;;
    PASS*|FAIL*|INFO*|BERTH-VMTEST*) echo "$1" >&2 ;;
    *berth-boot-check*|*"boot check"*) echo "  | $1" >&2 ;;
  esac
}
timeout_s=${BERTH_VM_TIMEOUT:-1800}
follow_vm "$QPID" "$RUN/console.log" "$timeout_s" show_line
QPID=""
cp "$RUN/console.log" "$CACHE/last-update-console.log"
mark "VM stopped after $((SECONDS - BOOT0)) s"

vm_tally "$RUN/console.log" vm-update-test "$timeout_s"
echo "timeline (seconds since the start of npm run vm-update-test):"
cat "$TL"
log "vm-update-test: total $((SECONDS - T0)) s, VM $((SECONDS - BOOT0)) s; console log: $CACHE/last-update-console.log"
echo "vm-update-test: $VM_PASS passed, $VM_FAIL failed"
[ "$VM_FAIL" -eq 0 ]
