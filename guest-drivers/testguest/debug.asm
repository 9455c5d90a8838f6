; debug: the x86 debug architecture (Intel SDM Vol. 3, 19.2-19.3; Vol. 2 POPF, IRET, MOV SS, INT1; AMD APM Vol. 2,
; 13.1): DR6/DR7 fixed bits, EFLAGS.TF single-step (POPF setting/clearing TF, INT n and INTO, REP string
; iterations, the MOV SS inhibit), instruction breakpoints with RF, data write and read/write breakpoints with
; LEN 1/2/4/8 (stores, loads, pushes, a REP STOSB iteration), I/O breakpoints under CR4.DE, DR4 with CR4.DE and
; DR6 contents (B0-B3 rewritten per #DB, BS sticky). Every #DB goes through db_handler, which records
; EIP, EFLAGS, ECX and DR6 of each one.
;
; Cases where QEMU 7.2 TCG departs from the SDM are left out here (the BT engine's unit tests cover them):
; - RF in the EFLAGS image of a trap taken between iterations of a REP string instruction (SDM 19.3.1.1: 1);
; - ICEBP (F1): QEMU raises #UD, the SDM a #DB trap (INT1) without DR6 condition bits;
; - DR6 bit 12 (reserved, reads 0 on Intel) keeps what MOV DR6 wrote under QEMU;
; - HLT with TF = 1: QEMU halts, while the #DB trap pending after HLT resumes the processor;
; - RF = 1 in the EFLAGS image of fault-class exceptions (QEMU pushes the live RF);
; - DR7.GD (general detect: MOV DR faults with DR6.BD) is not implemented by QEMU;
; - unaligned breakpoint addresses: the SDM masks the bits below LEN, QEMU compares the unaligned range.
%include "common.inc"
%include "lib32.inc"
%include "lib64.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
CODE64_SEL  equ 0x18
DATA64_SEL  equ 0x20
STAR_USER   equ 0x28            ; SYSRET: SS = +8, CS = +16
USER_DATA64 equ 0x30 | 3
USER_CODE64 equ 0x38 | 3
TSS64_SEL   equ 0x40
EFER        equ 0xC0000080
MSR_STAR    equ 0xC0000081
MSR_LSTAR   equ 0xC0000082
MSR_FMASK   equ 0xC0000084

EFLAGS_TF   equ 0x100
EFLAGS_RF   equ 0x10000
DR6_BASE    equ 0xFFFF0FF0              ; DR6 with no condition bit set
DR6_BS      equ 0x4000
DR7_BASE    equ 0x400
CR4_DE      equ 0x8

multiboot_header

; tf_on / tf_off: set and clear EFLAGS.TF with POPFD (the POPFD that sets TF does not trap, the one that clears
; it does, after 3 traps for PUSHFD, AND and POPFD in tf_off).
%macro tf_on 0
    pushfd
    or dword [esp], EFLAGS_TF
    popfd
%endmacro
%macro tf_off 0
    pushfd
    and dword [esp], ~EFLAGS_TF
    popfd
%endmacro

; checkdb "name", table, index, expected: one recorded #DB field.
%macro checkdb 4
    mov eax, [%2 + 4 * %3]
    check %1, %4
%endmacro

entry32
    load_flat32
    println "debug: start"
    mov eax, db_handler
    mov ebx, 1
    mov dl, 0x8E
    call set_gate32
    mov eax, int40_handler
    mov ebx, 0x40
    mov dl, 0x8E
    call set_gate32

    ; CPUID.01H:EDX.DE (bit 2): I/O breakpoints and CR4.DE.
    mov eax, 1
    cpuid
    mov eax, edx
    shr eax, 2
    and eax, 1
    check "cpuid.1:edx.de", 1

    ; ---- DR6/DR7: fixed bits (SDM 19.2.3, 19.2.4) ----
    xor eax, eax
    mov dr6, eax
    mov eax, dr6
    check "dr6 after writing 0", DR6_BASE
    mov eax, 0xE00F                     ; (QEMU also keeps bit 12, reserved 0 on Intel: not written here)
    mov dr6, eax
    mov eax, dr6
    check "dr6 after writing b0-b3 bd bs bt", 0xFFFFEFFF
    xor eax, eax
    mov dr7, eax
    mov eax, dr7
    check "dr7 after writing 0", DR7_BASE

    ; ---- TF single-step ----
    call db_reset
    tf_on                               ; no trap after the POPFD that sets TF
    nop
.s1:
    mov eax, 5
.s2:
    tf_off
.s3:
    mov eax, [db_count]
    check "tf: traps", 5
    checkdb "tf: trap 0 eip (after nop)", db_eip, 0, .s1
    checkdb "tf: trap 1 eip (after mov)", db_eip, 1, .s2
    checkdb "tf: trap 4 eip (after the popfd clearing tf)", db_eip, 4, .s3
    checkdb "tf: trap 0 dr6", db_dr6, 0, DR6_BASE | DR6_BS
    checkdb "tf: trap 4 dr6", db_dr6, 4, DR6_BASE | DR6_BS
    mov eax, [db_eflags + 4 * 1]
    and eax, EFLAGS_TF | EFLAGS_RF
    check "tf: trap 1 eflags tf/rf", EFLAGS_TF

    ; INT n delivered: TF is cleared on entry, no trap after INT n; the handler's IRET restores TF but was not
    ; itself executed with TF, so the next trap follows the instruction after INT n.
    call db_reset
    tf_on
    int 0x40
.i1:
    nop
.i2:
    tf_off
    mov eax, [db_count]
    check "tf int n: traps", 4
    checkdb "tf int n: first trap after the instruction after int", db_eip, 0, .i2
    mov eax, [int40_count]
    check "tf int n: handler ran once", 1
    mov eax, [int40_tf]
    check "tf int n: handler ran with tf clear", 0

    ; INTO with OF = 0 delivers nothing: it traps like any instruction.
    call db_reset
    xor eax, eax                        ; OF = 0
    tf_on
    into
.o1:
    tf_off
    mov eax, [db_count]
    check "tf into (of = 0): traps", 4
    checkdb "tf into (of = 0): trap after into", db_eip, 0, .o1

    ; REP STOSB with TF: one trap per iteration, EIP on the instruction until the last one.
    call db_reset
    mov edi, buffer
    mov ecx, 3
    xor eax, eax
    cld
    tf_on
.r0:
    rep stosb
.r1:
    tf_off
    mov eax, [db_count]
    check "tf rep stosb x3: traps", 6
    checkdb "tf rep stosb: trap 0 eip (the instruction)", db_eip, 0, .r0
    checkdb "tf rep stosb: trap 0 ecx", db_ecx, 0, 2
    checkdb "tf rep stosb: trap 1 eip", db_eip, 1, .r0
    checkdb "tf rep stosb: trap 2 eip (after it)", db_eip, 2, .r1
    checkdb "tf rep stosb: trap 2 ecx", db_ecx, 2, 0
    mov eax, [db_eflags + 4 * 2]
    and eax, EFLAGS_RF
    check "tf rep stosb: rf pushed after the last iteration", 0

    ; MOV SS: debug exceptions wait until the boundary after the next instruction (SDM 6.8.3).
    call db_reset
    mov ax, ss
    tf_on
    mov ss, ax
    nop
.m1:
    tf_off
    mov eax, [db_count]
    check "tf mov ss: traps", 4
    checkdb "tf mov ss: first trap after the instruction after mov ss", db_eip, 0, .m1
    call db_reset
    push ss
    tf_on
    pop ss
    nop
.m2:
    tf_off
    checkdb "tf pop ss: first trap after the instruction after pop ss", db_eip, 0, .m2

    ; ---- instruction breakpoints ----
    call db_reset
    mov dword [db_set_rf], 1            ; the handler resumes with RF = 1, as debuggers do
    mov eax, .b0
    mov dr0, eax
    mov eax, DR7_BASE | 1               ; L0, R/W0 = 00 (execute), LEN0 = 00
    mov dr7, eax
.b0:
    nop                                 ; the breakpoint right after MOV DR7 fires
    mov eax, DR7_BASE
    mov dr7, eax
    mov dword [db_set_rf], 0
    mov eax, [db_count]
    check "inst bp: #DBs", 1
    checkdb "inst bp: fault eip at the instruction", db_eip, 0, .b0
    checkdb "inst bp: dr6 b0", db_dr6, 0, DR6_BASE | 1
    mov eax, [db_eflags]
    and eax, EFLAGS_RF
    check "inst bp: rf pushed as 0", 0

    ; Two breakpoints on consecutive instructions: RF suppresses the first for one instruction only. DR1 matches
    ; the first address too while not enabled: its B1 is reported with B0.
    call db_reset
    xor eax, eax
    mov dr6, eax
    mov dword [db_set_rf], 1
    mov eax, .c0
    mov dr0, eax
    mov dr1, eax
    mov eax, .c1
    mov dr2, eax
    mov eax, DR7_BASE | 1 | 0x10        ; L0, L2 (DR1 not enabled)
    mov dr7, eax
.c0:
    nop
.c1:
    nop
    mov eax, DR7_BASE
    mov dr7, eax
    mov dword [db_set_rf], 0
    mov eax, [db_count]
    check "inst bp x2: #DBs", 2
    checkdb "inst bp x2: first eip", db_eip, 0, .c0
    checkdb "inst bp x2: first dr6 (b0, disabled b1 matched too)", db_dr6, 0, DR6_BASE | 3
    checkdb "inst bp x2: second eip (rf cleared after one instruction)", db_eip, 1, .c1
    checkdb "inst bp x2: second dr6 (b0-b3 rewritten)", db_dr6, 1, DR6_BASE | 4

    ; ---- data breakpoints ----
    ; Write-only, 4 bytes, global enable: stores trap after the instruction, loads do not.
    call db_reset
    xor eax, eax
    mov dr6, eax
    mov eax, watched
    mov dr1, eax
    mov dr0, eax                        ; DR0 (instruction type, not enabled) never matches a data access
    mov eax, DR7_BASE | 0x8 | (01b << 20) | (11b << 22)     ; G1, R/W1 = write, LEN1 = 4
    mov dr7, eax
    mov eax, [watched]                  ; a load: no #DB
    mov byte [watched + 3], 1
.w1:
    mov byte [watched + 4], 1           ; outside the 4 bytes
    mov word [watched - 1], 1           ; overlaps the first byte
.w2:
    push dword [watched]                ; a load again (push of a memory operand reads it)
    pop eax
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "data write bp: #DBs", 2
    checkdb "data write bp: trap eip after the store", db_eip, 0, .w1
    checkdb "data write bp: dr6 b1", db_dr6, 0, DR6_BASE | 2
    checkdb "data write bp: unaligned store overlapping it", db_eip, 1, .w2

    ; Read/write, LEN 2: any byte of the word matches.
    call db_reset
    mov eax, watched + 8
    mov dr2, eax
    mov eax, DR7_BASE | 0x20 | (11b << 24) | (01b << 26)    ; G2, R/W2 = read/write, LEN2 = 2
    mov dr7, eax
    mov al, [watched + 9]
.x1:
    mov al, [watched + 10]              ; outside [8, 10)
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "data rw bp len 2: #DBs", 1
    checkdb "data rw bp len 2: trap after the second byte is read", db_eip, 0, .x1
    checkdb "data rw bp len 2: dr6 b2", db_dr6, 0, DR6_BASE | 4

    ; LEN 8 (encoding 10): a quadword at an 8-byte boundary.
    call db_reset
    mov eax, watched + 16
    mov dr3, eax
    mov eax, DR7_BASE | 0x40 | (11b << 28) | (10b << 30)    ; L3, R/W3 = read/write, LEN3 = 8
    mov dr7, eax
    mov al, [watched + 23]
.q1:
    mov al, [watched + 24]
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "data rw bp len 8: #DBs", 1
    checkdb "data rw bp len 8: trap after its last byte is read", db_eip, 0, .q1
    checkdb "data rw bp len 8: dr6 b3", db_dr6, 0, DR6_BASE | 8

    ; A PUSH onto a watched stack slot.
    call db_reset
    lea eax, [esp - 4]
    mov dr0, eax
    mov eax, DR7_BASE | 1 | (01b << 16) | (11b << 18)       ; L0, R/W0 = write, LEN0 = 4
    mov dr7, eax
    push eax
.p1:
    pop eax
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "data bp on a push: #DBs", 1
    checkdb "data bp on a push: trap eip", db_eip, 0, .p1

    ; REP STOSB over a watched byte: the trap follows the iteration that wrote it.
    call db_reset
    mov eax, buffer + 5
    mov dr0, eax
    mov eax, DR7_BASE | 1 | (01b << 16)                     ; L0, R/W0 = write, LEN0 = 1
    mov dr7, eax
    mov edi, buffer
    mov ecx, 16
    mov al, 0x55
.rs:
    rep stosb
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "data bp in rep stosb: #DBs", 1
    checkdb "data bp in rep stosb: eip on the instruction", db_eip, 0, .rs
    checkdb "data bp in rep stosb: ecx after 6 iterations", db_ecx, 0, 10
    mov eax, edi
    check "data bp in rep stosb: the copy completed after iret", buffer + 16

    ; ---- I/O breakpoints (CR4.DE) and DR4/DR5 ----
    mov eax, 0xE00F
    mov dr6, eax
    mov eax, dr4                        ; CR4.DE = 0: DR4 is DR6
    check "dr4 aliases dr6 without cr4.de", 0xFFFFEFFF
    mov eax, cr4
    or eax, CR4_DE
    mov cr4, eax
    expect_fault .dr4_done
    mov eax, dr4
    mov dword [last_vector], 0xFF
.dr4_done:
    mov eax, [last_vector]
    check "dr4 with cr4.de: #UD", 6

    call db_reset
    xor eax, eax
    mov dr6, eax
    mov eax, 0x80
    mov dr3, eax
    mov eax, DR7_BASE | 0x40 | (10b << 28) | (01b << 30)    ; L3, R/W3 = I/O, LEN3 = 2
    mov dr7, eax
    mov al, 0
    out 0x80, al
.io1:
    out 0x82, al                        ; outside [0x80, 0x82)
    mov dx, 0x7F
    out dx, ax                          ; 0x7F-0x80 overlaps
.io2:
    mov eax, DR7_BASE
    mov dr7, eax
    mov eax, [db_count]
    check "io bp: #DBs", 2
    checkdb "io bp: trap eip after out", db_eip, 0, .io1
    checkdb "io bp: dr6 b3", db_dr6, 0, DR6_BASE | 8
    checkdb "io bp: word out overlapping it", db_eip, 1, .io2
    mov eax, cr4
    and eax, ~CR4_DE
    mov cr4, eax

    jmp long_mode_part

; ---- 64-bit mode: SYSCALL/SYSRET under TF ----
long_mode_part:
    require_cpuid 0x80000001, CPUID_EDX, 29, "long mode (CPUID.80000001h:EDX bit 29)"
    mov edi, pml4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd
    identity_map_1g 7, 7                ; user pages: ring 3 runs anywhere (no SMEP/SMAP here)
    enter_long_mode pml4, 1 << 8 | 1 << 0 ; LME, SCE
    jmp CODE64_SEL:.long64
    bits 64
.long64:
    load_data_segments64 DATA64_SEL
    call idt64_init
    mov ebx, 1
    mov eax, db_handler64
    mov dx, 0x8E00
    call set_gate64
    mov rax, kstack_top
    mov [tss64 + 4], rax
    mov word [tss64 + 102], 104
    mov edi, gdt + TSS64_SEL
    mov eax, tss64
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor64
    mov ax, TSS64_SEL
    ltr ax
    mov ecx, MSR_STAR
    xor eax, eax
    mov edx, STAR_USER << 16 | CODE64_SEL
    wrmsr
    mov ecx, MSR_LSTAR
    mov eax, syscall_entry64
    xor edx, edx
    wrmsr
    mov ecx, MSR_FMASK
    mov eax, EFLAGS_TF                  ; SYSCALL clears TF
    xor edx, edx
    wrmsr
    println64 "debug: 64-bit mode"

    ; Ring 0, 64-bit: TF stepping as in 32-bit code.
    mov dword [db_count], 0
    pushfq
    or qword [rsp], EFLAGS_TF
    popfq
    nop
.k1:
    pushfq
    and qword [rsp], ~EFLAGS_TF
    popfq
    mov eax, [db_count]
    check64 "64-bit tf: traps", 4
    mov eax, [db_eip]
    check64 "64-bit tf: first trap rip", .k1

    ; Ring 3 entered by IRETQ with TF = 1 in the image: no trap after the IRETQ itself.
    mov dword [db_count], 0
    xor eax, eax
    mov dr6, rax
    mov [kernel_rsp], rsp
    push qword USER_DATA64
    push qword ustack_top
    push qword 0x002 | EFLAGS_TF
    push qword USER_CODE64
    push qword user64_code
    iretq

user64_code:
    nop
.u1:
    syscall                             ; TF at its start, but FMASK clears it: no trap in the kernel
.u2:
    nop                                 ; SYSRET set TF from R11: the trap comes before this instruction
.u3:
    pushfq
    and qword [rsp], ~EFLAGS_TF
    popfq
    syscall                             ; TF clear: back to the checks

syscall_entry64:
    inc dword [syscall_count]
    cmp dword [syscall_count], 1
    jne .checks
    o64 sysret
.checks:
    mov rsp, [kernel_rsp]
    mov eax, [db_count]
    check64 "ring 3 tf: traps", 6
    mov eax, [db_eip]
    check64 "ring 3 tf: trap after the first user instruction", user64_code.u1
    mov eax, [db_eip + 4]
    check64 "sysret restoring tf: trap at the return rip", user64_code.u2
    mov eax, [db_ecx + 4]
    check64 "sysret restoring tf: trap taken in ring 3", USER_CODE64
    mov eax, [db_dr6 + 4]
    check64 "sysret restoring tf: dr6", DR6_BASE | DR6_BS
    mov eax, [db_eip + 8]
    check64 "ring 3 tf: trap after the nop after sysret", user64_code.u3
    jmp finish64

; #DB in 64-bit mode: records RIP, CS (in db_ecx), RFLAGS and DR6. Frame after the two pushes: [rsp+16] RIP,
; +24 CS, +32 RFLAGS.
db_handler64:
    push rax
    push rbx
    mov ebx, [db_count]
    cmp ebx, 16
    jae .full
    mov rax, [rsp + 16]
    mov [db_eip + rbx * 4], eax
    mov rax, [rsp + 24]
    mov [db_ecx + rbx * 4], eax
    mov rax, [rsp + 32]
    mov [db_eflags + rbx * 4], eax
    mov rax, dr6
    mov [db_dr6 + rbx * 4], eax
.full:
    inc dword [db_count]
    cmp dword [db_count], 64
    jb .done
    and qword [rsp + 32], ~EFLAGS_TF
.done:
    pop rbx
    pop rax
    iretq

    bits 32

; db_reset: forget recorded #DBs and clear DR6's condition bits.
db_reset:
    push eax
    mov dword [db_count], 0
    xor eax, eax
    mov dr6, eax
    pop eax
    ret

; #DB (interrupt gate: TF and IF clear). Frame: [esp+8] EIP, +12 CS, +16 EFLAGS after the two pushes.
db_handler:
    push eax
    push ebx
    mov ebx, [db_count]
    cmp ebx, 16
    jae .full
    mov eax, [esp + 8]
    mov [db_eip + ebx * 4], eax
    mov eax, [esp + 16]
    mov [db_eflags + ebx * 4], eax
    mov eax, dr6
    mov [db_dr6 + ebx * 4], eax
    mov [db_ecx + ebx * 4], ecx
.full:
    inc dword [db_count]
    cmp dword [db_count], 64
    jb .keep
    ; A runaway: stop stepping and disarm, so the checks report it.
    and dword [esp + 16], ~EFLAGS_TF
    mov eax, DR7_BASE
    mov dr7, eax
.keep:
    cmp dword [db_set_rf], 0
    je .done
    or dword [esp + 16], EFLAGS_RF
.done:
    pop ebx
    pop eax
    iretd

int40_handler:
    push eax
    inc dword [int40_count]
    pushfd
    pop eax
    and eax, EFLAGS_TF
    mov [int40_tf], eax
    pop eax
    iretd

lib32_routines
lib64_routines

    section .data
gdt_begin
    dq 0x00209a0000000000           ; 0x18 code64
    dq 0x00cf92000000ffff           ; 0x20 data
    dq 0x00cffa000000ffff           ; 0x28 user code32 (SYSRET base)
    dq 0x00cff2000000ffff           ; 0x30 user data (DPL 3)
    dq 0x0020fa0000000000           ; 0x38 user code64 (DPL 3)
    dq 0, 0                         ; 0x40 TSS64 (built at run time)
gdt_finish
lib32_data
lib64_data
    align 4
db_count:       dd 0
db_set_rf:      dd 0
int40_count:    dd 0
int40_tf:       dd 0xFFFFFFFF
syscall_count:  dd 0
    align 8
kernel_rsp:     dq 0

    section .bss
    alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
lib32_bss
lib64_bss
    alignb 16
tss64:  resb 104
    alignb 16
        resb 4096
kstack_top:
        resb 4096
ustack_top:
    alignb 16
db_eip:         resd 16
db_eflags:      resd 16
db_dr6:         resd 16
db_ecx:         resd 16
    alignb 64
watched:        resb 64
buffer:         resb 64
boot_stack32 8192
