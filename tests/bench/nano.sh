#!/usr/bin/env bash
# The Adams & Agesen nanobenchmarks (PERFORMANCE.md: syscall, in, cr8wr, call/ret, pgfault, divzero, ptemod)
# in guest-drivers/testguest/nanobench.asm, under hv --accel bt and QEMU TCG, alternating. Prints the median
# host nanoseconds per operation of each and the ratio hv/QEMU. Host time comes from when the guest's begin
# and end lines arrive on the serial port; the guest's own TSC ticks per operation are in the logs.
#   tests/bench/nano.sh [-n RUNS] [--vmm hv|qemu|both]     (default: 3 runs, both)
# HV_BENCH_LOG=DIR keeps the timestamped logs; HV_BINARY=PATH runs another hv build.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../bt/lib.sh"

bt_bench_setup 3 8 "$@"
bash "$bt_root/guest-drivers/testguest/build.sh" "$work" >/dev/null
guest=$work/nanobench.elf

names=(syscall in cr8wr callret pgfault divzero ptemod)
declare -A samples=()   # "vmm name" -> space-separated ns/op

run_guest() {
    case $1 in
        hv) timeout 600 "$bt_hv" run --accel bt --memory 64M --serial stdio --no-reboot --kernel "$guest" ;;
        qemu) timeout 600 qemu-system-x86_64 -accel tcg -cpu qemu64 -m 64 -display none -serial stdio -monitor none \
            -no-reboot -net none -device isa-debug-exit,iobase=0xf4,iosize=0x04 -kernel "$guest" ;;
    esac
}

for ((i = 1; i <= runs; i++)); do
    for vmm in "${vmms[@]}"; do
        log=$logs/nano-$vmm-$i.log
        start=$EPOCHREALTIME
        { run_guest "$vmm" </dev/null 2>"$log.stderr" || echo "VMM-EXIT $?"; } | bt_timestamp_lines "$start" >"$log"
        if ! grep -q ' nano: done$' "$log"; then
            printf '%-5s run %d: FAILED; log %s\n' "$vmm" "$i" "$log"
            tail -n 3 "$log" | sed 's/^/    /'
            continue
        fi
        line="$vmm run $i:"
        for name in "${names[@]}"; do
            ns=$(awk -v n="$name" '
                $2 == "nano:" && $3 == "begin" && $4 == n { t0 = $1; count = $5 }
                $2 == "nano:" && $3 == "end" && $4 == n { printf "%.1f", ($1 - t0) * 1e9 / count }' "$log")
            samples["$vmm $name"]+=" $ns"
            line+=" $name $ns"
        done
        echo "$line (ns/op)"
    done
done

echo
printf '%-9s' benchmark
for vmm in "${vmms[@]}"; do printf '%16s' "$vmm ns/op"; done
[[ ${#vmms[@]} -eq 2 ]] && printf '%10s' "hv/qemu"
printf '\n'
for name in "${names[@]}"; do
    printf '%-9s' "$name"
    declare -A med=()
    for vmm in "${vmms[@]}"; do
        med[$vmm]=$(bt_median 1 "${samples["$vmm $name"]:-}")
        printf '%16s' "${med[$vmm]}"
    done
    if [[ ${#vmms[@]} -eq 2 ]]; then
        awk -v a="${med[hv]}" -v b="${med[qemu]}" 'BEGIN { if (a != "-" && b != "-" && b > 0) printf "%10.2f", a / b; else printf "%10s", "-" }'
    fi
    printf '\n'
    unset med
done
