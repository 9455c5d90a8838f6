; pam: a 64 KiB BIOS image (nasm -f bin; hv run --bios pam.bin) that checks the PC's power-on state and the
; i440FX shadow RAM control (82441FX datasheet 3.2.18, PAM0 at config offset 59h of 00:00.0) from the reset
; vector on: the CPU starts at F000:FFF0 with CS.base FFFF0000 and EDX = the CPUID signature; 0xF0000-0xFFFFF
; first shows the flash, then DRAM as PAM0 bits 5:4 open it for reading and writing. It prints on COM1 and
; leaves through isa-debug-exit (0xF4): 0x21 when every check passed, 0x22 at the first failure.
bits 16
org 0

%define COM1      0x3F8
%define EXIT_PORT 0xF4
%define PAM0_DWORD 0x80000058       ; CONFIG_ADDRESS of bus 0, dev 0, fn 0, offset 58h (PAM0 is byte 1)

signature:  db "HVPAM", 0           ; at 0xF0000 through the low alias, at 0xFFFF0000 through the high one

start:
    ; Power-on state (SDM Vol. 3, 10.1.1): EFLAGS 2, CR0 60000010h, EDX = family/model/stepping as CPUID leaf 1
    ; EAX reports it. SS:SP is 0000:0000 - the first push wraps to 0000:FFFE, which is RAM.
    pushfd
    pop edi                         ; CPUID below overwrites EBX
    mov ebp, edx
    mov eax, 1
    cpuid
    cmp eax, ebp
    jne fail_edx
    mov eax, cr0
    cmp eax, 0x60000010
    jne fail_cr0
    cmp edi, 2
    jne fail_flags

    mov ax, 0xF000
    mov ds, ax                      ; DS: the low alias at 0xF0000 (CS still has the reset base FFFF0000h)
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000

    mov si, msg_start
    call puts

    ; PAM0 = 00h: reads and writes go to PCI, i.e. the flash.
    cmp dword [0], 'HVPA'
    jne fail_rom
    mov byte [0], 0x5A
    cmp byte [0], 'H'
    jne fail_rom
    mov si, msg_rom
    call puts

    ; PAM0 = 30h: DRAM for reads and writes; it holds nothing yet, then what was written.
    mov al, 0x30
    call set_pam0
    cmp dword [0], 0
    jne fail_dram
    mov byte [0], 0x5A
    cmp byte [0], 0x5A
    jne fail_dram
    mov si, msg_dram
    call puts

    ; PAM0 = 10h: reads DRAM, writes go to PCI and are lost.
    mov al, 0x10
    call set_pam0
    mov byte [0], 0xA5
    cmp byte [0], 0x5A
    jne fail_ro
    mov si, msg_ro
    call puts

    ; PAM0 = 00h again: the flash is back in front; 30h: the DRAM kept its byte behind it.
    xor al, al
    call set_pam0
    cmp byte [0], 'H'
    jne fail_back
    mov al, 0x30
    call set_pam0
    cmp byte [0], 0x5A
    jne fail_back
    mov si, msg_back
    call puts

    mov si, msg_pass
    call puts
    mov al, 0x21
    out EXIT_PORT, al
    jmp halt

fail_edx:   mov si, msg_fail_edx
            jmp fail
fail_cr0:   mov si, msg_fail_cr0
            jmp fail
fail_flags: mov si, msg_fail_flags
            jmp fail
fail_rom:   mov si, msg_fail_rom
            jmp fail
fail_dram:  mov si, msg_fail_dram
            jmp fail
fail_ro:    mov si, msg_fail_ro
            jmp fail
fail_back:  mov si, msg_fail_back
fail:
    ; The stack may not be set up yet: print without calls.
    mov dx, COM1
.next:
    mov al, [cs:si]
    test al, al
    jz .done
    out dx, al
    inc si
    jmp .next
.done:
    mov al, 0x22
    out EXIT_PORT, al
halt:
    cli
    hlt
    jmp halt

; AL -> PAM0 (config byte 59h: byte 1 of the dword at 58h, data port CFDh).
set_pam0:
    push ax
    mov eax, PAM0_DWORD
    mov dx, 0xCF8
    out dx, eax
    pop ax
    mov dx, 0xCFD
    out dx, al
    ret

; Prints the NUL-terminated string at CS:SI on COM1 (the code segment: DS points at the shadow area).
puts:
    push ax
    push dx
    mov dx, COM1
.next:
    mov al, [cs:si]
    test al, al
    jz .done
    out dx, al
    inc si
    jmp .next
.done:
    pop dx
    pop ax
    ret

msg_start:      db "pam: reset state ok", 13, 10, 0
msg_rom:        db "pam: 00h reads the flash, writes are lost", 13, 10, 0
msg_dram:       db "pam: 30h reads and writes DRAM", 13, 10, 0
msg_ro:         db "pam: 10h reads DRAM, writes are lost", 13, 10, 0
msg_back:       db "pam: the DRAM keeps its contents behind the flash", 13, 10, 0
msg_pass:       db "pam: all checks passed", 13, 10, 0
msg_fail_edx:   db "pam: FAIL EDX at reset is not CPUID.1 EAX", 13, 10, 0
msg_fail_cr0:   db "pam: FAIL CR0 at reset is not 60000010h", 13, 10, 0
msg_fail_flags: db "pam: FAIL EFLAGS at reset is not 2", 13, 10, 0
msg_fail_rom:   db "pam: FAIL 00h does not show the flash", 13, 10, 0
msg_fail_dram:  db "pam: FAIL 30h does not show writable DRAM", 13, 10, 0
msg_fail_ro:    db "pam: FAIL 10h is not read-only DRAM", 13, 10, 0
msg_fail_back:  db "pam: FAIL the DRAM or the flash did not come back", 13, 10, 0

; The reset vector: 16 bytes below 4 GiB, offset FFF0h of the image.
times 0xFFF0 - ($ - $$) db 0xFF
reset:
    jmp start                       ; a near jump: CS keeps base FFFF0000h, so the code runs from the high alias
times 0x10000 - ($ - $$) db 0xFF
