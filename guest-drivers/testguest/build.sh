#!/bin/bash
# Builds the multiboot test guests (ELF32) into $1 (default: ./out). Needs nasm and binutils (ld).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/out}
mkdir -p "$out"
guests=(hello triplefault modes exceptions paging timers smc decode tasks debug smp nanobench)
built=()
for guest in "${guests[@]}"; do
    nasm -f elf32 -w-zext-reloc -I "$here/" -o "$out/$guest.o" "$here/$guest.asm"
    ld -m elf_i386 -nostdlib --no-warn-rwx-segments -T "$here/link.ld" -o "$out/$guest.elf" "$out/$guest.o"
    rm "$out/$guest.o"
    built+=("$out/$guest.elf")
done
echo "${built[*]}"
