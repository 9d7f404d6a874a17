// What the engine reads from the tracker's BPF maps and ring buffer, taken
// as the kernel's layout: the input's bytes are copied into the structs
// (dpdc/dirty_track.h) exactly as an mmap()ed map or a lookup would show
// them, then read by the engine's pure readers of those records:
//   - event ring buffer records: event_from_record(), then the trace
//     format they are recorded in (recorder.h);
//   - vCPU rings (`rings`): fastest_reset_rate_hz() between two samples;
//   - per-page records (`pages`): page_proven() against the rings, the
//     heat census of `attach --observe`, tracked_time_ns() and the DPDC
//     policy's round plan over that history;
//   - the dirty bitmap (`dirty_bits`) merged as RingDirtySource::collect()
//     merges it.
// Checked besides sanitizer reports: the promises callers rely on (a rate
// finite and not negative, a census that adds up, tracked time within now,
// a plan that places every candidate once, bitmap bits only below its size).
// Input layout: see README.md.
#include <fuzzer/FuzzedDataProvider.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "base/bitmap.h"
#include "loader/dirty_track_loader.h"
#include "dpdc/dirty_track.h"
#include "policy/page_class.h"
#include "policy/policy_dpdc.h"
#include "track/ring_dirty_source.h"
#include "trace/trace.h"

namespace {

using namespace dpdc;

template <class T>
std::vector<T> records(FuzzedDataProvider& in, std::size_t count) {
  const std::vector<std::uint8_t> bytes = in.ConsumeBytes<std::uint8_t>(count * sizeof(T));
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}

void event_records(FuzzedDataProvider& in) {
  const auto n = in.ConsumeIntegralInRange<std::size_t>(0, 4);
  // The largest guest the tracker's u32-keyed page map can describe.
  std::vector<std::uint8_t> trace = encode_trace_header(UINT32_MAX, 0);
  for (std::size_t i = 0; i < n; ++i) {
    const auto size = in.ConsumeIntegralInRange<std::size_t>(0, 2 * sizeof(dpdc_event));
    const std::vector<std::uint8_t> record = in.ConsumeBytes<std::uint8_t>(size);
    const auto e = event_from_record(record);
    if (e.has_value() != (record.size() >= sizeof(dpdc_event))) std::abort();
    if (e && e->page < UINT32_MAX) encode_trace_event({e->t_ns, e->page, e->vcpu}, trace);
  }
  // Recorded as attach --record records them, the events make a trace that decodes.
  (void)decode_trace(trace);
}

void ring_records(const std::vector<dpdc_ring>& then, const std::vector<dpdc_ring>& now) {
  const double hz = fastest_reset_rate_hz(then, now);
  if (!std::isfinite(hz) || hz < 0) std::abort();
}

void page_records(const std::vector<dpdc_page>& pages, const std::vector<dpdc_ring>& rings, std::uint64_t now_ns,
                  double resolution_hz, const std::vector<std::uint64_t>& dirty_words) {
  for (const dpdc_page& p : pages) {
    (void)page_proven(p, rings, false);
    (void)page_proven(p, rings, true);
  }
  const PageCensus c = take_census(pages, now_ns, HeatParams{});
  if (c.pages != pages.size() || c.hot + c.warm + c.cold != c.pages || c.dirtied > c.pages) std::abort();
  if (tracked_time_ns(pages, now_ns) > now_ns) std::abort();

  // Candidates: the dirty bitmap as collect() merges it.
  Bitmap candidates(pages.size());
  for (std::size_t i = 0; i < std::min(dirty_words.size(), candidates.words()); ++i)
    candidates.or_word(i, dirty_words[i]);
  candidates.for_each([&](std::size_t p) {
    if (p >= pages.size()) std::abort();
  });
  DpdcPolicy policy(PolicyOptions{});
  Bitmap send(pages.size()), hold(pages.size());
  RoundPlan plan{1, &candidates, pages, now_ns, pages.size(), 0, resolution_hz};
  policy.plan(plan, send, hold);
  Bitmap both = send;
  both &= hold;
  Bitmap placed = send;
  placed |= hold;
  if (both.any() || placed != candidates) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const auto rings = in.ConsumeIntegralInRange<std::size_t>(0, 8);
  const auto now_ns = in.ConsumeIntegral<std::uint64_t>();
  const auto then = records<dpdc_ring>(in, rings);
  const auto now = records<dpdc_ring>(in, rings);
  event_records(in);
  const auto pages = in.ConsumeIntegralInRange<std::size_t>(0, 256);
  const auto history = records<dpdc_page>(in, pages);
  const auto dirty_words = records<std::uint64_t>(in, (history.size() + 63) / 64 + 1);
  ring_records(then, now);
  page_records(history, now, now_ns, fastest_reset_rate_hz(then, now), dirty_words);
  return 0;
}
