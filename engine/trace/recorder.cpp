#include "trace/recorder.h"

#include <unistd.h>

#include "base/output_file.h"
#include "dpdc/error.h"
#include "trace/trace.h"

namespace dpdc {

TraceRecorder::TraceRecorder(const std::string& path, std::uint64_t pages, std::uint64_t start_ns)
    : path_(path), pages_(pages), start_ns_(start_ns), out_(create_output_file(path, "trace")) {
  auto header = encode_trace_header(pages_, 0);  // duration patched by finish()
  write_all(out_.get(), header, path_);
  buf_.reserve(1 << 20);
}

void TraceRecorder::add(const dpdc_event& e) {
  TraceEvent t{e.t_ns > start_ns_ ? e.t_ns - start_ns_ : 0, e.page, e.vcpu};
  encode_trace_event(t, buf_);
  ++events_;
  if (buf_.size() >= (1 << 20)) flush();
}

void TraceRecorder::flush() {
  write_all(out_.get(), buf_, path_);
  buf_.clear();
}

void TraceRecorder::finish(std::uint64_t end_ns) {
  flush();
  auto header = encode_trace_header(pages_, end_ns > start_ns_ ? end_ns - start_ns_ : 0);
  write_all_at(out_.get(), header, 0, path_);
  if (::close(out_.release()) != 0) throw Error(ErrorKind::Runtime, "writing " + path_ + " failed");
}

}  // namespace dpdc
