#!/bin/bash
# berth VM self-test. Runs inside the booted image as berth-vmtest.service (unconfined_t, SELinux
# enforcing) from a tar on a raw disk; prints one PASS/FAIL line per check on the serial console.
# image/vm-test.sh counts them. Every check can fail: each compares what happened with what must happen.
set -u
exec 2>&1
T=/run/vmtest
. $T/env
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
CTR="ctr -a /run/berth/containerd/containerd.sock"
START=$(date +%s)
echo "BERTH-VMTEST START (uptime $(cut -d' ' -f1 /proc/uptime) s)"

FAILED=0
up() { cut -d. -f1 /proc/uptime; }
pass() { echo "PASS $1 [t=$(up)s]: ${2:-}"; }
fail() { echo "FAIL $1 [t=$(up)s]: ${2:-}"; FAILED=$((FAILED + 1)); }
check() { # NAME DETAIL CONDITION...
  local name=$1 detail=$2; shift 2
  if "$@"; then pass "$name" "$detail"; else fail "$name" "$detail"; fi
}
oneline() { tr '\n' ' ' | sed 's/  */ /g; s/ $//' | cut -c1-300; }
label_of() { tr -d '\0' < "/proc/$1/attr/current" 2>/dev/null; }
# PID of a running task by container id, in any containerd namespace of berth's containerd.
task_pid() {
  local ns
  for ns in $($CTR namespaces ls -q 2>/dev/null); do
    $CTR -n "$ns" task ls 2>/dev/null | awk -v n="$1" '$1 == n && $3 == "RUNNING" { print $2 }'
  done | head -1
}
wait_task() { # NAME TIMEOUT
  local i pid
  for ((i = 0; i < $2; i++)); do pid=$(task_pid "$1"); [ -n "$pid" ] && { echo "$pid"; return 0; }; sleep 1; done
  return 1
}
# Ask the kernel's loaded policy (selinuxfs access transaction) whether SCON may PERM on TCON:CLASS.
policy_allows() { # SCON TCON CLASS PERM
  local idx bit fd allowed rest
  idx=$(cat /sys/fs/selinux/class/$3/index) || return 2
  bit=$(cat /sys/fs/selinux/class/$3/perms/$4) || return 2
  exec {fd}<>/sys/fs/selinux/access || return 2
  printf '%s %s %s' "$1" "$2" "$idx" >&$fd
  read -r allowed rest <&$fd
  exec {fd}>&-
  (( (16#$allowed >> (bit - 1)) & 1 ))
}
q() { if policy_allows "$@"; then echo allow; else echo deny; fi; }
why() { timeout 60 berthctl status "$1" 2>&1 | grep -E 'state:|last error' | sed "s/^/INFO $1 /" | cut -c1-600; }
bexec() { timeout 60 berthctl exec "$@" 2>&1; }
# Exec in a workload. `berthctl exec` only knows units, so this goes through containerd (ctr), which
# runs the process with the container's spec, SELinux label included, exactly as berth's exec does.
wexec() {
  local name=$1 ns; shift; [ "$1" = -- ] && shift
  for ns in $($CTR namespaces ls -q 2>/dev/null); do
    if $CTR -n "$ns" task ls 2>/dev/null | awk -v n="$name" '$1 == n { f = 1 } END { exit !f }'; then
      timeout 60 $CTR -n "$ns" task exec --exec-id "vmt$RANDOM" "$name" "$@" 2>&1; return
    fi
  done
  echo "no task $name"; return 99
}

# ---------------------------------------------------------------------------------------------- host ---
mode=$(getenforce)
check selinux-enforcing "getenforce: $mode; policy $(awk -F= '/^SELINUXTYPE/{print $2}' /etc/selinux/config), modules: $(semodule -l 2>/dev/null | grep -E '^(berth|container)$' | oneline)" \
  test "$mode" = Enforcing

for i in $(seq 1 180); do [ "$(systemctl is-active berthd)" = active ] && break; sleep 1; done
bpid=$(systemctl show -p MainPID --value berthd)
blabel=$(label_of "$bpid")
check berthd-ready "systemd: $(systemctl show -p ActiveState,SubState,StatusText berthd | oneline); berthd PID $bpid runs as $blabel" \
  eval '[ "$(systemctl is-active berthd)" = active ] && [[ $blabel == system_u:system_r:berthd_t:* ]]'
cpid=$(cat /run/berth/containerd/containerd.pid 2>/dev/null)
clabel=$(label_of "$cpid")
check containerd-domain "berth's containerd PID $cpid runs as $clabel; API socket $(ls -Z /run/berth/api.sock | awk '{print $1}')" \
  eval '[[ $clabel == system_u:system_r:container_engine_t:* ]] && ls -Z /run/berth/api.sock | grep -q berth_api_socket_t'

# ------------------------------------------------------------------------- boot: UEFI, slot A, blessing ---
# vm-test.sh boots the A/B disk from image/disk.sh through OVMF and systemd-boot (no -kernel), the factory
# entry written with a boot counter (berth-<v>+3.conf) so that this boot has to be assessed and blessed.
EFIVARS=/sys/firmware/efi/efivars
LOADER_GUID=4a67b082-0a4c-41cf-b6c7-440b29bb8c4f
# 4 bytes of attributes, then UTF-16LE. Read through cat: efivarfs files do not seek (tail -c +5 on one reads nothing).
efivar() { [ -r "$EFIVARS/$1-$LOADER_GUID" ] && cat "$EFIVARS/$1-$LOADER_GUID" | tail -c +5 | tr -d '\0'; }
sel=$(efivar LoaderEntrySelected); countpath=$(efivar LoaderBootCountPath); loaderinfo=$(efivar LoaderInfo)
cmdline=$(cat /proc/cmdline)
slot_a=$(readlink -f /dev/disk/by-partlabel/BERTH-ROOT-A 2>/dev/null)
vdata=$(DM_DISABLE_UDEV=1 timeout 30 veritysetup status vroot 2>/dev/null | awk '/data device:/ { print $3 }')
state_part=$(readlink -f /dev/disk/by-partlabel/BERTH-STATE 2>/dev/null)
var_src=$(findmnt -no SOURCE /var)
echo "INFO boot: loader '$loaderinfo'; entry selected '$sel'; boot count path '$countpath'; cmdline: $cmdline"
[ -n "$sel" ] || echo "INFO bootctl: $(timeout 30 bootctl status --no-pager 2>&1 | grep -E 'Current Boot Loader|Product:|Current Entry|Boot count|Selected|ESP:|Features|Boot into' | head -12 | oneline)"
[ -n "$sel" ] || echo "INFO efivarfs: $(findmnt -no SOURCE,FSTYPE,OPTIONS /sys/firmware/efi/efivars | oneline); $(ls -la $EFIVARS 2>&1 | grep -c -- "-$LOADER_GUID") loader variables; $(ls -laZ $EFIVARS/LoaderEntrySelected-$LOADER_GUID 2>&1 | oneline); $(od -c $EFIVARS/LoaderEntrySelected-$LOADER_GUID 2>&1 | head -2 | oneline); $(journalctl -k -b --no-pager | grep 'avc:  denied' | grep -i efivar | head -3 | oneline)"
check uefi-systemd-boot-slot-a "/sys/firmware/efi: $([ -d /sys/firmware/efi ] && echo yes || echo no); loader '$loaderinfo' chose '$sel'; cmdline boots $(echo "$cmdline" | grep -o 'berth.verity=[^ ]*') with the image's root hash: $(echo "$cmdline" | grep -qw "berth.roothash=$ROOTHASH" && echo yes || echo no); verity data device $vdata = BERTH-ROOT-A ($slot_a); /var from $var_src = BERTH-STATE ($state_part)" \
  eval '[ -d /sys/firmware/efi ] && [[ $loaderinfo == systemd-boot* ]] && [[ $sel == berth-* ]] && [[ " $cmdline " == *" berth.verity=/dev/disk/by-partlabel/BERTH-ROOT-A "* ]] && [[ " $cmdline " == *" berth.roothash=$ROOTHASH "* ]] && [ -n "$slot_a" ] && [ "$(readlink -f "$vdata")" = "$slot_a" ] && [ -n "$state_part" ] && [ "$(readlink -f "$var_src")" = "$state_part" ]'

# The counted boot: systemd-bless-boot (pulled in by its generator because LoaderBootCountPath is set) waits
# for boot-complete.target, which requires berth-boot-check.service; on success the counter is removed.
# Without a counter (the -kernel fallback) nothing pulls systemd-bless-boot in: no point waiting for it.
for i in $(seq 1 $([ -n "$countpath" ] && echo 400 || echo 0)); do
  case "$(systemctl show -p ActiveState --value systemd-bless-boot.service)" in active|failed) break ;; esac
  case "$(systemctl show -p ActiveState --value berth-boot-check.service)" in failed) break ;; esac
  sleep 1
done
unit_state() { echo "$(systemctl show -p ActiveState --value "$1") $(systemctl show -p Result --value "$1")"; }
bc_state=$(unit_state berth-boot-check.service)
bless_state=$(unit_state systemd-bless-boot.service)
bc_out=$(journalctl -b -u berth-boot-check.service -o cat --no-pager 2>/dev/null | grep -E '^(ok|FAIL) |boot check' | oneline)
entries=$(ls /boot/efi/loader/entries 2>&1 | oneline)
bootver=${sel%.conf}; bootver=${bootver#berth-}; bootver=${bootver%%+*}
rec=$(ls /var/lib/berth/boot-check/*.json 2>/dev/null | head -1)
rec_passed=$(grep -oE '"(passed|entry)": *("[^"]*"|[a-z]*)' "$rec" 2>/dev/null | oneline)
check boot-blessed "booted with counter: ${countpath:-none}; berth-boot-check: $bc_state ($bc_out); record ${rec:-none}: $rec_passed; systemd-bless-boot: $bless_state ($(journalctl -b -u systemd-bless-boot.service -o cat --no-pager 2>/dev/null | tail -2 | oneline)); /boot/efi/loader/entries: $entries" \
  eval '[[ $countpath == *entries?berth-*+*.conf ]] && [ "$bc_state" = "active success" ] && [ "$bless_state" = "active success" ] && [[ " $entries " == *" berth-$bootver.conf "* ]] && [[ $entries != *"berth-$bootver+"* ]] && [[ $rec_passed == *true* ]]'
[ "$bless_state" = "active success" ] || journalctl -b -u systemd-bless-boot.service -u berth-boot-check.service -u boot-efi.mount -u boot-efi.automount --no-pager | tail -20 | sed 's/^/DEBUG bless: /'

# ------------------------------------------------------------------------------------------- control ---
ctl=$(wait_task control 90)
ctl_label=$(label_of "$ctl")
check control-label "control PID ${ctl:-none} runs as ${ctl_label:-?}" test "$ctl_label" = "system_u:system_r:control_t:s0-s0:c0.c1023"

if [ -z "$ctl" ]; then # nothing below can work; say why and stop early
  for n in control-api admin-label workload-labels workload-files-labelled workload-denied-other-workload workload-denied-host-paths workload-denied-api-socket workload-rootfs-labelled workload-denied-ro-entrypoint control-denied-super-only; do fail $n "not run: control never started"; done
  timeout 60 berthctl status control 2>&1 | sed 's/^/DEBUG status: /'
  journalctl -b -u berthd --no-pager | grep -v '"level":30' | tail -30 | sed 's/^/DEBUG berthd: /'
  journalctl -k -b --no-pager | grep 'avc:  denied' | sed 's/^/DEBUG /' | sort -u | tail -40
  echo "BERTH-VMTEST DONE"; exit 0
fi
cp $T/apiprobe /var/lib/berth/host-containers/control/apiprobe
out=$(bexec control -- /.berth/host-containers/control/apiprobe /run/berth/api.sock); rc=$?
check control-api "berthctl exec control -- apiprobe /run/berth/api.sock: rc=$rc: $(echo "$out" | oneline)" \
  eval '[ $rc = 0 ] && [[ $out == *"control_t"*"answered"* ]]'

# --------------------------------------------------------------------------------------------- admin ---
out=$(timeout 60 berthctl set host-containers.admin.enabled=true 2>&1 | oneline)
adm=$(wait_task admin 45) || why admin
adm_label=$(label_of "$adm")
check admin-label "berthctl set host-containers.admin.enabled=true ($out) -> admin PID ${adm:-none} runs as ${adm_label:-?}" \
  test "$adm_label" = "system_u:system_r:super_t:s0-s0:c0.c1023"

# ----------------------------------------------------------------------------------------- workloads ---
# A shared volume both workloads mount, a plain host dir (with a file carrying the label of berth's private
# state): all in the host-path allow-list, so berth's own checks let them through and only SELinux stands
# in the way. berth's settings dir is in the allow-list too, but berth itself refuses to mount it (it is
# inside berth's state dir, never mountable whatever the allow-list says).
mkdir -p $T/shared $T/host $T/hostw /var/lib/vmtest/tools
chcon -t container_file_t -l s0 $T/shared
# Tools the workloads run, on a read-only bind: the same busybox twice (both named busybox, which picks
# the applet from its name), one copy labelled like a workload's own files at s0 (container_file_t, which
# every workload may run), the other like the image layers on the host (ro/, container_ro_file_t, which
# no workload may enter): only the label differs.
mkdir -p /var/lib/vmtest/tools/ro
cp $T/apiprobe /var/lib/vmtest/tools/apiprobe; cp /bin/busybox /var/lib/vmtest/tools/busybox; cp /bin/busybox /var/lib/vmtest/tools/ro/busybox
chcon -R -t container_ro_file_t -l s0 /var/lib/vmtest/tools
chcon -t container_file_t -l s0 /var/lib/vmtest/tools/apiprobe /var/lib/vmtest/tools/busybox
echo "host secret" > $T/host/secret.txt; chmod 0644 $T/host/secret.txt
echo "berth private" > $T/host/berth-private.txt; chmod 0644 $T/host/berth-private.txt; chcon -t berth_var_lib_t $T/host/berth-private.txt
# The API socket, reachable under a path berth does not recognise (a hard link on the same tmpfs).
ln /run/berth/api.sock $T/shared/api.sock
# A host unit like control (so control_t, berth's label for non-superpowered host containers), but given
# what DAC and capabilities need to load a kernel module and to write a host directory: only SELinux can
# refuse it. Loaded by `systemctl reload berthd` (SIGHUP: berthd reads its unit dirs at start-up and on reload).
chmod 0777 $T/hostw
cat > /etc/berth/units.d/ctlprobe.toml <<UNIT
name = "ctlprobe"
class = "host"
description = "vm-test: control_t with CAP_SYS_MODULE and a writable host bind"
image = "localhost/berth/control:latest"
superpowered = false
capabilities = { add = ["CAP_SYS_MODULE"] }
mounts = [
  { type = "bind", source = "/run/vmtest/hostw", destination = "/hostw", options = ["rw"] },
  { type = "bind", source = "/lib/modules", destination = "/lib/modules", options = ["ro"] },
]
[restart]
policy = "always"
UNIT
timeout 60 systemctl reload berthd; echo "INFO systemctl reload berthd: rc=$?"
out=$(timeout 60 berthctl set --json '{"workloads.host-path-allow-list":["/run/vmtest/shared","/run/vmtest/host","/var/lib/vmtest/tools","/var/lib/berth/settings"]}' 2>&1 | oneline)
echo "INFO allow-list: $out"
for w in wl-a wl-b; do
  out=$(timeout 90 berthctl workloads run $w --image localhost/berth/control:latest \
    --mount /run/vmtest/shared:/shared:rw --mount /run/vmtest/host:/host:ro --mount /var/lib/vmtest/tools:/tools:ro \
    -- /bin/sh -c "echo $w-data > /shared/$w.txt; exec sleep 1000000" 2>&1 | oneline)
  echo "INFO workloads run $w: $out"
done
wa=$(wait_task wl-a 60) || why wl-a; wb=$(wait_task wl-b 30) || why wl-b
la=$(label_of "$wa"); lb=$(label_of "$wb")
re='^system_u:system_r:container_t:s0:c[0-9]+,c[0-9]+$'
check workload-labels "wl-a PID ${wa:-none} runs as ${la:-?}; wl-b PID ${wb:-none} runs as ${lb:-?}" \
  eval '[[ $la =~ $re ]] && [[ $lb =~ $re ]] && [ "${la##*:s0:}" != "${lb##*:s0:}" ]'
check workload-files-labelled "files the workloads wrote: $(ls -Z $T/shared/wl-a.txt $T/shared/wl-b.txt 2>&1 | oneline)" \
  eval 'ls -Z $T/shared/wl-a.txt | grep -q "container_file_t:${la##*:s0:}" 2>/dev/null || ls -Z $T/shared/wl-a.txt | grep -q "container_file_t:s0:${la##*:s0:}"'

own=$(wexec wl-a -- cat /shared/wl-a.txt); own_rc=$?
other=$(wexec wl-b -- cat /shared/wl-a.txt); other_rc=$?
check workload-denied-other-workload "wl-a reads its own file: rc=$own_rc '$(echo "$own" | oneline)'; wl-b reads wl-a's file: rc=$other_rc '$(echo "$other" | oneline)'" \
  eval '[ $own_rc = 0 ] && [ "$own" = wl-a-data ] && [ $other_rc != 0 ] && [[ $other == *"Permission denied"* ]]'

hostcat=$(cat $T/host/secret.txt)
wcat=$(wexec wl-a -- cat /host/secret.txt); wcat_rc=$?
wls=$(wexec wl-a -- cat /host/berth-private.txt); wls_rc=$?
wst=$(timeout 60 berthctl workloads run wl-state --image localhost/berth/control:latest --mount /var/lib/berth/settings:/berth-settings:ro -- /bin/true 2>&1); wst_rc=$?
check workload-denied-host-paths "host reads $T/host/secret.txt ('$hostcat', $(stat -c %A $T/host/secret.txt)); wl-a: cat /host/secret.txt rc=$wcat_rc '$(echo "$wcat" | oneline)'; cat /host/berth-private.txt (berth_var_lib_t) rc=$wls_rc '$(echo "$wls" | oneline)'; berth refuses /var/lib/berth/settings although allowed: rc=$wst_rc '$(echo "$wst" | oneline)'" \
  eval '[ "$hostcat" = "host secret" ] && [ $wcat_rc != 0 ] && [[ $wcat == *"Permission denied"* ]] && [ $wls_rc != 0 ] && [[ $wls == *"Permission denied"* ]] && [ $wst_rc != 0 ] && [[ $wst == *"mounts[0].source"*"state directory"* ]]'

hostprobe=$(/var/lib/vmtest/tools/apiprobe $T/shared/api.sock); hostprobe_rc=$?
wprobe=$(wexec wl-a -- /tools/apiprobe /shared/api.sock); wprobe_rc=$?
check workload-denied-api-socket "same socket inode: from the host rc=$hostprobe_rc '$(echo "$hostprobe" | oneline)'; from wl-a rc=$wprobe_rc '$(echo "$wprobe" | oneline)'" \
  eval '[ $hostprobe_rc = 0 ] && [ $wprobe_rc = 2 ] && [[ $wprobe == *"Permission denied"* ]]'

# berth mounts each container's rootfs with context=<its mount label>: a workload's image files carry its
# own MCS pair (seen from the host through the task's mount namespace), including the executable its
# PID 1 entered; host containers' rootfs is secret_t. The root stays read-only (berth's spec rule).
lbl() { stat -c %C "$1" 2>&1; }
ra=$(lbl /proc/$wa/root/bin/busybox); rb=$(lbl /proc/$wb/root/bin/busybox); ea=$(stat -L -c %C /proc/$wa/exe 2>&1)
rc_=$(lbl /proc/$ctl/root/bin/busybox); rad=$(lbl /proc/$adm/root/bin/busybox)
rw=$(wexec wl-a -- touch /rootfs-write-test); rw_rc=$?
check workload-rootfs-labelled "wl-a (${la:-?}): /bin/busybox $ra, PID 1's executable $ea; wl-b (${lb:-?}): /bin/busybox $rb; control: $rc_; admin: $rad; wl-a touch /rootfs-write-test: rc=$rw_rc '$(echo "$rw" | oneline)'" \
  eval '[ -n "$wa" ] && [ -n "$wb" ] && [ "$ra" = "system_u:object_r:container_file_t:${la##*:system_r:container_t:}" ] && [ "$ea" = "$ra" ] && [ "$rb" = "system_u:object_r:container_file_t:${lb##*:system_r:container_t:}" ] && [ "$ra" != "$rb" ] && [ "$rc_" = system_u:object_r:secret_t:s0 ] && [ "$rad" = system_u:object_r:secret_t:s0 ] && [ $rw_rc != 0 ] && [[ $rw == *"Read-only file system"* ]]'

# No container of berth's may enter the image layers' shared type any more (the module used to allow it
# while the rootfs was unlabelled): the kernel's policy says so, and a workload running the very same
# busybox from the two labels is refused only the container_ro_file_t copy, which the host runs fine.
WLP=system_u:system_r:container_t:s0:c1,c2
pe_ro=$(q $WLP system_u:object_r:container_ro_file_t:s0 file entrypoint); pe_own=$(q $WLP system_u:object_r:container_file_t:s0:c1,c2 file entrypoint)
pe_ctl=$(q system_u:system_r:control_t:s0-s0:c0.c1023 system_u:object_r:container_ro_file_t:s0 file entrypoint)
hro=$(/var/lib/vmtest/tools/ro/busybox echo host-ran-it 2>&1); hro_rc=$?
wok=$(wexec wl-a -- /tools/busybox echo wl-a-ran-it); wok_rc=$?
wro=$(wexec wl-a -- /tools/ro/busybox echo wl-a-ran-it); wro_rc=$?
# journald reads the kernel's AVC line a moment later: evidence only, not a condition.
for i in 1 2 3 4 5; do
  avc=$(journalctl -k -b --no-pager 2>/dev/null | grep 'avc:  denied  { entrypoint }' | grep 'path="/tools/ro/busybox"' | tail -1 | sed -E 's/.*avc:  denied/avc: denied/; s/ (dev|ino|pid)=[^ ]+//g')
  [ -n "$avc" ] && break; sleep 1
done
check workload-denied-ro-entrypoint "kernel policy: workload entrypoint container_ro_file_t=$pe_ro, own container_file_t=$pe_own; control entrypoint container_ro_file_t=$pe_ctl; host runs tools/ro/busybox ($(stat -c %C /var/lib/vmtest/tools/ro/busybox)): rc=$hro_rc '$hro'; wl-a runs /tools/busybox ($(stat -c %C /var/lib/vmtest/tools/busybox)): rc=$wok_rc '$(echo "$wok" | oneline)'; wl-a runs /tools/ro/busybox: rc=$wro_rc '$(echo "$wro" | oneline)'; ${avc:-no AVC logged}" \
  eval '[ "$pe_ro$pe_own$pe_ctl" = denyallowdeny ] && [ $hro_rc = 0 ] && [ "$hro" = host-ran-it ] && [ $wok_rc = 0 ] && [ "$wok" = wl-a-ran-it ] && [ $wro_rc != 0 ] && [[ ${wro,,} == *"permission denied"* ]]'

# ----------------------------------------------------------------------- control vs super (policy) ---
CT=system_u:system_r:control_t:s0-s0:c0.c1023; SU=system_u:system_r:super_t:s0-s0:c0.c1023
WL=system_u:system_r:container_t:s0:c1,c2
r1c=$(q $CT $CT capability sys_module); r1s=$(q $SU $SU capability sys_module)
r2c=$(q $CT system_u:object_r:proc_kcore_t:s0 file read); r2s=$(q $SU system_u:object_r:proc_kcore_t:s0 file read)
r3c=$(q $CT system_u:object_r:bin_t:s0 file write); r3s=$(q $SU system_u:object_r:bin_t:s0 file write)
r4c=$(q $CT system_u:object_r:berth_api_socket_t:s0 sock_file write); r4w=$(q $WL system_u:object_r:berth_api_socket_t:s0 sock_file write)
r5c=$(q $CT system_u:system_r:berthd_t:s0 unix_stream_socket connectto); r5w=$(q $WL system_u:system_r:berthd_t:s0 unix_stream_socket connectto)
check policy-control-vs-super "kernel policy: sys_module control=$r1c super=$r1s; read /proc/kcore control=$r2c super=$r2s; write host binaries control=$r3c super=$r3s; API socket write control=$r4c workload=$r4w; connect berthd control=$r5c workload=$r5w" \
  test "$r1c$r1s$r2c$r2s$r3c$r3s$r4c$r4w$r5c$r5w" = "denyallowdenyallowdenyallowallowdenyallowdeny"

# -------------------------------------------------------------- control vs super (behaviour) ---
# A host unit like control (so control_t), but given what DAC and capabilities need to load a kernel
# module and to write a host directory: only SELinux can refuse it. The admin container (super_t) does
# the same and succeeds.
mod=$(find /lib/modules/$(uname -r) -name dummy.ko | head -1)
probe=$(wait_task ctlprobe 45) || why ctlprobe
plabel=$(label_of "$probe")
cw=$(bexec ctlprobe -- sh -c 'echo x > /hostw/from-control'); cw_rc=$?
cm=$(bexec ctlprobe -- insmod "$mod"); cm_rc=$?
loaded_c=$(grep -c '^dummy ' /proc/modules)
aw=$(bexec admin -- sh -c 'echo x > /.berth/rootfs/run/vmtest/hostw/from-admin'); aw_rc=$?
am=$(bexec admin -- insmod "/.berth/rootfs$mod"); am_rc=$?
loaded_a=$(grep -c '^dummy ' /proc/modules)
rmmod dummy 2>/dev/null
check control-denied-super-only "ctlprobe runs as ${plabel:-?}: write host dir rc=$cw_rc '$(echo "$cw" | oneline)', insmod dummy rc=$cm_rc '$(echo "$cm" | oneline)' (loaded: $loaded_c); admin (super_t): write rc=$aw_rc, insmod rc=$am_rc '$(echo "$am" | oneline)' (loaded: $loaded_a)" \
  eval '[ "$plabel" = "$CT" ] && [ $cw_rc != 0 ] && [ $cm_rc != 0 ] && [ $loaded_c = 0 ] && [ $aw_rc = 0 ] && [ $am_rc = 0 ] && [ $loaded_a = 1 ]'
echo "INFO AVC denials seen: $(journalctl -k -b --no-pager 2>/dev/null | grep -c 'avc:  denied') — for berth's labels:"
journalctl -k -b --no-pager 2>/dev/null | grep 'avc:  denied' | grep -E 'scontext=system_u:system_r:(container_t|control_t)' | sed -E 's/.*avc:  denied/INFO   avc: denied/; s/ (dev|ino|pid)=[^ ]+//g' | sort -u | head -15

# ---------------------------------------------------------------------------------- read-only root ---
t1=$(touch /usr/bin/x 2>&1); t1_rc=$?
t2=$(touch /etc/x 2>&1); t2_rc=$?
t3=$(touch /etc/berth/units.d/.w 2>&1 && rm -f /etc/berth/units.d/.w); t3_rc=$?
rootopts=$(findmnt -no SOURCE,OPTIONS /)
vstat=$(DM_DISABLE_UDEV=1 timeout 30 veritysetup status vroot 2>&1 | grep -E 'type|status|mode|data device' | oneline)
check root-read-only "/ is $rootopts; touch /usr/bin/x: rc=$t1_rc '$t1'; touch /etc/x: rc=$t2_rc '$t2'; /etc/berth writable: rc=$t3_rc; verity: $vstat" \
  eval '[ $t1_rc != 0 ] && [[ $t1 == *"Read-only file system"* ]] && [ $t2_rc != 0 ] && [ $t3_rc = 0 ] && [[ $rootopts == *ro,* || $rootopts == *" ro" ]] && [[ $vstat == *"type: VERITY"* ]] && [[ $vstat == *"status: verified"* ]]'

# A copy of the root with one byte flipped inside $CANARY_PATH's data (done by vm-test.sh), opened with the
# same root hash: the kernel must refuse that block, while the real root serves it.
blk=$((CANARY_OFFSET / 4096))
good=$(timeout 60 dd if=/dev/mapper/vroot bs=4096 skip=$blk count=1 status=none | head -c 40 | oneline); good_rc=${PIPESTATUS[0]}
# No udev handshake (libdevmapper would wait for udev's confirmation): veritysetup makes the node itself.
export DM_DISABLE_UDEV=1
timeout 60 veritysetup open /dev/disk/by-id/virtio-berthtampered vtamper /dev/disk/by-id/virtio-berthtampered "$ROOTHASH" --hash-offset="$HASH_OFFSET" 2>&1 | oneline
bad=$(timeout 60 dd if=/dev/mapper/vtamper of=/dev/null bs=4096 skip=$blk count=1 2>&1); bad_rc=$?
kmsg=$(journalctl -k -b --no-pager 2>/dev/null | grep -i 'verity' | grep -i corrupt | tail -1 | sed 's/.*kernel: //')
timeout 30 veritysetup close vtamper 2>/dev/null; unset DM_DISABLE_UDEV
check verity-tamper-detected "block $blk ($CANARY_PATH) from the real root: rc=$good_rc '$good'; from the tampered copy: rc=$bad_rc '$(echo "$bad" | oneline)'; kernel: $kmsg" \
  eval '[ $good_rc = 0 ] && [ $bad_rc != 0 ] && [[ $bad == *"Input/output error"* ]]'

# ------------------------------------------------------------------------------- berthd restart ---
before=""
for n in control admin wl-a wl-b; do p=$(task_pid $n); before+="$n=$p:$(label_of "$p") "; done
old_main=$(systemctl show -p MainPID --value berthd)
timeout 120 systemctl restart berthd; rs_rc=$?
for i in $(seq 1 180); do [ "$(systemctl is-active berthd)" = active ] && break; sleep 1; done
new_main=$(systemctl show -p MainPID --value berthd)
sleep 3
after=""
for n in control admin wl-a wl-b; do p=$(task_pid $n); after+="$n=$p:$(label_of "$p") "; done
st=$(timeout 60 berthctl units --output json 2>/dev/null | grep -oE '"(name|state)": *"[^"]*"' | sed 's/"//g; s/: */=/' | paste -sd' ' | cut -c1-200)
check restart-keeps-containers "systemctl restart berthd rc=$rs_rc, berthd PID $old_main -> $new_main ($(systemctl is-active berthd)); before: $before; after: $after; units: $st" \
  eval '[ $rs_rc = 0 ] && [ "$old_main" != "$new_main" ] && [ "$(systemctl is-active berthd)" = active ] && [ "$before" = "$after" ] && [[ $before != *"=:"* ]]'

# ------------------------------------------------------------------- crun vs runc (issue 20 item 4) ---
# The same idle host container under runc and under crun (oci-runtime.binary applies to containers created
# after the commit). Figures, not a pass/fail on speed: P1 = `berthctl start` -> RUNNING of one unit,
# median of P1N starts per runtime, in the order runc crun crun runc runc crun … (each runtime as often
# early as late, so a change of load on the machine running the VM weighs on both alike); P2 = P2N units
# enabled in one commit -> all RUNNING, once per runtime. Each also as berthd saw it, from the units' own
# events (`preparing` -> `running`), which leaves out berthctl's own process. Then: a unit really runs
# under crun (crun's state of it, same PID, runc's has none), and SELinux labels apply under crun (a host
# container and a workload). About 2½ minutes of the VM's time on a busy 2-core host.
P1N=6; P2N=10
CRUN_T0=$(date +%s)
RUNC_ROOT=/run/berth/runc
cat > $T/perf.js <<'JS'
// `node perf.js units NAMES... < units.json`: "<first preparing ms> <last running ms>" over the named units,
// each from its latest preparing -> running, or "incomplete" if one is not running.
// `node perf.js starts FILES...`: per file (the output of `berthctl start --output json`), that start's
// preparing -> running in ms, or "x" (one node start for all: node is slow to start under TCG).
const fs = require('node:fs');
function span(units, names) {
  let first = Infinity, last = -Infinity, seen = 0;
  for (const u of units) {
    if (!names.has(u.name) || u.state !== 'running') continue;
    const states = (u.events ?? []).map((e) => e.state);
    const p = states.lastIndexOf('preparing'), r = states.lastIndexOf('running');
    if (p < 0 || r < p) continue;
    seen++;
    first = Math.min(first, Date.parse(u.events[p].at));
    last = Math.max(last, Date.parse(u.events[r].at));
  }
  return seen === names.size ? [first, last] : undefined;
}
const [mode, ...args] = process.argv.slice(2);
if (mode === 'starts') {
  for (const f of args) {
    let s;
    try { const u = JSON.parse(fs.readFileSync(f, 'utf8')); s = span([u], new Set([u.name])); } catch { s = undefined; }
    console.log(s ? s[1] - s[0] : 'x');
  }
} else {
  const data = JSON.parse(fs.readFileSync(0, 'utf8'));
  const s = span(Array.isArray(data) ? data : [data], new Set(args));
  console.log(s ? `${s[0]} ${s[1]}` : 'incomplete');
}
JS
ms() { echo $(( $(date +%s%N) / 1000000 )); }
median() { sort -n | awk '{ a[NR] = $1 } END { if (NR) print a[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a > 0 && b != "") printf "%.2f", b / a; else print "?" }'; }
all_in() { # STATE NAMES...: each in STATE by `berthctl units`
  local want=$1 table n; shift
  table=$(timeout 60 berthctl units 2>/dev/null) || return 1
  for n in "$@"; do echo "$table" | awk -v n="$n" -v s="$want" '$1 == n && $3 == s { f = 1 } END { exit !f }' || return 1; done
}
wait_all() { # STATE TIMEOUT NAMES...
  local want=$1 limit=$2 i; shift 2
  for ((i = 0; i < limit; i++)); do all_in "$want" "$@" && return 0; sleep 1; done
  return 1
}
P2NAMES=(); for ((i = 1; i <= P2N; i++)); do P2NAMES+=("perf$i"); done
p2_set() { # true|false
  local args=() n
  for n in "${P2NAMES[@]}"; do args+=("host-containers.$n.source=localhost/berth/control:latest" "host-containers.$n.enabled=$1"); done
  timeout 60 berthctl set "${args[@]}" 2>&1 | oneline
}
out=$(timeout 60 berthctl set host-containers.perf0.source=localhost/berth/control:latest host-containers.perf0.enabled=true 2>&1 | oneline)
wait_all running 60 perf0 || why perf0
declare -A WALLS SIDES P1W P1B P2W P2B FILES
current=""
for ((k = 0; k < 2 * P1N; k++)); do
  rt=runc; [ $(( (k + 1) / 2 % 2 )) = 1 ] && rt=crun # runc crun crun runc runc crun …
  [ $rt = "$current" ] || { timeout 60 berthctl set oci-runtime.binary=$rt >/dev/null 2>&1; current=$rt; }
  timeout 60 berthctl stop perf0 >/dev/null 2>&1
  t0=$(ms); timeout 60 berthctl start perf0 --output json > $T/p1-$k.json 2>&1; rc=$?; t1=$(ms)
  # The unit's own state comes before its events' in the JSON.
  grep -m1 '"state"' $T/p1-$k.json | grep -q '"running"' || rc=1
  if [ $rc != 0 ]; then echo "INFO P1 $rt start $k failed: $(oneline < $T/p1-$k.json | cut -c1-200)"; why perf0; continue; fi
  WALLS[$rt]+="$((t1 - t0)) "; FILES[$rt]+="$T/p1-$k.json "
  # perf0 as started under runc: crun does not know it, runc does (the contrast for crun-runs-unit).
  if [ $rt = runc ] && [ -z "${under_runc_crun_rc:-}" ]; then
    crun --root $RUNC_ROOT/berth state perf0 >/dev/null 2>&1; under_runc_crun_rc=$?
    runc --root $RUNC_ROOT/berth state perf0 2>/dev/null | grep -q '"status": "running"'; under_runc_runc_rc=$?
  fi
done
# perf0 ends under crun for the checks below (with an even P1N the order ends on runc).
[ "$current" = crun ] || { timeout 60 berthctl set oci-runtime.binary=crun >/dev/null 2>&1; timeout 60 berthctl restart perf0 >/dev/null 2>&1; }
for rt in runc crun; do
  [ -n "${FILES[$rt]:-}" ] && SIDES[$rt]=$(node $T/perf.js starts ${FILES[$rt]} | grep -v x | paste -sd' ')
  P1W[$rt]=$(printf '%s\n' ${WALLS[$rt]:-} | median); P1B[$rt]=$(printf '%s\n' ${SIDES[$rt]:-} | median)
  echo "INFO P1 $rt (ms, berthctl start -> running): ${WALLS[$rt]:-none}; berthd-side: ${SIDES[$rt]:-none}"
done
echo "INFO crun-vs-runc P1 runc=${P1W[runc]:-?} crun=${P1W[crun]:-?} ratio=$(ratio "${P1W[runc]:-0}" "${P1W[crun]:-}") (berthd-side runc=${P1B[runc]:-?} crun=${P1B[crun]:-?} ratio=$(ratio "${P1B[runc]:-0}" "${P1B[crun]:-}"); median of $P1N each, interleaved; section at $(( $(date +%s) - CRUN_T0 )) s)"
for rt in runc crun; do
  # A runtime that started nothing would only make P2 wait for its time limit.
  [ -n "${WALLS[$rt]:-}" ] || { echo "INFO P2 $rt: skipped (no P1 start succeeded)"; continue; }
  timeout 60 berthctl set oci-runtime.binary=$rt >/dev/null 2>&1
  t0=$(ms); out=$(p2_set true)
  if wait_all running 180 "${P2NAMES[@]}"; then
    read -r a b < <(timeout 60 berthctl units --output json 2>/dev/null | node $T/perf.js units "${P2NAMES[@]}")
    if [ -n "${b:-}" ]; then P2W[$rt]=$((b - t0)); P2B[$rt]=$((b - a)); fi
  else
    echo "INFO P2 $rt: not all $P2N running within 180 s ($out)"; why perf1
  fi
  out=$(p2_set false)
  [ $rt = crun ] || wait_all stopped 120 "${P2NAMES[@]}" || echo "INFO P2 $rt: not all stopped within 120 s ($out)"
done
echo "INFO crun-vs-runc P2 runc=${P2W[runc]:-?} crun=${P2W[crun]:-?} ratio=$(ratio "${P2W[runc]:-0}" "${P2W[crun]:-}") (berthd-side runc=${P2B[runc]:-?} crun=${P2B[crun]:-?} ratio=$(ratio "${P2B[runc]:-0}" "${P2B[crun]:-}"); $P2N units in one commit; section at $(( $(date +%s) - CRUN_T0 )) s)"

# perf0 was last started with oci-runtime.binary=crun: crun keeps its state (runc's does not have it) and
# names the task's PID; the shim's bundle records the binary it was given.
p0=$(task_pid perf0); p0_label=$(label_of "$p0")
cstate=$(crun --root $RUNC_ROOT/berth state perf0 2>&1); cstate_rc=$?
cpid=$(echo "$cstate" | awk -F'[:,]' '/"pid"/ { gsub(/ /, "", $2); print $2 }')
rstate=$(runc --root $RUNC_ROOT/berth state perf0 2>&1 | oneline | cut -c1-100)
optjson=$(find /run/berth/containerd -path '*/berth/perf0/options.json' 2>/dev/null | head -1)
check crun-runs-unit "perf0 PID ${p0:-none}; crun --root $RUNC_ROOT/berth state perf0: rc=$cstate_rc pid=${cpid:-?} $(echo "$cstate" | grep -o '"status": *"[a-z]*"' | oneline); runc state: '$rstate'; shim options: $( [ -n "$optjson" ] && oneline < "$optjson"); under runc before: crun state rc=${under_runc_crun_rc:-?}, runc state running rc=${under_runc_runc_rc:-?}" \
  eval '[ -n "$p0" ] && [ $cstate_rc = 0 ] && [ "$cpid" = "$p0" ] && [[ $cstate == *"\"running\""* ]] && [ "${under_runc_crun_rc:-0}" != 0 ] && [ "${under_runc_runc_rc:-1}" = 0 ]'

out=$(timeout 90 berthctl workloads run wl-crun --image localhost/berth/control:latest -- /bin/sh -c 'exec sleep 1000000' 2>&1 | oneline)
wc_=$(wait_task wl-crun 60) || why wl-crun
lc=$(label_of "$wc_"); rcl=$(stat -c %C /proc/$wc_/root/bin/busybox 2>&1)
wstate=$(crun --root $RUNC_ROOT/berth-workloads state wl-crun 2>&1); wstate_rc=$?
wpid=$(echo "$wstate" | awk -F'[:,]' '/"pid"/ { gsub(/ /, "", $2); print $2 }')
check crun-selinux-labels "under crun: perf0 (host) PID ${p0:-none} runs as ${p0_label:-?}; workload wl-crun PID ${wc_:-none} (crun state rc=$wstate_rc pid=${wpid:-?}) runs as ${lc:-?}, its /bin/busybox $rcl" \
  eval '[ "$p0_label" = "$CT" ] && [[ $lc =~ $re ]] && [ "$wpid" = "$wc_" ] && [ "$rcl" = "system_u:object_r:container_file_t:${lc##*:system_r:container_t:}" ]'
timeout 60 berthctl workloads rm wl-crun >/dev/null 2>&1
timeout 60 berthctl set oci-runtime.binary=runc host-containers.perf0.enabled=false >/dev/null 2>&1
echo "INFO crun-vs-runc section took $(( $(date +%s) - CRUN_T0 )) s"

if [ $FAILED -gt 0 ]; then # context for whoever reads the console log
  journalctl -b -u berthd --no-pager | tail -40 | sed 's/^/DEBUG berthd: /'
  journalctl -k -b --no-pager | grep 'avc:  denied' | sed 's/^/DEBUG /' | sort -u | tail -40
fi
echo "INFO checks took $(( $(date +%s) - START )) s inside the VM (uptime $(cut -d' ' -f1 /proc/uptime) s)"
echo "BERTH-VMTEST DONE"
