; SMP bring-up through KVM's in-kernel LAPIC: the BSP sends INIT and a STARTUP IPI (Intel MP spec 1.4, B.4)
; to APIC ID 1, whose real-mode trampoline at 0x8000 writes 0x42 to 0x7000 and reports its APIC ID on
; port 0x601 (from CPUID, which hv fills per vCPU). The BSP waits for the flag and exits with 0x21.
    bits 32
    org 0x100000
ICR_LO equ 0xFEE00300
ICR_HI equ 0xFEE00310
    ; copy the trampoline below 1 MiB
    mov esi, trampoline
    mov edi, 0x8000
    mov ecx, trampoline_end - trampoline
    rep movsb
    mov dword [ICR_HI], 1 << 24
    mov dword [ICR_LO], 0x00004500          ; INIT, level assert
    mov dword [ICR_LO], 0x00004608          ; STARTUP, vector 0x08 -> 0x8000
wait_ap:
    pause
    cmp byte [0x7000], 0x42
    jne wait_ap
    mov dx, 0xF4
    mov al, 0x21
    out dx, al
    cli
    hlt

    bits 16
trampoline:
    xor ax, ax
    mov ds, ax
    mov eax, 1                              ; CPUID leaf 1: EBX[31:24] is this CPU's initial APIC ID
    cpuid
    shr ebx, 24
    mov al, bl
    mov dx, 0x601
    out dx, al
    mov byte [0x7000], 0x42
.halt:
    cli
    hlt
    jmp .halt
trampoline_end:
