#!/bin/sh
# Checksums real data in the guest, for the host to compare with the same computation on its side
# (tests/bt/linux-checksum.sh): md5 of /bin/busybox itself, and md5 of busybox's own gzip of it. gzip reads
# stdin so its header carries no name or mtime; the host runs the same busybox binary, so the output is
# byte-identical whenever the guest CPU computed it correctly. Exit status: 0 when both commands succeed.
set -e
plain=$(md5sum </bin/busybox)
echo "hv-checksum: busybox md5 ${plain%% *}"
packed=$(gzip -c </bin/busybox | md5sum)
echo "hv-checksum: busybox.gz md5 ${packed%% *}"
