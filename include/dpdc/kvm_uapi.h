// The KVM uapi (<linux/kvm.h>) for C++, with the kernel's own struct layouts.
//
// Include this instead of <linux/kvm.h>, everywhere in the project.
//
// Why: uapi headers of Linux 6.1 (Debian 12's linux-libc-dev) declare every
// flexible array member through __DECLARE_FLEX_ARRAY(T, name), an anonymous
// struct holding an empty struct and `T name[]`. An empty struct has size 0
// in C and size 1 in C++, so compiled as C++ every such struct grows and its
// array moves: sizeof(kvm_msr_list) is 8 (the kernel's is 4), the ioctl
// numbers that encode a size (KVM_GET_MSR_INDEX_LIST, KVM_GET_XSAVE, ...) no
// longer match the kernel's and it answers EINVAL, and the entries of
// kvm_cpuid2, kvm_msrs, kvm_irq_routing sit at other offsets than the kernel
// reads. Linux 6.5 fixed the macro for C++ as `T name[0]`; this header
// applies that definition before <linux/kvm.h> is read, whichever headers
// the machine has, and checks at compile time the layouts the project relies
// on (tests/unit/include/test_kvm_uapi_layout.cpp compares them with a C compile of
// the same headers).
#pragma once

#if defined(KVM_API_VERSION)
#error "<linux/kvm.h> was included before dpdc/kvm_uapi.h: include dpdc/kvm_uapi.h instead"
#endif

#include <linux/stddef.h>  // defines __DECLARE_FLEX_ARRAY once (include guard), so the override below sticks

#undef __DECLARE_FLEX_ARRAY
#define __DECLARE_FLEX_ARRAY(TYPE, NAME) TYPE NAME[0]

#include <linux/kvm.h>

#include <cstddef>

namespace dpdc::kvm_abi {

// The kernel's sizes and offsets (x86_64), as a C compiler lays them out.
static_assert(sizeof(kvm_msr_list) == 4 && offsetof(kvm_msr_list, indices) == 4);
static_assert(sizeof(kvm_msrs) == 8 && offsetof(kvm_msrs, entries) == 8);
static_assert(sizeof(kvm_msr_entry) == 16);
static_assert(sizeof(kvm_cpuid2) == 8 && offsetof(kvm_cpuid2, entries) == 8);
static_assert(sizeof(kvm_cpuid_entry2) == 40);
static_assert(sizeof(kvm_irq_routing) == 8 && offsetof(kvm_irq_routing, entries) == 8);
static_assert(sizeof(kvm_signal_mask) == 4 && offsetof(kvm_signal_mask, sigset) == 4);
static_assert(sizeof(kvm_xsave) == 4096);
static_assert(sizeof(kvm_dirty_gfn) == 16);
static_assert(sizeof(kvm_regs) == 144 && sizeof(kvm_sregs) == 312);
static_assert(sizeof(kvm_fpu) == 416 && sizeof(kvm_lapic_state) == 1024);
static_assert(sizeof(kvm_vcpu_events) == 64 && sizeof(kvm_xcrs) == 392);
static_assert(sizeof(kvm_userspace_memory_region) == 32);

}  // namespace dpdc::kvm_abi
