#pragma once
// An unmodified QEMU as a migration source: its RAM blocks, its shared guest
// RAM mapped into the engine, and the switchover that takes QEMU's device
// state from its own x-ignore-shared migration (see qemu_device_capture.h).
//
// What QEMU must offer (each missing piece is a one-line error that says what
// to add to its command line): a QMP socket, and guest RAM in one shared
// memory backend (-object memory-backend-memfd,...,share=on, named as the
// destination's RAM block, e.g. pc.ram).
#include <sys/types.h>

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "dpdc/mapping.h"
#include "dpdc/unique_fd.h"
#include "live/live_world.h"
#include "live/proc_inspect.h"
#include "qemu/qemu_device_capture.h"
#include "qemu/qmp_client.h"
#include "stream/stream_format.h"

namespace dpdc {

// Pure helpers (unit-tested).
struct QemuRamBlock {
  std::string name;
  std::uint64_t offset = 0;  // in QEMU's ram_addr space
  std::uint64_t used = 0;    // bytes
};
// The rows of HMP `info ramblock`. Throws Error(Target) if there are none.
std::vector<QemuRamBlock> parse_info_ramblock(std::string_view text);
// QOM type of /machine ("pc-i440fx-7.2-machine") -> stream machine name ("pc-i440fx-7.2").
std::string machine_from_qom_type(std::string_view type);
// True for a qemu-system-* process.
bool is_qemu(const VmmProcess& process);

class QemuSource {
 public:
  // Connects over QMP and maps the shared guest RAM. Throws Error(Target)
  // naming what QEMU lacks.
  QemuSource(const VmmProcess& process, const std::string& qmp_path);

  QmpClient& qmp() { return *qmp_; }
  const std::string& machine() const { return machine_; }
  bool kvm() const { return kvm_; }
  const std::vector<stream::RamBlockInfo>& blocks() const { return blocks_; }
  std::size_t shared_block() const { return shared_block_; }
  // The file behind shared_ram(), open read-only.
  int backing_fd() const { return backing_.get(); }
  std::span<const std::uint8_t> shared_ram() const {
    return {ram_.as<const std::uint8_t>(), ram_.size()};
  }
  // Where QEMU maps the shared backend in its own address space (from
  // /proc/<pid>/maps), for the tracker to place KVM's memslots. Throws
  // Error(Target) if QEMU does not map it.
  std::vector<dpdc_region> regions() const;

 private:
  std::unique_ptr<QmpClient> qmp_;
  pid_t pid_ = 0;
  std::string machine_;
  bool kvm_ = false;
  std::vector<stream::RamBlockInfo> blocks_;
  std::size_t shared_block_ = 0;
  UniqueFd backing_;  // the shared backend's file (its holes are zero pages)
  Mapping ram_;
};

class DeviceStateReceiver;

// The switchover for a QEMU source, as QEMU itself does it: stop() runs
// QEMU's own migration with x-ignore-shared into a private unix socket.
// QEMU sends its small private RAM blocks (BIOS, option ROMs, ACPI tables)
// while the guest still runs, then stops the guest, drains its block I/O
// and sends the device state, all under its big lock; stop() returns once
// QEMU has sent everything, closed the socket and reported its migration
// completed (else it restarts the guest), so the guest is stopped and no
// device writes guest RAM any more. The engine's last round follows, while
// a thread parses what QEMU sent. Why
// not QMP `stop` first: QEMU's migration would then do all of that inside
// the downtime, after two more QMP round trips (docs/qemu.md measures it).
//
// The capability, and an uncapped max-bandwidth for that small migration,
// are set by stop() just before QEMU's migration starts and restored as
// soon as QEMU reports it completed (or failed, or when this is destroyed):
// an engine killed during the rounds leaves them as the user had them, and
// one killed after the stop finds them restored already. If stop()
// fails, the guest is running again (QEMU restarts it when its migration
// fails or is cancelled); stopped() says whether QEMU may have stopped it,
// so that the caller can `cont` to be sure.
class QemuSwitchover final : public GuestControl, public DeviceStateSource {
 public:
  QemuSwitchover(QmpClient& qmp, std::string machine);
  ~QemuSwitchover() override;
  void stop() override;
  bool stopped() const override { return stopped_; }
  // Both need stop() to have succeeded.
  void write_final_pages(stream::StreamWriter& writer) override;
  void write_sections(stream::StreamWriter& writer) override;
  // QEMU's own view of its device-state migration (query-migrate), once done.
  const nlohmann::json& qemu_status() const { return status_; }

 private:
  void await_completed();  // QEMU's migration reported completed, its settings restored
  const QemuDeviceCapture& captured();
  void set_for_switchover();
  void restore() noexcept;  // QEMU's capability and parameter as they were

  static constexpr std::size_t kSpareBytes = 4u << 20;
  static constexpr std::uint64_t kSwitchoverBandwidth = 100'000'000'000;  // bytes/s: no cap in practice

  QmpClient& qmp_;
  std::string machine_;
  std::vector<std::uint8_t> spare_;  // the receiver's buffer, touched in advance
  std::unique_ptr<DeviceStateReceiver> receiver_;
  std::future<QemuDeviceCapture> parsing_;
  std::optional<QemuDeviceCapture> capture_;
  bool restore_ignore_shared_ = false;
  std::optional<std::uint64_t> saved_max_bandwidth_;  // the user's, restored at the end
  bool stopped_ = false;
  nlohmann::json status_;
};

}  // namespace dpdc
