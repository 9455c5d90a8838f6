#!/bin/sh
# The in-guest workloads of PERFORMANCE.md (tests/bench/bt-vs-qemu.sh). Each workload runs between two marker
# lines; the host timestamps the lines as they arrive on the serial port, and the guest adds its own
# /proc/uptime so a guest clock that runs wrong under a backend shows. The data is 32 MiB of repeated copies of
# /bin/busybox in tmpfs: the same bytes on every run, compressible like real binaries.
set -e
size=33554432
data=/tmp/bench.dat
uptime() { read -r up _ </proc/uptime; echo "$up"; }

: >/tmp/bench.src
while [ "$(wc -c </tmp/bench.src)" -lt "$size" ]; do
    cat /bin/busybox >>/tmp/bench.src
done
head -c "$size" /tmp/bench.src >"$data"
rm /tmp/bench.src

echo "hv-bench: md5sum begin $(uptime)"
sum=$(md5sum <"$data")
echo "hv-bench: md5sum end $(uptime) ${sum%% *}"

echo "hv-bench: gzip begin $(uptime)"
packed=$(gzip -c <"$data" | wc -c)
echo "hv-bench: gzip end $(uptime) $packed"
rm "$data"
