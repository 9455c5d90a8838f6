#!/bin/bash
# Builds the BIOS-level test guests into $1 (default: ./out). Needs nasm and python3.
#   mbr.img  a 1 MiB disk: mbr.asm in sector 0, sector 1 a text line whose 256 words sum to 0 (the guest reads
#            it with INT 13h and checks it)
#   pam.bin  a 64 KiB BIOS image (pam.asm) for --bios / qemu -bios
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
nasm -f bin -o "$out/pam.bin" "$here/pam.asm"
nasm -f bin -o "$out/mbr.bin" "$here/mbr.asm"
python3 - "$out/mbr.img" "$out/mbr.bin" <<'PY'
import struct, sys
out, mbr = sys.argv[1], sys.argv[2]
boot = open(mbr, 'rb').read()
assert len(boot) == 512 and boot[510:] == b'\x55\xaa'
sector = bytearray(b'sector 1 says hello\0'.ljust(512, b'\0'))
total = sum(struct.unpack('<255H', sector[:510])) & 0xFFFF
sector[510:512] = struct.pack('<H', (-total) & 0xFFFF)
with open(out, 'wb') as f:
    f.write(boot + bytes(sector))
    f.truncate(1 << 20)
PY
rm "$out/mbr.bin"
echo "$out/mbr.img $out/pam.bin"
