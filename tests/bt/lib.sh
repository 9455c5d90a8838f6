# Shared pieces of the whole-machine scripts in tests/bt/ and tests/bench/ (sourced, not run).
# A Linux guest run: the default images (images/build.sh), a guest test script from images/tests/ selected with
# hv.test=NAME, and either hv or QEMU TCG as the VMM, with the serial console on stdout.

bt_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
bt_images=${HV_IMAGES:-$bt_root/images/out}

bt_die() { printf '%s: error: %s\n' "$(basename "$0")" "$*" >&2; exit 2; }

bt_require_images() {
    local f
    for f in vmlinuz initramfs.cpio.gz; do
        [[ -r $bt_images/$f ]] || bt_die "$bt_images/$f is missing; run images/build.sh"
    done
}

# Writes to $1 the default initramfs with this checkout's images/tests/*.sh appended as a second cpio archive,
# so a run always has the current test scripts even when images/out was built from an older checkout. The
# kernel unpacks concatenated archives in order; a later file replaces an earlier one (Documentation/
# driver-api/early-userspace/buffer-format.rst).
bt_initramfs_with_tests() {
    local target=$1 staging
    command -v cpio >/dev/null 2>&1 || bt_die "cpio is not installed"
    staging=$(mktemp -d)
    mkdir -p "$staging/tests"
    install -m 0755 "$bt_root"/images/tests/*.sh "$staging/tests/"
    {
        cat "$bt_images/initramfs.cpio.gz"
        (cd "$staging" && find tests | LC_ALL=C sort | cpio -o -H newc --owner=0:0 --reproducible --quiet | gzip -n)
    } >"$target"
    rm -rf "$staging"
}

# Extracts /bin/busybox from an initramfs (gzip of concatenated newc archives; the default one starts with a
# small archive holding /dev/console, so cpio -i, which stops at the first trailer, would not reach it).
bt_extract_busybox() {
    local initramfs=$1 target=$2 raw offset header filesize namesize data
    raw=$(mktemp)
    gzip -dc "$initramfs" >"$raw"
    offset=$(LC_ALL=C grep -obUaP '070701[0-9A-F]{104}bin/busybox\x00' "$raw" | head -n 1 | cut -d: -f1)
    [[ -n $offset ]] || { rm -f "$raw"; bt_die "$initramfs has no bin/busybox"; }
    header=$(dd if="$raw" bs=1 skip="$offset" count=110 status=none)
    filesize=$((16#${header:54:8}))
    namesize=$((16#${header:94:8}))
    data=$(((offset + 110 + namesize + 3) / 4 * 4))
    dd if="$raw" of="$target" bs=64K iflag=skip_bytes,count_bytes skip="$data" count="$filesize" status=none
    rm -f "$raw"
    chmod +x "$target"
}

bt_hv_binary() {
    # HV_BINARY runs another build of hv (e.g. a branch's); otherwise ./hv builds the CLI when it is missing
    # or stale, and "version" makes it build and exit.
    if [[ -n ${HV_BINARY:-} ]]; then
        [[ -x $HV_BINARY ]] || bt_die "HV_BINARY=$HV_BINARY is not executable"
        printf '%s\n' "$HV_BINARY"
        return
    fi
    "$bt_root/hv" version >/dev/null || bt_die "building hv failed"
    printf '%s\n' "$bt_root/artifacts/bin/Hypervisor.Cli/release/hv"
}

# bt_run_linux VMM INITRAMFS TEST [extra cmdline]: boots Linux with hv.test=TEST under VMM (hv or qemu), the
# serial console on stdout, stdin from /dev/null. The exit status is the VMM's. HV_BT_TIMEOUT (seconds, default
# 600) bounds the run. BT_DISK=PATH attaches a read-only virtio-blk disk (/dev/vda in the guest). BT_CPUS=N
# gives the guest N vCPUs (default 1).
bt_run_linux() {
    local vmm=$1 initramfs=$2 test=$3 extra=${4:-}
    local cmdline="console=ttyS0 quiet panic=-1 hv.test=$test${extra:+ $extra}"
    local timeout=${HV_BT_TIMEOUT:-600}
    local cpus=${BT_CPUS:-1}
    local disk=()
    case $vmm in
        hv)
            [[ -n ${BT_DISK:-} ]] && disk=(--disk "$BT_DISK,readonly")
            timeout --kill-after=10 "$timeout" "${bt_hv:?bt_hv is not set}" run --accel bt \
                --kernel "$bt_images/vmlinuz" --initrd "$initramfs" --cmdline "$cmdline" \
                --memory 512M --cpus "$cpus" --serial stdio --no-reboot "${disk[@]}" </dev/null
            ;;
        qemu)
            [[ -n ${BT_DISK:-} ]] && disk=(-drive "file=$BT_DISK,if=virtio,format=raw,readonly=on")
            timeout --kill-after=10 "$timeout" qemu-system-x86_64 -accel tcg -m 512 -smp "$cpus" -display none \
                -serial stdio -monitor none -no-reboot -net none "${disk[@]}" \
                -kernel "$bt_images/vmlinuz" -initrd "$initramfs" -append "$cmdline" </dev/null
            ;;
        *) bt_die "unknown VMM '$vmm' (hv or qemu)" ;;
    esac
}

# Prefixes every line of stdin with the host's wall clock in seconds since $1 (an $EPOCHREALTIME value).
bt_timestamp_lines() {
    local start=$1 line now
    while IFS= read -r line || [[ -n $line ]]; do
        now=$EPOCHREALTIME
        printf '%s %s\n' "$(bt_seconds_between "$start" "$now")" "${line%$'\r'}"
    done
}

# Difference of two $EPOCHREALTIME values (seconds.microseconds) as seconds with three decimals.
bt_seconds_between() {
    local a=${1/./} b=${2/./}
    local us=$((10#$b - 10#$a))
    printf '%d.%03d' $((us / 1000000)) $((us % 1000000 / 1000))
}

# bt_bench_setup DEFAULT_RUNS HELP_LAST_LINE ARGS...: the common part of the tests/bench/ scripts. Parses
# [-n RUNS] [--vmm hv|qemu|both] into runs and vmms (--help prints the caller's header comment, lines 2 to
# HELP_LAST_LINE), makes the scratch directory work (removed on exit) and logs (HV_BENCH_LOG or work/logs), and
# sets bt_hv when hv is among the VMMs.
bt_bench_setup() {
    runs=$1
    local help_end=$2 which=both
    shift 2
    while [[ $# -gt 0 ]]; do
        case $1 in
            -n) runs=$2; shift 2 ;;
            --vmm) which=$2; shift 2 ;;
            -h|--help) sed -n "2,${help_end}p" "$0"; exit 0 ;;
            *) bt_die "unknown argument '$1' (see --help)" ;;
        esac
    done
    case $which in
        both) vmms=(hv qemu) ;;
        hv|qemu) vmms=("$which") ;;
        *) bt_die "--vmm must be hv, qemu or both" ;;
    esac
    [[ $runs =~ ^[1-9][0-9]*$ ]] || bt_die "-n needs a positive number"
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    logs=${HV_BENCH_LOG:-$work/logs}
    mkdir -p "$logs"
    if [[ " ${vmms[*]} " == *" hv "* ]]; then
        bt_hv=$(bt_hv_binary)
    fi
}

# bt_median DECIMALS "SAMPLES": the median of space-separated numbers with DECIMALS decimals, "-" for none.
bt_median() {
    local decimals=$1 samples=$2
    [[ -z ${samples// /} ]] && { echo "-"; return; }
    tr ' ' '\n' <<<"$samples" | sed '/^$/d' | sort -g | awk -v d="$decimals" '{ v[NR] = $1 } END {
        f = "%." d "f"; if (NR % 2) printf f, v[(NR + 1) / 2]; else printf f, (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
