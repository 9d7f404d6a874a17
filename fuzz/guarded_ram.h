// Guest RAM for a fuzz target: anonymous memory with an inaccessible page on
// each side, so a write a byte before or after it faults at once (ASan does
// not watch mmap()ed memory; the guard pages do).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace dpdc::fuzz {

class GuardedRam {
 public:
  explicit GuardedRam(std::size_t bytes);  // a multiple of the page size
  ~GuardedRam();
  GuardedRam(const GuardedRam&) = delete;
  GuardedRam& operator=(const GuardedRam&) = delete;

  std::span<std::uint8_t> bytes() const { return {base_ + page_, bytes_}; }
  // Zero again, as a fresh destination's RAM is (the kernel drops the pages).
  void zero();

 private:
  std::size_t page_, bytes_;
  std::uint8_t* base_;
};

}  // namespace dpdc::fuzz
