/* Guest entry point. The VMM enters in 64-bit long mode with
 * RSP = top of this vCPU's stack (16-byte aligned), RDI = vCPU index,
 * RSI = GPA of struct dpdc_boot_info (identity mapped), RFLAGS = 2 (IF=0). */
    .section .text.entry, "ax"
    .globl _start
    .type _start, @function
_start:
    cld
    call guest_main
1:  cli
    hlt
    jmp 1b
    .size _start, . - _start

    .section .note.GNU-stack, "", @progbits
