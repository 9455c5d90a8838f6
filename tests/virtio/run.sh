#!/bin/bash
# Virtio acceptance on this host (P1.5), with the guest set of images/build.sh:
#   disk     ext4 --disk as /dev/vda: the guest reads the host's hello.txt, writes /newfile, syncs, powers off;
#            then e2fsck -fn is clean and debugfs shows /newfile intact. Also /dev/hwrng and the second console
#            port (--console-port org.hv.test) both ways (images/tests/virtio.sh)
#   vmlink   two hv guests on one VM-to-VM link (--net socket,path=DIR) ping each other
#   tap      a guest pings a host address through TAP, inside a network namespace this script creates (root)
#   dd       dd of 256 MiB to and from a virtio disk in the guest; prints the figures
#
#   tests/virtio/run.sh [TEST...]        (default: disk vmlink tap)
# Environment: HV_ACCEL=auto|kvm|bt (default auto). Prints "ok NAME" / "not ok NAME"; exit status = failures.
# The same checks run under nested KVM in tests/nested/run.sh (hv-virtio, hv-net, hv-dd).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
accel=${HV_ACCEL:-auto}
images=$repo/images/out
work=$(mktemp -d /tmp/hv-virtio.XXXXXX)
tests=("$@")
[[ ${#tests[@]} -gt 0 ]] || tests=(disk vmlink tap)
failures=0
netns=""

cleanup() {
    [[ -n $netns ]] && ip netns del "$netns" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

ok() { echo "ok $*"; }
not_ok() { echo "not ok $*"; failures=$((failures + 1)); }

[[ -f $images/initramfs.cpio.gz ]] || "$repo/images/build.sh" >&2 || exit 1
"$repo/hv" version >/dev/null || exit 1
hv() { timeout 600 "$repo/hv" run --accel "$accel" -m 256M --kernel "$images/vmlinuz" --initrd "$images/initramfs.cpio.gz" \
    --serial "file=$1" "${@:2}" </dev/null; }

test_disk() {
    cp "$images/disk.ext4" "$work/vda.ext4"
    printf 'hello from the host\n' >"$work/port-in"
    hv "$work/disk.log" --append "console=ttyS0 quiet hv.test=virtio" --disk "$work/vda.ext4" \
        --console-port "org.hv.test,file=$work/port-out,input=$work/port-in"
    local status=$?
    grep -E '^(ok|not ok|hv-virtio:)' "$work/disk.log"
    if [[ $status -eq 0 ]] && grep -q '^hv-test: virtio exit 0' "$work/disk.log"; then ok "disk guest checks"; else not_ok "disk guest checks (hv exit $status)"; fi
    if e2fsck -fn "$work/vda.ext4" >"$work/fsck.log" 2>&1; then ok "e2fsck -fn clean"; else not_ok "e2fsck -fn"; cat "$work/fsck.log"; fi
    local want got
    want=$( (seq 1 20000; echo "written by the hv guest") | md5sum | cut -d' ' -f1)
    got=$(debugfs -R "cat /newfile" "$work/vda.ext4" 2>/dev/null | md5sum | cut -d' ' -f1)
    if [[ $got == "$want" ]]; then ok "debugfs /newfile intact"; else not_ok "debugfs /newfile: md5 $got, want $want"; fi
    if grep -qx 'guest got: hello from the host' "$work/port-out" 2>/dev/null; then ok "console port both ways"; else not_ok "console port both ways"; fi
}

test_vmlink() {
    local lan=$work/lan
    hv "$work/net1.log" --append "console=ttyS0 quiet hv.test=netpeer hv.ip=10.0.2.1/24 hv.peer=10.0.2.2 hv.linger=20" \
        --net "socket,path=$lan,mac=52:54:00:00:02:01" &
    local first=$!
    hv "$work/net2.log" --append "console=ttyS0 quiet hv.test=netpeer hv.ip=10.0.2.2/24 hv.peer=10.0.2.1 hv.linger=20" \
        --net "socket,path=$lan,mac=52:54:00:00:02:02"
    local second=$?
    wait $first
    first=$?
    grep -hE '^(ok|not ok|hv-net:)' "$work/net1.log" "$work/net2.log"
    if [[ $first -eq 0 && $second -eq 0 ]] && grep -q '^hv-test: netpeer exit 0' "$work/net1.log" &&
        grep -q '^hv-test: netpeer exit 0' "$work/net2.log"; then
        ok "vmlink guests ping each other"
    else
        not_ok "vmlink guests ping each other (hv exit $first, $second)"
    fi
}

test_tap() {
    netns=hv-virtio-$$
    ip netns add "$netns" || { not_ok "tap: ip netns add (needs root)"; netns=""; return; }
    ip -n "$netns" link set lo up
    ip -n "$netns" tuntap add dev hvtap0 mode tap
    ip -n "$netns" addr add 10.0.3.1/24 dev hvtap0
    ip -n "$netns" link set hvtap0 up
    ip netns exec "$netns" timeout 600 "$repo/hv" run --accel "$accel" -m 256M --kernel "$images/vmlinuz" \
        --initrd "$images/initramfs.cpio.gz" --serial "file=$work/tap.log" \
        --append "console=ttyS0 quiet hv.test=netpeer hv.ip=10.0.3.2/24 hv.peer=10.0.3.1 hv.linger=0" \
        --net tap,ifname=hvtap0 </dev/null
    local status=$?
    grep -E '^(ok|not ok|hv-net:)' "$work/tap.log"
    if [[ $status -eq 0 ]] && grep -q '^hv-test: netpeer exit 0' "$work/tap.log"; then ok "tap guest reaches 10.0.3.1"; else not_ok "tap guest reaches 10.0.3.1 (hv exit $status)"; fi
}

test_dd() {
    truncate -s 272M "$work/bench.img"
    hv "$work/dd.log" --append "console=ttyS0 quiet hv.test=ddbench" --disk "$work/bench.img"
    local status=$?
    grep '^hv-dd:' "$work/dd.log"
    if [[ $status -eq 0 ]] && grep -q '^hv-test: ddbench exit 0' "$work/dd.log"; then ok "dd 256 MiB"; else not_ok "dd 256 MiB (hv exit $status)"; fi
}

for t in "${tests[@]}"; do
    case $t in
        disk|vmlink|tap|dd) "test_$t" ;;
        *) not_ok "unknown test $t" ;;
    esac
done
echo "virtio: $failures failed"
exit $((failures > 0))
