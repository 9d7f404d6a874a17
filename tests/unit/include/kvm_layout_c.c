/* The KVM uapi structs as a C compiler lays them out: the kernel's layout,
 * which test_kvm_uapi_layout.cpp compares with C++'s view through
 * dpdc/kvm_uapi.h. Compiled as C on purpose. */
#include <stddef.h>
#include <linux/kvm.h>

#include "kvm_layout_c.h"

#define DPDC_SIZE(t) {#t, sizeof(struct t), 0, 0}
#define DPDC_MEMBER(t, m) {#t, sizeof(struct t), #m, offsetof(struct t, m)}

const struct dpdc_c_layout dpdc_c_layouts[] = {
    DPDC_MEMBER(kvm_msr_list, indices),
    DPDC_MEMBER(kvm_msrs, entries),
    DPDC_MEMBER(kvm_cpuid2, entries),
    DPDC_MEMBER(kvm_irq_routing, entries),
    DPDC_MEMBER(kvm_signal_mask, sigset),
    DPDC_MEMBER(kvm_xsave, region),
    DPDC_SIZE(kvm_msr_entry),
    DPDC_SIZE(kvm_cpuid_entry2),
    DPDC_SIZE(kvm_dirty_gfn),
    DPDC_SIZE(kvm_regs),
    DPDC_SIZE(kvm_sregs),
    DPDC_SIZE(kvm_fpu),
    DPDC_SIZE(kvm_lapic_state),
    DPDC_SIZE(kvm_vcpu_events),
    DPDC_SIZE(kvm_xcrs),
    DPDC_SIZE(kvm_userspace_memory_region),
};
const size_t dpdc_c_layout_count = sizeof(dpdc_c_layouts) / sizeof(dpdc_c_layouts[0]);
