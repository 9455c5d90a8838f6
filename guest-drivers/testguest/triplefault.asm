; triplefault: prints a line, loads an IDT with limit 0 and executes INT3. Vector 3 is outside the IDT, so
; the CPU raises #GP, whose vector is outside too, then #DF, likewise: a triple fault (Intel SDM Vol. 3,
; 6.15 "Interrupt 8"), which a VMM must report as a shutdown, not hang on.
%include "common.inc"

multiboot_header

    section .text
    bits 32
    global _start
_start:
    mov esp, stack_top
    mov esi, msg
    call serial_puts
    lidt [empty_idt]
    int3
    ; Not reached: a VMM that survives the triple fault exits with 0x3F so the test sees it.
    mov al, 0x3F
    jmp debug_exit

serial_routines

    section .data
msg:        db "hv-testguest: triple fault next", 13, 10, 0
    align 8
empty_idt:  dw 0
            dd 0
serial_data

    section .bss
    alignb 16
            resb 4096
stack_top:
