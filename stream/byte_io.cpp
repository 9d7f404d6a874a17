#include "stream/byte_io.h"

namespace dpdc::stream {

StreamError::StreamError(uint64_t offset, std::string section, std::string message)
    : std::runtime_error("stream offset " + std::to_string(offset) + " (" + section + "): " + message),
      offset_(offset),
      section_(std::move(section)),
      message_(std::move(message)) {}

// Encoding: most significant byte first (network order), one byte at a time so
// the code does not depend on host endianness.
void ByteWriter::be16(uint16_t v) {
  out_.push_back(static_cast<uint8_t>(v >> 8));
  out_.push_back(static_cast<uint8_t>(v));
}

void ByteWriter::be32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out_.push_back(static_cast<uint8_t>(v >> shift));
}

void ByteWriter::be64(uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out_.push_back(static_cast<uint8_t>(v >> shift));
}

void ByteWriter::str(std::string_view s) {
  if (s.size() > 255) throw std::length_error("migration stream string longer than 255 bytes: " + std::string(s));
  out_.push_back(static_cast<uint8_t>(s.size()));
  out_.insert(out_.end(), s.begin(), s.end());
}

void ByteReader::fail_at(uint64_t offset, const std::string& message) const {
  throw StreamError(offset, context_, message);
}

void ByteReader::need(size_t n) const {
  if (remaining() < n)
    throw StreamTruncated(offset(), context_,
                          "truncated stream: need " + std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                              " available");
}

uint8_t ByteReader::u8() {
  need(1);
  return data_[pos_++];
}

uint8_t ByteReader::peek_u8() const {
  need(1);
  return data_[pos_];
}

// Decoding mirrors ByteWriter: most significant byte first.
uint16_t ByteReader::be16() {
  need(2);
  uint16_t v = static_cast<uint16_t>((data_[pos_] << 8) | data_[pos_ + 1]);
  pos_ += 2;
  return v;
}

uint32_t ByteReader::be32() {
  need(4);
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v = (v << 8) | data_[pos_ + i];
  pos_ += 4;
  return v;
}

uint64_t ByteReader::be64() {
  need(8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | data_[pos_ + i];
  pos_ += 8;
  return v;
}

std::string ByteReader::str() {
  size_t len = peek_u8();
  need(1 + len);
  std::string s(reinterpret_cast<const char*>(data_.data() + pos_ + 1), len);
  pos_ += 1 + len;
  return s;
}

std::span<const uint8_t> ByteReader::bytes(size_t n) {
  need(n);
  auto s = data_.subspan(pos_, n);
  pos_ += n;
  return s;
}

}  // namespace dpdc::stream
