#!/usr/bin/env bash
# The interactive serial console end to end: boots the default Linux guest as `./hv demo` does (busybox shell on
# ttyS0, the data disk on /mnt) and drives it through hv's stdin/stdout with tests/cli/console_driver.py:
#   pipe-early  the commands and "exit" piped into hv before the guest has booted
#   pipe-late   the commands piped after the guest printed "hv-init: ready"
#   pty         hv on a pseudo-terminal (raw mode): keys typed one at a time, a pasted line, Ctrl-A h
#   pty-quit    hv on a pseudo-terminal, Ctrl-A x once the guest is up
# Each command's answer is computed by the guest shell, hv must exit 0 after the guest's poweroff (or Ctrl-A x)
# and leave a terminal with the settings it found.
#   tests/cli/serial-console.sh [-n RUNS] [--load N] [--modes "pipe-early pipe-late pty pty-quit"] [--accel bt|kvm]
# --load N runs N busy loops beside the guest (host load, as a CI run next to it). HV_CONSOLE_TIMEOUT bounds one
# run (seconds, default 600). Ends with "serial-console: P passed, F failed"; logs of failures stay in
# HV_CONSOLE_LOG (default: a temporary directory, printed).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../bt/lib.sh"

runs=1 load=0 modes="pipe-early pipe-late pty pty-quit" accel=bt
while [[ $# -gt 0 ]]; do
    case $1 in
        -n) runs=$2; shift 2 ;;
        --load) load=$2; shift 2 ;;
        --modes) modes=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) bt_die "unknown argument '$1' (see --help)" ;;
    esac
done
[[ $runs =~ ^[1-9][0-9]*$ ]] || bt_die "-n needs a positive number"
[[ $load =~ ^[0-9]+$ ]] || bt_die "--load needs a number"
command -v python3 >/dev/null 2>&1 || bt_die "python3 is not installed"
bt_require_images
bt_hv=$(bt_hv_binary)
logs=${HV_CONSOLE_LOG:-$(mktemp -d)}
mkdir -p "$logs"

hv_cmd=("$bt_hv" run --accel "$accel" --kernel "$bt_images/vmlinuz" --initrd "$bt_images/initramfs.cpio.gz"
    --cmdline "console=ttyS0" --memory 512M)
[[ -r $bt_images/disk.ext4 ]] && hv_cmd+=(--disk "$bt_images/disk.ext4,readonly")

loaders=()
stop_load() {
    local pid
    for pid in "${loaders[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${loaders[@]}"; do wait "$pid" 2>/dev/null || true; done
    loaders=()
}
trap stop_load EXIT
for ((i = 0; i < load; i++)); do
    (while :; do :; done) &
    loaders+=($!)
done

passed=0 failed=0
for ((run = 1; run <= runs; run++)); do
    for mode in $modes; do
        log=$logs/$mode-$run.log
        if result=$(python3 "$bt_root/tests/cli/console_driver.py" "$mode" "${HV_CONSOLE_TIMEOUT:-600}" "$log" \
            "${hv_cmd[@]}"); then
            passed=$((passed + 1))
            rm -f "$log"
        else
            failed=$((failed + 1))
            result="$result (log: $log)"
        fi
        printf 'run %d/%d (%d busy loops, host load %s): %s\n' "$run" "$runs" "$load" \
            "$(cut -d' ' -f1 /proc/loadavg)" "$result"
    done
done
stop_load
echo "serial-console: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
