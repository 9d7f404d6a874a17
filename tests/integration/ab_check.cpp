#include "ab_check.h"

namespace dpdc::test {

::testing::AssertionResult ab_consistent(const std::vector<std::uint8_t>& ram, std::uint64_t first_page,
                                         std::uint64_t pages) {
  constexpr std::uint64_t kPage = 4096;
  if (pages == 0) return ::testing::AssertionFailure() << "no ab pages to check";
  if ((first_page + pages) * kPage > ram.size())
    return ::testing::AssertionFailure() << "ab pages [" << first_page << ", " << first_page + pages
                                         << ") lie beyond the " << ram.size() << " bytes read";
  bool edge = false;
  std::uint8_t last = ram[first_page * kPage];
  for (std::uint64_t p = first_page + 1; p < first_page + pages; ++p) {
    const std::uint8_t b = ram[p * kPage];
    if (b == last) continue;
    if (static_cast<std::uint8_t>(b + 1) != last || edge)
      return ::testing::AssertionFailure() << "lost write: page " << p << " holds " << int(b) << " after "
                                           << int(last);
    edge = true;
    last = b;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace dpdc::test
