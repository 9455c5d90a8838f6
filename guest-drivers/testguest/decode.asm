; decode: encodings whose meaning depends on what CPUID advertises (Intel SDM Vol. 2, TZCNT and LZCNT:
; "on processors that do not support BMI1/LZCNT the instruction is executed as BSF/BSR", the F3 prefix being
; ignored). A kernel built for newer CPUs (Linux uses TZCNT as "rep bsf") depends on the fallback, so a
; backend must decode by its own CPUID, not by the newest ISA. Both cases print with "~ ": QEMU's CPU model
; may advertise other features than hv, and the guest's own checks decide.
%include "common.inc"
%include "lib32.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10

multiboot_header

entry32
    load_flat32 0
    println "decode: start"
    no_oracle_begin

    ; BMI1: CPUID.(EAX=07h, ECX=0):EBX bit 3, when leaf 7 exists
    xor eax, eax
    cpuid
    xor ebx, ebx
    cmp eax, 7
    jb .no_leaf7
    mov eax, 7
    xor ecx, ecx
    cpuid
.no_leaf7:
    test ebx, 1 << 3
    jnz .tzcnt
    println "~ decode: BMI1 not advertised, F3 0F BC runs as BSF"
    mov ecx, 0xf0
    mov eax, 0xdead
    rep bsf eax, ecx
    check "rep bsf of 0xf0 (as bsf)", 4
    mov ecx, 0
    mov eax, 0xdead
    rep bsf eax, ecx
    setz al                         ; the destination is undefined for a zero source (SDM BSF); ZF is defined
    movzx eax, al
    check "rep bsf of 0 sets ZF (as bsf)", 1
    mov cx, 0x8000
    rep bsf ax, cx
    movzx eax, ax
    check "16-bit rep bsf of 0x8000 (as bsf)", 15
    jmp .lzcnt_part
.tzcnt:
    println "~ decode: BMI1 advertised, F3 0F BC is TZCNT"
    mov ecx, 0xf0
    tzcnt eax, ecx
    check "tzcnt of 0xf0", 4
    mov ecx, 0
    tzcnt eax, ecx
    setc bl
    movzx ebx, bl
    check "tzcnt of 0 is the operand size", 32
    mov eax, ebx
    check "tzcnt of 0 sets CF", 1

.lzcnt_part:
    ; LZCNT: CPUID.80000001h:ECX bit 5 (ABM)
    mov eax, 0x80000000
    cpuid
    xor ecx, ecx
    cmp eax, 0x80000001
    jb .no_ext
    mov eax, 0x80000001
    cpuid
.no_ext:
    test ecx, 1 << 5
    jnz .lzcnt
    println "~ decode: LZCNT not advertised, F3 0F BD runs as BSR"
    mov ecx, 0xf0
    rep bsr eax, ecx
    check "rep bsr of 0xf0 (as bsr)", 7
    jmp .done
.lzcnt:
    println "~ decode: LZCNT advertised, F3 0F BD is LZCNT"
    mov ecx, 0xf0
    lzcnt eax, ecx
    check "lzcnt of 0xf0", 24
.done:
    no_oracle_end
    jmp finish

lib32_routines

    section .data
flat_gdt32
lib32_data

    section .bss
lib32_bss
boot_stack32 8192
