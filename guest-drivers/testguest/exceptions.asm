; exceptions: raises the architectural exceptions and checks vector, error code and saved EIP/RIP against the
; Intel SDM (Vol. 3, chapter 6 "Interrupt and Exception Handling", Table 6-1 and 6.13 "Error Code"), then
; privilege changes: ring 3 entered by IRET, back by an interrupt gate, SYSENTER/SYSEXIT, IRET to the outer
; level (which nulls data segments the outer level may not use), and in IA-32e mode IST stacks, #PF with CR2,
; SYSCALL/SYSRET and IRETQ to ring 3.
%include "common.inc"
%include "lib32.inc"
%include "lib64.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
USER_CODE32 equ 0x18 | 3
USER_DATA32 equ 0x20 | 3
TSS32_SEL   equ 0x28
NP_SEL      equ 0x30            ; a data segment descriptor with P = 0
CODE64_SEL  equ 0x38
DATA64_SEL  equ 0x40
STAR_USER   equ 0x48            ; SYSRET: CS = +16, SS = +8
USER_DATA64 equ 0x50 | 3
USER_CODE64 equ 0x58 | 3
TSS64_SEL   equ 0x60
CALL_GATE   equ 0x70 | 3        ; 32-bit call gate, DPL 3, to FLAT_CODE32:callgate_target, 1 parameter
EFER        equ 0xC0000080
MSR_STAR    equ 0xC0000081
MSR_LSTAR   equ 0xC0000082
MSR_FMASK   equ 0xC0000084
MSR_SYSENTER_CS  equ 0x174
MSR_SYSENTER_ESP equ 0x175
MSR_SYSENTER_EIP equ 0x176

multiboot_header

entry32
    load_flat32
    require_cpuid 1, CPUID_EDX, 5, "MSR (CPUID.01h:EDX bit 5)"
    require_cpuid 1, CPUID_EDX, 6, "PAE (CPUID.01h:EDX bit 6)"
    require_cpuid 1, CPUID_EDX, 11, "SYSENTER/SYSEXIT (CPUID.01h:EDX bit 11)"
    require_cpuid 0x80000001, CPUID_EDX, 11, "SYSCALL/SYSRET (CPUID.80000001h:EDX bit 11)"
    require_cpuid 0x80000001, CPUID_EDX, 29, "long mode (CPUID.80000001h:EDX bit 29)"
    println "exceptions: 32-bit protected mode"

    ; #DE: fault, EIP of the DIV
    expect_fault .de_done
    xor ecx, ecx
    mov eax, 1
    xor edx, edx
.de_at:
    div ecx
.de_done:
    mov eax, [last_vector]
    check "#DE vector", 0
    mov eax, [last_eip]
    check "#DE eip is the div", .de_at

    ; #UD: fault, EIP of the UD2
    expect_fault .ud_done
.ud_at:
    ud2
.ud_done:
    mov eax, [last_vector]
    check "#UD vector", 6
    mov eax, [last_eip]
    check "#UD eip is the ud2", .ud_at

    ; #BP: trap, EIP after INT3
    expect_fault .bp_done
    int3
.bp_after:
.bp_done:
    mov eax, [last_vector]
    check "#BP vector", 3
    mov eax, [last_eip]
    check "#BP eip after int3", .bp_after

    ; #OF: INTO with OF = 1 is a trap; with OF = 0 it does nothing
    mov al, 0x7f
    add al, 1
    expect_fault .of_done
    into
.of_after:
.of_done:
    mov eax, [last_vector]
    check "#OF vector", 4
    mov eax, [last_eip]
    check "#OF eip after into", .of_after
    mov dword [last_vector], 0xff
    xor eax, eax                    ; OF = 0
    into
    mov eax, [last_vector]
    check "into with OF=0 does not trap", 0xff

    ; #GP with a selector error code: selector beyond the GDT limit (error code = selector without RPL)
    expect_fault .gp_done
    mov ax, 0x1233
    mov ds, ax
.gp_done:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov eax, [last_vector]
    check "#GP vector (selector beyond GDT)", 13
    mov eax, [last_error]
    check "#GP error code", 0x1230
    ; far jump to a data segment
    expect_fault .gp2_done
    jmp FLAT_DATA32:.gp2_done
.gp2_done:
    mov eax, [last_error]
    check "#GP error code (far jmp to data segment)", FLAT_DATA32

    ; #NP: data segment not present
    expect_fault .np_done
    mov ax, NP_SEL
    mov es, ax
.np_done:
    mov ax, FLAT_DATA32
    mov es, ax
    mov eax, [last_vector]
    check "#NP vector", 11
    mov eax, [last_error]
    check "#NP error code", NP_SEL
    ; INT n to an empty IDT slot: the type is checked before P, so #GP(vector * 8 + IDT bit)
    expect_fault .gp3_done
    int 0x50
.gp3_done:
    mov eax, [last_vector]
    check "#GP vector (empty gate)", 13
    mov eax, [last_error]
    check "#GP error code (gate 0x50)", 0x50 * 8 + 2
    ; INT n to an interrupt gate with P = 0: #NP(vector * 8 + IDT bit)
    mov ebx, 0x50
    mov eax, .np2_done
    mov dl, 0x0E
    call set_gate32
    expect_fault .np2_done
    int 0x50
.np2_done:
    mov eax, [last_vector]
    check "#NP vector (not-present gate)", 11
    mov eax, [last_error]
    check "#NP error code (gate 0x50)", 0x50 * 8 + 2

    ; #SS: loading SS with a not-present segment
    expect_fault .ss_done
    mov ax, NP_SEL
    mov ss, ax
.ss_done:
    mov eax, [last_vector]
    check "#SS vector (not-present SS)", 12
    mov eax, [last_error]
    check "#SS error code", NP_SEL

    ; #DF: #DE whose gate is not present raises #NP (contributory) during delivery -> #DF, error code 0
    mov byte [idt32 + 5], 0x0E      ; gate 0: P = 0
    expect_fault .df_done
    xor ecx, ecx
    div ecx
.df_done:
    mov byte [idt32 + 5], 0x8E
    mov eax, [last_vector]
    check "#DF vector", 8
    mov eax, [last_error]
    check "#DF error code", 0

    call user_mode32
    call long_mode_tests
    jmp finish

; --- ring 3 in 32-bit protected mode ---
user_mode32:
    mov dword [tss32 + 4], kstack_top       ; ESP0
    mov dword [tss32 + 8], FLAT_DATA32      ; SS0
    mov word [tss32 + 102], 104             ; no I/O bitmap
    mov edi, gdt + TSS32_SEL
    mov eax, tss32
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor
    mov ax, TSS32_SEL
    ltr ax
    mov ebx, 0x80
    mov eax, int80_handler32
    mov dl, 0xEE                            ; interrupt gate, DPL 3
    call set_gate32
    mov ebx, 0x81
    mov eax, int81_handler32
    mov dl, 0xEE
    call set_gate32
    mov ebx, 0x82
    mov eax, int81_handler32
    mov dl, 0x8E                            ; DPL 0: INT 0x82 from ring 3 is #GP
    call set_gate32
    xor edx, edx
    mov ecx, MSR_SYSENTER_CS
    mov eax, FLAT_CODE32
    wrmsr
    mov ecx, MSR_SYSENTER_ESP
    mov eax, kstack2_top
    wrmsr
    mov ecx, MSR_SYSENTER_EIP
    mov eax, sysenter_entry
    wrmsr

    mov eax, callgate_target            ; call gate: offset 15:0, selector, param count, type C DPL 3, offset 31:16
    mov [gdt + (CALL_GATE & ~7)], ax
    mov word [gdt + (CALL_GATE & ~7) + 2], FLAT_CODE32
    mov byte [gdt + (CALL_GATE & ~7) + 4], 1
    mov byte [gdt + (CALL_GATE & ~7) + 5], 0xEC
    shr eax, 16
    mov [gdt + (CALL_GATE & ~7) + 6], ax

    mov [kernel_esp], esp
    mov ax, USER_DATA32
    mov ds, ax
    mov es, ax
    mov ax, FLAT_DATA32                     ; DPL 0: IRET to ring 3 must null FS
    mov fs, ax
    push dword USER_DATA32                  ; SS
    push dword ustack_top                   ; ESP
    push dword 0x002                        ; EFLAGS: IF = 0, IOPL = 0
    push dword USER_CODE32                  ; CS
    push dword user32_start                 ; EIP
    iretd

user32_start:
    mov eax, fs
    mov [user_fs], eax
    mov eax, cs
    mov [user_cs], eax
    int 0x80
    or dword [user_steps], 1
    mov edx, user32_after_sysexit
    mov ecx, esp
    sysenter
user32_after_sysexit:
    or dword [user_steps], 2
    mov dword [recover_eip], user32_after_cli
    cli                                     ; IOPL 0 < CPL 3: #GP(0)
user32_after_cli:
    mov eax, [last_error]
    mov [user_cli_error], eax
    mov dword [recover_eip], user32_after_int82
    int 0x82
user32_after_int82:
    mov eax, [last_error]
    mov [user_int82_error], eax
    or dword [user_steps], 4
    ; far call through a call gate to ring 0 with one parameter; RETF 4 back to ring 3
    mov [user_esp_before_gate], esp
    push dword 0xc0ffee01
    call CALL_GATE:0
    mov [user_esp_after_gate], esp
    mov eax, fs
    mov [user_fs_after_retf], eax
    or dword [user_steps], 8
    int 0x81                                ; back to ring 0 for good

callgate_target:
    mov eax, [esp + 4]
    mov [gate_frame_cs], eax
    mov eax, [esp + 8]
    mov [gate_param], eax
    mov eax, [esp + 16]
    mov [gate_frame_ss], eax
    mov [gate_esp], esp
    mov eax, cs
    mov [gate_own_cs], eax
    mov ax, FLAT_DATA32                     ; DPL 0 in FS: RETF to ring 3 must null it
    mov fs, ax
    retf 4

int80_handler32:
    pushad
    mov eax, [esp + 32 + 4]
    mov [int80_cs], eax
    mov eax, [esp + 32 + 16]
    mov [int80_ss], eax
    lea eax, [esp + 32]
    mov [int80_esp], eax
    mov eax, cs
    mov [int80_own_cs], eax
    popad
    iretd

sysenter_entry:
    mov [sysenter_esp], esp
    mov eax, cs
    mov [sysenter_cs], eax
    mov eax, ss
    mov [sysenter_ss], eax
    sysexit                                 ; EIP = EDX, ESP = ECX, CS = SYSENTER_CS + 16 | 3

int81_handler32:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov es, ax
    mov fs, ax
    mov eax, [esp + 4]
    mov [int81_cs], eax
    mov esp, [kernel_esp]
    println "exceptions: back in ring 0 from ring 3 (int 0x81)"
    mov eax, [user_cs]
    check "ring 3 cs after iret", USER_CODE32
    mov eax, [user_fs]
    check "iret to ring 3 nulls fs holding a DPL 0 selector", 0
    mov eax, [int80_cs]
    check "int 0x80 frame cs", USER_CODE32
    mov eax, [int80_ss]
    check "int 0x80 frame ss", USER_DATA32
    mov eax, [int80_esp]
    check "int 0x80 stack from tss.esp0", kstack_top - 20
    mov eax, [int80_own_cs]
    check "int 0x80 handler cs", FLAT_CODE32
    mov eax, [sysenter_cs]
    check "sysenter cs", FLAT_CODE32
    mov eax, [sysenter_ss]
    check "sysenter ss", FLAT_DATA32
    mov eax, [sysenter_esp]
    check "sysenter esp", kstack2_top
    mov eax, [user_cli_error]
    check "cli in ring 3: #GP error code", 0
    mov eax, [user_int82_error]
    check "int to a DPL 0 gate from ring 3: #GP error code", 0x82 * 8 + 2
    mov eax, [user_steps]
    check "ring 3 steps completed", 15
    mov eax, [gate_frame_cs]
    check "call gate frame cs", USER_CODE32
    mov eax, [gate_frame_ss]
    check "call gate frame ss", USER_DATA32
    mov eax, [gate_param]
    check "call gate copied the parameter", 0xc0ffee01
    mov eax, [gate_own_cs]
    check "call gate target cs", FLAT_CODE32
    mov eax, [gate_esp]
    check "call gate stack from tss.esp0", kstack_top - 20
    mov eax, [user_esp_after_gate]
    sub eax, [user_esp_before_gate]
    check "retf 4 to ring 3 released the parameter", 0
    mov eax, [user_fs_after_retf]
    check "retf to ring 3 nulls fs holding a DPL 0 selector", 0
    mov eax, [int81_cs]
    check "int 0x81 frame cs", USER_CODE32
    ret

; make_system_descriptor: EDI descriptor, EAX base, ECX limit (< 64 KiB), DL type/attributes (byte 5).
make_system_descriptor:
    mov [edi], cx
    mov [edi + 2], ax
    shr eax, 16
    mov [edi + 4], al
    mov [edi + 5], dl
    mov byte [edi + 6], 0
    mov [edi + 7], ah
    ret

; --- IA-32e mode ---
long_mode_tests:
    mov [kernel_esp], esp
    ; identity map of 1 GiB with 2 MiB pages; 1 GiB and up is not present
    mov edi, pml4
    mov ecx, 3 * 4096 / 4
    xor eax, eax
    rep stosd
    identity_map_1g 3, 7                    ; present, writable, user, PS
    or dword [pml4], 4
    or dword [pdpt], 4
    ; 0-2 MiB through 4 KiB user pages, except the IDT, TSS and ring 0 stacks: delivering an interrupt from
    ; ring 3 reads and writes those as the supervisor (SDM 5.6, implicit supervisor-mode accesses)
    mov dword [pd], pt0 + 7
    xor ecx, ecx
.pte:
    mov eax, ecx
    shl eax, 12
    or eax, 7
    cmp eax, idt64
    jb .user_page
    cmp eax, idt64 + 4096
    jb .system_page
    cmp eax, sys_begin
    jb .user_page
    cmp eax, sys_end
    jae .user_page
.system_page:
    and eax, ~4
.user_page:
    mov [pt0 + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jb .pte
    enter_long_mode pml4, 1 << 8 | 1 << 0 ; LME, SCE
    jmp CODE64_SEL:.long64
    bits 64
.long64:
    load_data_segments64 DATA64_SEL
    mov esp, esp
    call idt64_init
    println64 "exceptions: 64-bit mode"

    expect_fault64 .de64_done
    xor ecx, ecx
    xor edx, edx
.de64_at:
    div rcx
.de64_done:
    mov eax, [last_vector]
    check64 "64-bit #DE vector", 0
    mov rax, [last_rip]
    check64 "64-bit #DE rip", .de64_at

    ; non-canonical data address: #GP(0)
    expect_fault64 .gp64_done
    mov rbx, 0x8000000000000000
    mov rax, [rbx]
.gp64_done:
    mov eax, [last_vector]
    check64 "non-canonical load: vector", 13
    mov eax, [last_error]
    check64 "non-canonical load: error code", 0

    ; #PF: not-present read and write above the 1 GiB map
    expect_fault64 .pf_read_done
    mov rbx, 0x40001234
    mov rax, [rbx]
.pf_read_done:
    mov eax, [last_vector]
    check64 "#PF vector", 14
    mov eax, [last_error]
    check64 "#PF error code (read, not present)", 0
    mov rax, [last_cr2_64]
    check64 "#PF cr2", 0x40001234
    expect_fault64 .pf_write_done
    mov rbx, 0x7fff00000000
    mov qword [rbx + 8], 0
.pf_write_done:
    mov eax, [last_error]
    check64 "#PF error code (write, not present)", 2
    mov rax, [last_cr2_64]
    check64 "#PF cr2 (47-bit address)", 0x7fff00000008

    ; TSS: RSP0 and IST1; #BP through an IST gate runs on the IST stack
    mov rax, kstack_top
    mov [tss64 + 4], rax
    mov rax, ist1_top
    mov [tss64 + 36], rax
    mov word [tss64 + 102], 104
    mov edi, gdt + TSS64_SEL
    mov eax, tss64
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor64
    mov ax, TSS64_SEL
    ltr ax
    mov ebx, 3
    mov eax, isr64_3
    mov dx, 0x8E01                  ; IST 1
    call set_gate64
    expect_fault64 .bp64_done
    int3
.bp64_done:
    mov rax, [last_rsp]
    check64 "#BP through IST1: handler rsp", ist1_top - 88

    ; ring 3 in 64-bit mode: IRETQ there, SYSCALL/SYSRETQ, INT 0x80 back
    mov ebx, 0x80
    mov eax, int80_handler64
    mov dx, 0xEE00
    call set_gate64
    mov ecx, MSR_STAR
    xor eax, eax
    mov edx, STAR_USER << 16 | CODE64_SEL
    wrmsr
    mov ecx, MSR_LSTAR
    mov eax, syscall_entry
    xor edx, edx
    wrmsr
    mov ecx, MSR_FMASK
    mov eax, 0x100                  ; clear TF on entry
    wrmsr
    mov [kernel_rsp], rsp
    push qword USER_DATA64
    push qword ustack_top
    push qword 0x046                ; RFLAGS: ZF, PF set (checked through R11), IF = 0
    push qword USER_CODE64
    push qword user64_start
    iretq

user64_start:
    mov rax, cs
    mov [user_cs], eax
    mov qword [recover_rip], .after_idt_read
    mov rax, [idt64]                        ; supervisor page: #PF (P|U), delivered through that same IDT
.after_idt_read:
    mov eax, [last_error]
    mov [user_idt_read_error], eax
    syscall
.after_syscall:
    mov [user_r11], r11
    mov rax, cs
    mov [user_cs_after_sysret], eax
    int 0x80

syscall_entry:
    mov [syscall_rcx], rcx
    mov [syscall_r11], r11
    mov rax, cs
    mov [syscall_cs], eax
    mov rax, ss
    mov [syscall_ss], eax
    o64 sysret

int80_handler64:
    mov rax, [rsp + 8]
    mov [int80_cs], eax
    mov rax, [rsp + 32]
    mov [int80_ss], eax
    mov [int80_rsp], rsp
    mov rsp, [kernel_rsp]
    println64 "exceptions: back in ring 0 from 64-bit ring 3 (int 0x80)"
    mov eax, [user_cs]
    check64 "64-bit ring 3 cs after iretq", USER_CODE64
    mov eax, [user_idt_read_error]
    check64 "ring 3 read of the supervisor IDT page: error code", 5
    mov rax, [syscall_rcx]
    check64 "syscall rcx = return rip", user64_start.after_syscall
    mov rax, [syscall_r11]
    check64 "syscall r11 = rflags", 0x046
    mov eax, [syscall_cs]
    check64 "syscall cs", CODE64_SEL
    mov eax, [syscall_ss]
    check64 "syscall ss", DATA64_SEL
    mov eax, [user_cs_after_sysret]
    check64 "sysret cs", USER_CODE64
    mov eax, [int80_cs]
    check64 "int 0x80 frame cs (64-bit)", USER_CODE64
    mov eax, [int80_ss]
    check64 "int 0x80 frame ss (64-bit)", USER_DATA64
    mov rax, [int80_rsp]
    check64 "int 0x80 stack from tss.rsp0", kstack_top - 40
    jmp finish64

    bits 32

lib32_routines
lib64_routines

    section .data
gdt_begin
    dq 0x00cffa000000ffff           ; 0x18 user code32 (DPL 3)
    dq 0x00cff2000000ffff           ; 0x20 user data32 (DPL 3)
    dq 0                            ; 0x28 TSS32 (built at run time)
    dq 0x00cf12000000ffff           ; 0x30 data, not present
    dq 0x00209a0000000000           ; 0x38 code64
    dq 0x00cf92000000ffff           ; 0x40 data
    dq 0x00cffa000000ffff           ; 0x48 user code32 (SYSRET base)
    dq 0x00cff2000000ffff           ; 0x50 user data (DPL 3)
    dq 0x0020fa0000000000           ; 0x58 user code64 (DPL 3)
    dq 0, 0                         ; 0x60 TSS64 (built at run time)
    dq 0                            ; 0x70 call gate (built at run time)
gdt_finish
    align 4
kernel_esp:     dd 0
user_fs:        dd 0
user_cs:        dd 0
user_steps:     dd 0
user_cli_error: dd 0
user_int82_error: dd 0
user_esp_before_gate: dd 0
user_esp_after_gate: dd 0
user_fs_after_retf: dd 0
gate_frame_cs:  dd 0
gate_frame_ss:  dd 0
gate_param:     dd 0
gate_esp:       dd 0
gate_own_cs:    dd 0
int80_cs:       dd 0
int80_ss:       dd 0
int80_esp:      dd 0
int80_own_cs:   dd 0
int81_cs:       dd 0
sysenter_esp:   dd 0
sysenter_cs:    dd 0
sysenter_ss:    dd 0
user_cs_after_sysret: dd 0
user_idt_read_error: dd 0
syscall_cs:     dd 0
syscall_ss:     dd 0
    align 8
kernel_rsp:     dq 0
user_r11:       dq 0
syscall_rcx:    dq 0
syscall_r11:    dq 0
int80_rsp:      dq 0
lib32_data
lib64_data

    section .bss
    alignb 4096
pml4:   resb 4096
pdpt:   resb 4096
pd:     resb 4096
pt0:    resb 4096
lib32_bss
lib64_bss
    alignb 4096
sys_begin:                          ; supervisor-only pages in the 4-level map
tss32:  resb 104
    alignb 16
tss64:  resb 104
    alignb 4096
        resb 4096
kstack_top:
        resb 4096
kstack2_top:
        resb 4096
ist1_top:
sys_end:
        resb 4096
ustack_top:
        resb 8192
stack_top:
