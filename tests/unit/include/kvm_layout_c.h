/* Sizes and member offsets of KVM uapi structs, measured by a C compile. */
#pragma once
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct dpdc_c_layout {
    const char* type;    /* struct tag, e.g. "kvm_msrs" */
    size_t size;         /* sizeof(struct type) in C */
    const char* member;  /* NULL when only the size is recorded */
    size_t offset;       /* offsetof(struct type, member) in C */
};

extern const struct dpdc_c_layout dpdc_c_layouts[];
extern const size_t dpdc_c_layout_count;

#ifdef __cplusplus
}
#endif
