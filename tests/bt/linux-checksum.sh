#!/usr/bin/env bash
# Boots the default Linux guest (images/out) under a VMM and checks that it computed real data correctly:
# images/tests/checksum.sh prints the md5 of /bin/busybox and of busybox's gzip of it; this script runs the
# same busybox binary (taken from the same initramfs) on the host and compares. The VMM must also exit 0 after
# the guest's poweroff.
#   tests/bt/linux-checksum.sh [hv|qemu]     (default hv, i.e. hv run --accel bt)
# Exit status 0 when everything matched; the last line says what did not.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vmm=${1:-hv}
bt_require_images
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bt_initramfs_with_tests "$work/initramfs.cpio.gz"
bt_extract_busybox "$work/initramfs.cpio.gz" "$work/busybox"
want_plain=$(md5sum <"$work/busybox")
want_plain=${want_plain%% *}
want_packed=$("$work/busybox" gzip -c <"$work/busybox" | md5sum)
want_packed=${want_packed%% *}

[[ $vmm == hv ]] && bt_hv=$(bt_hv_binary)
status=0
started=$SECONDS
bt_run_linux "$vmm" "$work/initramfs.cpio.gz" checksum >"$work/serial" 2>"$work/stderr" || status=$?
serial=$(tr -d '\r' <"$work/serial")
printf '%s\n' "$serial" | grep -E '^hv-(init|checksum|test):' || true

failures=()
got_plain=$(sed -n 's/^hv-checksum: busybox md5 \([0-9a-f]*\)$/\1/p' <<<"$serial")
got_packed=$(sed -n 's/^hv-checksum: busybox.gz md5 \([0-9a-f]*\)$/\1/p' <<<"$serial")
[[ $got_plain == "$want_plain" ]] || failures+=("busybox md5 '$got_plain', host $want_plain")
[[ $got_packed == "$want_packed" ]] || failures+=("busybox.gz md5 '$got_packed', host $want_packed")
grep -qx 'hv-test: checksum exit 0' <<<"$serial" || failures+=("no 'hv-test: checksum exit 0' line")
[[ $status -eq 0 ]] || failures+=("$vmm exited with status $status")

if [[ ${#failures[@]} -ne 0 ]]; then
    echo "--- serial output:"
    printf '%s\n' "$serial" | tail -n 40
    echo "--- $vmm stderr:"
    tail -n 20 "$work/stderr"
    printf 'linux-checksum (%s): FAIL: %s\n' "$vmm" "$(IFS=';'; echo "${failures[*]}")"
    exit 1
fi
echo "linux-checksum ($vmm): PASS in $((SECONDS - started)) s (busybox md5 $want_plain, gzip md5 $want_packed)"
