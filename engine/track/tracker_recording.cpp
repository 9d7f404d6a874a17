#include "track/tracker_recording.h"

#include "dpdc/clock.h"

namespace dpdc {

TrackerRecording::TrackerRecording(DirtyTracker& tracker, const std::string& path, std::uint64_t pages)
    : tracker_(tracker), recorder_(path, pages, monotonic_ns()) {
  drain_ = std::jthread([this](std::stop_token st) {
    try {
      auto sink = [this](const dpdc_event& e) { recorder_.add(e); };
      while (!st.stop_requested()) tracker_.poll_events(sink, 100);
      while (tracker_.poll_events(sink, 0) > 0) {
      }
    } catch (...) {
      error_ = std::current_exception();  // rethrown by finish(), on the caller's thread
    }
  });
}

nlohmann::json TrackerRecording::finish() {
  drain_.request_stop();
  if (drain_.joinable()) drain_.join();
  if (error_) std::rethrow_exception(error_);
  recorder_.finish(monotonic_ns());
  return {{"file", recorder_.path()}, {"events", recorder_.events()}, {"dropped", tracker_.counters().dropped}};
}

}  // namespace dpdc
