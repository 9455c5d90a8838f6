; smc: self-modifying and cross-modifying code, which a binary translator must notice (Intel SDM Vol. 3,
; 11.6 "Self-Modifying Code": a store to a code address takes effect for the next fetch of that address,
; on P6 and later even for instructions already prefetched). Every case stores code bytes, then runs them:
;   an immediate in the same straight-line block, a called function patched between calls, an opcode in a
;   loop body patched from inside the loop, code built in a data page and rebuilt, REP STOSB overwriting the
;   instructions right after it, and (with paging) a write through one linear alias of a physical page
;   executed through another.
%include "common.inc"
%include "lib32.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
ALIAS       equ 0x400000        ; with paging: linear 4 MiB maps code_page a second time

multiboot_header

entry32
    load_flat32
    require_cpuid 1, CPUID_EDX, 3, "PSE (CPUID.01h:EDX bit 3)"
    println "smc: start"

    ; 1. the immediate of an instruction a few bytes ahead, in the same block
    mov dword [.imm + 1], 0x11223344
.imm:
    mov eax, 0
    check "patched immediate ahead in the same block", 0x11223344

    ; 2. a function patched between calls
    call patchable
    mov ebx, eax
    mov dword [patchable + 1], 0x0000beef
    call patchable
    add eax, ebx
    check "function result before + after patch", 0x0000beef + 0x00001234

    ; 3. a loop whose body's opcode is patched from inside the loop: 4 x INC, then DEC from the 5th pass
    xor eax, eax
    mov ecx, 8
.loop:
.op:
    inc eax
    cmp ecx, 5
    jne .no_patch
    mov byte [.op], 0x48            ; DEC EAX
.no_patch:
    loop .loop
    mov byte [.op], 0x40
    check "loop body opcode patched mid-loop (4 inc, 4 dec)", 0

    ; 4. code built in a data page, run, rebuilt, run
    mov edi, code_page
    mov byte [edi], 0xb8            ; mov eax, imm32
    mov dword [edi + 1], 0x600d0001
    mov byte [edi + 5], 0xc3        ; ret
    call code_page
    check "generated code, first version", 0x600d0001
    mov dword [code_page + 1], 0x600d0002
    call code_page
    check "generated code, rewritten", 0x600d0002
    ; a longer sequence: copy a template, run it, then overwrite its first byte with RET
    mov esi, template
    mov edi, code_page + 0x100
    mov ecx, template_end - template
    rep movsb
    call code_page + 0x100
    check "copied template", 0x76543210 + 3
    mov byte [code_page + 0x100], 0xc3
    mov eax, 0x5a5a5a5a
    call code_page + 0x100
    check "template replaced by ret", 0x5a5a5a5a

    ; 5. REP STOSB that overwrites the instructions right after itself with NOPs
    mov edi, .stos_target
    mov ecx, .stos_end - .stos_target
    mov al, 0x90
    xor ebx, ebx
    rep stosb
.stos_target:
    mov ebx, 0xbad                  ; becomes NOPs before it runs
    mov ebx, 0xbad
.stos_end:
    mov eax, ebx
    check "rep stosb over the following instructions", 0

    ; 6. two linear aliases of one physical page: store through one, execute through the other
    mov dword [pd], 0x83                    ; 0-4 MiB identity, 4 MiB page
    mov dword [pd + 4], pt + 3              ; 4-8 MiB: page table
    mov eax, code_page
    or eax, 3
    mov [pt], eax                           ; ALIAS -> code_page
    mov eax, cr4
    or eax, 1 << 4
    mov cr4, eax
    mov eax, pd
    mov cr3, eax
    mov eax, cr0
    or eax, 1 << 31
    mov cr0, eax
    mov dword [code_page + 1], 0xa11a5001
    call ALIAS
    check "run through the alias", 0xa11a5001
    mov dword [code_page + 1], 0xa11a5002   ; store through the identity map
    call ALIAS
    check "store through identity, run through alias", 0xa11a5002
    mov dword [ALIAS + 1], 0xa11a5003       ; store through the alias
    call code_page
    check "store through alias, run through identity", 0xa11a5003
    mov eax, cr0
    and eax, ~(1 << 31)
    mov cr0, eax
    jmp finish

patchable:
    mov eax, 0x00001234
    ret

template:
    mov eax, 0x76543210
    inc eax
    inc eax
    inc eax
    ret
template_end:

lib32_routines

    section .data
flat_gdt32
lib32_data

    section .bss
    alignb 4096
pd:         resb 4096
pt:         resb 4096
code_page:  resb 4096
lib32_bss
boot_stack32 8192
