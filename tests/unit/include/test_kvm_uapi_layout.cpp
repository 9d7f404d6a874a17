// dpdc/kvm_uapi.h gives C++ the kernel's struct layouts: every size and
// offset the project relies on equals what a C compile of the same uapi
// headers gives (kvm_layout_c.c), and the size-encoding ioctl numbers equal
// the kernel's.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <string>
#include <utility>

#include "dpdc/kvm_uapi.h"
#include "kvm_layout_c.h"

namespace {

struct CxxLayout {
    std::size_t size;
    std::size_t offset;
};

#define DPDC_CXX_MEMBER(t, m) {{#t, #m}, {sizeof(t), offsetof(t, m)}}
#define DPDC_CXX_SIZE(t) {{#t, ""}, {sizeof(t), 0}}

const std::map<std::pair<std::string, std::string>, CxxLayout>& cxx_layouts()
{
    static const std::map<std::pair<std::string, std::string>, CxxLayout> m{
        DPDC_CXX_MEMBER(kvm_msr_list, indices),
        DPDC_CXX_MEMBER(kvm_msrs, entries),
        DPDC_CXX_MEMBER(kvm_cpuid2, entries),
        DPDC_CXX_MEMBER(kvm_irq_routing, entries),
        DPDC_CXX_MEMBER(kvm_signal_mask, sigset),
        DPDC_CXX_MEMBER(kvm_xsave, region),
        DPDC_CXX_SIZE(kvm_msr_entry),
        DPDC_CXX_SIZE(kvm_cpuid_entry2),
        DPDC_CXX_SIZE(kvm_dirty_gfn),
        DPDC_CXX_SIZE(kvm_regs),
        DPDC_CXX_SIZE(kvm_sregs),
        DPDC_CXX_SIZE(kvm_fpu),
        DPDC_CXX_SIZE(kvm_lapic_state),
        DPDC_CXX_SIZE(kvm_vcpu_events),
        DPDC_CXX_SIZE(kvm_xcrs),
        DPDC_CXX_SIZE(kvm_userspace_memory_region),
    };
    return m;
}

TEST(KvmUapiLayout, EveryStructAsCLaysItOut)
{
    ASSERT_EQ(dpdc_c_layout_count, cxx_layouts().size());
    for (std::size_t i = 0; i < dpdc_c_layout_count; ++i) {
        const dpdc_c_layout& c = dpdc_c_layouts[i];
        const std::string member = c.member ? c.member : "";
        SCOPED_TRACE(std::string(c.type) + (member.empty() ? "" : "." + member));
        auto it = cxx_layouts().find({c.type, member});
        ASSERT_NE(it, cxx_layouts().end());
        EXPECT_EQ(it->second.size, c.size);
        if (!member.empty()) {
            EXPECT_EQ(it->second.offset, c.offset);
        }
    }
}

// The numbers of ioctls that pass a flexible-array struct encode its size:
// these are the ones that failed with EINVAL under the C++ layout.
TEST(KvmUapiLayout, SizeEncodingIoctlNumbersAreTheKernels)
{
    EXPECT_EQ(KVM_GET_MSR_INDEX_LIST, _IOWR(KVMIO, 0x02, char[4]));
    EXPECT_EQ(KVM_GET_MSRS, _IOWR(KVMIO, 0x88, char[8]));
    EXPECT_EQ(KVM_SET_MSRS, _IOW(KVMIO, 0x89, char[8]));
    EXPECT_EQ(KVM_SET_CPUID2, _IOW(KVMIO, 0x90, char[8]));
    EXPECT_EQ(KVM_GET_SUPPORTED_CPUID, _IOWR(KVMIO, 0x05, char[8]));
    EXPECT_EQ(KVM_GET_XSAVE, _IOR(KVMIO, 0xa4, char[4096]));
    EXPECT_EQ(KVM_SET_XSAVE, _IOW(KVMIO, 0xa5, char[4096]));
    EXPECT_EQ(KVM_SET_GSI_ROUTING, _IOW(KVMIO, 0x6a, char[8]));
}

}  // namespace
