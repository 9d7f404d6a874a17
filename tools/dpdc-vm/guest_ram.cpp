#include "guest_ram.h"

#include <cstring>
#include <stdexcept>
#include <sys/mman.h>
#include <unistd.h>

namespace dpdc::vm {

GuestRam::GuestRam(std::uint64_t size)
    : memfd_(check(::memfd_create("dpdc-vm-ram", MFD_CLOEXEC), "memfd_create(dpdc-vm-ram)"))
{
    check(::ftruncate(memfd_.get(), static_cast<off_t>(size)), "ftruncate(guest RAM memfd)");
    map_ = Mapping(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, memfd_.get(), 0, "mmap(guest RAM)");
}

void GuestRam::write(std::uint64_t offset, std::span<const std::uint8_t> bytes)
{
    if (offset > size() || bytes.size() > size() - offset)
        throw std::out_of_range("guest RAM write outside RAM");
    if (!bytes.empty())
        std::memcpy(data() + offset, bytes.data(), bytes.size());
}

}  // namespace dpdc::vm
