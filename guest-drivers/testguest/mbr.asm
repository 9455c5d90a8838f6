; mbr: a BIOS boot test guest - a master boot record the BIOS loads at 0000:7C00 (nasm -f bin, build-mbr.sh).
; It prints through INT 10h (SeaBIOS's serial console when there is no VGA), checks what a BIOS promises a boot
; sector (DL = the boot drive, the conventional memory size, INT 13h extensions and an LBA read of sector 1 by
; the BIOS's disk driver, INT 15h E820), and leaves through isa-debug-exit (port 0xF4): 0x21 when every check
; passed, 0x22 when one failed. Every line is deterministic, so QEMU's output is the oracle for hv's.
bits 16
org 0x7C00

%define EXIT_PORT 0xF4
%define SECTOR1   0x8000

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    mov [boot_drive], dl

    mov si, msg_hello
    call puts

    ; DL: the BIOS boots the first hard disk, 80h.
    mov si, msg_drive
    call puts
    mov al, [boot_drive]
    call puthex8
    call newline
    cmp byte [boot_drive], 0x80
    jne fail

    ; INT 12h: KiB of conventional memory below the EBDA.
    mov si, msg_mem
    call puts
    int 0x12
    call puthex16
    call newline
    cmp ax, 600
    jb fail

    ; INT 13h AH=41h: the extensions (EDD) must be there for an LBA read.
    mov si, msg_edd
    call puts
    mov ah, 0x41
    mov bx, 0x55AA
    mov dl, [boot_drive]
    int 0x13
    jc fail
    cmp bx, 0xAA55
    jne fail
    mov al, cl                  ; CX bit 0: the packet calls (42h-44h, 47h, 48h)
    and al, 1
    call puthex8
    call newline
    test cl, 1
    jz fail

    ; INT 13h AH=42h: read LBA 1 to 0000:8000 and check the pattern build-mbr.sh put there.
    mov si, msg_read
    call puts
    mov ah, 0x42
    mov dl, [boot_drive]
    mov si, dap
    int 0x13
    jc fail
    mov si, SECTOR1
    call puts                   ; the sector starts with a NUL-terminated line
    call newline
    ; Sum of the sector's 256 words must be 0 (the last word balances it).
    xor ax, ax
    mov si, SECTOR1
    mov cx, 256
.sum:
    add ax, [si]
    add si, 2
    loop .sum
    test ax, ax
    jnz fail

    ; INT 15h E820: the first entry starts at 0 and is usable RAM.
    mov si, msg_e820
    call puts
    xor ebx, ebx
    mov edx, 0x534D4150         ; 'SMAP'
    mov eax, 0xE820
    mov ecx, 20
    mov di, e820_entry
    int 0x15
    jc fail
    cmp eax, 0x534D4150
    jne fail
    mov eax, [e820_entry]
    or eax, [e820_entry + 4]
    jnz fail
    mov al, [e820_entry + 16]
    call puthex8
    call newline
    cmp byte [e820_entry + 16], 1
    jne fail

    mov si, msg_pass
    call puts
    mov al, 0x21
    out EXIT_PORT, al
    jmp halt

fail:
    mov si, msg_fail
    call puts
    mov al, 0x22
    out EXIT_PORT, al
halt:
    cli
    hlt
    jmp halt

; Prints the NUL-terminated string at DS:SI through INT 10h teletype output.
puts:
    push ax
    push bx
.next:
    lodsb
    test al, al
    jz .done
    mov ah, 0x0E
    mov bx, 0x0007
    int 0x10
    jmp .next
.done:
    pop bx
    pop ax
    ret

newline:
    push si
    mov si, msg_newline
    call puts
    pop si
    ret

puthex16:
    push ax
    mov al, ah
    call puthex8
    pop ax
puthex8:
    push ax
    shr al, 4
    call .digit
    pop ax
    push ax
    call .digit
    pop ax
    ret
.digit:
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '9' - 1
.out:
    push bx
    mov ah, 0x0E
    mov bx, 0x0007
    int 0x10
    pop bx
    ret

msg_hello:   db "hv-mbr: booted", 13, 10, 0
msg_drive:   db "boot drive ", 0
msg_mem:     db "int12 KiB ", 0
msg_edd:     db "int13 extensions ", 0
msg_read:    db "int13 read: ", 0
msg_e820:    db "e820 first type ", 0
msg_pass:    db "hv-mbr: all checks passed", 13, 10, 0
msg_fail:    db "hv-mbr: FAIL", 13, 10, 0
msg_newline: db 13, 10, 0

align 4
dap:        db 16, 0            ; size, reserved
            dw 1                ; sectors
            dw SECTOR1, 0       ; buffer offset, segment
            dq 1                ; LBA
boot_drive: db 0
e820_entry: times 20 db 0

; No partition table: a BIOS boots any sector that ends in 55AAh, and the code needs the room.
times 510 - ($ - $$) db 0
dw 0xAA55
