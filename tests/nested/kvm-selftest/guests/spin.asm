; Spins forever with interrupts off: only a kick can get the vCPU out of KVM_RUN.
    bits 32
    org 0x100000
    cli
spin:
    jmp spin
