; modes: walks the x86 operating modes and checks what each one observes (Intel SDM Vol. 3, 9.9 "Mode
; switching", 10.8.5 "Initializing IA-32e mode"):
;   32-bit protected mode (multiboot entry) -> 16-bit protected -> real mode (IVT interrupt, segment:offset
;   aliasing, 16-bit arithmetic) -> protected mode -> IA-32e compatibility mode (PAE + LME + PG) -> 64-bit
;   mode (64-bit arithmetic, RIP-relative data) -> far call / far return and far jumps between 64-bit and
;   compatibility code -> paging off, LME off -> 32-bit protected mode again.
%include "common.inc"
%include "lib32.inc"
%include "lib64.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
CODE16_SEL  equ 0x18
DATA16_SEL  equ 0x20
CODE64_SEL  equ 0x28
RM_BASE     equ 0x8000          ; the real-mode blob is copied here (below 1 MiB, reachable from real mode)
RM_SEG      equ RM_BASE >> 4
EFER        equ 0xC0000080

%define RM(label) (RM_BASE + (label) - rm_start)

multiboot_header

entry32
    check "multiboot magic in eax", MB_BOOT_MAGIC
    load_flat32
    require_cpuid 1, CPUID_EDX, 6, "PAE (CPUID.01h:EDX bit 6)"
    require_cpuid 0x80000001, CPUID_EDX, 29, "long mode (CPUID.80000001h:EDX bit 29)"
    println "modes: 32-bit protected mode"
    mov eax, cr0
    and eax, 0x80000001
    check "cr0.pg/pe in protected mode", 1

    ; --- real mode and back ---
    mov esi, rm_start
    mov edi, RM_BASE
    mov ecx, rm_end - rm_start
    cld
    rep movsb
    sgdt [RM(rm_gdtr)]
    mov [saved_esp], esp
    jmp CODE16_SEL:RM(rm_entry16)

pm_back:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov esp, [saved_esp]
    lidt [idt32_ptr]
    println "modes: back in 32-bit protected mode"
    mov eax, [RM(rm_cr0)]
    and eax, 1
    check "cr0.pe seen in real mode", 0
    mov eax, [RM(rm_int_seen)]
    check "real-mode int 0x40 through the IVT", 0x4040
    movzx eax, word [RM(rm_alias)]
    check "real-mode 0x0900:0x0010 read as 0x0901:0x0000", 0xbeef
    mov eax, [RM(rm_arith)]
    check "real-mode 16-bit add 0xffff+2, CF", 0x10001
    mov eax, [RM(rm_esp_high)]
    check "real-mode 32-bit register use (ecx)", 0x12345678

    ; --- IA-32e mode ---
    call build_page_tables
    mov eax, cr4
    or eax, 1 << 5                  ; PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, EFER
    rdmsr
    or eax, 1 << 8                  ; LME
    wrmsr
    mov eax, cr0
    or eax, 1 << 31                 ; PG: IA-32e mode is active, CS is still a 32-bit segment
    mov cr0, eax
    println "modes: compatibility mode (paging on, LME set)"
    mov ecx, EFER
    rdmsr
    and eax, 0x500
    check "efer.lma|lme in compatibility mode", 0x500
    jmp CODE64_SEL:long64

    bits 64
long64:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov ss, ax
    mov esp, esp                    ; RSP = ESP, upper half zero
    call idt64_init
    println64 "modes: 64-bit mode"
    mov rax, cs
    check64 "cs in 64-bit mode", CODE64_SEL
    mov rax, 0x0123456789abcdef
    mov rbx, 0x0000000100000001
    imul rax, rbx                   ; 64-bit wraparound: low 64 bits of the product
    check64 "64-bit imul", 0x8acf135689abcdef
    mov rax, [rel quad_value]
    check64 "rip-relative 64-bit load", 0xfedcba9876543210
    lea rax, [rel quad_value]
    mov edx, quad_value
    sub rax, rdx
    check64 "rip-relative lea", 0
    mov r15, 0x1111111111111111
    mov r8d, 0xffffffff
    add r15, r8
    mov rax, r15
    check64 "r8/r15 and 32-bit zero extension", 0x1111111211111110

    ; far call into compatibility mode (m16:32), far return back
    call far dword [rel compat_call_ptr]
    check64 "far call to compat returned eax", 0xc0de0032
    ; far jump to compatibility mode, which far-jumps back
    jmp far dword [rel compat_jump_ptr]
back_from_jump:
    mov rax, cs
    check64 "far jump back to 64-bit cs", CODE64_SEL
    mov eax, [compat_jump_seen]
    check64 "compat code ran after far jump", 1
    ; a 64-bit far return (REX.W retf) to 64-bit code
    push qword CODE64_SEL
    lea rax, [rel after_retfq]
    push rax
    o64 retf
after_retfq:
    println64 "modes: 64-bit far return (retfq) done"
    ; iretq to compatibility mode: leaves long mode from there
    mov rax, rsp
    push qword FLAT_DATA32          ; SS
    push rax                        ; RSP
    pushfq
    push qword FLAT_CODE32          ; CS: 32-bit code segment in IA-32e mode = compatibility mode
    push qword leave_long_mode
    iretq

    bits 32
compat_called:
    mov eax, cs
    check "cs in compatibility mode (far call)", FLAT_CODE32
    mov eax, 0xc0de0032
    retf

compat_jumped:
    mov dword [compat_jump_seen], 1
    println "modes: compatibility mode (far jump)"
    jmp CODE64_SEL:back_from_jump

leave_long_mode:
    println "modes: compatibility mode (iretq), leaving IA-32e mode"
    lidt [idt32_ptr]
    mov eax, cr0
    and eax, ~(1 << 31)             ; paging off deactivates IA-32e mode (SDM 10.8.5.4)
    mov cr0, eax
    mov ecx, EFER
    rdmsr
    and eax, ~(1 << 8)
    wrmsr
    mov eax, cr4
    and eax, ~(1 << 5)
    mov cr4, eax
    println "modes: 32-bit protected mode again"
    mov ecx, EFER
    rdmsr
    and eax, 0x500
    check "efer.lma|lme after leaving", 0
    mov eax, cr0
    and eax, 0x80000001
    check "cr0.pg/pe after leaving", 1
    jmp finish

; Identity map of the first 1 GiB with 2 MiB pages: PML4[0] -> PDPT[0] -> PD.
build_page_tables:
    mov edi, pml4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd
    identity_map_1g 3, 3                    ; present, writable, PS
    ret

lib32_routines
lib64_routines

; --- the real-mode blob: runs at RM_BASE, so it addresses its own data as offsets from rm_start ---
    bits 16
rm_start:
rm_entry16:                         ; 16-bit protected mode, CS base 0
    mov ax, DATA16_SEL
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov fs, ax
    mov gs, ax
    mov eax, cr0
    and eax, ~1
    mov cr0, eax
    jmp RM_SEG:(rm_real - rm_start)
rm_real:
    mov ax, RM_SEG
    mov ds, ax
    xor ax, ax
    mov ss, ax
    mov es, ax
    mov sp, 0x7c00
    lidt [rm_ivt_ptr - rm_start]
    mov si, rm_msg - rm_start
    call rm_puts
    mov eax, cr0
    mov [rm_cr0 - rm_start], eax
    ; an IVT entry of our own: vector 0x40 -> RM_SEG:rm_int40
    mov word [es:0x40 * 4], rm_int40 - rm_start
    mov word [es:0x40 * 4 + 2], RM_SEG
    mov ax, 0x40
    int 0x40
    mov [rm_int_seen - rm_start], ax
    ; segment:offset aliasing: 0x0900:0x0010 and 0x0901:0x0000 are both linear 0x9010
    push ds
    mov ax, 0x0900
    mov ds, ax
    mov word [0x0010], 0xbeef
    mov ax, 0x0901
    mov ds, ax
    mov bx, [0x0000]
    pop ds
    mov [rm_alias - rm_start], bx
    ; 16-bit arithmetic: 0xffff + 2 = 1 with CF
    mov ax, 0xffff
    add ax, 2
    setc dl
    mov [rm_arith - rm_start], ax
    mov [rm_arith - rm_start + 2], dl
    mov byte [rm_arith - rm_start + 3], 0
    mov ecx, 0x12345678
    mov [rm_esp_high - rm_start], ecx
    ; back to protected mode
    o32 lgdt [rm_gdtr - rm_start]
    mov eax, cr0
    or eax, 1
    mov cr0, eax
    jmp dword FLAT_CODE32:pm_back

rm_int40:
    mov ah, 0x40                    ; AX 0x0040 -> 0x4040
    iret

rm_puts:
    push ax
    push dx
.next:
    lodsb
    test al, al
    jz .done
    mov ah, al
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov dx, COM1
    mov al, ah
    out dx, al
    jmp .next
.done:
    pop dx
    pop ax
    ret

rm_msg:       db "modes: real mode", 13, 10, 0
    align 4
rm_gdtr:      dw 0
              dd 0
    align 4
rm_ivt_ptr:   dw 0x3ff
              dd 0
rm_cr0:       dd 0
rm_int_seen:  dd 0
rm_alias:     dd 0
rm_arith:     dd 0
rm_esp_high:  dd 0
rm_end:
    bits 32

    section .data
gdt_begin
    dq 0x00009a000000ffff           ; 0x18 code16, base 0, limit 64 KiB
    dq 0x000092000000ffff           ; 0x20 data16
    dq 0x00209a0000000000           ; 0x28 code64 (L=1)
gdt_finish
    align 8
quad_value:     dq 0xfedcba9876543210
compat_call_ptr: dd compat_called
                 dw FLAT_CODE32
compat_jump_ptr: dd compat_jumped
                 dw FLAT_CODE32
compat_jump_seen: dd 0
saved_esp:      dd 0
lib32_data
lib64_data

    section .bss
    alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
lib32_bss
lib64_bss
boot_stack32 8192
