#pragma once
// Lets the stream writer put its bytes straight onto the io_uring transport.
#include "live/transport.h"
#include "stream/stream_writer.h"

namespace dpdc {

class TransportSink final : public stream::ByteSink {
 public:
  explicit TransportSink(Transport& transport) : transport_(transport) {}
  void write(std::span<const std::uint8_t> bytes) override { transport_.write(bytes); }

 private:
  Transport& transport_;
};

}  // namespace dpdc
