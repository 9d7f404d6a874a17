#pragma once
// Dirtiness of a QEMU/KVM guest: the in-kernel tracker for what the vCPUs
// write, and one content check at the stop for what QEMU writes itself.
//
// QEMU writes guest RAM from its own threads too (device emulation, fw_cfg
// and virtio DMA, ROM loads on reset): such writes go through QEMU's mapping,
// not a vCPU, so KVM pushes nothing for them and no ring sees them. During
// the rounds this source answers from the ring alone. Each page sent is
// also hashed (the bytes the destination now holds; pages never sent are
// the destination's zeros), and once the guest is stopped and QEMU's devices
// are quiet (GuestControl::stop) one scan compares all guest RAM with those
// hashes: a page QEMU changed behind the ring's back differs and is sent in
// the last round. That scan runs beside the sending of the pages the ring
// already named, so its cost is the part of it that outlasts them (the
// switchover's scan_wait in --json).
#include "track/content_dirty_source.h"
#include "track/ring_dirty_source.h"

namespace dpdc {

class RingWithContentCheck final : public DirtySource {
 public:
  // Both sources cover the same pages; `content` must not have collected yet.
  RingWithContentCheck(RingDirtySource& ring, ContentDirtySource& content);

  void collect(Bitmap& out, Scan scan) override { ring_.collect(out, scan); }
  std::span<const dpdc_page> history() override { return ring_.history(); }
  double history_resolution_hz() override { return ring_.history_resolution_hz(); }
  // QEMU's own writes need no reset: the stop-time check finds them.
  bool awaiting_reset(std::uint64_t page) const override { return ring_.awaiting_reset(page); }
  std::uint64_t reprotections() override { return ring_.reprotections(); }
  void before_reads() override {
    ring_.before_reads();
    content_.before_reads();
  }
  bool sent(std::uint64_t page, std::span<const std::uint8_t> bytes) override {
    content_.sent(page, bytes);
    return ring_.sent(page, bytes);
  }
  void guest_stopped() override {
    ring_.guest_stopped();
    content_.guest_stopped();
  }
  void start_last_collect(Bitmap& out) override;
  void finish_last_collect() override { content_.finish_last_collect(); }
  bool known_zero(std::uint64_t page) const override { return content_.known_zero(page); }

 private:
  RingDirtySource& ring_;
  ContentDirtySource& content_;
};

}  // namespace dpdc
