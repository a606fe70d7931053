#!/bin/bash
# berth VM update test, the guest's side (image/vm-update-test.sh runs it). Runs at every boot as
# berth-vmtest.service (unconfined_t, SELinux enforcing); the phase is kept on the state partition, so each
# boot knows where the run stands:
#   start       v1 (factory image): change settings, point updates at repository 1 (v2), check, apply, reboot
#   on-v2       v2 must run, blessed, settings kept; point at repository 2 (v3), apply v3, reboot
#   on-v3       v3's boot check fails (its control is never healthy): the host reboots by itself, three
#               tries, then systemd-boot falls back to v2; there `update status` reports the rollback of v3
#               and why, and a repository with one tampered target is refused
# The repositories come on a read-only disk (serial berthrepo) served by busybox httpd on 127.0.0.1:80 (the
# guest has no network device). Prints PASS/FAIL lines, TIMELINE lines the host stamps, and DONE at the end.
set -u
exec 2>&1
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
T=/run/vmtest
S=/var/lib/berth-vmtest
mkdir -p $S
# This service powers the VM off when it ends (ExecStopPost), unless a boot is meant to go on: v3's boots
# must reboot by their failed boot check, not power off.
touch $T/keep-running
FAILED=0
up() { cut -d. -f1 /proc/uptime; }
pass() { echo "PASS $1 [t=$(up)s]: ${2:-}"; }
fail() { echo "FAIL $1 [t=$(up)s]: ${2:-}"; FAILED=$((FAILED + 1)); echo "$1" >> $S/failed; }
check() { local name=$1 detail=$2; shift 2; if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi; }
oneline() { tr '\n' ' ' | sed 's/  */ /g; s/ $//' | cut -c1-500; }
timeline() { echo "TIMELINE $*"; }
done_run() { # ends the run: the host counts PASS/FAIL from here
  [ -s $S/failed ] && echo "INFO failed checks over the whole run: $(oneline < $S/failed)"
  echo "BERTH-VMTEST DONE"
  rm -f $T/keep-running
  exit 0
}
LOADER_GUID=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
efivar() { [ -r "/sys/firmware/efi/efivars/$1-$LOADER_GUID" ] && cat "/sys/firmware/efi/efivars/$1-$LOADER_GUID" | tail -c +5 | tr -d '\0'; }
unit_state() { echo "$(systemctl show -p ActiveState --value "$1") $(systemctl show -p Result --value "$1")"; }
entries() { ls /boot/efi/loader/entries 2>&1 | oneline; }
bctl() { timeout 300 berthctl "$@" 2>&1; }
# Waits (up to $2 s) until `berthctl status $1` says state running.
wait_running() {
  local i
  for ((i = 0; i < $2; i++)); do berthctl status "$1" 2>/dev/null | grep -q '^ *state: *running' && return 0; sleep 1; done
  return 1
}
wait_ready() { # berthd answers and has reconciled
  local i
  for ((i = 0; i < 300; i++)); do
    [ "$(systemctl show -p StatusText --value berthd.service)" != "" ] && berthctl units >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}
# The boot's own assessment, and systemd-bless-boot after it (only on a counted boot).
wait_assessed() {
  local i
  for ((i = 0; i < 300; i++)); do
    case "$(systemctl show -p ActiveState --value systemd-bless-boot.service)" in active|failed) return 0 ;; esac
    case "$(systemctl show -p ActiveState --value berth-boot-check.service)" in failed) return 0 ;; esac
    sleep 1
  done
  return 1
}

# The repositories, served as a host would fetch them.
mkdir -p $T/repo
mount -o ro /dev/disk/by-id/virtio-berthrepo $T/repo || fail repo-disk "mount of the repository disk failed"
busybox httpd -p 127.0.0.1:80 -h $T/repo || fail repo-server "busybox httpd did not start"
URL=http://127.0.0.1

. /etc/os-release
PHASE=$(cat $S/phase 2>/dev/null || echo start)
SEL=$(efivar LoaderEntrySelected)
COUNT=$(efivar LoaderBootCountPath)
echo "$(date -u +%s) $VERSION_ID ${SEL:-?}" >> $S/boots
timeline "booted $VERSION_ID (entry ${SEL:-?}, boot counter ${COUNT:-none}; phase $PHASE; boot $(wc -l < $S/boots); uptime $(up) s)"
wait_ready || fail berthd-ready "berthd did not answer within 300 s"

case "$PHASE:$VERSION_ID" in
start:1.0.0)
  check v1-running "os-release VERSION_ID=$VERSION_ID, entry $SEL" [ "$SEL" = berth-1.0.0.conf ]
  wait_running control 120 || fail v1-control "control is not running: $(berthctl status control 2>&1 | oneline)"
  # Changes an operator makes on v1 that must survive the updates: admin on, an ordinary setting, and the
  # short boot-check timeout this test needs so that v3's three failing boots fit the time budget.
  out=$(bctl set host-containers.admin.enabled=true updates.health-timeout=30s \
    updates.metadata-base-url=$URL/repo1/metadata updates.targets-base-url=$URL/repo1/targets)
  echo "INFO set: $(echo "$out" | oneline)"
  wait_running admin 180 || fail v1-admin "admin is not running: $(berthctl status admin 2>&1 | oneline)"
  timeline "v1: settings changed, admin running"
  out=$(bctl update check); echo "$out" | sed 's/^/INFO check: /'
  check v1-check-sees-v2 "update check: $(echo "$out" | grep -E 'available|chosen' | oneline)" eval '[[ $out == *"chosen"*"2.0.0"* ]]'
  echo on-v2 > $S/phase
  timeline "v1: update apply --reboot (2.0.0)"
  t0=$(date +%s%N)
  out=$(bctl update apply --reboot); rc=$?
  echo "$out" | sed 's/^/INFO apply: /'
  echo "INFO apply of 2.0.0 took $(( ($(date +%s%N) - t0) / 1000000 )) ms; entries now: $(entries)"
  if [ $rc -ne 0 ]; then fail v1-apply "update apply --reboot exited $rc"; done_run; fi
  pass v1-apply "2.0.0 written to the inactive slot and verified; entries: $(entries)"
  timeline "v1: rebooting into 2.0.0"
  exit 0 ;;
on-v2:2.0.0)
  wait_assessed
  bc=$(unit_state berth-boot-check.service); bless=$(unit_state systemd-bless-boot.service); ents=$(entries)
  check v2-blessed "entry $SEL (counter $COUNT); berth-boot-check: $bc; systemd-bless-boot: $bless; entries: $ents" \
    eval '[[ $COUNT == *berth-2.0.0+* ]] && [ "$bless" = "active success" ] && [[ " $ents " == *" berth-2.0.0.conf "* ]]'
  timeline "v2: boot checked and blessed"
  got="$(berthctl get host-containers.admin.enabled 2>&1 | oneline) $(berthctl get updates.health-timeout 2>&1 | oneline)"
  check v2-settings-kept "settings changed on v1: $got" eval '[[ $got == *true* && $got == *30s* ]]'
  wait_running admin 180; check v2-admin-running "admin: $(berthctl status admin 2>&1 | grep -E 'state:' | oneline)" wait_running admin 1
  st=$(bctl update status); echo "$st" | sed 's/^/INFO status: /'
  check v2-status "update status: $(echo "$st" | grep -E '^ *(state|running)' | oneline)" eval '[[ $st == *running*2.0.0* ]]'
  bctl set updates.metadata-base-url=$URL/repo2/metadata updates.targets-base-url=$URL/repo2/targets >/dev/null
  out=$(bctl update check)
  check v2-check-sees-v3 "update check: $(echo "$out" | grep -E 'available|chosen' | oneline)" eval '[[ $out == *"chosen"*"3.0.0"* ]]'
  echo on-v3 > $S/phase
  timeline "v2: update apply --reboot (3.0.0)"
  out=$(bctl update apply --reboot); rc=$?
  echo "$out" | sed 's/^/INFO apply: /'
  if [ $rc -ne 0 ]; then fail v2-apply "update apply --reboot exited $rc"; done_run; fi
  pass v2-apply "3.0.0 written and verified; entries: $(entries)"
  timeline "v2: rebooting into 3.0.0"
  exit 0 ;;
on-v3:3.0.0)
  # Nothing to do: control never becomes healthy, berth-boot-check fails after updates.health-timeout and
  # reboots the host. Only the record of it is printed.
  timeline "v3: try $(grep -c ' 3.0.0 ' $S/boots) (counter ${COUNT:-none}); waiting for the boot check to fail"
  exit 0 ;;
on-v3:2.0.0)
  tries=$(grep -c ' 3.0.0 ' $S/boots)
  timeline "back on 2.0.0 after $tries boots of 3.0.0"
  # The tries are counted by systemd-boot in the entry's name (+0-3: none left, three done); this script saw
  # $tries of those boots (a boot could reboot before this service started, on a slow machine).
  check fallback-after-three-tries "3.0.0's entry after its tries: $(entries); this script saw $tries boots of 3.0.0; then systemd-boot chose $SEL" \
    eval '[ "$tries" -ge 1 ] && [ "$SEL" = berth-2.0.0.conf ] && [[ "$(entries)" == *"berth-3.0.0+0-3.conf"* ]]'
  st=$(bctl update status); echo "$st" | sed 's/^/INFO status: /'
  rb=$(echo "$st" | grep 'last rollback' | oneline)
  check rollback-reported "$rb" eval '[[ $rb == *3.0.0*2.0.0* && $rb == *control* ]]'
  rec=$(cat /var/lib/berth/boot-check/3.0.0.json 2>&1 | oneline)
  echo "INFO the failed boot's record: $rec"
  wait_running control 120; check fallback-control-running "control on 2.0.0: $(berthctl status control 2>&1 | grep state: | oneline)" wait_running control 1
  # A repository whose one target (3.0.0's root image) was changed after signing: refused, nothing written.
  before=$(entries)
  bctl set updates.metadata-base-url=$URL/tampered/metadata updates.targets-base-url=$URL/tampered/targets updates.version-lock=3.0.0 >/dev/null
  bctl update check >/dev/null
  out=$(bctl update apply); rc=$?
  echo "$out" | sed 's/^/INFO tampered apply: /'
  check tampered-target-refused "apply from the tampered repository: rc=$rc: $(echo "$out" | oneline); entries before: $before, after: $(entries)" \
    eval '[ $rc -ne 0 ] && [[ $out == *"do not match the signed sha256"* ]] && [ "$before" = "$(entries)" ]'
  timeline "tampered repository refused"
  done_run ;;
*)
  fail unexpected-boot "phase $PHASE booted version $VERSION_ID (entry $SEL); boots so far: $(oneline < $S/boots)"
  done_run ;;
esac
