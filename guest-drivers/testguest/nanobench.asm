; nanobench: the nanobenchmarks of Adams & Agesen, "A Comparison of Software and Hardware Techniques for x86
; Virtualization" (ASPLOS 2006), in 64-bit mode: syscall (ring 3 SYSCALL + SYSRETQ), in (COM1 LSR), cr8wr
; (MOV CR8), call/ret, pgfault (#PF on a not-present page, handler skips the load), divzero (#DE, handler skips
; the DIV), ptemod (PTE write + INVLPG). Each runs N times (sized so it lasts well over a millisecond under
; QEMU TCG) between "nano: begin NAME N" and "nano: end NAME" lines, which tests/bench/nano.sh timestamps on
; the host; the guest adds its own TSC ticks per operation.
; Not a pass/fail guest: the numbers vary from run to run.
%include "common.inc"
%include "lib32.inc"
%include "lib64.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
CODE64_SEL  equ 0x18
DATA64_SEL  equ 0x20
STAR_USER   equ 0x28            ; SYSRET: CS = +16 (0x38), SS = +8 (0x30)
USER_DATA64 equ 0x30 | 3
USER_CODE64 equ 0x38 | 3
TSS64_SEL   equ 0x40
EFER        equ 0xC0000080
FAULT_PAGE  equ 0x40000000      ; PDPT[1]: not present

multiboot_header

entry32
    load_flat32 0
    require_cpuid 1, CPUID_EDX, 6, "PAE (CPUID.01h:EDX bit 6)"
    require_cpuid 0x80000001, CPUID_EDX, 11, "SYSCALL/SYSRET (CPUID.80000001h:EDX bit 11)"
    require_cpuid 0x80000001, CPUID_EDX, 29, "long mode (CPUID.80000001h:EDX bit 29)"
    ; 0-1 GiB identity with 2 MiB pages (user-accessible), except one 4 KiB-mapped 2 MiB region for ptemod
    identity_map_1g 7, 7
    mov dword [pd + 8 * 8], pt + 7          ; 16-18 MiB through a page table
    xor ecx, ecx
.pte:
    mov eax, ecx
    shl eax, 12
    add eax, 0x1000000 + 7
    mov [pt + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jb .pte
    enter_long_mode pml4, 1 << 8 | 1 << 0
    jmp CODE64_SEL:long64

    bits 64
; bench_begin "name", iterations: prints the begin line, starts the TSC, ECX = iterations.
%macro bench_begin 2
    print64 "nano: begin ", %1, " "
    mov eax, %2
    mov [iterations], rax
    call serial_dec64
    print64 13, 10
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov [tsc_start], rax
    mov ecx, %2
%endmacro
%macro bench_end 1
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, [tsc_start]
    mov rcx, [iterations]
    xor edx, edx
    div rcx
    print64 "nano: end ", %1, " tsc/op "
    call serial_dec64
    print64 13, 10
%endmacro

long64:
    mov ax, DATA64_SEL
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, esp
    call idt64_init
    mov ebx, 0
    mov eax, de_skip
    mov dx, 0x8E00
    call set_gate64
    mov ebx, 14
    mov eax, pf_skip
    mov dx, 0x8E00
    call set_gate64
    println64 "nano: start"

    bench_begin "callret", 5000000
.callret:
    call empty_function
    dec ecx
    jnz .callret
    bench_end "callret"

    bench_begin "in", 1000000
    mov dx, COM1 + 5
.in:
    in al, dx
    dec ecx
    jnz .in
    bench_end "in"

    bench_begin "cr8wr", 1000000
    xor eax, eax
.cr8:
    mov cr8, rax
    dec ecx
    jnz .cr8
    bench_end "cr8wr"

    bench_begin "divzero", 200000
    xor ebx, ebx
.div:
    xor edx, edx
    mov eax, 1
    div ebx                         ; 2 bytes: F7 F3
    dec ecx
    jnz .div
    bench_end "divzero"

    bench_begin "pgfault", 200000
    mov rbx, FAULT_PAGE
.pf:
    mov eax, [rbx]                  ; 2 bytes: 8B 03
    dec ecx
    jnz .pf
    bench_end "pgfault"

    bench_begin "ptemod", 1000000
.pte:
    xor dword [pt + 8], 0x20        ; toggle A in the PTE of 16 MiB + 4 KiB
    invlpg [0x1001000]
    dec ecx
    jnz .pte
    bench_end "ptemod"

    ; syscall: ring 3 loop of SYSCALL, kernel entry returns with SYSRETQ
    mov rax, kstack_top
    mov [tss64 + 4], rax
    mov word [tss64 + 102], 104
    mov edi, gdt + TSS64_SEL
    mov eax, tss64
    mov word [rdi], 103
    mov [rdi + 2], ax
    shr eax, 16
    mov [rdi + 4], al
    mov byte [rdi + 5], 0x89
    mov byte [rdi + 6], 0
    mov [rdi + 7], ah
    mov qword [rdi + 8], 0
    mov ax, TSS64_SEL
    ltr ax
    mov ebx, 0x81
    mov eax, back_to_ring0
    mov dx, 0xEE00
    call set_gate64
    mov ecx, 0xC0000081
    xor eax, eax
    mov edx, STAR_USER << 16 | CODE64_SEL
    wrmsr
    mov ecx, 0xC0000082
    mov eax, syscall_entry
    xor edx, edx
    wrmsr
    mov ecx, 0xC0000084
    mov eax, 0x100
    wrmsr
    mov [kernel_rsp], rsp
    bench_begin "syscall", 1000000
    push qword USER_DATA64
    push qword ustack_top
    push qword 0x002
    push qword USER_CODE64
    push qword .user
    mov r12d, ecx                   ; SYSCALL overwrites RCX (return RIP) and R11 (RFLAGS)
    iretq
.user:
    syscall
    dec r12d
    jnz .user
    int 0x81
.back:
    mov rsp, [kernel_rsp]
    bench_end "syscall"
    println64 "nano: done"
    mov al, EXIT_PASS
    jmp debug_exit64

back_to_ring0:
    jmp long64.back

syscall_entry:
    o64 sysret

empty_function:
    ret

; serial_dec64: RAX in decimal.
serial_dec64:
    push rax
    push rcx
    push rdx
    push rsi
    mov rsi, dec_buffer + 20
    mov byte [rsi], 0
    mov ecx, 10
.digit:
    xor edx, edx
    div rcx
    add dl, '0'
    dec rsi
    mov [rsi], dl
    test rax, rax
    jnz .digit
    call serial_puts64
    pop rsi
    pop rdx
    pop rcx
    pop rax
    ret

de_skip:
    add qword [rsp], 2
    iretq

pf_skip:
    add rsp, 8                      ; error code
    add qword [rsp], 2
    iretq
    bits 32

lib32_routines
lib64_routines

    section .data
gdt_begin
    dq 0x00209a0000000000           ; 0x18 code64
    dq 0x00cf92000000ffff           ; 0x20 data
    dq 0x00cffa000000ffff           ; 0x28 user code32 (SYSRET base)
    dq 0x00cff2000000ffff           ; 0x30 user data
    dq 0x0020fa0000000000           ; 0x38 user code64
    dq 0, 0                         ; 0x40 TSS64
gdt_finish
    align 8
tsc_start:  dq 0
iterations: dq 0
dec_buffer: times 21 db 0
kernel_rsp: dq 0
lib32_data
lib64_data

    section .bss
    alignb 4096
pml4:       resb 4096
pdpt:       resb 4096
pd:         resb 4096
pt:         resb 4096
lib32_bss
lib64_bss
    alignb 16
tss64:      resb 104
    alignb 16
            resb 4096
kstack_top:
            resb 4096
ustack_top:
            resb 8192
stack_top:
