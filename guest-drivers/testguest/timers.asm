; timers: interrupt sources and their routing, programmed from scratch (no BIOS state is assumed, so a
; direct-boot VMM and QEMU after SeaBIOS start from the same place). Prints only deterministic facts: vectors,
; "fired at least N times", counts after a one-shot, register values the SDM fixes.
;   PIT channel 0 (mode 2) -> 8259A PIC IRQ0 -> LAPIC LINT0 in ExtINT (virtual wire)
;   PIT channel 0 -> IOAPIC pin 2 (the ISA IRQ0 override) -> LAPIC, PIC masked
;   LAPIC timer one-shot and periodic; TSC-deadline mode when CPUID.01h:ECX.TSC_Deadline says so
;   self IPI through the ICR (destination shorthand "self")
%include "common.inc"
%include "lib32.inc"

FLAT_CODE32 equ 0x08
FLAT_DATA32 equ 0x10
LAPIC       equ 0xFEE00000
IOAPIC      equ 0xFEC00000
LAPIC_ID    equ 0x20
LAPIC_TPR   equ 0x80
LAPIC_EOI   equ 0xB0
LAPIC_SVR   equ 0xF0
LAPIC_ICR_LO equ 0x300
LAPIC_ICR_HI equ 0x310
LAPIC_LVT_TIMER equ 0x320
LAPIC_LVT_LINT0 equ 0x350
LAPIC_LVT_LINT1 equ 0x360
LAPIC_TIMER_INIT equ 0x380
LAPIC_TIMER_CUR  equ 0x390
LAPIC_TIMER_DIV  equ 0x3E0
MSR_TSC_DEADLINE equ 0x6E0

VEC_PIC_IRQ0    equ 0x20
VEC_IOAPIC_PIN2 equ 0x30
VEC_ONESHOT     equ 0x40
VEC_PERIODIC    equ 0x41
VEC_DEADLINE    equ 0x42
VEC_SELF_IPI    equ 0x43
VEC_SPURIOUS    equ 0xFF

multiboot_header

entry32
    load_flat32
    %macro gate 2
        mov ebx, %1
        mov eax, %2
        mov dl, 0x8E
        call set_gate32
    %endmacro
    gate VEC_PIC_IRQ0, irq_pic
    gate VEC_IOAPIC_PIN2, irq_ioapic
    gate VEC_ONESHOT, irq_oneshot
    gate VEC_PERIODIC, irq_periodic
    gate VEC_DEADLINE, irq_deadline
    gate VEC_SELF_IPI, irq_self
    gate VEC_SPURIOUS, irq_spurious
    ; the PIC's vectors 0x20-0x2F must not alias exceptions; spurious IRQ7/15 land on 0x27/0x2F
    gate 0x27, irq_spurious
    gate 0x2F, irq_spurious
    println "timers: start"

    mov eax, 1
    cpuid
    mov [cpuid1_ecx], ecx
    mov [cpuid1_edx], edx
    test edx, 1 << 9
    jnz .has_apic
    println "timers: CPUID.01h:EDX.APIC = 0, nothing to test"
    jmp finish
.has_apic:
    call init_pic
    call init_pit
    call init_lapic
    mov eax, [LAPIC + LAPIC_ID]
    shr eax, 24
    mov [apic_id], eax
    check "bsp local apic id", 0

    call test_pic
    call test_ioapic
    call test_lapic_oneshot
    call test_lapic_periodic
    call test_tsc_deadline
    call test_self_ipi
    cli
    jmp finish

; 8259A pair: ICW1 edge + ICW4, ICW2 bases 0x20/0x28, ICW3 cascade on IRQ2, ICW4 8086 mode; all masked.
init_pic:
    mov al, 0x11
    out 0x20, al
    out 0xA0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0x21, al
    out 0xA1, al
    mov al, 0xFF
    out 0x21, al
    out 0xA1, al
    ret

; PIT channel 0, lobyte/hibyte, mode 2 (rate generator), divisor 1193: about 1 kHz.
init_pit:
    mov al, 0x34
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al
    ret

; LAPIC software-enabled, TPR 0, LINT0 ExtINT (virtual wire for the PIC), LINT1 NMI, timer masked.
init_lapic:
    mov dword [LAPIC + LAPIC_SVR], 0x100 | VEC_SPURIOUS
    mov dword [LAPIC + LAPIC_TPR], 0
    mov dword [LAPIC + LAPIC_LVT_LINT0], 0x700
    mov dword [LAPIC + LAPIC_LVT_LINT1], 0x400
    mov dword [LAPIC + LAPIC_LVT_TIMER], 0x10000 | VEC_ONESHOT
    mov dword [LAPIC + LAPIC_TIMER_DIV], 0xB         ; divide by 1
    ret

; wait_for: ESI address of a counter, EDI count to reach. Checks with interrupts off and halts with STI; HLT:
; the STI shadow holds a pending interrupt until HLT has started, so a wakeup between the check and the HLT
; is not lost (the idiom Linux's safe_halt relies on).
wait_for:
    cli
    cmp [esi], edi
    jae .done
    sti
    hlt
    jmp wait_for
.done:
    cli
    ret

test_pic:
    in al, 0x21
    and al, ~1
    out 0x21, al                    ; unmask IRQ0
    mov esi, pic_count
    mov edi, 3
    call wait_for
    in al, 0x21
    or al, 1
    out 0x21, al
    println "ok pit irq0 via pic and lint0 extint fired at least 3 times"
    mov eax, [pic_vector_ok]
    check "pic irq0 delivered on vector 0x20 only", 1
    ret

test_ioapic:
    ; redirection entry 2: vector 0x30, fixed, physical destination APIC 0, edge, active high, unmasked
    mov dword [IOAPIC], 0x10 + 2 * 2 + 1
    mov dword [IOAPIC + 0x10], 0
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], VEC_IOAPIC_PIN2
    mov esi, ioapic_count
    mov edi, 3
    call wait_for
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], 0x10000 | VEC_IOAPIC_PIN2
    println "ok pit via ioapic pin 2 fired at least 3 times"
    ; IOAPIC version register: max redirection entry in bits 23:16 is 23 (24 pins) on the PC's IOAPIC
    mov dword [IOAPIC], 1
    mov eax, [IOAPIC + 0x10]
    shr eax, 16
    and eax, 0xff
    check "ioapic max redirection entry", 23
    ret

test_lapic_oneshot:
    mov dword [LAPIC + LAPIC_LVT_TIMER], VEC_ONESHOT          ; one-shot, unmasked
    mov dword [LAPIC + LAPIC_TIMER_INIT], 200000
    mov esi, oneshot_count
    mov edi, 1
    call wait_for
    mov eax, [LAPIC + LAPIC_TIMER_CUR]
    check "one-shot current count after expiry", 0
    ; a few PIT ticks later (IOAPIC pin 2 re-enabled as a time base) it still fired only once
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], VEC_IOAPIC_PIN2
    mov esi, ioapic_count
    mov edi, [ioapic_count]
    add edi, 5
    call wait_for
    mov dword [IOAPIC], 0x10 + 2 * 2
    mov dword [IOAPIC + 0x10], 0x10000 | VEC_IOAPIC_PIN2
    mov eax, [oneshot_count]
    check "one-shot fired exactly once", 1
    ret

test_lapic_periodic:
    mov dword [LAPIC + LAPIC_LVT_TIMER], 0x20000 | VEC_PERIODIC
    mov dword [LAPIC + LAPIC_TIMER_INIT], 100000
    mov esi, periodic_count
    mov edi, 3
    call wait_for
    mov dword [LAPIC + LAPIC_LVT_TIMER], 0x30000 | VEC_PERIODIC
    mov dword [LAPIC + LAPIC_TIMER_INIT], 0
    println "ok lapic periodic timer fired at least 3 times"
    mov eax, [LAPIC + LAPIC_LVT_TIMER]
    check "lvt timer reads back (masked, periodic)", 0x20000 | 0x10000 | VEC_PERIODIC
    ret

; QEMU TCG does not offer TSC-deadline mode, so these lines are outside the oracle ("~ ", see lib32.inc).
test_tsc_deadline:
    test dword [cpuid1_ecx], 1 << 24
    jnz .has
    println "~ timers: TSC-deadline mode not advertised (CPUID.01h:ECX bit 24 = 0)"
    ret
.has:
    no_oracle_begin
    println "~ timers: TSC-deadline mode advertised"
    mov dword [LAPIC + LAPIC_LVT_TIMER], 0x40000 | VEC_DEADLINE
    rdtsc
    add eax, 200000
    adc edx, 0
    mov ecx, MSR_TSC_DEADLINE
    wrmsr
    mov esi, deadline_count
    mov edi, 1
    call wait_for
    mov ecx, MSR_TSC_DEADLINE
    rdmsr
    or eax, edx
    check "tsc deadline msr after expiry", 0
    mov eax, [deadline_count]
    check "tsc deadline fired once", 1
    mov dword [LAPIC + LAPIC_LVT_TIMER], 0x10000 | VEC_DEADLINE
    no_oracle_end
    ret

test_self_ipi:
    mov dword [LAPIC + LAPIC_ICR_HI], 0
    mov dword [LAPIC + LAPIC_ICR_LO], 0x40000 | VEC_SELF_IPI   ; shorthand self, fixed, edge
    mov esi, self_count
    mov edi, 1
    call wait_for
    mov eax, [self_count]
    check "self ipi delivered once", 1
    mov eax, [LAPIC + LAPIC_ICR_LO]
    and eax, 0x1000
    check "icr delivery status idle", 0
    ret

irq_pic:
    inc dword [pic_count]
    push eax
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd

; lapic_irq name, counter: a handler that counts its interrupt and signals EOI to the local APIC.
%macro lapic_irq 2
%1:
    inc dword [%2]
    mov dword [LAPIC + LAPIC_EOI], 0
    iretd
%endmacro
lapic_irq irq_ioapic, ioapic_count
lapic_irq irq_oneshot, oneshot_count
lapic_irq irq_periodic, periodic_count
lapic_irq irq_deadline, deadline_count
lapic_irq irq_self, self_count
irq_spurious:
    mov dword [pic_vector_ok], 0    ; a spurious or stray vector spoils the PIC check
    iretd

lib32_routines

    section .data
flat_gdt32
    align 4
cpuid1_ecx:     dd 0
cpuid1_edx:     dd 0
apic_id:        dd 0
pic_count:      dd 0
pic_vector_ok:  dd 1
ioapic_count:   dd 0
oneshot_count:  dd 0
periodic_count: dd 0
deadline_count: dd 0
self_count:     dd 0
lib32_data

    section .bss
lib32_bss
boot_stack32 8192
