#!/bin/sh
# Virtio acceptance inside the guest (hv.test=virtio): the ext4 disk on /dev/vda, the entropy device and the
# second virtio-console port. The host side (tests/virtio/run.sh, tests/nested) starts hv with the data disk and
# --console-port org.hv.test,file=OUT,input=IN, then checks the disk with e2fsck/debugfs and OUT for the reply.
# Each check prints "ok NAME" or "not ok NAME"; the exit status counts the failures.
failures=0
check() {
    name=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "ok $name"
    else
        echo "not ok $name"
        failures=$((failures + 1))
    fi
}

# Disk: mounted by /init as ext4 from /dev/vda; read the file the host put there, write a new one.
check "vda is a virtio disk" grep -q '^/dev/vda /mnt ext4 rw' /proc/mounts
check "read hello.txt" grep -qx "hello from the hv data disk" /mnt/hello.txt
seq 1 20000 >/mnt/newfile
echo "written by the hv guest" >>/mnt/newfile
sync
check "newfile written" grep -qx "written by the hv guest" /mnt/newfile
echo "hv-virtio: newfile md5 $(md5sum /mnt/newfile | cut -d' ' -f1)"

# Entropy: virtio_rng is the current hwrng and /dev/hwrng gives non-constant bytes.
check "hwrng is virtio" grep -q virtio /sys/class/misc/hw_random/rng_current
rng() { dd if=/dev/hwrng bs=32 count=1 2>/dev/null | od -An -tx1 | tr -d ' \n'; }
a=$(rng)
b=$(rng)
check "hwrng gives 32 bytes" test ${#a} -eq 64
check "hwrng bytes differ" test "$a" != "$b"

# Second console port: find it by name, read the host's line, answer on the same port.
port=""
for f in /sys/class/virtio-ports/*/name; do
    [ -f "$f" ] && [ "$(cat "$f")" = org.hv.test ] && port=/dev/$(basename "$(dirname "$f")")
done
check "console port org.hv.test exists" test -n "$port"
if [ -n "$port" ]; then
    line=$(timeout 10 head -n 1 "$port")
    echo "hv-virtio: port got '$line'"
    check "console port host->guest" test "$line" = "hello from the host"
    echo "guest got: $line" >"$port"
fi
exit $failures
