#!/bin/sh
# virtio-blk throughput (hv.test=ddbench): writes 256 MiB to the raw disk /dev/vda with O_DIRECT, then reads it
# back, and prints one "hv-dd: write|read BYTES SECONDS MiB/s" line each. Give it a scratch disk of at least
# 256 MiB: its contents are overwritten.
size_mb=256
now() { cut -d' ' -f1 /proc/uptime; }
rate() { awk -v s="$1" -v e="$2" -v m="$size_mb" 'BEGIN { t = e - s; if (t <= 0) t = 0.01; printf "%d %.2f %.1f", m * 1048576, t, m / t }'; }
[ -b /dev/vda ] || { echo "not ok ddbench: no /dev/vda"; exit 1; }
umount /mnt 2>/dev/null
start=$(now)
dd if=/dev/zero of=/dev/vda bs=1M count=$size_mb oflag=direct 2>/dev/null || { echo "not ok dd write"; exit 1; }
sync
end=$(now)
echo "hv-dd: write $(rate "$start" "$end") MiB/s"
echo 3 >/proc/sys/vm/drop_caches
start=$(now)
dd if=/dev/vda of=/dev/null bs=1M count=$size_mb iflag=direct 2>/dev/null || { echo "not ok dd read"; exit 1; }
end=$(now)
echo "hv-dd: read $(rate "$start" "$end") MiB/s"
exit 0
