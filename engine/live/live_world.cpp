#include "live/live_world.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "dpdc/mapping.h"
#include "live/stop_flag.h"

namespace dpdc {

LiveWorld::LiveWorld(DirtySource& source, std::span<const std::uint8_t> ram, stream::StreamWriter& writer,
                     GuestControl& guest, const LiveWorldOptions& options)
    : source_(source), ram_(ram), writer_(writer), guest_(guest), options_(options),
      mapped_(ram.size() / DPDC_PAGE_SIZE) {
  if (ram_.size() % DPDC_PAGE_SIZE != 0 || ram_.size() / DPDC_PAGE_SIZE > source_.history().size()) {
    throw Error(ErrorKind::Runtime, "the guest RAM mapping does not match the dirty source's page map");
  }
}

std::uint64_t LiveWorld::now_ns() { return monotonic_ns(); }

void LiveWorld::collect_dirty(Bitmap& out) {
  source_.collect(out, in_round_ && !stopped_ ? Scan::Peek : Scan::Complete);
}

void LiveWorld::begin_round(std::uint32_t, bool final_round) {
  in_round_ = true;
  if (final_round) {
    writer_.ram_begin_final();
  } else {
    writer_.ram_begin_iteration();
  }
}

void LiveWorld::end_round(std::uint32_t, bool final_round) {
  if (final_round && options_.devices) options_.devices->write_final_pages(writer_);
  writer_.ram_end_iteration();
  in_round_ = false;
}

void LiveWorld::check_running() {
  if (options_.interrupt && options_.interrupt->raised()) {
    throw Error(ErrorKind::Interrupted, "interrupted before the switchover");
  }
  // Both periodic duties share one clock: at most every 100 ms while the guest runs.
  if ((!options_.vmm_alive && !options_.while_running) || monotonic_ns() - periodic_ns_ < 100'000'000) return;
  periodic_ns_ = monotonic_ns();
  // Its RAM stays readable through the engine's mapping, and the tracker's
  // maps stay, so nothing else would notice before the stop.
  if (options_.vmm_alive && !options_.vmm_alive()) {
    throw Error(ErrorKind::Target, "the source VMM exited during the pre-copy rounds");
  }
  if (options_.while_running) options_.while_running();
}

std::pair<std::uint64_t, bool> LiveWorld::extent_at(std::uint64_t page, std::uint64_t end) {
  if (options_.ram_fd < 0) return {end, false};
  if (page >= data_from_ && page < data_until_) return {std::min(end, data_until_), false};
  const off_t at = static_cast<off_t>(page * DPDC_PAGE_SIZE);
  const off_t data = ::lseek(options_.ram_fd, at, SEEK_DATA);
  if (data < 0) {
    // ENXIO: nothing but hole from here to the end of the file. Any other
    // error: read the pages, as without a file.
    return {end, errno == ENXIO};
  }
  if (data > at) return {std::min<std::uint64_t>(end, static_cast<std::uint64_t>(data) / DPDC_PAGE_SIZE), true};
  const off_t hole = ::lseek(options_.ram_fd, at, SEEK_HOLE);
  if (hole <= at) return {end, false};
  data_from_ = page;
  data_until_ = (static_cast<std::uint64_t>(hole) + DPDC_PAGE_SIZE - 1) / DPDC_PAGE_SIZE;
  return {std::min(end, data_until_), false};
}

void LiveWorld::send_run(std::span<const std::uint64_t> run, Bitmap& unproven) {
  alignas(64) std::array<std::uint8_t, DPDC_PAGE_SIZE> copy;
  const std::uint64_t first = run.front(), end = first + run.size();
  for (std::uint64_t p = first; p < end;) {
    // A hole now reads as zeros now: sending zeros is the same read, made
    // without allocating the page.
    const auto [until, hole] = extent_at(p, end);
    if (!hole && populate_works_ && until - p > 1 && !mapped_.test(p)) {
      // One call maps the extent, instead of a page fault per page (or per
      // 16 pages, shmem's fault-around).
      if (populate_read(ram_.data() + p * DPDC_PAGE_SIZE, (until - p) * DPDC_PAGE_SIZE)) {
        for (std::uint64_t k = p; k < until; ++k) mapped_.set(k);
      } else if (errno == EINVAL) {
        populate_works_ = false;
      }
    }
    for (; p < until; ++p) {
      if (hole || source_.known_zero(p)) {
        std::memset(copy.data(), 0, DPDC_PAGE_SIZE);
      } else {
        std::memcpy(copy.data(), ram_.data() + p * DPDC_PAGE_SIZE, DPDC_PAGE_SIZE);
      }
      if (!source_.sent(p, copy)) unproven.set(p);
      writer_.ram_page(options_.block, options_.block_offset + p * DPDC_PAGE_SIZE, copy);
    }
  }
}

std::uint64_t LiveWorld::send_pages(std::span<const std::uint64_t> pages, Bitmap& unproven) {
  if (!stopped_) check_running();
  const std::uint64_t before = writer_.bytes_written();
  source_.before_reads();
  for (std::size_t i = 0; i < pages.size();) {
    std::size_t j = i + 1;
    while (j < pages.size() && pages[j] == pages[j - 1] + 1) ++j;
    send_run(pages.subspan(i, j - i), unproven);
    i = j;
  }
  return writer_.bytes_written() - before;
}

void LiveWorld::await_reset() {
  using namespace std::chrono_literals;
  const std::uint64_t before = source_.reprotections();
  const double hz = source_.history_resolution_hz();
  const auto limit = std::chrono::nanoseconds(
      hz > 0 ? std::min<std::int64_t>(2'000'000'000, static_cast<std::int64_t>(2e9 / hz)) : 1'000'000'000);
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until && source_.reprotections() == before) {
    std::this_thread::sleep_for(5ms);
    check_running();
  }
}

void LiveWorld::stop_guest() {
  // The last moment a Ctrl-C can still leave the guest running: a signal
  // that came while the sends queued ahead of the link (a round may end long
  // before its bytes are on the wire) must not be followed by the stop.
  check_running();
  guest_.stop();
  source_.guest_stopped();
  stopped_ = true;
}

}  // namespace dpdc
