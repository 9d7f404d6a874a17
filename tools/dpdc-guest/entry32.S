/* dpdc-guest entry. QEMU's multiboot option ROM jumps to _start32 in 32-bit
 * protected mode with flat segments, paging off, interrupts off,
 * EAX = 0x2badb002 and EBX = GPA of the multiboot info, and no stack we may
 * keep. The workload code is 64-bit, so this builds identity-mapped page
 * tables for the first 4 GiB (2 MiB pages: QEMU's default qemu64 CPU has no
 * 1 GiB pages), enters long mode and calls dpdc_guest_start(magic, mbi). */

#define MB_HEADER_MAGIC 0x1badb002
/* bit 1: pass mem_lower/mem_upper; bit 16: the address fields below are
 * valid, which makes QEMU load this file as a flat image (it refuses ELF64) */
#define MB_HEADER_FLAGS 0x00010002

#define PTE_PRESENT 0x1
#define PTE_WRITABLE 0x2
#define PTE_LARGE 0x80
#define CR0_PE 0x1
#define CR0_PG 0x80000000
#define CR4_PAE 0x20
#define MSR_EFER 0xc0000080
#define EFER_LME 0x100

#define PD_COUNT 4 /* one page directory maps 1 GiB */
#define STACK_SIZE 0x4000

    .section .multiboot, "a"
    .balign 4
mb_header:
    .long MB_HEADER_MAGIC
    .long MB_HEADER_FLAGS
    .long -(MB_HEADER_MAGIC + MB_HEADER_FLAGS)
    .long mb_header      /* header_addr */
    .long __image_start  /* load_addr: the first byte of the file */
    .long __load_end     /* load_end_addr: the end of the file */
    .long __bss_end      /* bss_end_addr: QEMU zeroes up to here */
    .long _start32       /* entry_addr */

    .section .text.boot, "ax"
    .code32
    .globl _start32
    .type _start32, @function
_start32:
    cli
    cld
    movl %eax, %ebp  /* loader magic; EBX (mbi) survives untouched */
    movl $boot_stack_top, %esp

    /* Loaders may ignore bss_end_addr; zero the tables rather than trust them. */
    movl $pml4, %edi
    xorl %eax, %eax
    movl $((2 + PD_COUNT) * 1024), %ecx
    rep stosl

    movl $page_dirs, %edi
    movl $(PTE_PRESENT | PTE_WRITABLE | PTE_LARGE), %eax
    movl $(PD_COUNT * 512), %ecx
1:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    loop 1b

    movl $pdpt, %edi
    movl $(page_dirs + PTE_PRESENT + PTE_WRITABLE), %eax
    movl $PD_COUNT, %ecx
2:  movl %eax, (%edi)
    addl $0x1000, %eax
    addl $8, %edi
    loop 2b

    movl $(pdpt + PTE_PRESENT + PTE_WRITABLE), pml4

    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    lgdt gdt64_desc
    ljmp $0x08, $start64
    .size _start32, . - _start32

    .code64
start64:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    xorl %eax, %eax
    movl %eax, %fs
    movl %eax, %gs
    movq $boot_stack_top, %rsp
    movl %ebp, %edi
    movl %ebx, %esi
    call dpdc_guest_start
3:  cli
    hlt
    jmp 3b

    .section .rodata
    .balign 8
gdt64:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08: 64-bit code */
    .quad 0x00cf92000000ffff /* 0x10: data */
gdt64_end:
gdt64_desc:
    .word gdt64_end - gdt64 - 1
    .long gdt64

    .section .bss
    .balign 4096
pml4:
    .skip 0x1000
pdpt:
    .skip 0x1000
page_dirs:
    .skip 0x1000 * PD_COUNT
    .balign 16
boot_stack:
    .skip STACK_SIZE
boot_stack_top:

    .section .note.GNU-stack, "", @progbits
