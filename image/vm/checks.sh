#!/bin/bash
# Runs inside the VM (berth-vmtest.service, unconfined_t). Prints PASS/FAIL lines on the console.
set -u
exec 2>&1
T=/run/vmtest
. $T/env
echo "BERTH-VMTEST START $(date +%s)"
echo "INFO kernel $(uname -r); $(cat /proc/cmdline | tr ' ' '\n' | grep -E '^(enforcing|selinux)=' | tr '\n' ' ')"
echo "INFO getenforce: $(getenforce)"
systemctl is-active berthd; systemctl status berthd --no-pager | head -20
berthctl units --output json | head -50
ls -laZ /run/berth /var/lib/berth
ps -eZ | grep -vE 'kernel_t|\[' | head -40
journalctl -b -u berthd --no-pager | tail -40
dmesg | grep -i avc | head -40
echo "BERTH-VMTEST DONE"
