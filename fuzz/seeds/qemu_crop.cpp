#include "qemu_crop.h"

#include <variant>

#include "stream/stream_format.h"
#include "stream/stream_reader.h"

namespace dpdc::fuzz {

std::vector<std::uint8_t> crop_qemu_stream(std::span<const std::uint8_t> stream, std::size_t keep_pages) {
  std::vector<std::uint8_t> out;
  std::size_t copied = 0, kept = 0;
  stream::StreamReader reader;
  reader.feed(stream);
  reader.finish();
  while (auto ev = reader.next()) {
    const auto* page = std::get_if<stream::RamPageEvent>(&*ev);
    if (page == nullptr || page->zero || kept++ < keep_pages) continue;
    // The record: be64 offset|flags, [u8 length + block name], 4096 bytes.
    const std::size_t end = reader.offset();
    const std::size_t start = end - page->wire_bytes;
    out.insert(out.end(), stream.begin() + copied, stream.begin() + start);
    const std::size_t header = out.size();
    out.insert(out.end(), stream.begin() + start, stream.begin() + (end - stream::kPageSize));
    out[header + 7] = static_cast<std::uint8_t>((out[header + 7] & ~stream::ram_flag::kPage) | stream::ram_flag::kZero);
    out.push_back(0);  // the fill byte
    copied = end;
  }
  out.insert(out.end(), stream.begin() + copied, stream.end());
  return out;
}

}  // namespace dpdc::fuzz
