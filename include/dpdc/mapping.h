#pragma once
// Move-only owner of an mmap()ed region.
#include <sys/mman.h>

#include <cerrno>
#include <cstddef>
#include <utility>

#include "dpdc/error.h"

namespace dpdc {

class Mapping {
 public:
  Mapping() = default;
  // mmap(nullptr, size, prot, flags, fd, offset); throws Error naming `what` on failure.
  Mapping(std::size_t size, int prot, int flags, int fd, long offset, const char* what) {
    void* p = ::mmap(nullptr, size, prot, flags, fd, offset);
    if (p == MAP_FAILED) throw_errno(errno, what);
    addr_ = p;
    size_ = size;
  }
  Mapping(Mapping&& o) noexcept : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  Mapping& operator=(Mapping&& o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() { reset(); }

  void* get() const noexcept { return addr_; }
  template <class T>
  T* as() const noexcept {
    return static_cast<T*>(addr_);
  }
  std::size_t size() const noexcept { return size_; }
  void reset() noexcept {
    if (addr_) ::munmap(addr_, size_);
    addr_ = nullptr;
    size_ = 0;
  }

 private:
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

// Maps `len` bytes at `addr` (page-aligned) into this process's page tables
// for reading in one call (MADV_POPULATE_READ, Linux 5.14 on). Reading a large
// range page by page otherwise takes a fault per page (shmem's fault-around
// maps at most 16 cached pages per fault). False where the kernel lacks it
// (errno EINVAL) or the range could not be populated; the caller's reads then
// fault as before, so nothing but speed depends on it.
inline bool populate_read(const void* addr, std::size_t len) noexcept {
#ifndef MADV_POPULATE_READ
  constexpr int MADV_POPULATE_READ = 22;  // linux/mman.h, 5.14
#endif
  return ::madvise(const_cast<void*>(addr), len, MADV_POPULATE_READ) == 0;
}

}  // namespace dpdc
