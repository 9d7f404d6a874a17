#pragma once
// A QEMU source as the README describes it (guest RAM in a shared memfd
// backend, a QMP socket for the engine), running dpdc-guest, and what the
// QEMU migration tests ask of it: the guest's status page, its rounds, the
// engine's traces left behind, and byte-for-byte RAM comparison. Under TCG
// (the host) or, with DPDC_TEST_QEMU_ACCEL=kvm (the VM runner's qemu-kvm
// group), KVM with a dirty ring.
#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "guest_status.h"
#include "qemu_process.h"
#include "temp_dir.h"

namespace dpdc::test::qemu_guest {

inline const std::string kRam = "64M";
inline constexpr std::uint64_t kRamBytes = 64ull << 20;

// Whether the tests run QEMU with -accel kvm (DPDC_TEST_QEMU_ACCEL=kvm or kvm-bitmap).
bool kvm_accel();
// Whether that KVM has no dirty ring (DPDC_TEST_QEMU_ACCEL=kvm-bitmap): KVM's dirty bitmap.
bool kvm_bitmap();
// What `--dirty-source auto` picks for the tests' QEMU.
std::string auto_dirty_source();
std::string guest_image();
std::string engine();

// A destination's machine: the same guest, private RAM.
std::vector<std::string> machine_args(const std::string& workload);
// A source, with a QMP socket of its own for the engine (the test keeps the
// other one).
std::vector<std::string> source_args(const TempDir& dir, const std::string& workload);

// `size` bytes of guest physical memory at `gpa`, through QEMU's pmemsave.
std::vector<std::uint8_t> pmem(Qemu& q, const TempDir& dir, std::uint64_t gpa, std::uint64_t size);
dpdc_guest_status guest_status(Qemu& q, const TempDir& dir);
// Waits until the guest has finished more rounds than `after`.
bool wait_rounds(Qemu& q, const TempDir& dir, std::uint64_t after, std::chrono::seconds timeout);
// Bytes the kernel has allocated for QEMU's guest RAM memfd.
std::uint64_t memfd_allocated(pid_t pid);

// The engine left nothing behind in QEMU or the kernel: no dirty limit (the
// engine's way of keeping KVM's dirty logging on) and no pinned maps.
void expect_nothing_left(Qemu& q);
std::string status_of(Qemu& q);
bool wait_status(Qemu& q, const std::string& want, std::chrono::seconds timeout);
bool ignore_shared_on(Qemu& q);
// The engine's device-state directories under /tmp.
std::size_t device_dirs_left();

// Migrates `src` with the dpdc policy into a destination started with
// `dst_args` and -S, which loads the whole stream and stays paused, so that
// both RAMs can be compared as they were at the stop.
void migrate_to_paused(Qemu& src, const TempDir& dir, std::vector<std::string> dst_args, std::unique_ptr<Qemu>& dst,
                       nlohmann::json& report, const std::vector<std::string>& engine_args = {});
// The two guests' whole RAM, byte for byte (the first difference if not).
::testing::AssertionResult same_ram(Qemu& src, Qemu& dst, const TempDir& dir);

}  // namespace dpdc::test::qemu_guest
