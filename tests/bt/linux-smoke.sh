#!/usr/bin/env bash
# Boots the default Linux guest with its data disk (images/out/disk.ext4, read-only virtio-blk) under a VMM and
# runs images/tests/smoke.sh: every module of the initramfs loaded, the disk mounted and its known file read.
# The VMM must exit 0 after the guest's poweroff.
#   tests/bt/linux-smoke.sh [hv|qemu]     (default hv, i.e. hv run --accel bt)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vmm=${1:-hv}
bt_require_images
[[ -r $bt_images/disk.ext4 ]] || bt_die "$bt_images/disk.ext4 is missing; run images/build.sh"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bt_initramfs_with_tests "$work/initramfs.cpio.gz"
[[ $vmm == hv ]] && bt_hv=$(bt_hv_binary)

status=0
started=$SECONDS
BT_DISK=$bt_images/disk.ext4 bt_run_linux "$vmm" "$work/initramfs.cpio.gz" smoke >"$work/serial" 2>"$work/stderr" ||
    status=$?
serial=$(tr -d '\r' <"$work/serial")
failures=()
grep -qx 'hv-init: /dev/vda mounted on /mnt' <<<"$serial" || failures+=("/dev/vda not mounted")
grep -qx 'ok disk hello.txt' <<<"$serial" || failures+=("hello.txt not read")
if grep -q '^not ok ' <<<"$serial"; then
    failures+=("$(grep '^not ok ' <<<"$serial" | paste -sd ',')")
fi
grep -qx 'hv-test: smoke exit 0' <<<"$serial" || failures+=("no 'hv-test: smoke exit 0' line")
[[ $status -eq 0 ]] || failures+=("$vmm exited with status $status")

if [[ ${#failures[@]} -ne 0 ]]; then
    echo "--- serial output:"
    printf '%s\n' "$serial" | tail -n 40
    echo "--- $vmm stderr:"
    tail -n 20 "$work/stderr"
    printf 'linux-smoke (%s): FAIL: %s\n' "$vmm" "$(IFS=';'; echo "${failures[*]}")"
    exit 1
fi
echo "linux-smoke ($vmm): PASS in $((SECONDS - started)) s ($(grep -c '^ok ' <<<"$serial") checks)"
