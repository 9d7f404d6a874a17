#pragma once
// A recording of every dirty event of an attached tracker (attach --record,
// and beside --to): a thread drains the tracker's ring buffer into a trace
// file (recorder.h) until finish().
#include <cstdint>
#include <exception>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "loader/dirty_track_loader.h"
#include "trace/recorder.h"

namespace dpdc {

class TrackerRecording {
 public:
  // The tracker must have been built with TrackerOptions::record_ring_bytes
  // and outlive this object. The trace starts now.
  TrackerRecording(DirtyTracker& tracker, const std::string& path, std::uint64_t pages);
  // Stops the thread if finish() did not (the file is then incomplete).
  ~TrackerRecording() = default;
  TrackerRecording(const TrackerRecording&) = delete;
  TrackerRecording& operator=(const TrackerRecording&) = delete;

  // Drains what is queued, writes the trace's end and returns
  // {"file", "events", "dropped"} (dropped: the ring buffer was full).
  // Rethrows an error of the drain thread.
  nlohmann::json finish();
  std::uint64_t start_ns() const noexcept { return recorder_.start_ns(); }

 private:
  DirtyTracker& tracker_;
  TraceRecorder recorder_;
  std::exception_ptr error_;
  std::jthread drain_;  // last: it uses the members above
};

}  // namespace dpdc
