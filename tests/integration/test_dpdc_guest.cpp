// dpdc-guest: dpdc-vm's guest workloads as a multiboot image under an
// unmodified QEMU (TCG). The guest publishes its state in the status block
// (guest_status.h), read here with pmemsave; the workload pages are read the
// same way and checked against what each workload must have written.
//
// Also, without QEMU: the image's multiboot header, the guest's command-line
// parser and fixed-point zipf table against the C++ versions in workload/,
// and the ab checker shared with test_migration_vm.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "ab_check.h"
#include "args.h"
#include "boot_info.h"
#include "dma_check.h"
#include "facilities.h"
#include "guest_status.h"
#include "qemu_process.h"
#include "subprocess.h"
#include "temp_dir.h"
#include "workload/workload_spec.h"
#include "workload/zipf_table.h"
#include "zipf_fixed.h"

namespace dpdc {
namespace {

using namespace std::chrono_literals;
using test::Qemu;
using test::TempDir;
using test::DmaFiles;
using test::dma_area_after;
using test::dma_consistent;
using test::make_dma_files;

constexpr std::uint64_t kPage = 4096;

static_assert(sizeof(dpdc_guest_status) == 224);
static_assert(DPDC_GUEST_STATUS_GPA + sizeof(dpdc_guest_status) <= 0x9000,
              "QEMU's multiboot loader writes its e820 map from 0x9000");

std::string image_path() { return test::bin("dpdc-guest.img"); }

std::uint32_t le32(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

std::uint64_t le64(const std::vector<std::uint8_t>& b, std::size_t at) {
  std::uint64_t v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// ---------------------------------------------------------------------------
// The ab checker itself: it must reject what it exists to catch.
// ---------------------------------------------------------------------------

std::vector<std::uint8_t> ab_pages(const std::vector<std::uint8_t>& first_bytes) {
  std::vector<std::uint8_t> ram(first_bytes.size() * kPage, 0xee);
  for (std::size_t i = 0; i < first_bytes.size(); ++i) ram[i * kPage] = first_bytes[i];
  return ram;
}

TEST(DpdcGuestAbCheck, AcceptsWhatARoundLeaves) {
  EXPECT_TRUE(test::ab_consistent(ab_pages({7, 7, 7, 7}), 0, 4));    // between rounds
  EXPECT_TRUE(test::ab_consistent(ab_pages({8, 8, 7, 7}), 0, 4));    // mid-round
  EXPECT_TRUE(test::ab_consistent(ab_pages({0, 0, 255, 255}), 0, 4));  // the byte wrapped
  EXPECT_TRUE(test::ab_consistent(ab_pages({9, 3, 3, 2, 2, 5}), 1, 4));  // only the pages asked for
}

TEST(DpdcGuestAbCheck, RejectsLostAndStaleWrites) {
  EXPECT_FALSE(test::ab_consistent(ab_pages({8, 7, 8, 7}), 0, 4));  // a write lost mid-round
  EXPECT_FALSE(test::ab_consistent(ab_pages({8, 7, 7, 6}), 0, 4));  // two edges
  EXPECT_FALSE(test::ab_consistent(ab_pages({7, 7, 8, 8}), 0, 4));  // steps up: earlier page stale
  EXPECT_FALSE(test::ab_consistent(ab_pages({9, 9, 7, 7}), 0, 4));  // a whole round lost
  EXPECT_FALSE(test::ab_consistent(ab_pages({255, 255, 0, 0}), 0, 4));
  EXPECT_FALSE(test::ab_consistent(ab_pages({1, 1}), 0, 3));  // beyond what was read
  EXPECT_FALSE(test::ab_consistent(ab_pages({1, 1}), 0, 0));  // nothing checked
}

// ---------------------------------------------------------------------------
// The image, as QEMU's multiboot loader (hw/i386/multiboot.c) reads it.
// ---------------------------------------------------------------------------

TEST(DpdcGuestImage, MultibootHeaderDescribesTheFlatFile) {
  const auto img = test::read_file(image_path());
  ASSERT_GE(img.size(), 48u) << image_path();
  std::size_t at = 0;
  bool found = false;
  for (; at + 48 <= std::min<std::size_t>(img.size(), 8192); at += 4) {
    if (le32(img, at) == 0x1badb002u && le32(img, at) + le32(img, at + 4) + le32(img, at + 8) == 0) {
      found = true;
      break;
    }
  }
  ASSERT_TRUE(found) << "no multiboot header in the first 8 KiB";
  const std::uint32_t flags = le32(img, at + 4);
  const std::uint32_t header_addr = le32(img, at + 12), load_addr = le32(img, at + 16);
  const std::uint32_t load_end = le32(img, at + 20), bss_end = le32(img, at + 24), entry = le32(img, at + 28);
  EXPECT_TRUE(flags & (1u << 16)) << "without the address fields QEMU wants an ELF32";
  EXPECT_TRUE(flags & (1u << 1)) << "memory info is how the guest finds the end of RAM";
  EXPECT_FALSE(flags & (1u << 2)) << "QEMU has no video mode to give";
  EXPECT_EQ(load_addr, 0x100000u);
  EXPECT_EQ(header_addr - load_addr, at);
  EXPECT_EQ(load_end - load_addr, img.size()) << "QEMU freads load_end - load_addr bytes of the file";
  EXPECT_GE(bss_end, load_end);
  EXPECT_LE(bss_end + 0x10000u, DPDC_GUEST_AREA_GPA) << "room for QEMU's command line below the area";
  EXPECT_GE(entry, load_addr);
  EXPECT_LT(entry, load_end);
}

// ---------------------------------------------------------------------------
// The command line against dpdc-vm's --workload parser.
// ---------------------------------------------------------------------------

std::uint32_t parse(const std::string& text, dpdc_guest_args* out, std::uint32_t* at) {
  return dpdc_guest_parse_args(text.data(), static_cast<std::uint32_t>(text.size()), out, at);
}

TEST(DpdcGuestArgs, AcceptsWhatDpdcVmAccepts) {
  for (const std::string text :
       {"idle", "ab", "ab,pages=2048", "seq,pages=10,rounds=3,seed=7", "hotcold", "hotcold,hot=25,writes=75",
        "hotcold,writes=0,hot=100", "zipf", "zipf,s=0.8", "zipf,s=2", "zipf,s=10", "zipf,s=.5", "ab,sync=off",
        "seq,sync=no", "ab,seed=18446744073709551615", "ab,pages=1099511627776", "ab,rounds=281474976710656", "hotcold,delay=200", "seq,delay=0"}) {
    SCOPED_TRACE(text);
    const vm::WorkloadSpec want = vm::parse_workload_spec(text);
    dpdc_guest_args got{};
    std::uint32_t at = 99;
    ASSERT_EQ(parse(text, &got, &at), DPDC_GUEST_ERR_NONE) << "at " << at;
    EXPECT_EQ(got.workload, static_cast<std::uint32_t>(want.kind));
    EXPECT_EQ(got.pages, want.pages);
    EXPECT_EQ(got.rounds, want.rounds);
    EXPECT_EQ(got.seed, want.seed);
    EXPECT_EQ(got.hot_percent, want.hot_percent);
    EXPECT_EQ(got.write_percent, want.write_percent);
    EXPECT_EQ(got.delay, want.delay);
    EXPECT_NEAR(static_cast<double>(got.zipf_s_q32) / 4294967296.0, want.zipf_s, 1e-9);
  }
}

TEST(DpdcGuestArgs, RefusesWhatDpdcVmRefuses) {
  struct Case {
    std::string text;
    std::uint32_t error, at;
  };
  for (const Case& c : std::vector<Case>{
           {"nosuch", DPDC_GUEST_ERR_UNKNOWN_WORKLOAD, 0},
           {"AB", DPDC_GUEST_ERR_UNKNOWN_WORKLOAD, 0},
           {"ab,hot=5", DPDC_GUEST_ERR_UNKNOWN_KEY, 3},
           {"zipf,writes=5", DPDC_GUEST_ERR_UNKNOWN_KEY, 5},
           {"ab,pages=64,bogus=1", DPDC_GUEST_ERR_UNKNOWN_KEY, 12},
           {"ab,pages", DPDC_GUEST_ERR_NOT_KEY_VALUE, 3},
           {"ab,=1", DPDC_GUEST_ERR_NOT_KEY_VALUE, 3},
           {"ab,", DPDC_GUEST_ERR_NOT_KEY_VALUE, 3},
           {"ab,pages=0", DPDC_GUEST_ERR_BAD_VALUE, 9},
           {"ab,pages=1x", DPDC_GUEST_ERR_BAD_VALUE, 9},
           {"ab,pages=-1", DPDC_GUEST_ERR_BAD_VALUE, 9},
           {"ab,pages=1099511627777", DPDC_GUEST_ERR_BAD_VALUE, 9},
           {"ab,rounds=281474976710657", DPDC_GUEST_ERR_BAD_VALUE, 10},
           {"ab,seed=18446744073709551616", DPDC_GUEST_ERR_BAD_VALUE, 8},
           {"hotcold,hot=0", DPDC_GUEST_ERR_BAD_VALUE, 12},
           {"hotcold,hot=101", DPDC_GUEST_ERR_BAD_VALUE, 12},
           {"hotcold,writes=101", DPDC_GUEST_ERR_BAD_VALUE, 15},
           {"zipf,s=0", DPDC_GUEST_ERR_BAD_VALUE, 7},
           {"zipf,s=10.5", DPDC_GUEST_ERR_BAD_VALUE, 7},
           {"zipf,s=abc", DPDC_GUEST_ERR_BAD_VALUE, 7},
           {"zipf,s=", DPDC_GUEST_ERR_BAD_VALUE, 7},
           {"ab,sync=maybe", DPDC_GUEST_ERR_BAD_VALUE, 8},
           {"ab,seed=1,seed=2", DPDC_GUEST_ERR_DUPLICATE_KEY, 10},
           {"ab,delay=100000001", DPDC_GUEST_ERR_BAD_VALUE, 9},
           {"ab,delay=x", DPDC_GUEST_ERR_BAD_VALUE, 9},
       }) {
    SCOPED_TRACE(c.text);
    EXPECT_THROW(vm::parse_workload_spec(c.text), vm::WorkloadSpecError);
    dpdc_guest_args got{};
    std::uint32_t at = 99;
    EXPECT_EQ(parse(c.text, &got, &at), c.error);
    EXPECT_EQ(at, c.at);
  }
}

TEST(DpdcGuestArgs, DiffersFromDpdcVmOnlyWhereQemuForcesIt) {
  dpdc_guest_args got{};
  std::uint32_t at = 99;
  // sync=on needs dpdc-vm's harvest on the round port; QEMU has nothing there.
  EXPECT_NO_THROW(vm::parse_workload_spec("ab,sync=on"));
  EXPECT_EQ(parse("ab,sync=on", &got, &at), DPDC_GUEST_ERR_SYNC_UNSUPPORTED);
  EXPECT_EQ(at, 8u);
  // dma is dpdc-guest's own: QEMU writes the area by fw_cfg DMA.
  EXPECT_THROW(vm::parse_workload_spec("dma"), vm::WorkloadSpecError);
  EXPECT_EQ(parse("dma,rounds=4,delay=10", &got, &at), DPDC_GUEST_ERR_NONE);
  EXPECT_EQ(got.workload, DPDC_GUEST_WL_DMA);
  EXPECT_EQ(got.rounds, 4u);
  EXPECT_EQ(got.delay, 10u);
  EXPECT_EQ(parse("dma,hot=5", &got, &at), DPDC_GUEST_ERR_UNKNOWN_KEY);
  EXPECT_EQ(at, 4u);
  // No -append at all is dpdc-vm's default workload.
  EXPECT_EQ(parse("", &got, &at), DPDC_GUEST_ERR_NONE);
  EXPECT_EQ(got.workload, static_cast<std::uint32_t>(DPDC_WL_IDLE));
}

// ---------------------------------------------------------------------------
// The zipf table: fixed point in the guest, double in dpdc-vm.
// ---------------------------------------------------------------------------

TEST(DpdcGuestZipf, MultiplierEqualsDpdcVmForEveryRankCount) {
  for (std::uint32_t ranks = 1; ranks <= DPDC_ZIPF_MAX_RANKS; ++ranks)
    ASSERT_EQ(dpdc_zipf_multiplier(ranks), vm::zipf_multiplier(ranks)) << "ranks " << ranks;
  EXPECT_EQ(dpdc_zipf_ranks(10), vm::zipf_ranks(10));
  EXPECT_EQ(dpdc_zipf_ranks(1u << 20), vm::zipf_ranks(1u << 20));
}

TEST(DpdcGuestZipf, TableMatchesDpdcVmWithinRounding) {
  struct Case {
    std::uint32_t ranks;
    const char* s;
  };
  for (const Case& c : std::vector<Case>{
           {1, "1.1"}, {2, "1.1"}, {100, "0.5"}, {1000, "1.1"}, {65536, "1.1"}, {65536, "0.3"}, {65536, "2"},
           {4096, "10"}, {15328, "1.1"}}) {
    SCOPED_TRACE(std::to_string(c.ranks) + " ranks, s=" + c.s);
    dpdc_guest_args args{};
    std::uint32_t at = 0;
    ASSERT_EQ(parse(std::string("zipf,s=") + c.s, &args, &at), DPDC_GUEST_ERR_NONE);
    const auto want = vm::build_zipf_cdf(c.ranks, std::stod(c.s));
    std::vector<std::uint32_t> got(c.ranks);
    dpdc_zipf_cdf(got.data(), c.ranks, args.zipf_s_q32);
    std::int64_t worst = 0;
    for (std::uint32_t r = 0; r < c.ranks; ++r) {
      if (r > 0) {
        ASSERT_GE(got[r], got[r - 1]) << "rank " << r;
      }
      worst = std::max(worst, std::abs(static_cast<std::int64_t>(got[r]) - static_cast<std::int64_t>(want[r])));
    }
    EXPECT_EQ(got.back(), 0xffffffffu);
    // A draw lands on another rank than under dpdc-vm with probability below
    // 256 / 2^32 (seen here: at most 78).
    EXPECT_LE(worst, 256) << "largest difference from dpdc-vm's table";
  }
}

// ---------------------------------------------------------------------------
// Under QEMU.
// ---------------------------------------------------------------------------

const std::vector<std::string> kPc64M{"-M", "pc", "-m", "64M"};

class GuestVm {
 public:
  GuestVm(const std::string& append, const std::vector<std::string>& machine = kPc64M)
      : qemu_(dir_, args(append, machine)) {}

  QmpClient& qmp() { return qemu_.qmp(); }

  std::vector<std::uint8_t> read(std::uint64_t gpa, std::uint64_t size) {
    const std::string file = dir_ / ("mem" + std::to_string(++reads_));
    qemu_.qmp().execute("pmemsave", {{"val", gpa}, {"size", size}, {"filename", file}});
    return test::read_file(file);
  }

  dpdc_guest_status status() {
    auto bytes = read(DPDC_GUEST_STATUS_GPA, sizeof(dpdc_guest_status));
    dpdc_guest_status s{};
    if (bytes.size() == sizeof s) std::memcpy(&s, bytes.data(), sizeof s);
    return s;
  }

  std::vector<std::uint8_t> area(const dpdc_guest_status& s) { return read(s.area_gpa, s.area_pages * kPage); }

  // Until the guest has left the boot stage (or the generous limit passes:
  // TCG speed varies, so no test asserts on it).
  dpdc_guest_status wait_booted() {
    return wait([](const dpdc_guest_status& s) {
      return s.magic == DPDC_GUEST_STATUS_MAGIC && s.state != DPDC_GUEST_BOOTING;
    });
  }

  dpdc_guest_status wait_rounds_above(std::uint64_t rounds) {
    return wait([rounds](const dpdc_guest_status& s) { return s.rounds > rounds; });
  }

  template <typename Pred>
  dpdc_guest_status wait(Pred done) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    dpdc_guest_status s = status();
    while (!done(s) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(50ms);
      s = status();
    }
    return s;
  }

  std::string stderr_text() { return qemu_.stderr_text(); }

 private:
  static std::vector<std::string> args(const std::string& append, const std::vector<std::string>& machine) {
    std::vector<std::string> a = machine;
    a.insert(a.end(), {"-kernel", image_path(), "-append", append});
    return a;
  }

  TempDir dir_;
  Qemu qemu_;
  int reads_ = 0;
};

std::string args_text(const dpdc_guest_status& s) { return std::string(s.args, strnlen(s.args, sizeof s.args)); }

// The first u64 of every page (seq, hotcold and zipf keep their counters there).
std::vector<std::uint64_t> first_words(const std::vector<std::uint8_t>& area) {
  std::vector<std::uint64_t> w(area.size() / kPage);
  for (std::size_t i = 0; i < w.size(); ++i) w[i] = le64(area, i * kPage);
  return w;
}

TEST(DpdcGuestQemu, AbBootsRunsConsistentAndGoesOn) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("ab,pages=2048");
  auto st = vm.wait_booted();
  ASSERT_EQ(st.state, DPDC_GUEST_RUNNING) << "error " << st.error << " at " << st.error_at;
  EXPECT_EQ(st.workload, static_cast<std::uint32_t>(DPDC_WL_AB));
  EXPECT_EQ(st.area_gpa, DPDC_GUEST_AREA_GPA);
  EXPECT_EQ(st.area_pages, 2048u);
  EXPECT_EQ(args_text(st), "ab,pages=2048");
  EXPECT_GT(st.ram_end, 60ull << 20) << "mem_upper: SeaBIOS keeps only the top of 64M";
  EXPECT_LE(st.ram_end, 64ull << 20);

  // Past 256 rounds the first bytes have wrapped at least once.
  st = vm.wait_rounds_above(300);
  ASSERT_GT(st.rounds, 300u);
  vm.qmp().execute("stop");
  const auto stopped = vm.status();
  const auto mem = vm.area(stopped);
  ASSERT_EQ(mem.size(), 2048 * kPage);
  EXPECT_TRUE(test::ab_consistent(mem, 0, 2048));
  // ... and the bytes agree with the counter: the rounds done, or one more.
  for (std::uint64_t p = 0; p < 2048; ++p) {
    const std::uint8_t b = mem[p * kPage];
    ASSERT_TRUE(b == static_cast<std::uint8_t>(stopped.rounds) || b == static_cast<std::uint8_t>(stopped.rounds + 1))
        << "page " << p << " holds " << int(b) << " after " << stopped.rounds << " rounds";
  }
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(vm.status().rounds, stopped.rounds) << "the guest ran while stopped";

  vm.qmp().execute("cont");
  st = vm.wait_rounds_above(stopped.rounds);
  EXPECT_GT(st.rounds, stopped.rounds) << "no rounds after cont";
  EXPECT_EQ(st.state, DPDC_GUEST_RUNNING);
  vm.qmp().execute("stop");
  EXPECT_TRUE(test::ab_consistent(vm.area(vm.status()), 0, 2048));
}

// hotcold and zipf: each round makes `pages` increments of a page's first
// u64, so their sum lies between the rounds done and one more.
void expect_increments_match_rounds(GuestVm& vm) {
  vm.qmp().execute("stop");
  const auto st = vm.status();
  std::uint64_t sum = 0, touched = 0;
  for (std::uint64_t w : first_words(vm.area(st))) {
    sum += w;
    touched += w != 0;
  }
  EXPECT_GE(sum, st.rounds * st.area_pages);
  EXPECT_LE(sum, (st.rounds + 1) * st.area_pages);
  EXPECT_GT(touched, 1u);
}

// seq: round k writes k + 1 to every page in order.
void expect_seq_pages_match_rounds(GuestVm& vm) {
  vm.qmp().execute("stop");
  const auto st = vm.status();
  const auto words = first_words(vm.area(st));
  ASSERT_EQ(words.size(), st.area_pages);
  for (std::size_t i = 0; i < words.size(); ++i) {
    ASSERT_TRUE(words[i] == st.rounds || words[i] == st.rounds + 1) << "page " << i << " holds " << words[i]
                                                                     << " after " << st.rounds << " rounds";
    if (i > 0) {
      ASSERT_LE(words[i], words[i - 1]) << "page " << i;
    }
  }
}

struct WorkloadCase {
  const char* append;
  std::uint32_t workload;
};

class DpdcGuestQemuWorkload : public ::testing::TestWithParam<WorkloadCase> {};

TEST_P(DpdcGuestQemuWorkload, BootsAndCountsRounds) {
  DPDC_REQUIRE(qemu);
  GuestVm vm(GetParam().append);
  auto st = vm.wait_booted();
  ASSERT_EQ(st.state, DPDC_GUEST_RUNNING) << "error " << st.error << " at " << st.error_at;
  EXPECT_EQ(st.workload, GetParam().workload);
  EXPECT_EQ(st.area_gpa, DPDC_GUEST_AREA_GPA);
  EXPECT_EQ(st.area_pages, (st.ram_end - DPDC_GUEST_AREA_GPA) / kPage) << "the whole area by default";
  const auto first = vm.wait_rounds_above(0);
  ASSERT_GT(first.rounds, 0u);
  const auto later = vm.wait_rounds_above(first.rounds);
  EXPECT_GT(later.rounds, first.rounds);
  if (GetParam().workload == DPDC_WL_SEQ)
    expect_seq_pages_match_rounds(vm);
  else
    expect_increments_match_rounds(vm);
}

INSTANTIATE_TEST_SUITE_P(DpdcGuest, DpdcGuestQemuWorkload,
                         ::testing::Values(WorkloadCase{"hotcold,hot=10,writes=90", DPDC_WL_HOTCOLD},
                                           WorkloadCase{"seq", DPDC_WL_SEQ},
                                           WorkloadCase{"zipf,s=1.1", DPDC_WL_ZIPF}),
                         [](const ::testing::TestParamInfo<WorkloadCase>& p) {
                           std::string name = p.param.append;
                           return name.substr(0, name.find(','));
                         });

bool all_zero(const std::vector<std::uint8_t>& bytes) {
  for (std::uint8_t b : bytes)
    if (b != 0) return false;
  return true;
}

TEST(DpdcGuestQemu, IdleWritesNothingInTheArea) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("idle");
  auto st = vm.wait_booted();
  ASSERT_EQ(st.state, DPDC_GUEST_RUNNING);
  EXPECT_EQ(st.workload, static_cast<std::uint32_t>(DPDC_WL_IDLE));
  ASSERT_GT(st.area_pages, 0u);
  auto before = vm.area(st);
  ASSERT_EQ(before.size(), st.area_pages * kPage);
  EXPECT_TRUE(all_zero(before));
  std::this_thread::sleep_for(1s);
  auto later = vm.status();
  EXPECT_EQ(later.rounds, 0u);
  EXPECT_EQ(later.state, DPDC_GUEST_RUNNING);
  EXPECT_EQ(vm.area(later), before);
}

TEST(DpdcGuestQemu, RoundsLimitFinishes) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("seq,pages=64,rounds=20");
  auto st = vm.wait([](const dpdc_guest_status& s) { return s.state == DPDC_GUEST_FINISHED; });
  ASSERT_EQ(st.state, DPDC_GUEST_FINISHED);
  EXPECT_EQ(st.rounds, 20u);
  EXPECT_EQ(st.rounds_limit, 20u);
  for (std::uint64_t w : first_words(vm.area(st))) ASSERT_EQ(w, 20u);
}

TEST(DpdcGuestQemu, BadWorkloadNameIsBadArgs) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("nosuch,pages=64");
  auto st = vm.wait_booted();
  EXPECT_EQ(st.state, DPDC_GUEST_BAD_ARGS);
  EXPECT_EQ(st.error, DPDC_GUEST_ERR_UNKNOWN_WORKLOAD);
  EXPECT_EQ(st.error_at, 0u);
  EXPECT_EQ(args_text(st), "nosuch,pages=64");
  EXPECT_EQ(st.rounds, 0u);
  EXPECT_TRUE(all_zero(vm.read(DPDC_GUEST_AREA_GPA, 64 * kPage)));
}

TEST(DpdcGuestQemu, UnknownKeyIsBadArgs) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("ab,pages=64,bogus=1");
  auto st = vm.wait_booted();
  EXPECT_EQ(st.state, DPDC_GUEST_BAD_ARGS);
  EXPECT_EQ(st.error, DPDC_GUEST_ERR_UNKNOWN_KEY);
  EXPECT_EQ(st.error_at, 12u);
  EXPECT_TRUE(all_zero(vm.read(DPDC_GUEST_AREA_GPA, 64 * kPage)));
}

std::vector<std::string> with_dma_files(const DmaFiles& files) {
  std::vector<std::string> machine = kPc64M;
  machine.insert(machine.end(), files.qemu_args.begin(), files.qemu_args.end());
  return machine;
}

// QEMU writes the area (the vCPU only drives the transfers): every snapshot
// holds one whole file, and the counters say which.
TEST(DpdcGuestQemu, DmaWorkloadAlternatesTheFilesInTheArea) {
  DPDC_REQUIRE(qemu);
  TempDir files_dir;
  const DmaFiles files = make_dma_files(files_dir, 16);
  GuestVm vm("dma,pages=64", with_dma_files(files));
  auto st = vm.wait_booted();
  ASSERT_EQ(st.state, DPDC_GUEST_RUNNING) << "error " << st.error << " at " << st.error_at;
  EXPECT_EQ(st.workload, DPDC_GUEST_WL_DMA);
  EXPECT_EQ(st.dma_bytes, 16u * kPage);
  st = vm.wait_rounds_above(5);
  ASSERT_GT(st.dma_done, 5u);
  vm.qmp().execute("stop");
  st = vm.status();
  auto area = vm.area(st);
  EXPECT_TRUE(dma_consistent(area, st, files));
  const std::size_t reach = (16 + DPDC_GUEST_DMA_SHIFTS - 1) * kPage;
  EXPECT_TRUE(all_zero(std::vector<std::uint8_t>(area.begin() + reach, area.end())))
      << "DMA wrote past the file's size";
  vm.qmp().execute("cont");
  EXPECT_GT(vm.wait_rounds_above(st.dma_done + 2).dma_done, st.dma_done + 2);
}

TEST(DpdcGuestQemu, DmaRoundsLimitLeavesTheLastFile) {
  DPDC_REQUIRE(qemu);
  TempDir files_dir;
  const DmaFiles files = make_dma_files(files_dir, 4);
  GuestVm vm("dma,rounds=4", with_dma_files(files));
  auto st = vm.wait([](const dpdc_guest_status& s) { return s.state == DPDC_GUEST_FINISHED; });
  ASSERT_EQ(st.state, DPDC_GUEST_FINISHED) << "state " << st.state << " error " << st.error;
  EXPECT_EQ(st.dma_started, 4u);
  EXPECT_EQ(st.dma_done, 4u);
  // Transfers 1..4 write a, b, a, b at pages 0, 1, 2, 3.
  auto area = vm.read(DPDC_GUEST_AREA_GPA, 8 * kPage);
  auto page = [](const std::vector<std::uint8_t>& bytes, std::size_t n) {
    return std::vector<std::uint8_t>(bytes.begin() + static_cast<std::ptrdiff_t>(n * kPage),
                                     bytes.begin() + static_cast<std::ptrdiff_t>((n + 1) * kPage));
  };
  EXPECT_EQ(page(area, 0), page(files.a, 0));
  EXPECT_EQ(page(area, 1), page(files.b, 0));
  EXPECT_EQ(page(area, 2), page(files.a, 0));
  for (std::size_t p = 0; p < 4; ++p) EXPECT_EQ(page(area, 3 + p), page(files.b, p)) << "page " << 3 + p;
  EXPECT_TRUE(all_zero(page(area, 7)));
  EXPECT_EQ(area, dma_area_after(4, files, 8 * kPage));
}

TEST(DpdcGuestQemu, DmaWithoutItsFilesIsBadArgs) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("dma,pages=64");
  auto st = vm.wait_booted();
  EXPECT_EQ(st.state, DPDC_GUEST_BAD_ARGS);
  EXPECT_EQ(st.error, DPDC_GUEST_ERR_DMA_FILES);
  EXPECT_EQ(st.dma_done, 0u);
  EXPECT_TRUE(all_zero(vm.read(DPDC_GUEST_AREA_GPA, 64 * kPage)));
}

// The way the QEMU migration tests give the guest its RAM.
TEST(DpdcGuestQemu, BootsOnASharedMemfdBackend) {
  DPDC_REQUIRE(qemu);
  GuestVm vm("ab", {"-object", "memory-backend-memfd,id=pc.ram,size=64M,share=on", "-M", "pc,memory-backend=pc.ram",
                    "-m", "64M"});
  auto st = vm.wait_booted();
  ASSERT_EQ(st.state, DPDC_GUEST_RUNNING) << "error " << st.error << " at " << st.error_at;
  EXPECT_EQ(st.area_pages, (st.ram_end - DPDC_GUEST_AREA_GPA) / kPage);
  st = vm.wait_rounds_above(2);
  ASSERT_GT(st.rounds, 2u);
  vm.qmp().execute("stop");
  st = vm.status();
  EXPECT_TRUE(test::ab_consistent(vm.area(st), 0, st.area_pages));
}

}  // namespace
}  // namespace dpdc
