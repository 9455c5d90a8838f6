; hello: the smallest useful multiboot guest. Checks the loader's magic, prints a line on COM1, computes a
; checksum over a fixed pattern (so a backend that corrupts memory or arithmetic shows), prints it and exits
; through isa-debug-exit with 0x21 -> VMM exit status 67. Any other status names what went wrong:
; 0x31 bad multiboot magic, 0x32 wrong checksum.
%include "common.inc"

EXIT_OK          equ 0x21
EXIT_BAD_MAGIC   equ 0x31
EXIT_BAD_SUM     equ 0x32
PATTERN_WORDS    equ 4096
EXPECTED_SUM     equ 0x6619d800         ; see compute_sum: sum of i*i*2654435761 for i < 4096, mod 2^32

multiboot_header

    section .text
    bits 32
    global _start
_start:
    mov esp, stack_top
    cmp eax, MB_BOOT_MAGIC
    jne .bad_magic
    mov esi, msg_hello
    call serial_puts

    call compute_sum
    push eax
    mov esi, msg_sum
    call serial_puts
    mov eax, [esp]
    call serial_hex32
    mov esi, msg_nl
    call serial_puts
    pop eax
    cmp eax, EXPECTED_SUM
    jne .bad_sum

    mov esi, msg_bye
    call serial_puts
    mov al, EXIT_OK
    jmp debug_exit
.bad_magic:
    mov esi, msg_magic
    call serial_puts
    mov al, EXIT_BAD_MAGIC
    jmp debug_exit
.bad_sum:
    mov al, EXIT_BAD_SUM
    jmp debug_exit

; Fills a 16 KiB buffer with i*i*2654435761 and sums it back: memory writes, reads and MUL all take part.
compute_sum:
    xor ecx, ecx
.fill:
    mov eax, ecx
    mul ecx
    mov ebx, 2654435761
    mul ebx
    mov [buffer + ecx * 4], eax
    inc ecx
    cmp ecx, PATTERN_WORDS
    jb .fill
    xor eax, eax
    xor ecx, ecx
.sum:
    add eax, [buffer + ecx * 4]
    inc ecx
    cmp ecx, PATTERN_WORDS
    jb .sum
    ret

serial_routines

    section .data
msg_hello:  db "hv-testguest: hello from multiboot", 13, 10, 0
msg_sum:    db "hv-testguest: checksum ", 0
msg_nl:     db 13, 10, 0
msg_bye:    db "hv-testguest: exiting with 0x21", 13, 10, 0
msg_magic:  db "hv-testguest: bad multiboot magic", 13, 10, 0
serial_data

    section .bss
    alignb 16
buffer:     resd PATTERN_WORDS
            resb 4096
stack_top:
