#!/usr/bin/env bash
# `npm run image`: builds berth's host image under .cache/image/out/:
#   vmlinuz, initrd.img     kernel and initramfs (opens the dm-verity root)
#   root.img                read-only ext4 root + dm-verity hash tree (appended at hash-offset)
#   state.img               template of the writable state disk (/var, incl. /var/lib/berth)
#   cmdline                 kernel command line with the root hash
#   image.env               VERSION, VARIANT, ROOTHASH, HASH_OFFSET, sizes
# Environment:
#   BERTH_IMAGE_VERSION=V        the image's version (os-release VERSION_ID; what updates compare), default 1.0.0
#   BERTH_IMAGE_VARIANT=NAME     the image's variant (os-release VARIANT_ID), default metal-dev
#   BERTH_IMAGE_TRUSTED_ROOT=F   the update repository's root.json the host trusts (/usr/share/berth/root.json);
#                                without it the host has no update repository it trusts
#   BERTH_IMAGE_OVERLAY=DIR      files copied over the root before labelling (tests: a version that differs)
#   BERTH_IMAGE_OUT=DIR          output directory (default .cache/image/out)
# Stages are cached under .cache/image/ (debootstrap base, berth build, policy, initramfs), so a rebuild
# after a change to berth only redoes the root assembly (~1 min).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
ensure_host_tools
T0=$SECONDS
IMAGE_VERSION=${BERTH_IMAGE_VERSION:-1.0.0}
IMAGE_VARIANT=${BERTH_IMAGE_VARIANT:-metal-dev}
[[ "$IMAGE_VERSION" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "BERTH_IMAGE_VERSION=$IMAGE_VERSION: expected MAJOR.MINOR.PATCH"
[[ "$IMAGE_VARIANT" =~ ^[a-z0-9][a-z0-9-]{0,63}$ ]] || die "BERTH_IMAGE_VARIANT=$IMAGE_VARIANT: lowercase letters, digits and -"
[ -z "${BERTH_IMAGE_TRUSTED_ROOT:-}" ] || [ -f "$BERTH_IMAGE_TRUSTED_ROOT" ] || die "BERTH_IMAGE_TRUSTED_ROOT=$BERTH_IMAGE_TRUSTED_ROOT: no such file"
[ -z "${BERTH_IMAGE_OVERLAY:-}" ] || [ -d "$BERTH_IMAGE_OVERLAY" ] || die "BERTH_IMAGE_OVERLAY=$BERTH_IMAGE_OVERLAY: no such directory"

ROOT="$CACHE/work/root"
MOUNTS=()
cleanup() {
  local m
  for ((i=${#MOUNTS[@]}-1; i>=0; i--)); do m=${MOUNTS[i]}; mountpoint -q "$m" && umount -l "$m" || true; done
}
trap cleanup EXIT
chroot_proc() { # mount proc in a chroot (setfiles, semodule and mkinitramfs need it)
  mkdir -p "$1/proc"; mount -t proc proc "$1/proc"; MOUNTS+=("$1/proc")
}
chroot_proc_off() { umount "$1/proc"; }

# ---- 1. base -------------------------------------------------------------------------------------------
BASE=$(bash "$REPO/image/base.sh")
BASEKEY=$(basename "$BASE")
KVER=$(ls "$BASE/lib/modules" | head -1)

# ---- 2. berth (built in a temp copy; production deps only) --------------------------------------------
BKEY=$( (hash_of src build proto rootfs systemd package.json package-lock.json tsconfig.json; node --version) | sha256sum | cut -c1-16)
BERTH="$CACHE/berth-$BKEY"
if [ ! -f "$BERTH/.complete" ]; then
  log "berth: building ($BKEY)"
  rm -rf "$CACHE"/berth-* "$CACHE/berth-build"
  mkdir -p "$CACHE/berth-build" "$BERTH.tmp"
  (cd "$REPO" && tar --exclude=./node_modules --exclude=./.cache --exclude=./dist --exclude=./.git -cf - .) | tar -xf - -C "$CACHE/berth-build"
  (cd "$CACHE/berth-build" && npm ci --no-audit --no-fund --loglevel=error </dev/null >/dev/null && npm run build --silent </dev/null >/dev/null)
  cp -a "$CACHE/berth-build/package.json" "$CACHE/berth-build/package-lock.json" "$BERTH.tmp/"
  mkdir -p "$BERTH.tmp/dist"
  cp -a "$CACHE/berth-build/dist/src" "$CACHE/berth-build/dist/berthctl" "$CACHE/berth-build/dist/berth-apiclient" "$BERTH.tmp/dist/"
  [ -d "$CACHE/berth-build/proto" ] && cp -a "$CACHE/berth-build/proto" "$BERTH.tmp/"
  (cd "$BERTH.tmp" && npm ci --omit=dev --no-audit --no-fund --loglevel=error </dev/null >/dev/null)
  rm -rf "$CACHE/berth-build"
  touch "$BERTH.tmp/.complete"; mv "$BERTH.tmp" "$BERTH"
else
  log "berth: cached ($BKEY)"
fi

# ---- 3. SELinux modules (refpolicy's container module + berth's) ---------------------------------------
PKEY=$( (echo "$BASEKEY"; hash_of selinux) | sha256sum | cut -c1-16)
POL="$CACHE/policy-$PKEY"
if [ ! -f "$POL/berth.pp" ]; then
  log "policy: compiling container.pp and berth.pp"
  rm -rf "$CACHE"/policy-* "$BASE/tmp/berth-policy"
  mkdir -p "$BASE/tmp/berth-policy"
  tar --zstd -xf "$BASE/usr/src/selinux-policy-src.tar.zst" -C "$BASE/tmp/berth-policy" \
    selinux-policy-src/policy/modules/services/container.te selinux-policy-src/policy/modules/services/container.if \
    selinux-policy-src/policy/modules/services/container.fc
  mv "$BASE/tmp/berth-policy/selinux-policy-src/policy/modules/services/"container.* "$BASE/tmp/berth-policy/"
  cp "$REPO"/selinux/berth.{te,fc,if} "$BASE/tmp/berth-policy/"
  chroot_proc "$BASE"
  chroot "$BASE" make -C /tmp/berth-policy -f /usr/share/selinux/devel/Makefile container.pp berth.pp </dev/null >"$CACHE/policy.log" 2>&1 \
    || { chroot_proc_off "$BASE"; cat "$CACHE/policy.log" >&2; die "policy build failed"; }
  chroot_proc_off "$BASE"
  mkdir -p "$POL.tmp"; cp "$BASE"/tmp/berth-policy/{container,berth}.pp "$POL.tmp/"
  rm -rf "$BASE/tmp/berth-policy"; mv "$POL.tmp" "$POL"
else
  log "policy: cached ($PKEY)"
fi

# ---- 4. root assembly ----------------------------------------------------------------------------------
log "root: assembling"
rm -rf "$CACHE/work"; mkdir -p "$CACHE/work"
cp -a "$BASE" "$ROOT"
rm -f "$ROOT/.berth-base-complete"
installed=$(chroot "$ROOT" dpkg-query -W -f '${Package} ${Status}\n' "${BUILD_ONLY_PACKAGES[@]}" 2>/dev/null | awk '/ installed$/{print $1}' | tr '\n' ' ')
[ -z "$installed" ] || chroot "$ROOT" apt-get purge -y -qq --autoremove $installed </dev/null >/dev/null 2>&1 \
  || die "purging build-only packages ($installed) failed"
rm -rf "$ROOT"/usr/share/{doc,man,info,locale,lintian,linda}/* "$ROOT"/var/cache/apt/* "$ROOT"/var/lib/apt/lists/* \
  "$ROOT"/usr/src/* "$ROOT"/var/log/*.log "$ROOT"/usr/share/selinux/devel

# Kernel modules a container host never needs (graphics, sound, media, wireless, ...): ~250 MiB less.
M="$ROOT/usr/lib/modules/$KVER/kernel"
rm -rf "$M"/sound "$M"/drivers/{gpu,media,infiniband,staging,iio,bluetooth,isdn,hid,input,usb,net/wireless,net/ethernet,net/can,net/usb,video,mmc,firewire,thunderbolt,platform,hwmon,misc,comedi,w1,leds,power,nfc,memstick,pcmcia,parport,rtc,spi,i2c,ssb,bcma,accessibility,atm,uwb,fpga,soundwire,edac,gnss,counter,siox,slimbus,mfd,regulator,pinctrl,gpio,extcon,mux,phy,pwm,ntb,target,md/bcache} \
  "$M"/net/{wireless,mac80211,bluetooth,nfc,can,6lowpan,ieee802154,mac802154,atm,appletalk,rxrpc,sunrpc,ceph,9p,l2tp,batman-adv,tipc,rds,mpls,dccp,sctp,smc} \
  "$M"/fs/{nfs,nfsd,ceph,cifs,smbfs,ocfs2,gfs2,xfs,btrfs,jfs,reiserfs,ntfs3,ntfs,udf,hfs,hfsplus,nilfs2,f2fs,ubifs,orangefs,afs,coda,9p,dlm,ufs,minix,omfs,befs,efs,qnx4,qnx6,sysv,romfs,cramfs,erofs,ecryptfs,exfat,isofs,jffs2}
# fat/vfat and nls stay: the ESP (vfat) is mounted on /boot/efi for systemd-bless-boot.
chroot "$ROOT" depmod "$KVER" </dev/null

# Node 20 (the build host's; Debian bookworm's nodejs is 18) and berth.
install -m 0755 /usr/bin/node "$ROOT/usr/bin/node"
for lib in $(ldd /usr/bin/node | awk '/=> \//{print $3}'); do
  [ -e "$ROOT$lib" ] || [ -e "$ROOT/usr$lib" ] || die "node needs $lib, missing in the image"
done
mkdir -p "$ROOT/usr/lib/berth"
cp -a "$BERTH"/. "$ROOT/usr/lib/berth/"; rm -f "$ROOT/usr/lib/berth/.complete"
install -m 0755 "$REPO/image/files/berthd-wrapper" "$ROOT/usr/bin/berthd"
install -m 0755 "$REPO/image/files/berthctl-wrapper" "$ROOT/usr/bin/berthctl"
install -m 0755 "$REPO/image/files/berth-apiclient-wrapper" "$ROOT/usr/bin/berth-apiclient"
cp -a "$REPO/rootfs/." "$ROOT/"
# The host's identity for updates: berthd reads VERSION_ID and VARIANT_ID (src/daemon/updates.ts).
rm -f "$ROOT/etc/os-release"
cat > "$ROOT/usr/lib/os-release" <<OSR
NAME="berth"
ID=berth
ID_LIKE=debian
VERSION_ID=$IMAGE_VERSION
VARIANT_ID=$IMAGE_VARIANT
PRETTY_NAME="berth $IMAGE_VERSION ($IMAGE_VARIANT)"
BUILD_ID=$BKEY
OSR
ln -s ../usr/lib/os-release "$ROOT/etc/os-release"
[ -z "${BERTH_IMAGE_TRUSTED_ROOT:-}" ] || install -m 0644 "$BERTH_IMAGE_TRUSTED_ROOT" "$ROOT/usr/share/berth/root.json"
[ -z "${BERTH_IMAGE_OVERLAY:-}" ] || cp -a "$BERTH_IMAGE_OVERLAY/." "$ROOT/"
# This image requires SELinux: berth's shipped defaults say auto; the image's say enforce, so a host
# booted without SELinux refuses to start units instead of running them unlabelled.
sed -i 's/^mode = "auto"/mode = "enforce"/' "$ROOT/usr/share/berth/settings.toml"
grep -q '^mode = "enforce"' "$ROOT/usr/share/berth/settings.toml" || die "could not set selinux.mode = enforce"
install -m 0644 "$REPO/systemd/berthd.service" "$ROOT/usr/lib/systemd/system/berthd.service"
install -m 0644 "$REPO/systemd/berth.sysusers" "$ROOT/usr/lib/sysusers.d/berth.conf"
install -m 0644 "$REPO/systemd/berth.tmpfiles" "$ROOT/usr/lib/tmpfiles.d/berth.conf"
# /etc/berth is an empty tmpfs at boot: recreate the drop-in unit dir.
echo 'd /etc/berth/units.d 0755 root root -' > "$ROOT/usr/lib/tmpfiles.d/berth-image.conf"
install -m 0644 "$REPO/image/files/berth-vmtest.service" "$ROOT/usr/lib/systemd/system/berth-vmtest.service"
mkdir -p "$ROOT/etc/berth/units.d" "$ROOT/etc/systemd/system/multi-user.target.wants"
ln -sf /usr/lib/systemd/system/berthd.service "$ROOT/etc/systemd/system/multi-user.target.wants/berthd.service"
ln -sf /usr/lib/systemd/system/berth-vmtest.service "$ROOT/etc/systemd/system/multi-user.target.wants/berth-vmtest.service"
# Boot assessment: boot-complete.target (pulled in by systemd-bless-boot on a counted boot) requires it.
install -m 0644 "$REPO/image/files/berth-boot-check.service" "$ROOT/usr/lib/systemd/system/berth-boot-check.service"
mkdir -p "$ROOT/etc/systemd/system/boot-complete.target.requires"
ln -sf /usr/lib/systemd/system/berth-boot-check.service "$ROOT/etc/systemd/system/boot-complete.target.requires/berth-boot-check.service"
[ -x "$ROOT/usr/lib/systemd/systemd-bless-boot" ] || die "systemd-bless-boot is missing from the image (package systemd-boot)"
# The ESP's mount point (image/files/fstab): where systemd-bless-boot finds the entry to rename
# (/boot/efi, not /efi: it is boot_t, a mount point type in the policy; /efi would be default_t).
mkdir -p "$ROOT/boot/efi"
# /etc is read-only at run time: create users/groups now, not at boot.
systemd-sysusers --root="$ROOT" >/dev/null 2>&1 || chroot "$ROOT" systemd-sysusers </dev/null >/dev/null
grep -q '^berth:' "$ROOT/etc/group" || die "group berth missing"
# systemd makes a transient machine-id on a read-only /etc when the file is empty.
: > "$ROOT/etc/machine-id"
echo berth > "$ROOT/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tberth\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$ROOT/etc/hosts"
: > "$ROOT/etc/resolv.conf.berth"; rm -f "$ROOT/etc/resolv.conf"; mv "$ROOT/etc/resolv.conf.berth" "$ROOT/etc/resolv.conf"
install -m 0644 "$REPO/image/files/fstab" "$ROOT/etc/fstab"
# containerd's overlayfs snapshotter: load the module at boot (containerd itself may not request modules).
echo overlay > "$ROOT/etc/modules-load.d/berth.conf"
install -m 0644 "$REPO/image/files/selinux-config" "$ROOT/etc/selinux/config"
# Quiet, fast boot: no login prompt on the serial console, nothing waits for a network that is not there.
chroot "$ROOT" systemctl mask containerd.service serial-getty@ttyS0.service getty@tty1.service systemd-networkd-wait-online.service \
  systemd-timesyncd.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer </dev/null >/dev/null 2>&1 || true
# Pre-create berth's state tree so it is labelled before the first boot (the snapshots dir is
# container_ro_file_t, and new layers inherit it; containers see the layers only through their rootfs
# overlay, which berth mounts with context=<the container's mount label>).
mkdir -p "$ROOT/var/lib/berth/host-containers" "$ROOT/var/lib/berth/containerd/io.containerd.snapshotter.v1.overlayfs/snapshots"
chmod 0711 "$ROOT/var/lib/berth"

# SELinux: install the modules, check neverallows at link time, label everything offline.
sed -i 's/^#\?\s*expand-check\s*=.*/expand-check = 1/' "$ROOT/etc/selinux/semanage.conf"
grep -q '^expand-check = 1' "$ROOT/etc/selinux/semanage.conf" || echo 'expand-check = 1' >> "$ROOT/etc/selinux/semanage.conf"
mkdir -p "$ROOT/tmp/pol"; cp "$POL"/*.pp "$ROOT/tmp/pol/"
chroot_proc "$ROOT"
chroot "$ROOT" semodule -n -i /tmp/pol/container.pp -i /tmp/pol/berth.pp </dev/null >"$CACHE/semodule.log" 2>&1 \
  || { chroot_proc_off "$ROOT"; cat "$CACHE/semodule.log" >&2; die "semodule failed (a neverallow may be violated)"; }
rm -rf "$ROOT/tmp/pol"

# ---- 5. initramfs (cached: depends on the base and the hook files only) --------------------------------
IKEY=$( (echo "$BASEKEY"; hash_of image/files/initramfs) | sha256sum | cut -c1-16)
INITRD="$CACHE/initrd-$IKEY.img"
install -m 0755 "$REPO/image/files/initramfs/hooks/berth-verity" "$ROOT/etc/initramfs-tools/hooks/berth-verity"
install -m 0755 "$REPO/image/files/initramfs/local-top/berth-verity" "$ROOT/etc/initramfs-tools/scripts/local-top/berth-verity"
sed -i 's/^MODULES=.*/MODULES=list/' "$ROOT/etc/initramfs-tools/initramfs.conf"
printf '%s\n' virtio_pci virtio_blk ext4 dm_mod dm_verity > "$ROOT/etc/initramfs-tools/modules"
if [ ! -f "$INITRD" ]; then
  log "initramfs: building"
  rm -f "$CACHE"/initrd-*.img
  chroot "$ROOT" mkinitramfs -o /tmp/initrd.img "$KVER" </dev/null >"$CACHE/initramfs.log" 2>&1 \
    || { chroot_proc_off "$ROOT"; cat "$CACHE/initramfs.log" >&2; die "mkinitramfs failed"; }
  mv "$ROOT/tmp/initrd.img" "$INITRD"
else
  log "initramfs: cached"
fi
mkdir -p "$OUT.tmp"; rm -rf "$OUT.tmp"/*
cp "$ROOT/boot/vmlinuz-$KVER" "$OUT.tmp/vmlinuz"; cp "$INITRD" "$OUT.tmp/initrd.img"
rm -f "$ROOT"/boot/initrd.img-* "$ROOT"/initrd.img* "$ROOT"/vmlinuz*

log "root: labelling"
chroot "$ROOT" setfiles -F -e /proc /etc/selinux/default/contexts/files/file_contexts / </dev/null >"$CACHE/setfiles.log" 2>&1 \
  || { chroot_proc_off "$ROOT"; tail "$CACHE/setfiles.log" >&2; die "setfiles failed"; }
chroot_proc_off "$ROOT"
getfattr --absolute-names -n security.selinux --only-values "$ROOT/usr/bin/berthd" | grep -q berthd_exec_t || die "berthd not labelled berthd_exec_t"

# ---- 6. disks: state (/var) and the verity-protected root ----------------------------------------------
log "disks: state.img"
mv "$ROOT/var" "$CACHE/work/var"; mkdir "$ROOT/var"
setfattr -n security.selinux -v "system_u:object_r:var_t:s0" "$ROOT/var"
mkfs.ext4 -q -F -L BERTHSTATE -d "$CACHE/work/var" "$OUT.tmp/state.img" 2G
log "disks: root.img (read-only ext4 + dm-verity)"
used_kb=$(du -sk --apparent-size "$ROOT" | cut -f1)
blocks=$(( (used_kb * 115 / 100 + 65536) / 4 ))
mkfs.ext4 -q -F -L BERTHROOT -b 4096 -O ^has_journal -m 0 -d "$ROOT" "$OUT.tmp/root.img" "$blocks"
# Shrink to the minimum so the image is as small as the content.
e2fsck -fy "$OUT.tmp/root.img" >/dev/null 2>&1 || true
resize2fs -M "$OUT.tmp/root.img" >/dev/null 2>&1
fsblocks=$(dumpe2fs -h "$OUT.tmp/root.img" 2>/dev/null | awk -F: '/^Block count/{gsub(/ /,"",$2); print $2}')
truncate -s $((fsblocks * 4096)) "$OUT.tmp/root.img"
hash_offset=$((fsblocks * 4096))
veritysetup format --data-blocks="$fsblocks" --hash-offset="$hash_offset" "$OUT.tmp/root.img" "$OUT.tmp/root.img" >"$OUT.tmp/verity.txt"
roothash=$(awk '/^Root hash:/{print $3}' "$OUT.tmp/verity.txt")
[ -n "$roothash" ] || die "veritysetup format gave no root hash"
veritysetup verify --hash-offset="$hash_offset" "$OUT.tmp/root.img" "$OUT.tmp/root.img" "$roothash" || die "fresh verity image does not verify"
# A file at a known place for the tamper test: its first block's byte offset in root.img.
canary_blk=$(debugfs -R "bmap /usr/share/berth/settings.toml 0" "$OUT.tmp/root.img" 2>/dev/null | tail -1)
cat > "$OUT.tmp/image.env" <<ENV
VERSION=$IMAGE_VERSION
VARIANT=$IMAGE_VARIANT
KVER=$KVER
ROOTHASH=$roothash
HASH_OFFSET=$hash_offset
CANARY_PATH=/usr/share/berth/settings.toml
CANARY_OFFSET=$((canary_blk * 4096))
ENV
echo "console=ttyS0 root=/dev/mapper/vroot ro rootfstype=ext4 berth.verity=/dev/vda berth.roothash=$roothash berth.hashoffset=$hash_offset selinux=1 security=selinux enforcing=1 quiet loglevel=3 systemd.show_status=0 panic=-1" > "$OUT.tmp/cmdline"
rm -rf "$OUT"; mv "$OUT.tmp" "$OUT"
rm -rf "$CACHE/work"
root_mb=$(( $(stat -c %s "$OUT/root.img") / 1048576 ))
k_mb=$(( ($(stat -c %s "$OUT/vmlinuz") + $(stat -c %s "$OUT/initrd.img")) / 1048576 ))
echo "ROOT_IMG_MB=$root_mb" >> "$OUT/image.env"; echo "KERNEL_INITRD_MB=$k_mb" >> "$OUT/image.env"
log "image: $OUT (root.img ${root_mb} MiB incl. verity hash tree, kernel+initrd ${k_mb} MiB) in $((SECONDS - T0)) s"
