#pragma once
// Writes the tracker's recorded dirty events to a trace file as they come
// (trace/trace.h format), so a long recording never sits in memory.
#include <cstdint>
#include <string>
#include <vector>

#include "dpdc/dirty_track.h"
#include "dpdc/unique_fd.h"

namespace dpdc {

class TraceRecorder {
 public:
  // Event times are stored relative to start_ns (CLOCK_MONOTONIC, as the kernel stamps them).
  // `path` is created as create_output_file() says (a symbolic link is refused).
  TraceRecorder(const std::string& path, std::uint64_t pages, std::uint64_t start_ns);
  void add(const dpdc_event& e);
  // Flushes and writes the duration into the header. Throws Error on I/O failure.
  void finish(std::uint64_t end_ns);
  std::uint64_t events() const noexcept { return events_; }
  const std::string& path() const noexcept { return path_; }
  std::uint64_t start_ns() const noexcept { return start_ns_; }

 private:
  void flush();
  std::string path_;
  std::uint64_t pages_, start_ns_;
  UniqueFd out_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t events_ = 0;
};

}  // namespace dpdc
