// The trace file format: its encode/decode pair. Synthetic traces are
// tested in sim/test_trace_synth.cpp, policies replayed on traces in
// policy/test_trace_policies.cpp.
#include <gtest/gtest.h>

#include "dpdc/error.h"
#include "trace/trace.h"

namespace dpdc {
namespace {

TEST(TraceFormat, RoundTripsAndIsLittleEndian) {
  Trace t;
  t.pages = 300;
  t.duration_ns = 5000;
  t.events = {{1, 2, 0}, {0x0102030405060708ull, 299, 7}};
  auto bytes = encode_trace(t);
  ASSERT_EQ(bytes.size(), kTraceHeaderBytes + 2 * kTraceRecordBytes);
  EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), "DPDCTRC1");
  EXPECT_EQ(bytes[16], 300 & 0xff);  // pages, low byte first
  EXPECT_EQ(bytes[17], 300 >> 8);
  EXPECT_EQ(bytes[kTraceHeaderBytes + kTraceRecordBytes], 0x08);  // t_ns of the second record, low byte first
  Trace back = decode_trace(bytes);
  EXPECT_EQ(back.pages, 300u);
  EXPECT_EQ(back.events, t.events);
  EXPECT_EQ(back.duration_ns, t.events.back().t_ns);  // never shorter than its last event
}

TEST(TraceFormat, SortsRecordsFromSeveralCpus) {
  Trace t;
  t.pages = 10;
  t.events = {{50, 1, 0}, {20, 2, 1}, {30, 3, 0}};
  Trace back = decode_trace(encode_trace(t));
  ASSERT_EQ(back.events.size(), 3u);
  EXPECT_EQ(back.events[0].page, 2u);
  EXPECT_EQ(back.events[2].page, 1u);
}

TEST(TraceFormat, RejectsBadFilesWithTheOffset) {
  Trace t;
  t.pages = 10;
  t.events = {{1, 1, 0}};
  auto good = encode_trace(t);
  auto expect_bad = [](std::vector<std::uint8_t> b, const std::string& needle) {
    try {
      decode_trace(b);
      ADD_FAILURE() << "accepted: " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto b = good;
  b[0] = 'X';
  expect_bad(b, "at byte 0: wrong magic");
  b = good;
  b.pop_back();
  expect_bad(b, "at byte 32: truncated record");
  b = good;
  b[kTraceHeaderBytes + 8] = 10;  // page 10 of 10
  expect_bad(b, "at byte 40: page 10 beyond");
  expect_bad({1, 2, 3}, "header");
}

}  // namespace
}  // namespace dpdc
