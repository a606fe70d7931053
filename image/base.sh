#!/usr/bin/env bash
# Stage 1: the Debian bookworm base (debootstrap --variant=minbase + image packages), cached under
# .cache/image/base-<key>, key = suite + package list. Prints the base dir on stdout.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
require_root
key=$(printf '%s\n' "$SUITE" "${IMAGE_PACKAGES[@]}" "${BUILD_ONLY_PACKAGES[@]}" | sha256sum | cut -c1-12)
base="$CACHE/base-$key"
if [ -f "$base/.berth-base-complete" ]; then
  log "base: cached ($base)"
  echo "$base"; exit 0
fi
ensure_host_tools
mkdir -p "$CACHE"
tmp="$base.tmp"
rm -rf "$tmp"
include=$(IFS=,; echo "${IMAGE_PACKAGES[*]},${BUILD_ONLY_PACKAGES[*]}")
log "base: debootstrap $SUITE (minbase) into $tmp"
start=$SECONDS
# No initramfs build inside debootstrap's kernel install is wasted: build.sh makes its own initramfs.
debootstrap --variant=minbase --include="$include" "$SUITE" "$tmp" "$MIRROR" </dev/null >"$CACHE/debootstrap.log" 2>&1 \
  || { tail -30 "$CACHE/debootstrap.log" >&2; die "debootstrap failed (log: $CACHE/debootstrap.log)"; }
rm -rf "$tmp/var/cache/apt/archives/"*.deb "$tmp/var/lib/apt/lists/"*_Packages 2>/dev/null || true
touch "$tmp/.berth-base-complete"
rm -rf "$base"; mv "$tmp" "$base"
# Older bases are useless once the key changed.
for old in "$CACHE"/base-*; do [ "$old" = "$base" ] || rm -rf "$old"; done
log "base: done in $((SECONDS - start)) s"
echo "$base"
