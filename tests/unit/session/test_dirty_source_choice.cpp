#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "session/dirty_source_choice.h"

namespace dpdc {
namespace {

constexpr VmmKind kQemuRing{42, true, true, 4096};
constexpr VmmKind kQemuKvmNoRing{42, true, true, 0};
constexpr VmmKind kQemuTcg{42, true, false, 0};
constexpr VmmKind kDpdcVm{7, false, true, 4096};

std::string error_of(DirtySourceKind k, const VmmKind& v) {
  try {
    choose_dirty_source(k, v);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(DirtySourceChoice, AutoPicksTheRingWhereThereIsOneTheBitmapWithoutAndContentForTcg) {
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Auto, kQemuRing), DirtySourceKind::Ring);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Auto, kDpdcVm), DirtySourceKind::Ring);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Auto, kQemuKvmNoRing), DirtySourceKind::Fault);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Fault, kQemuKvmNoRing), DirtySourceKind::Fault);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Auto, kQemuTcg), DirtySourceKind::Content);
}

TEST(DirtySourceChoice, ContentOnRequestForAnyQemu) {
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Content, kQemuRing), DirtySourceKind::Content);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Content, kQemuKvmNoRing), DirtySourceKind::Content);
  EXPECT_EQ(choose_dirty_source(DirtySourceKind::Content, kQemuTcg), DirtySourceKind::Content);
}

TEST(DirtySourceChoice, RingWithoutARingSaysHowToGetOneOrToFollowTheBitmap) {
  const std::string e = error_of(DirtySourceKind::Ring, kQemuKvmNoRing);
  EXPECT_NE(e.find("QEMU pid 42"), std::string::npos) << e;
  EXPECT_NE(e.find("-accel kvm,dirty-ring-size="), std::string::npos) << e;
  EXPECT_NE(e.find("--dirty-source fault"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos) << e;
}

TEST(DirtySourceChoice, FaultIsRefusedWhereThereIsNoBitmap) {
  EXPECT_NE(error_of(DirtySourceKind::Fault, kQemuRing).find("has a KVM dirty ring"), std::string::npos);
  EXPECT_NE(error_of(DirtySourceKind::Fault, kQemuTcg).find("without KVM"), std::string::npos);
  EXPECT_NE(error_of(DirtySourceKind::Fault, kDpdcVm).find("for QEMU guests"), std::string::npos);
}

TEST(DirtySourceChoice, RingForTcgAndContentForDpdcVmAreRefused) {
  EXPECT_NE(error_of(DirtySourceKind::Ring, kQemuTcg).find("without KVM"), std::string::npos);
  EXPECT_NE(error_of(DirtySourceKind::Content, kDpdcVm).find("for QEMU guests"), std::string::npos);
}

TEST(DirtySourceChoice, ParsesTheFourNamesAndRejectsOthers) {
  EXPECT_EQ(parse_dirty_source("auto"), DirtySourceKind::Auto);
  EXPECT_EQ(parse_dirty_source("ring"), DirtySourceKind::Ring);
  EXPECT_EQ(parse_dirty_source("fault"), DirtySourceKind::Fault);
  EXPECT_EQ(parse_dirty_source("content"), DirtySourceKind::Content);
  EXPECT_THROW(parse_dirty_source("bitmap"), Error);
  EXPECT_EQ(dirty_source_json_name(DirtySourceKind::Ring), "kvm-dirty-ring");
  EXPECT_EQ(dirty_source_json_name(DirtySourceKind::Fault), "kvm-dirty-bitmap");
  EXPECT_EQ(dirty_source_json_name(DirtySourceKind::Content), "page-content");
}

}  // namespace
}  // namespace dpdc
