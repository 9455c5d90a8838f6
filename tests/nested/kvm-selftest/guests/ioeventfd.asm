; Writes 1 to port 0x600 (an ioeventfd in the self-test, so userspace must not see it), then exits with 0x21.
    bits 32
    org 0x100000
    mov dx, 0x600
    mov al, 1
    out dx, al
    mov dx, 0xF4
    mov al, 0x21
    out dx, al
    cli
    hlt
