#pragma once
// A fixed-size bit set over page indices, as the policies and the round
// driver use it (to_send, to_skip, pending...). Pure, header-only hot paths.
#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dpdc {

class Bitmap {
 public:
  explicit Bitmap(std::size_t bits = 0) : bits_(bits), words_((bits + 63) / 64, 0) {}

  std::size_t size() const noexcept { return bits_; }
  bool test(std::size_t i) const noexcept { return (words_[i >> 6] >> (i & 63)) & 1u; }
  void set(std::size_t i) noexcept { words_[i >> 6] |= std::uint64_t{1} << (i & 63); }
  void reset(std::size_t i) noexcept { words_[i >> 6] &= ~(std::uint64_t{1} << (i & 63)); }
  void clear() noexcept { std::fill(words_.begin(), words_.end(), 0); }
  void fill() noexcept {
    std::fill(words_.begin(), words_.end(), ~std::uint64_t{0});
    trim();
  }
  std::size_t count() const noexcept {
    std::size_t n = 0;
    for (auto w : words_) n += static_cast<std::size_t>(std::popcount(w));
    return n;
  }
  bool any() const noexcept {
    for (auto w : words_)
      if (w) return true;
    return false;
  }

  Bitmap& operator|=(const Bitmap& o) noexcept {
    for (std::size_t i = 0; i < words_.size(); ++i) words_[i] |= o.words_[i];
    return *this;
  }
  Bitmap& operator&=(const Bitmap& o) noexcept {
    for (std::size_t i = 0; i < words_.size(); ++i) words_[i] &= o.words_[i];
    return *this;
  }
  // this &= ~o
  Bitmap& subtract(const Bitmap& o) noexcept {
    for (std::size_t i = 0; i < words_.size(); ++i) words_[i] &= ~o.words_[i];
    return *this;
  }
  bool operator==(const Bitmap& o) const noexcept = default;

  // Word access, for merging a dirty log kept as 64-bit words (bit i % 64 of word i / 64).
  std::size_t words() const noexcept { return words_.size(); }
  void or_word(std::size_t w, std::uint64_t bits) noexcept {
    words_[w] |= bits;
    if (w + 1 == words_.size()) trim();
  }

  // Calls f(index) for every set bit, in increasing order.
  template <class F>
  void for_each(F&& f) const {
    for (std::size_t w = 0; w < words_.size(); ++w) {
      for (std::uint64_t bits = words_[w]; bits; bits &= bits - 1) f(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
    }
  }

 private:
  void trim() noexcept {
    if (bits_ % 64 && !words_.empty()) words_.back() &= (std::uint64_t{1} << (bits_ % 64)) - 1;
  }
  std::size_t bits_;
  std::vector<std::uint64_t> words_;
};

}  // namespace dpdc
