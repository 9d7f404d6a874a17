#pragma once
// Which kernel facilities this machine really has. A test that needs one
// calls DPDC_REQUIRE(kvm) etc.: without the facility the test is skipped
// with the reason, unless DPDC_REQUIRE_<NAME>=1 is set (CI sets it where the
// facility exists), in which case the absence is a failure.
#include <gtest/gtest.h>

#include <optional>
#include <string>

namespace dpdc::test {

std::optional<std::string> missing_kvm();   // reason /dev/kvm cannot be used
std::optional<std::string> missing_bpf();   // reason BPF programs cannot be loaded
std::optional<std::string> missing_qemu();  // reason qemu-system-x86_64 cannot run
bool required(const char* facility);        // DPDC_REQUIRE_<facility>=1

}  // namespace dpdc::test

#define DPDC_REQUIRE(facility)                                                                   \
  do {                                                                                           \
    if (auto why_ = ::dpdc::test::missing_##facility()) {                                        \
      if (::dpdc::test::required(#facility)) FAIL() << #facility " is required here: " << *why_; \
      GTEST_SKIP() << #facility " unavailable: " << *why_;                                       \
    }                                                                                            \
  } while (0)
