#include "recorder.h"

#include <cerrno>
#include <cstring>

#include "dpdc/error.h"
#include "trace.h"

namespace dpdc {

TraceRecorder::TraceRecorder(const std::string& path, std::uint64_t pages, std::uint64_t start_ns)
    : path_(path), pages_(pages), start_ns_(start_ns), out_(path, std::ios::binary | std::ios::trunc) {
  if (!out_) throw Error(ErrorKind::Usage, "cannot create " + path + ": " + std::strerror(errno));
  auto header = encode_trace_header(pages_, 0);  // duration patched by finish()
  out_.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  buf_.reserve(1 << 20);
}

void TraceRecorder::add(const dpdc_event& e) {
  TraceEvent t{e.t_ns > start_ns_ ? e.t_ns - start_ns_ : 0, e.page, e.vcpu};
  encode_trace_event(t, buf_);
  ++events_;
  if (buf_.size() >= (1 << 20)) flush();
}

void TraceRecorder::flush() {
  out_.write(reinterpret_cast<const char*>(buf_.data()), static_cast<std::streamsize>(buf_.size()));
  buf_.clear();
  if (!out_) throw Error(ErrorKind::Runtime, "writing " + path_ + " failed");
}

void TraceRecorder::finish(std::uint64_t end_ns) {
  flush();
  auto header = encode_trace_header(pages_, end_ns > start_ns_ ? end_ns - start_ns_ : 0);
  out_.seekp(0);
  out_.write(reinterpret_cast<const char*>(header.data()), static_cast<std::streamsize>(header.size()));
  out_.close();
  if (!out_) throw Error(ErrorKind::Runtime, "writing " + path_ + " failed");
}

}  // namespace dpdc
