#include "guarded_ram.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace dpdc::fuzz {
namespace {

[[noreturn]] void die(const char* what) {
  std::perror(what);
  std::abort();
}

}  // namespace

GuardedRam::GuardedRam(std::size_t bytes) : page_(static_cast<std::size_t>(::sysconf(_SC_PAGESIZE))), bytes_(bytes) {
  void* p = ::mmap(nullptr, bytes_ + 2 * page_, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) die("mmap guest RAM");
  base_ = static_cast<std::uint8_t*>(p);
  if (::mprotect(base_ + page_, bytes_, PROT_READ | PROT_WRITE) != 0) die("mprotect guest RAM");
}

GuardedRam::~GuardedRam() { ::munmap(base_, bytes_ + 2 * page_); }

void GuardedRam::zero() {
  if (::madvise(base_ + page_, bytes_, MADV_DONTNEED) != 0) die("madvise guest RAM");
}

}  // namespace dpdc::fuzz
