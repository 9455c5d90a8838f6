#!/bin/bash
# Builds a BIOS-bootable disk like an installer's: an MBR partition table with one active FAT16 partition, the
# SYSLINUX MBR and boot loader, and a kernel + initrd that SYSLINUX loads through INT 13h and boots.
#   build-syslinux-disk.sh OUT.img KERNEL INITRD [APPEND...]
# Needs syslinux (its MBR and installer), mtools, dosfstools and python3 - the Debian packages of those names.
set -euo pipefail
out=${1:?usage: build-syslinux-disk.sh OUT.img KERNEL INITRD [APPEND...]}
kernel=${2:?kernel missing}
initrd=${3:?initrd missing}
shift 3
append=${*:-console=ttyS0}
mbr=/usr/lib/syslinux/mbr/mbr.bin
[[ -f $mbr ]] || { echo "build-syslinux-disk.sh: $mbr is missing (apt-get install syslinux)" >&2; exit 1; }

disk_mib=64
part=$out.part
rm -f "$part" "$out"
truncate -s $((disk_mib - 1))M "$part"
mkfs.fat -F 16 -n HVBOOT "$part" >/dev/null
syslinux --install "$part"
cfg=$(mktemp)
trap 'rm -f "$cfg" "$part"' EXIT
# No SERIAL directive: SYSLINUX prints through INT 10h, which the BIOS's serial console already carries.
cat >"$cfg" <<CFG
PROMPT 0
TIMEOUT 1
DEFAULT linux
SAY syslinux: booting Linux from the hv BIOS test disk
LABEL linux
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND $append
CFG
mcopy -i "$part" "$cfg" ::syslinux.cfg
mcopy -i "$part" "$kernel" ::vmlinuz
mcopy -i "$part" "$initrd" ::initrd.gz

truncate -s ${disk_mib}M "$out"
python3 - "$out" "$disk_mib" <<'PY'
import struct, sys
# One active partition of type 06h (FAT16) from sector 2048 to the end; CHS fields saturated (LBA only).
path, mib = sys.argv[1], int(sys.argv[2])
with open(path, 'r+b') as f:
    f.seek(446)
    f.write(struct.pack('<B3sB3sII', 0x80, b'\xfe\xff\xff', 0x06, b'\xfe\xff\xff', 2048, mib * 2048 - 2048))
    f.seek(510)
    f.write(b'\x55\xaa')
PY
dd if="$part" of="$out" bs=1M seek=1 conv=notrunc status=none
# The MBR's boot code only: the partition table written above stays.
dd if="$mbr" of="$out" bs=440 count=1 conv=notrunc status=none
echo "$out"
