#include "policy/page_class.h"

namespace dpdc {

PageHeat classify(const dpdc_page& page, std::uint64_t now_ns, const HeatParams& params) {
  if (page.count == 0) return PageHeat::Cold;
  // Records are read live, so last_ns may be a little after the caller's now.
  std::uint64_t age = now_ns > page.last_ns ? now_ns - page.last_ns : 0;
  if (age > params.warm_ns) return PageHeat::Cold;
  bool recent = age <= params.hot_ns;
  bool repeated = page.count >= 2 && page.prev_ns != 0 && page.last_ns - page.prev_ns <= params.hot_ns;
  return recent && repeated ? PageHeat::Hot : PageHeat::Warm;
}

PageCensus take_census(std::span<const dpdc_page> pages, std::uint64_t now_ns, const HeatParams& params) {
  PageCensus c;
  c.pages = pages.size();
  for (const dpdc_page& p : pages) {
    c.events += p.count;
    if (p.count) ++c.dirtied;
    switch (classify(p, now_ns, params)) {
      case PageHeat::Hot: ++c.hot; break;
      case PageHeat::Warm: ++c.warm; break;
      case PageHeat::Cold: ++c.cold; break;
    }
  }
  return c;
}

}  // namespace dpdc
