#pragma once
// Classifies pages as hot / warm / cold from their dirty history. Pure: the
// caller passes the records and "now"; nothing here reads a clock or a map.
#include <cstdint>
#include <span>

#include "dpdc/dirty_track.h"

namespace dpdc {

enum class PageHeat { Cold, Warm, Hot };

struct HeatParams {
  // Hot: dirtied within hot_ns and its last two dirty events at most hot_ns apart.
  // Pushes come at most once per harvest cycle (QEMU reaps every second), so
  // windows shorter than a couple of seconds would call nothing hot.
  std::uint64_t hot_ns = 2'000'000'000;
  // Warm: dirtied within warm_ns but not hot. Everything else is cold.
  std::uint64_t warm_ns = 10'000'000'000;
};

PageHeat classify(const dpdc_page& page, std::uint64_t now_ns, const HeatParams& params);

struct PageCensus {
  std::uint64_t pages = 0;
  std::uint64_t dirtied = 0;  // pages with at least one dirty event since attach
  std::uint64_t hot = 0, warm = 0, cold = 0;
  std::uint64_t events = 0;   // sum of per-page counts
};

PageCensus take_census(std::span<const dpdc_page> pages, std::uint64_t now_ns, const HeatParams& params);

}  // namespace dpdc
