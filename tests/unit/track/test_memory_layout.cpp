#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "track/memory_layout.h"

namespace dpdc {
namespace {

using nlohmann::json;

json dpdc_vm_reply() {
  return json::parse(R"({"page-size":4096,"ram-size":33554432,"pages":8192,"memfd":7,"vcpus":1,
    "dirty-ring-size":4096,
    "slots":[{"slot":0,"as":0,"gpa":0,"size":8388608,"memfd-offset":0,"first-page":0},
             {"slot":1,"as":0,"gpa":9437184,"size":25165824,"memfd-offset":8388608,"first-page":2048}],
    "workload-area":{"first-page":512,"pages":7680}})");
}

TEST(MemoryLayout, FromDpdcVm) {
  MemoryLayout l = layout_from_dpdc_vm(dpdc_vm_reply());
  EXPECT_EQ(l.pages, 8192u);
  EXPECT_EQ(l.memfd, 7);
  ASSERT_EQ(l.slots.size(), 2u);
  EXPECT_EQ(l.slots[1].slot, 1u);
  EXPECT_EQ(l.slots[1].first_page, 2048u);
  EXPECT_EQ(l.slots[1].pages, 6144u);
  EXPECT_EQ(l.slots[1].gpa, 9437184u);
  EXPECT_TRUE(l.regions.empty());
}

TEST(MemoryLayout, AddressSpaceGoesIntoTheSlotKey) {
  json r = dpdc_vm_reply();
  r["slots"][1]["as"] = 1;
  EXPECT_EQ(layout_from_dpdc_vm(r).slots[1].slot, (1u << 16) | 1u);
}

TEST(MemoryLayout, RejectsInconsistentReplies) {
  json r = dpdc_vm_reply();
  r["slots"][1]["size"] = 64 * 1024 * 1024;  // beyond RAM
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
  r = dpdc_vm_reply();
  r.erase("pages");
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
  r = dpdc_vm_reply();
  r["page-size"] = 65536;
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
  r = dpdc_vm_reply();
  r["slots"] = json::array();
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
}

// Found with fuzz/qmp_client_fuzz (minimized inputs in fuzz/corpus/qmp_client):
// a first page near 2^64 wrapped the "beyond RAM" sum and the slot was taken;
// a float out of an integer's range was converted (undefined behaviour).
TEST(MemoryLayout, RejectsSlotsThatWrapAndNumbersThatAreNotWhole) {
  json r = dpdc_vm_reply();
  r["slots"][1]["first-page"] = UINT64_MAX;
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
  for (const char* bad : {"1e300", "-1", "4096.5", "\"4096\""}) {
    r = dpdc_vm_reply();
    r["page-size"] = json::parse(bad);
    EXPECT_THROW(layout_from_dpdc_vm(r), Error) << bad;
    r = dpdc_vm_reply();
    r["slots"][0]["size"] = json::parse(bad);
    EXPECT_THROW(layout_from_dpdc_vm(r), Error) << bad;
    r = dpdc_vm_reply();
    r["memfd"] = json::parse(bad);
    EXPECT_THROW(layout_from_dpdc_vm(r), Error) << bad;
  }
  r = dpdc_vm_reply();
  r["slots"][0]["slot"] = 0x10000;  // would spill into the address space bits
  EXPECT_THROW(layout_from_dpdc_vm(r), Error);
}

}  // namespace
}  // namespace dpdc
