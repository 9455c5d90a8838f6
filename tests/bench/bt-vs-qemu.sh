#!/usr/bin/env bash
# hv's BT backend against QEMU TCG on the default Linux guest (PERFORMANCE.md, "How to measure"): boots
# vmlinuz + the busybox initramfs with hv.test=bench under each VMM, alternating (hv qemu hv qemu ...), and
# prints the median of each measure and the ratio hv/QEMU:
#   boot     VMM process start -> "hv-init: ready" on the serial port (host wall clock)
#   md5sum   md5sum of a 32 MiB tmpfs file (host time between the guest's begin and end markers)
#   gzip     gzip -c of the same file, likewise
#   total    VMM process start -> VMM exit after the guest's poweroff
# The guest's own /proc/uptime deltas are printed beside the host's, so a guest clock that drifts shows.
#
#   tests/bench/bt-vs-qemu.sh [-n RUNS] [--vmm hv|qemu|both]     (default: 5 runs, both)
# HV_BENCH_LOG=DIR keeps every run's timestamped serial log. A run whose workloads fail or whose checksum
# differs from the first run's is reported and left out of the medians.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../bt/lib.sh"

bt_bench_setup 5 15 "$@"
bt_require_images
bt_initramfs_with_tests "$work/initramfs.cpio.gz"

measures=(boot md5sum gzip total)
declare -A samples=()      # "vmm measure" -> space-separated seconds
declare -A guest_samples=() # "vmm measure" -> guest /proc/uptime seconds
reference_md5=""

# Host time of the first line matching a pattern, from a timestamped log.
line_time() { awk -v pat="$2" '$0 ~ pat { print $1; exit }' "$1"; }
# Field N (1-based, after the host timestamp) of the first line matching a pattern.
line_field() { awk -v pat="$2" -v n="$3" '$0 ~ pat { print $(n + 1); exit }' "$1"; }
sub() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

one_run() {
    local vmm=$1 index=$2
    local log=$logs/$vmm-$index.log start status=0 total
    start=$EPOCHREALTIME
    { bt_run_linux "$vmm" "$work/initramfs.cpio.gz" bench 2>"$logs/$vmm-$index.stderr" || echo "VMM-EXIT $?"; } |
        bt_timestamp_lines "$start" >"$log"
    total=$(bt_seconds_between "$start" "$EPOCHREALTIME")
    if grep -q ' VMM-EXIT ' "$log"; then
        status=$(awk '/ VMM-EXIT / { print $3 }' "$log")
    fi

    local ready md5b md5e gzb gze sum
    ready=$(line_time "$log" ' hv-init: ready')
    md5b=$(line_time "$log" ' hv-bench: md5sum begin ')
    md5e=$(line_time "$log" ' hv-bench: md5sum end ')
    gzb=$(line_time "$log" ' hv-bench: gzip begin ')
    gze=$(line_time "$log" ' hv-bench: gzip end ')
    sum=$(line_field "$log" ' hv-bench: md5sum end ' 5)
    if [[ $status -ne 0 || -z $ready || -z $md5e || -z $gze ]] || ! grep -q ' hv-test: bench exit 0$' "$log"; then
        printf '%-5s run %d: FAILED (VMM status %s); log %s\n' "$vmm" "$index" "$status" "$log"
        tail -n 5 "$log" | sed 's/^/    /'
        return
    fi
    if [[ -z $reference_md5 ]]; then
        reference_md5=$sum
    elif [[ $sum != "$reference_md5" ]]; then
        printf '%-5s run %d: WRONG md5 %s (first run: %s); left out\n' "$vmm" "$index" "$sum" "$reference_md5"
        return
    fi
    local md5 gz gmd5 ggz
    md5=$(sub "$md5b" "$md5e")
    gz=$(sub "$gzb" "$gze")
    gmd5=$(sub "$(line_field "$log" ' hv-bench: md5sum begin ' 4)" "$(line_field "$log" ' hv-bench: md5sum end ' 4)")
    ggz=$(sub "$(line_field "$log" ' hv-bench: gzip begin ' 4)" "$(line_field "$log" ' hv-bench: gzip end ' 4)")
    samples["$vmm boot"]+=" $ready"; samples["$vmm md5sum"]+=" $md5"
    samples["$vmm gzip"]+=" $gz"; samples["$vmm total"]+=" $total"
    guest_samples["$vmm md5sum"]+=" $gmd5"; guest_samples["$vmm gzip"]+=" $ggz"
    printf '%-5s run %d: boot %6.2f s  md5sum %6.2f s (guest %5.2f)  gzip %6.2f s (guest %5.2f)  total %6.2f s\n' \
        "$vmm" "$index" "$ready" "$md5" "$gmd5" "$gz" "$ggz" "$total"
}

echo "bt-vs-qemu: $runs runs of ${vmms[*]}, kernel $(cat "$bt_images/kernel-version" 2>/dev/null || echo '?')," \
    "$(nproc) host CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
for ((i = 1; i <= runs; i++)); do
    for vmm in "${vmms[@]}"; do
        one_run "$vmm" "$i"
    done
done

echo
printf '%-8s' measure
for vmm in "${vmms[@]}"; do printf '%14s' "$vmm median"; done
[[ ${#vmms[@]} -eq 2 ]] && printf '%12s' "hv/qemu"
printf '\n'
for m in "${measures[@]}"; do
    printf '%-8s' "$m"
    declare -A med=()
    for vmm in "${vmms[@]}"; do
        med[$vmm]=$(bt_median 3 "${samples["$vmm $m"]:-}")
        printf '%12s s' "${med[$vmm]}"
    done
    if [[ ${#vmms[@]} -eq 2 ]]; then
        if [[ ${med[hv]} != - && ${med[qemu]} != - ]]; then
            printf '%12s' "$(awk -v a="${med[hv]}" -v b="${med[qemu]}" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }')"
        else
            printf '%12s' -
        fi
    fi
    printf '\n'
    unset med
done
printf 'guest clock medians:'
for m in md5sum gzip; do
    for vmm in "${vmms[@]}"; do printf ' %s %s %s s;' "$m" "$vmm" "$(bt_median 3 "${guest_samples["$vmm $m"]:-}")"; done
done
printf '\n'
