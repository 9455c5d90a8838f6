#!/usr/bin/env bash
# Runs the self-checking test guests (guest-drivers/testguest) under QEMU TCG, the oracle, and under
# hv run --accel bt, and compares serial output and exit status line for line.
#   tests/bt/guests.sh [GUEST...]          (default: modes exceptions paging timers smc decode tasks debug smp)
# smp runs with two CPUs (QEMU -smp 2, hv --cpus 2).
# Lines starting with "~ " depend on features QEMU TCG lacks (lib32.inc) and are left out of the comparison;
# the guest's own verdict and exit status still cover them.
# HV_GUESTS_QEMU_ONLY=1 runs only the QEMU side (the guests' own checks); HV_BINARY=PATH runs another hv build.
# Exit status 0 when all matched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Keep in step with tests/Hypervisor.Integration.Tests/Guests/GuestRunner.cs.
qemu_cpu=qemu64,+pdpe1gb
guests=("$@")
[[ ${#guests[@]} -gt 0 ]] || guests=(modes exceptions paging timers smc decode tasks debug smp)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bash "$bt_root/guest-drivers/testguest/build.sh" "$work" >/dev/null
qemu_only=${HV_GUESTS_QEMU_ONLY:-0}
[[ $qemu_only == 1 ]] || bt_hv=$(bt_hv_binary)

failed=0
for guest in "${guests[@]}"; do
    elf=$work/$guest.elf
    [[ -f $elf ]] || bt_die "no guest '$guest' in guest-drivers/testguest"
    cpus=1
    [[ $guest == smp ]] && cpus=2
    qs=0
    timeout 120 qemu-system-x86_64 -accel tcg -cpu "$qemu_cpu" -smp "$cpus" -m 64 -display none -serial stdio -monitor none \
        -no-reboot -net none -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$elf" </dev/null 2>"$work/$guest.qemu.err" |
        tr -d '\r' >"$work/$guest.qemu" || qs=${PIPESTATUS[0]}
    if [[ $qemu_only == 1 ]]; then
        if [[ $qs -eq 67 ]]; then
            echo "$guest: qemu passed ($(grep -cE '^(~ )?ok ' "$work/$guest.qemu") checks)"
        else
            echo "$guest: qemu exit $qs"; grep -E '^(FAIL|hv-testguest)' "$work/$guest.qemu" || true; failed=$((failed + 1))
        fi
        continue
    fi
    hs=0
    timeout 120 "$bt_hv" run --accel bt --cpus "$cpus" --memory 64M --serial stdio --no-reboot --kernel "$elf" </dev/null \
        2>"$work/$guest.hv.err" | tr -d '\r' >"$work/$guest.hv" || hs=${PIPESTATUS[0]}
    grep -v '^~ ' "$work/$guest.qemu" >"$work/$guest.qemu.cmp" || true
    grep -v '^~ ' "$work/$guest.hv" >"$work/$guest.hv.cmp" || true
    if [[ $qs -eq $hs ]] && cmp -s "$work/$guest.qemu.cmp" "$work/$guest.hv.cmp"; then
        echo "$guest: same output and status ($hs) under hv and qemu"
    else
        echo "$guest: DIFFERENT: qemu exit $qs, hv exit $hs"
        diff -u --label qemu --label hv "$work/$guest.qemu.cmp" "$work/$guest.hv.cmp" | head -n 40 || true
        tail -n 5 "$work/$guest.hv.err" | sed 's/^/  hv stderr: /'
        failed=$((failed + 1))
    fi
done
[[ $failed -eq 0 ]]
