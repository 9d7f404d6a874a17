// Big-endian encode/decode pairs and the reader's truncation errors.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "stream/byte_io.h"
#include "stream/stream_format.h"

namespace dpdc::stream {
namespace {

TEST(StreamByteIo, EncodesBigEndian) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u8(0xab);
  w.be16(0x0102);
  w.be32(0x03040506);
  w.be64(0x0708090a0b0c0d0eULL);
  w.str("ram");
  EXPECT_EQ(out, (std::vector<uint8_t>{0xab, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 3, 'r', 'a', 'm'}));
}

TEST(StreamByteIo, MagicOnTheWireSpellsQEVM) {
  std::vector<uint8_t> out;
  ByteWriter(out).be32(kMagic);
  EXPECT_EQ(std::string(out.begin(), out.end()), "QEVM");
}

TEST(StreamByteIo, DecodeMirrorsEncode) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.u8(0xff);
  w.be16(0xfedc);
  w.be32(0x89abcdef);
  w.be64(0xfedcba9876543210ULL);
  w.str("");
  w.str("pc.ram");
  w.bytes(std::vector<uint8_t>{1, 2, 3});
  ByteReader r(out, 100);
  EXPECT_EQ(r.offset(), 100u);
  EXPECT_EQ(r.u8(), 0xff);
  EXPECT_EQ(r.be16(), 0xfedc);
  EXPECT_EQ(r.be32(), 0x89abcdefu);
  EXPECT_EQ(r.be64(), 0xfedcba9876543210ULL);
  EXPECT_EQ(r.str(), "");
  EXPECT_EQ(r.str(), "pc.ram");
  auto b = r.bytes(3);
  EXPECT_EQ(std::vector<uint8_t>(b.begin(), b.end()), (std::vector<uint8_t>{1, 2, 3}));
  EXPECT_TRUE(r.at_end());
  EXPECT_EQ(r.offset(), 100u + out.size());
}

TEST(StreamByteIo, StringOver255BytesIsRejected) {
  std::vector<uint8_t> out;
  ByteWriter w(out);
  EXPECT_THROW(w.str(std::string(256, 'x')), std::length_error);
  EXPECT_NO_THROW(w.str(std::string(255, 'x')));
  EXPECT_EQ(out.size(), 256u);
}

TEST(StreamByteIo, TruncationNamesOffsetAndSection) {
  std::vector<uint8_t> data{0, 0, 0, 1, 0, 0};
  ByteReader r(data, 1000);
  r.set_context("section 'ram' id 2 (PART)");
  EXPECT_EQ(r.be32(), 1u);
  try {
    r.be32();
    FAIL() << "no throw";
  } catch (const StreamTruncated& e) {
    EXPECT_EQ(e.offset(), 1004u);
    EXPECT_EQ(e.section(), "section 'ram' id 2 (PART)");
    EXPECT_EQ(std::string(e.what()),
              "stream offset 1004 (section 'ram' id 2 (PART)): truncated stream: need 4 bytes, 2 available");
  }
  // A failed read consumes nothing.
  EXPECT_EQ(r.be16(), 0u);
}

TEST(StreamByteIo, TruncatedStringBody) {
  std::vector<uint8_t> data{5, 'a', 'b'};
  ByteReader r(data);
  EXPECT_THROW(r.str(), StreamTruncated);
  EXPECT_EQ(r.offset(), 0u);
}

}  // namespace
}  // namespace dpdc::stream
