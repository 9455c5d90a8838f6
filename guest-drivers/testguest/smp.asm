; smp: two CPUs (QEMU -smp 2, hv --cpus 2). The BSP wakes the AP with INIT-SIPI-SIPI (Intel SDM Vol. 3,
; 9.4.4.1 "Typical BSP Initialization Sequence", MultiProcessor Specification B.4) at a real-mode trampoline
; copied to 0x8000 (SIPI vector 08h). The AP records EDX - INIT leaves the processor signature there, CPUID
; leaf 1 EAX, as RESET does (SDM Table 10-1) - enters protected mode and joins the BSP in:
;   - a test-and-set spinlock (LOCK BTS, PAUSE while it is taken) guarding a plain read-modify-write counter
;   - LOCK XADD on a shared counter
;   - strict alternation: each CPU waits with PAUSE for its turn, so every step needs the other CPU to run
; On a VMM whose vCPUs take turns on one thread (QEMU's round-robin TCG, hv's BT), the spin loops make progress
; only because PAUSE ends the spinning vCPU's turn. Every count is fixed, so the output is deterministic.
%include "common.inc"
%include "lib32.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
LAPIC        equ 0xFEE00000
LAPIC_SVR    equ 0xF0
LAPIC_ICR_LO equ 0x300
LAPIC_ICR_HI equ 0x310
ICR_PENDING  equ 1 << 12

TRAMPOLINE   equ 0x8000               ; SIPI vector 08h: CS = 0800h, IP = 0
AP_EDX       equ 0x7000               ; what the AP found in EDX, written in real mode
AP_GDTR      equ 0x7010               ; the BSP's GDTR for the AP's LGDT (6 bytes)

ROUNDS       equ 20000                ; lock and XADD increments per CPU
TURNS        equ 2000                 ; alternation steps per CPU
PATIENCE     equ 0x40000000           ; PAUSE iterations before a wait is declared lost

multiboot_header

entry32
    load_flat32
    println "smp: start"
    mov eax, 1
    cpuid
    mov [bsp_signature], eax

    ; The trampoline and what it needs below 1 MiB.
    mov esi, ap_trampoline
    mov edi, TRAMPOLINE
    mov ecx, ap_trampoline_end - ap_trampoline
    rep movsb
    sgdt [AP_GDTR]
    mov dword [AP_EDX], 0

    mov dword [LAPIC + LAPIC_SVR], 0x1FF           ; software-enable the local APIC
    mov dword [LAPIC + LAPIC_ICR_HI], 1 << 24      ; destination: APIC ID 1
    mov dword [LAPIC + LAPIC_ICR_LO], 0x4500       ; INIT, level assert
    call wait_icr
    mov ecx, 100000                                ; the SDM's 10 ms, loosely: nothing here depends on it
.init_delay:
    pause
    loop .init_delay
    mov dword [LAPIC + LAPIC_ICR_LO], 0x4600 | (TRAMPOLINE >> 12)   ; SIPI
    call wait_icr
    ; A second SIPI, as the sequence prescribes, only for an AP that did not start on the first.
    mov ecx, 100000
.sipi_delay:
    cmp dword [ap_alive], 0
    jne .started
    pause
    loop .sipi_delay
    mov dword [LAPIC + LAPIC_ICR_LO], 0x4600 | (TRAMPOLINE >> 12)
    call wait_icr
.started:
    mov esi, ap_alive
    call wait_nonzero
    check "ap started", 1
    mov eax, [AP_EDX]
    cmp eax, [bsp_signature]
    sete al
    movzx eax, al
    check "ap edx after init = cpuid.1 eax", 1

    mov dword [go], 1                              ; both CPUs run the rounds from here
    xor ebx, ebx
    call rounds
    mov esi, ap_done
    call wait_nonzero
    check "ap finished", 1
    mov eax, [locked_counter]
    check "counter under the spinlock", 2 * ROUNDS
    mov eax, [xadd_counter]
    check "lock xadd counter", 2 * ROUNDS
    mov eax, [turn_counter]
    check "alternation steps", 2 * TURNS
    mov eax, [ap_fail]
    check "ap saw nothing wrong", 0
    jmp finish

; wait_icr: until the last IPI left the local APIC (delivery status idle).
wait_icr:
    pause
    test dword [LAPIC + LAPIC_ICR_LO], ICR_PENDING
    jnz wait_icr
    ret

; wait_nonzero: ESI -> a dword another CPU sets. EAX = 1 once it is nonzero, 0 if it never became so.
wait_nonzero:
    push ecx
    mov ecx, PATIENCE
.spin:
    cmp dword [esi], 0
    jne .set
    pause
    loop .spin
    xor eax, eax
    pop ecx
    ret
.set:
    mov eax, 1
    pop ecx
    ret

; rounds: what both CPUs do; EBX = this CPU's turn value (0 BSP, 1 AP). Returns on both CPUs once done.
rounds:
    mov ecx, ROUNDS
.locked:
    call acquire
    mov eax, [locked_counter]                      ; a plain read-modify-write: only the lock protects it
    inc eax
    mov [locked_counter], eax
    mov dword [spinlock], 0                        ; release (a store is enough on x86)
    loop .locked

    mov ecx, ROUNDS
.xadd:
    mov eax, 1
    lock xadd [xadd_counter], eax
    loop .xadd

    mov ecx, TURNS
.turn:
    mov edx, PATIENCE
.wait_turn:
    cmp [turn], ebx
    je .mine
    pause
    dec edx
    jnz .wait_turn
    ret                                            ; lost: the counters will say so
.mine:
    inc dword [turn_counter]
    xor dword [turn], 1                            ; hand the turn to the other CPU
    loop .turn
    ret

; acquire: takes spinlock, PAUSE while another CPU holds it.
acquire:
    lock bts dword [spinlock], 0
    jnc .taken
.spin:
    pause
    test dword [spinlock], 1
    jnz .spin
    jmp acquire
.taken:
    ret

; The AP, in protected mode from the trampoline.
ap_main:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, ap_stack_top
    mov dword [ap_alive], 1
    mov esi, go
    call wait_nonzero
    test eax, eax
    jnz .run
    inc dword [ap_fail]
.run:
    mov ebx, 1
    call rounds
    mov dword [ap_done], 1
.idle:
    cli
    hlt
    jmp .idle

; Copied to TRAMPOLINE and entered there in real mode (CS = 0800h): only absolute low addresses and the
; 32-bit far jump into ap_main (linked at 1 MiB) are used.
    bits 16
ap_trampoline:
    cli
    xor ax, ax
    mov ds, ax
    mov [AP_EDX], edx
    o32 lgdt [AP_GDTR]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword FLAT_CODE32:ap_main
ap_trampoline_end:
    bits 32

lib32_routines

    section .data
flat_gdt32
lib32_data
    align 4
bsp_signature:  dd 0
ap_alive:       dd 0
ap_done:        dd 0
ap_fail:        dd 0
go:             dd 0
spinlock:       dd 0
locked_counter: dd 0
xadd_counter:   dd 0
turn:           dd 0
turn_counter:   dd 0

    section .bss
lib32_bss
    alignb 16
    resb 4096
ap_stack_top:
boot_stack32 8192
