#pragma once
// Big-endian byte encoding and decoding for the migration stream, as an
// explicit writer/reader pair. The reader knows the absolute stream offset of
// every byte so that errors can say exactly where a stream went wrong.
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dpdc::stream {

// A malformed or truncated stream. what() is one line:
//   "stream offset 1234 (section 'ram' id 2): page offset 0x1001 not page-aligned"
class StreamError : public std::runtime_error {
 public:
  StreamError(uint64_t offset, std::string section, std::string message);
  uint64_t offset() const noexcept { return offset_; }
  const std::string& section() const noexcept { return section_; }
  const std::string& message() const noexcept { return message_; }

 private:
  uint64_t offset_;
  std::string section_, message_;
};

// The input ended in the middle of an item. A streaming reader catches this to
// ask for more data; once the input is known to be complete it is a real error.
class StreamTruncated : public StreamError {
 public:
  using StreamError::StreamError;
};

// Appends big-endian values to a caller-owned vector.
class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void be16(uint16_t v);  // high byte first
  void be32(uint32_t v);  // high byte first
  void be64(uint64_t v);  // high byte first
  // u8 length + bytes; throws std::length_error over 255 bytes (QEMU's limit too).
  void str(std::string_view s);
  void bytes(std::span<const uint8_t> b) { out_.insert(out_.end(), b.begin(), b.end()); }
  size_t size() const noexcept { return out_.size(); }

 private:
  std::vector<uint8_t>& out_;
};

// Reads big-endian values from a span that starts at absolute stream offset `base`.
// Truncation throws StreamTruncated naming the offset and the current section.
class ByteReader {
 public:
  explicit ByteReader(std::span<const uint8_t> data, uint64_t base = 0) : data_(data), base_(base) {}

  uint8_t u8();
  uint16_t be16();
  uint32_t be32();
  uint64_t be64();
  std::string str();                          // u8 length + bytes
  std::span<const uint8_t> bytes(size_t n);   // view into the underlying data
  uint8_t peek_u8() const;                    // throws StreamTruncated at end
  void skip(size_t n) { (void)bytes(n); }

  uint64_t offset() const noexcept { return base_ + pos_; }  // absolute stream offset
  size_t position() const noexcept { return pos_; }          // index into the span
  size_t remaining() const noexcept { return data_.size() - pos_; }
  bool at_end() const noexcept { return pos_ == data_.size(); }
  void seek(size_t pos) { pos_ = pos; }

  // The section named in errors ("header", "section 'ram' id 2", ...).
  void set_context(std::string ctx) { context_ = std::move(ctx); }
  const std::string& context() const noexcept { return context_; }
  [[noreturn]] void fail(const std::string& message) const { fail_at(offset(), message); }
  [[noreturn]] void fail_at(uint64_t offset, const std::string& message) const;

 private:
  void need(size_t n) const;
  std::span<const uint8_t> data_;
  uint64_t base_;
  size_t pos_ = 0;
  std::string context_ = "top level";
};

}  // namespace dpdc::stream
