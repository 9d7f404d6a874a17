#pragma once
// A deterministic PrecopyWorld for unit tests: pages dirtied on a schedule,
// a wire of fixed bandwidth, and a clock that only moves when pages are sent
// or the test advances it.
#include <cstdint>
#include <map>
#include <vector>

#include "precopy/precopy.h"

namespace dpdc::test {

struct Writer {
  std::vector<std::uint64_t> pages;
  std::uint64_t period_ns = 0;  // each page is dirtied at first_ns + k * period_ns
  std::uint64_t first_ns = 0;
  std::uint64_t until_ns = UINT64_MAX;
};

class ScriptedWorld : public PrecopyWorld {
 public:
  ScriptedWorld(std::uint64_t pages, double bandwidth_bytes_per_s)
      : pages_(pages), bandwidth_(bandwidth_bytes_per_s), history_(pages), sends_(pages, 0) {}

  void add_writer(Writer w) { writers_.push_back(std::move(w)); }
  // A dirty ring reset every `period_ns` (0: none modelled): a page dirtied
  // after the latest reset awaits the next one, and a copy read before it is
  // unproven.
  void model_ring_resets(std::uint64_t period_ns) { reset_period_ = period_ns; }
  void advance_to(std::uint64_t t) {
    apply_until(t);
    now_ = t;
  }

  std::uint64_t total_pages() const override { return pages_; }
  std::uint64_t now_ns() override { return now_; }
  void collect_dirty(Bitmap& out) override {
    apply_until(now_);
    out |= pending_;
    pending_.clear();
  }
  std::span<const dpdc_page> history() override {
    apply_until(now_);
    return history_;
  }
  void begin_round(std::uint32_t, bool final_round) override { ++rounds_begun_; final_seen_ |= final_round; }
  void end_round(std::uint32_t, bool) override {}
  bool awaiting_reset(std::uint64_t page) override {
    apply_until(now_);
    return !stopped_ && reset_period_ && history_[page].count && history_[page].last_ns >= now_ / reset_period_ * reset_period_;
  }
  void await_reset() override {
    ++awaits_;
    if (reset_period_) advance_to((now_ / reset_period_ + 1) * reset_period_);
  }
  std::uint64_t send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) override {
    for (auto p : pages) {
      ++sends_[p];
      if (awaiting_reset(p)) unproven.set(p);
    }
    std::uint64_t bytes = pages.size() * (DPDC_PAGE_SIZE + 8);
    now_ += static_cast<std::uint64_t>(static_cast<double>(bytes) / bandwidth_ * 1e9);
    return bytes;
  }
  void stop_guest() override {
    apply_until(now_);
    stopped_ = true;
  }

  std::uint32_t sends(std::uint64_t page) const { return sends_[page]; }
  bool final_seen() const { return final_seen_; }
  int awaits() const { return awaits_; }

 private:
  void apply_until(std::uint64_t t) {
    if (pending_.size() != pages_) pending_ = Bitmap(pages_);
    if (stopped_ || t <= applied_) return;
    for (const Writer& w : writers_) {
      if (!w.period_ns) continue;
      // Events in (applied_, t]
      std::uint64_t k = applied_ < w.first_ns ? 0 : (applied_ - w.first_ns) / w.period_ns + 1;
      for (;; ++k) {
        std::uint64_t at = w.first_ns + k * w.period_ns;
        if (at > t || at > w.until_ns) break;
        if (at <= applied_) continue;
        for (auto p : w.pages) {
          dpdc_page& h = history_[p];
          h.prev_ns = h.last_ns;
          h.last_ns = at;
          ++h.count;
          pending_.set(p);
        }
      }
    }
    applied_ = t;
  }

  std::uint64_t pages_;
  double bandwidth_;
  std::vector<dpdc_page> history_;
  std::vector<std::uint32_t> sends_;
  std::vector<Writer> writers_;
  Bitmap pending_;
  std::uint64_t now_ = 0, applied_ = 0;
  bool stopped_ = false, final_seen_ = false;
  int rounds_begun_ = 0;
  std::uint64_t reset_period_ = 0;
  int awaits_ = 0;
};

}  // namespace dpdc::test
