; tasks: hardware task switching and the legacy gates around it (Intel SDM Vol. 3, 7.3 "Task Switching", 6.12.2
; "Interrupt Tasks", Vol. 2A CALL/IRET/INT n/LAR/LSL, Vol. 2B VERR/VERW): CALL to a TSS and IRET with NT back
; through the link, an INT through an IDT task gate, #DF through a task gate (as 32-bit Linux handles it) whose
; task fixes up the faulting one, a 16-bit TSS (FS/GS nulled), 16-bit interrupt and call gates, conforming code
; entered from ring 3, LAR/LSL/VERR/VERW over every descriptor type, and a task whose TSS holds another CR3 under PAE
; paging (its PDPTEs and a flushed TLB).
; Then segment limits (SDM 5.3): string operands, far RET/IRET frames and an expand-down stack whose interrupt
; frame does not fit, escalating #SS to #DF. QEMU 7.2 TCG does not check segment limits of data and stack
; accesses, so that part runs only on other engines, with "~ " lines (lib32.inc), and the exit status decides.
%include "common.inc"
%include "lib32.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
USER_CODE32 equ 0x18 | 3
USER_DATA32 equ 0x20 | 3
TSS_A       equ 0x28            ; the guest's own task
TSS_B       equ 0x30            ; CALLed task
TSS_C       equ 0x38            ; INT 0x40 task gate
TSS_D       equ 0x40            ; #DF task gate
TSS_16      equ 0x48            ; 16-bit TSS
CODE16      equ 0x50            ; 16-bit code, base code16_base
CONF        equ 0x58            ; conforming code, DPL 0
GATE16      equ 0x60            ; 16-bit call gate to CODE16:c16_callee
PROBE       equ 0x68            ; LAR/LSL/VERR/VERW subject
SMALL       equ 0x70            ; limit tests: data segment
STACK       equ 0x78            ; limit tests: stack segment
DATA16      equ 0x80            ; 16-bit data (B = 0), base 0
NT          equ 0x4000

multiboot_header

entry32
    load_flat32
    require_cpuid 1, CPUID_EDX, 6, "PAE (CPUID.01h:EDX bit 6)"
    println "tasks: 32-bit protected mode"
    clts
    ; the guest's task A, then B, C, D (32-bit) and the 16-bit one
    mov edi, gdt + TSS_A
    mov eax, tss_a
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor
    mov word [tss_a + 102], 104
    mov dword [tss_a + 4], kstack_top       ; ESP0 for ring 3
    mov dword [tss_a + 8], FLAT_DATA32      ; SS0
    mov ax, TSS_A
    ltr ax
    mov edi, gdt + TSS_B
    mov eax, tss_b
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor
    mov edi, tss_b
    mov eax, task_b
    mov edx, b_stack_top
    call init_tss32
    mov edi, gdt + TSS_C
    mov eax, tss_c
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor
    mov edi, tss_c
    mov eax, task_c
    mov edx, c_stack_top
    call init_tss32
    mov edi, gdt + TSS_D
    mov eax, tss_d
    mov ecx, 103
    mov dl, 0x89
    call make_system_descriptor
    mov edi, tss_d
    mov eax, task_d
    mov edx, d_stack_top
    call init_tss32
    mov edi, gdt + CODE16
    mov eax, code16_base
    mov ecx, 0xFFFF
    mov dl, 0x9A
    call make_system_descriptor

    call call_and_iret
    call int_task_gate
    call double_fault_task
    call tss16_task
    call gates16
    call conforming_ring3
    call lar_lsl_verr_verw
    call pae_task_cr3
    call limits
    jmp finish

; --- CALL to a TSS, IRET with NT = 1 back through the link ---
call_and_iret:
    mov eax, 0xA
    call TSS_B:0
    pushfd
    pop eax
    and eax, NT
    check "task A NT after return", 0
    mov eax, [b_flags]
    and eax, NT
    check "task B runs nested (NT)", NT
    mov eax, [b_tr]
    check "task B TR", TSS_B
    movzx eax, word [tss_b]
    check "task B back link", TSS_A
    mov eax, [tss_b + 32]
    check "task B saved EIP after IRET", task_b.resume
    mov eax, [tss_b + 36]
    and eax, NT
    check "task B saved EFLAGS.NT", 0
    movzx eax, byte [gdt + TSS_B + 5]
    check "task B descriptor after IRET (available)", 0x89
    movzx eax, byte [gdt + TSS_A + 5]
    check "task A descriptor (busy)", 0x8B
    mov eax, cr0
    and eax, 8
    check "CR0.TS after the task switch", 8
    clts
    str eax
    check "TR back to task A", TSS_A
    ret

task_b:
    pushfd
    pop dword [b_flags]
    str eax
    mov [b_tr], eax
    iretd
.resume:
    jmp task_b

; --- INT 0x40 through a task gate ---
int_task_gate:
    mov edi, idt32 + 0x40 * 8
    mov word [edi], 0
    mov word [edi + 2], TSS_C
    mov word [edi + 4], 0x8500              ; task gate, DPL 0, present
    mov word [edi + 6], 0
    mov dword [c_ran], 0
    int 0x40
    mov eax, [c_ran]
    check "INT through a task gate ran task C", 1
    movzx eax, word [tss_c]
    check "task C back link", TSS_A
    mov eax, [c_flags]
    and eax, NT
    check "task C NT", NT
    mov eax, [c_esp]
    check "task C ESP (no error code)", c_stack_top
    clts
    ret

task_c:
    mov [c_esp], esp
    pushfd
    pop dword [c_flags]
    mov dword [c_ran], 1
    iretd
    jmp task_c

; --- #DF through a task gate: #GP whose gate is not present (#NP) is a double fault ---
double_fault_task:
    mov edi, idt32 + 8 * 8
    mov word [edi], 0
    mov word [edi + 2], TSS_D
    mov word [edi + 4], 0x8500
    mov word [edi + 6], 0
    and byte [idt32 + 13 * 8 + 5], 0x7F     ; #GP gate not present
    mov dword [d_fixup], .recover
    mov ax, 0x1000                          ; beyond the GDT limit: #GP(1000h)
.at:
    mov ds, ax
    jmp .recover                            ; not reached
.recover:
    or byte [idt32 + 13 * 8 + 5], 0x80
    mov eax, [d_error]
    check "#DF task: error code", 0
    mov eax, [d_esp]
    check "#DF task: ESP after popping the error code", d_stack_top
    mov eax, [d_link]
    check "#DF task: back link", TSS_A
    mov eax, [d_saved_eip]
    check "#DF task: saved EIP of the faulting task", .at
    clts
    ret

; The #DF task pops the error code, records what it sees and lets the interrupted task continue at d_fixup
; (with d_fixup_esp/ss when set): the fault itself would repeat.
task_d:
    pop eax
    mov [d_error], eax
    mov [d_esp], esp
    movzx eax, word [tss_d]
    mov [d_link], eax
    mov eax, [tss_a + 32]
    mov [d_saved_eip], eax
    mov eax, [tss_a + 56]
    mov [d_saved_esp], eax
    mov eax, [d_fixup]
    mov [tss_a + 32], eax
    mov eax, [d_fixup_esp]
    test eax, eax
    jz .keep_stack
    mov [tss_a + 56], eax
    mov dword [tss_a + 80], FLAT_DATA32
    mov dword [d_fixup_esp], 0
.keep_stack:
    mov esp, d_stack_top
    iretd
    jmp task_d

; --- a 16-bit TSS: 16-bit registers, FS/GS null, IRET (16-bit) back ---
tss16_task:
    mov edi, gdt + TSS_16
    mov eax, tss16
    mov ecx, 0x2B
    mov dl, 0x81
    call make_system_descriptor
    mov word [tss16 + 14], task16 - code16_base    ; IP
    mov word [tss16 + 16], 0x2                      ; FLAGS
    mov word [tss16 + 18], 0x4242                   ; AX
    mov word [tss16 + 26], 0x7000                   ; SP
    mov word [tss16 + 34], FLAT_DATA32              ; ES
    mov word [tss16 + 36], CODE16                   ; CS
    mov word [tss16 + 38], DATA16                   ; SS
    mov word [tss16 + 40], FLAT_DATA32              ; DS
    mov ax, FLAT_DATA32
    mov fs, ax
    mov gs, ax
    call TSS_16:0
    mov eax, [t16_ax]
    check "16-bit task AX", 0x4242
    mov eax, [t16_fs]
    check "16-bit task FS (null)", 0
    mov eax, [t16_gs]
    check "16-bit task GS (null)", 0
    mov eax, [t16_pop]
    check "16-bit task stack (SS:SP from the TSS)", 0x1234
    mov eax, [t16_sp]
    check "16-bit task SP", 0x7000
    movzx eax, word [tss16]
    check "16-bit TSS back link", TSS_A
    movzx eax, word [tss16 + 14]
    check "16-bit TSS saved IP after IRET", task16.resume - code16_base
    movzx eax, byte [gdt + TSS_16 + 5]
    check "16-bit TSS descriptor after IRET", 0x81
    mov eax, fs
    check "task A FS after the return", FLAT_DATA32
    clts
    ret

; --- 16-bit interrupt gate and call gate, used from 16-bit code ---
gates16:
    mov ebx, 0x41
    mov eax, h16 - code16_base
    mov dl, 0x86                            ; 16-bit interrupt gate, DPL 0
    call set_gate32
    mov word [idt32 + 0x41 * 8 + 2], CODE16
    mov eax, c16_callee - code16_base       ; 16-bit call gate, DPL 0
    mov [gdt + GATE16], ax
    mov word [gdt + GATE16 + 2], CODE16
    mov word [gdt + GATE16 + 4], 0x8400
    mov word [gdt + GATE16 + 6], 0
    mov [esp_before_16], esp
    jmp CODE16:c16_entry - code16_base
back32:
    mov eax, [h16_ip]
    check "16-bit interrupt gate: IP", c16_entry.after_int - code16_base
    mov eax, [h16_cs]
    check "16-bit interrupt gate: CS", CODE16
    mov eax, [h16_flags]
    and eax, 0x0300
    check "16-bit interrupt gate: IF/TF in FLAGS image", 0
    mov eax, [esp_before_16]
    sub eax, [h16_esp]
    check "16-bit interrupt gate: frame size", 6
    mov eax, [g16_ip]
    check "16-bit call gate: IP", c16_entry.after_call - code16_base
    mov eax, [g16_cs]
    check "16-bit call gate: CS", CODE16
    mov eax, [esp_before_16]
    sub eax, [g16_esp]
    check "16-bit call gate: frame size", 4
    ret

; --- conforming code from ring 3: CPL stays 3, CS.RPL = 3 ---
conforming_ring3:
    mov ebx, 0x42
    mov eax, back_from_ring3
    mov dl, 0xEE                            ; interrupt gate, DPL 3
    call set_gate32
    mov [kernel_esp], esp
    mov ax, USER_DATA32
    mov ds, ax
    mov es, ax
    push dword USER_DATA32
    push dword ustack_top
    push dword 0x2
    push dword USER_CODE32
    push dword user_conforming
    iretd
user_conforming:
    jmp CONF:.in_conforming                 ; RPL 0 of a conforming target is ignored
.in_conforming:
    mov eax, cs
    mov [conf_cs], eax
    call CONF:conf_sub
    int 0x42
conf_sub:
    mov eax, cs
    mov [conf_sub_cs], eax
    retf
back_from_ring3:
    mov eax, [esp + 4]
    mov esp, [kernel_esp]
    mov bx, FLAT_DATA32
    mov ds, bx
    mov es, bx
    mov fs, bx
    mov gs, bx
    check "int from conforming code: frame CS", CONF | 3
    mov eax, [conf_cs]
    check "far JMP to conforming code: CS", CONF | 3
    mov eax, [conf_sub_cs]
    check "far CALL to conforming code: CS", CONF | 3
    ret

; --- LAR/LSL/VERR/VERW: ZF of each as bits 0-3, every system type, then code and data segments ---
; probe: AL access byte of the PROBE descriptor (base 0, limit 567h), ECX selector; returns EAX = the ZF bits.
probe:
    push ebx
    push edx
    mov word [gdt + PROBE], 0x567
    mov word [gdt + PROBE + 2], 0
    mov byte [gdt + PROBE + 4], 0
    mov [gdt + PROBE + 5], al
    mov word [gdt + PROBE + 6], 0
    xor edx, edx
    lar ebx, ecx
    jnz .no_lar
    or edx, 1
    mov [probe_lar], ebx
.no_lar:
    lsl ebx, ecx
    jnz .no_lsl
    or edx, 2
    mov [probe_lsl], ebx
.no_lsl:
    verr cx
    jnz .no_verr
    or edx, 4
.no_verr:
    verw cx
    jnz .no_verw
    or edx, 8
.no_verw:
    mov eax, edx
    pop edx
    pop ebx
    ret

%macro probe_check 3                        ; access byte, selector, expected ZF bits
    mov al, %1
    mov ecx, %2
    call probe
    %defstr %%a %1
    %defstr %%s %2
    %strcat %%name "lar/lsl/verr/verw access ", %%a, " selector ", %%s
    check %%name, %3
%endmacro

lar_lsl_verr_verw:
    ; system types (LAR: 1 2 3 4 5 9 B C; LSL: 1 2 3 9 B; VERR/VERW: none)
    probe_check 0x80, PROBE, 0
    probe_check 0x81, PROBE, 3
    probe_check 0x82, PROBE, 3
    probe_check 0x83, PROBE, 3
    probe_check 0x84, PROBE, 1
    probe_check 0x85, PROBE, 1
    probe_check 0x86, PROBE, 0
    probe_check 0x87, PROBE, 0
    probe_check 0x88, PROBE, 0
    probe_check 0x89, PROBE, 3
    probe_check 0x8A, PROBE, 0
    probe_check 0x8B, PROBE, 3
    probe_check 0x8C, PROBE, 1
    probe_check 0x8D, PROBE, 0
    probe_check 0x8E, PROBE, 0
    probe_check 0x8F, PROBE, 0
    mov eax, [probe_lar]
    check "LAR of a call gate", 0x00008C00
    mov al, 0x89
    mov ecx, PROBE
    call probe
    mov eax, [probe_lsl]
    check "LSL of a TSS", 0x567
    ; code and data segments
    probe_check 0x92, PROBE, 15             ; writable data
    probe_check 0x90, PROBE, 7              ; read-only data
    probe_check 0x96, PROBE, 15             ; expand-down writable data
    probe_check 0x98, PROBE, 3              ; execute-only code
    probe_check 0x9A, PROBE, 7              ; readable code
    probe_check 0x9E, PROBE, 7              ; conforming readable code
    probe_check 0x92, PROBE | 3, 0          ; DPL 0 < RPL 3
    probe_check 0x9E, PROBE | 3, 7          ; conforming: DPL not checked
    probe_check 0x12, PROBE, 15             ; not present: the checks ignore P
    ret

; --- a task switch under PAE paging loads CR3 from the new TSS: new PDPTEs, and a flushed TLB (SDM 4.4.1, 4.10.4.1) ---
; Linear 40000000h (PDPTE 1) maps physical 200000h under pdpt_a and 400000h under pdpt_b; the first GiB is identity.
pae_task_cr3:
    mov dword [0x200000], 0x11111111
    mov dword [0x400000], 0x22222222
    mov edi, pd_identity
    xor eax, eax
    mov eax, 0x83                           ; present, writable, 2 MiB
    mov ecx, 512
.fill:
    mov [edi], eax
    mov dword [edi + 4], 0
    add eax, 0x200000
    add edi, 8
    loop .fill
    mov dword [pd_a], 0x200083
    mov dword [pd_b], 0x400083
    mov dword [pdpt_a], pd_identity + 1
    mov dword [pdpt_a + 8], pd_a + 1
    mov dword [pdpt_b], pd_identity + 1
    mov dword [pdpt_b + 8], pd_b + 1
    mov edi, tss_b
    mov eax, task_e
    mov edx, b_stack_top
    call init_tss32
    mov dword [tss_b + 28], pdpt_b
    mov dword [tss_a + 28], pdpt_a          ; not saved by the switch: the return loads it from here
    mov eax, cr4
    or eax, 0x20
    mov cr4, eax
    mov eax, pdpt_a
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov eax, [0x40000000]                   ; cached in the TLB under pdpt_a
    mov [pae_before], eax
    call TSS_B:0
    mov eax, [0x40000000]
    mov [pae_after], eax
    mov eax, cr3
    mov [pae_cr3_after], eax
    mov eax, cr0
    and eax, 0x7FFFFFFF
    mov cr0, eax
    mov eax, cr4
    and eax, ~0x20
    mov cr4, eax
    clts
    mov eax, [pae_before]
    check "PAE: 40000000h in task A", 0x11111111
    mov eax, [pae_e]
    check "PAE: 40000000h in the task with the other CR3", 0x22222222
    mov eax, [pae_e_cr3]
    check "PAE: CR3 in that task", pdpt_b
    mov eax, [pae_after]
    check "PAE: 40000000h back in task A", 0x11111111
    mov eax, [pae_cr3_after]
    check "PAE: CR3 back in task A", pdpt_a
    ret

task_e:
    mov eax, [0x40000000]
    mov [pae_e], eax
    mov eax, cr3
    mov [pae_e_cr3], eax
    iretd
    jmp task_e

; --- segment limits (not checked by QEMU 7.2 TCG: skipped there) ---
limits:
    mov eax, 0x40000000
    cpuid
    cmp ebx, 'TCGT'
    jne .check
    cmp ecx, 'CGTC'
    jne .check
    println "~ tasks: QEMU TCG does not check data/stack segment limits; skipped"
    ret
.check:
    no_oracle_begin
    ; ES limit FFFh at scratch: REP STOSB stops at the limit with the earlier iterations done
    mov edi, gdt + SMALL
    mov eax, scratch
    mov ecx, 0xFFF
    mov dl, 0x92
    call make_system_descriptor
    mov byte [gdt + SMALL + 6], 0x40        ; B = 1
    mov ax, SMALL
    mov es, ax
    expect_fault .stos_done
    mov edi, 0xFF0
    mov ecx, 0x20
    mov al, 0x5A
.stos_at:
    rep stosb
.stos_done:
    mov eax, [last_vector]
    check "rep stosb past ES limit: vector", 13
    mov eax, [last_error]
    check "rep stosb past ES limit: error code", 0
    mov eax, [last_eip]
    check "rep stosb past ES limit: EIP", .stos_at
    mov eax, edi
    check "rep stosb past ES limit: EDI", 0x1000
    mov eax, ecx
    check "rep stosb past ES limit: ECX", 0x10
    mov ax, FLAT_DATA32
    mov es, ax
    mov eax, [scratch + 0xFFC]
    check "rep stosb: bytes below the limit written", 0x5A5A5A5A

    ; expand-down DS (base 0, B = 1, limit FFFh): offsets 1000h..FFFFFFFFh; the exception handler uses DS too
    mov byte [gdt + SMALL + 5], 0x96
    mov word [gdt + SMALL + 2], 0
    mov byte [gdt + SMALL + 4], 0
    mov byte [gdt + SMALL + 7], 0
    mov ax, SMALL
    mov ds, ax
    expect_fault .lods_done
    mov esi, 0x2000
    lodsd
    mov esi, 0xFFE
.lods_at:
    lodsd
.lods_done:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov eax, [last_vector]
    check "lodsd below an expand-down limit: vector", 13
    mov eax, [last_eip]
    check "lodsd below an expand-down limit: EIP", .lods_at

    ; SS limited to the pages up to the boot stack: SS override of LODS beyond it is #SS(0)
    mov eax, stack_top + 0xFFF
    shr eax, 12
    dec eax                                 ; limit in 4 KiB units
    mov [gdt + STACK], ax
    shr eax, 16
    or al, 0xC0                             ; G = 1, B = 1
    mov [gdt + STACK + 6], al
    mov word [gdt + STACK + 2], 0
    mov word [gdt + STACK + 4], 0x9200
    mov byte [gdt + STACK + 7], 0
    mov ax, STACK
    mov ss, ax
    mov eax, stack_top + 0xFFF
    and eax, ~0xFFF
    dec eax
    mov [stack_limit], eax
    expect_fault .ss_done
    mov esi, eax
.ss_at:
    db 0x36                                 ; ss
    lodsw
.ss_done:
    mov eax, [last_vector]
    check "ss lodsw past the SS limit: vector", 12
    mov eax, [last_error]
    check "ss lodsw past the SS limit: error code", 0
    mov eax, [last_eip]
    check "ss lodsw past the SS limit: EIP", .ss_at

    ; far RET and IRET whose frame crosses the SS limit: #SS(0), nothing popped
    mov [saved_esp], esp
    expect_fault .retf_done
    mov esp, [stack_limit]
    sub esp, 3
.retf_at:
    retf
.retf_done:
    mov [fault_esp], esp
    mov esp, [saved_esp]
    mov eax, [last_vector]
    check "retf frame past the SS limit: vector", 12
    mov eax, [last_eip]
    check "retf frame past the SS limit: EIP", .retf_at
    mov eax, [stack_limit]
    sub eax, 3
    sub eax, [fault_esp]
    check "retf frame past the SS limit: ESP unchanged", 0
    expect_fault .iret_done
    mov esp, [stack_limit]
    sub esp, 7
.iret_at:
    iretd
.iret_done:
    mov esp, [saved_esp]
    mov eax, [last_vector]
    check "iretd frame past the SS limit: vector", 12
    mov eax, [last_eip]
    check "iretd frame past the SS limit: EIP", .iret_at

    ; expand-down stack whose low end leaves room for a far CALL but not for an interrupt frame: the #SS cannot
    ; be delivered on the same stack either, so it becomes #DF, which the #DF task gate takes
    mov ax, FLAT_DATA32
    mov ss, ax
    mov word [gdt + STACK], 0xFFFF          ; limit 0FFFFh, expand-down, B = 1: offsets 10000h..FFFFFFFFh
    mov byte [gdt + STACK + 5], 0x96
    mov byte [gdt + STACK + 6], 0x40
    mov ebx, 0x43
    mov eax, .int43
    mov dl, 0x8E
    call set_gate32
    mov dword [d_fixup], .df_recover
    mov eax, [saved_esp]
    mov [d_fixup_esp], eax
    mov ax, STACK
    mov ss, ax
    mov esp, 0x10008
    call FLAT_CODE32:.far_sub               ; 10000h..10007h: fits
.int43:
    jmp .df_recover                         ; not reached
.far_sub:
.int_at:
    int 0x43                                ; 12 bytes below 10000h: #SS, then #DF
    jmp .df_recover
.df_recover:
    mov eax, ss
    check "#DF task restored SS", FLAT_DATA32
    mov eax, [d_error]
    check "#SS while delivering #SS: #DF error code", 0
    mov eax, [d_saved_eip]
    check "#DF: saved EIP is the INT", .int_at
    mov eax, [d_saved_esp]
    check "#DF: saved ESP after the far CALL", 0x10000
    clts
    no_oracle_end
    ret

; make_system_descriptor: EDI descriptor, EAX base, ECX limit (< 1 MiB, byte granular), DL type/attributes (byte 5).
make_system_descriptor:
    mov [edi], cx
    mov [edi + 2], ax
    shr eax, 16
    mov [edi + 4], al
    mov [edi + 5], dl
    shr ecx, 16
    mov [edi + 6], cl
    mov [edi + 7], ah
    ret

; init_tss32: EDI TSS, EAX EIP, EDX ESP; ring 0 on the flat segments, EFLAGS 2, no I/O bitmap.
init_tss32:
    mov [edi + 32], eax
    mov dword [edi + 36], 2
    mov [edi + 56], edx
    mov dword [edi + 72], FLAT_DATA32
    mov dword [edi + 76], FLAT_CODE32
    mov dword [edi + 80], FLAT_DATA32
    mov dword [edi + 84], FLAT_DATA32
    mov dword [edi + 88], FLAT_DATA32
    mov dword [edi + 92], FLAT_DATA32
    mov word [edi + 102], 104
    ret

; --- 16-bit code (segment CODE16, based at code16_base) ---
    bits 16
code16_base:
task16:
    mov [dword t16_ax], ax
    mov ax, fs
    mov [dword t16_fs], ax
    mov ax, gs
    mov [dword t16_gs], ax
    mov [dword t16_sp], sp
    push word 0x1234
    pop ax
    mov [dword t16_pop], ax
    iret
.resume:
    jmp task16

c16_entry:
    int 0x41
.after_int:
    call GATE16:0
.after_call:
    jmp dword FLAT_CODE32:back32

h16:
    mov ax, [esp]
    mov [dword h16_ip], ax
    mov ax, [esp + 2]
    mov [dword h16_cs], ax
    mov ax, [esp + 4]
    mov [dword h16_flags], ax
    mov [dword h16_esp], esp
    iret

c16_callee:
    mov ax, [esp]
    mov [dword g16_ip], ax
    mov ax, [esp + 2]
    mov [dword g16_cs], ax
    mov [dword g16_esp], esp
    retf
    bits 32

lib32_routines

    section .data
gdt_begin
    dq 0x00cffa000000ffff           ; 0x18 user code32 (DPL 3)
    dq 0x00cff2000000ffff           ; 0x20 user data32 (DPL 3)
    dq 0                            ; 0x28 TSS A (built at run time)
    dq 0                            ; 0x30 TSS B
    dq 0                            ; 0x38 TSS C
    dq 0                            ; 0x40 TSS D
    dq 0                            ; 0x48 16-bit TSS
    dq 0                            ; 0x50 16-bit code
    dq 0x00cf9e000000ffff           ; 0x58 conforming code, DPL 0
    dq 0                            ; 0x60 16-bit call gate
    dq 0                            ; 0x68 probe
    dq 0                            ; 0x70 small data
    dq 0                            ; 0x78 stack
    dq 0x000092000000ffff           ; 0x80 16-bit data, base 0, limit FFFFh
gdt_finish
    align 4
b_flags:        dd 0
b_tr:           dd 0
c_ran:          dd 0
c_flags:        dd 0
c_esp:          dd 0
d_error:        dd 0
d_esp:          dd 0
d_link:         dd 0
d_saved_eip:    dd 0
d_saved_esp:    dd 0
d_fixup:        dd 0
d_fixup_esp:    dd 0
t16_ax:         dd 0
t16_fs:         dd 0xFFFF
t16_gs:         dd 0xFFFF
t16_sp:         dd 0
t16_pop:        dd 0
h16_ip:         dd 0
h16_cs:         dd 0
h16_flags:      dd 0
h16_esp:        dd 0
g16_ip:         dd 0
g16_cs:         dd 0
g16_esp:        dd 0
esp_before_16:  dd 0
kernel_esp:     dd 0
conf_cs:        dd 0
conf_sub_cs:    dd 0
probe_lar:      dd 0
probe_lsl:      dd 0
stack_limit:    dd 0
pae_before:     dd 0
pae_after:      dd 0
pae_e:          dd 0
pae_e_cr3:      dd 0
pae_cr3_after:  dd 0
saved_esp:      dd 0
fault_esp:      dd 0
lib32_data

    section .bss
lib32_bss
    alignb 16
tss_a:  resb 104
tss_b:  resb 104
tss_c:  resb 104
tss_d:  resb 104
tss16:  resb 44
    alignb 4096
pd_identity: resb 4096
pd_a:   resb 4096
pd_b:   resb 4096
pdpt_a: resb 32
pdpt_b: resb 32
    alignb 4096
scratch: resb 8192
        resb 4096
b_stack_top:
        resb 4096
c_stack_top:
        resb 4096
d_stack_top:
        resb 4096
kstack_top:
        resb 4096
ustack_top:
boot_stack32 8192
