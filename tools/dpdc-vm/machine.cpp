#include "machine.h"

#include "dpdc/kvm_uapi.h"
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "boot_image.h"
#include "guest/boot_info.h"
#include "guest_blob.h"

namespace dpdc::vm {
namespace {

constexpr int kKickSignal = SIGUSR1;

void kick_handler(int) {}  // only interrupts KVM_RUN (immediate_exit does the rest)

void install_kick_handler()
{
    struct sigaction sa{};
    sa.sa_handler = kick_handler;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
    check(::sigaction(kKickSignal, &sa, nullptr), "sigaction(SIGUSR1)");
}

void set_immediate_exit(kvm_run* run, std::uint8_t v)
{
    std::atomic_ref<std::uint8_t>(run->immediate_exit).store(v, std::memory_order_seq_cst);
}

std::string hex(std::uint64_t v)
{
    char buf[32];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

Machine::Machine(const Config& cfg, GuestRam ram)
    : cfg_(cfg),
      mem_(plan_memory(cfg.ram_size, cfg.hole)),
      area_(plan_workload_area(mem_, cfg.workload.pages, cfg.vcpus)),
      kvm_(),
      vm_(kvm_),
      ram_(std::move(ram)),
      tracker_(mem_),
      error_fd_(check(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd")),
      rounds_done_(std::make_unique<std::atomic<std::uint64_t>[]>(cfg.vcpus)),
      finished_(std::make_unique<std::atomic<bool>[]>(cfg.vcpus))
{
    if (ram_.size() != cfg.ram_size)
        throw std::logic_error("Machine: guest RAM size does not match -m");
    for (std::uint32_t i = 0; i < cfg.vcpus; ++i) {
        rounds_done_[i] = 0;
        finished_[i] = false;
    }
    install_kick_handler();
    pause_requested_ = prelaunch_ = cfg.start_paused;

    // Order matters: the dirty ring and the irqchip must exist before any vCPU.
    vm_.enable_dirty_ring(cfg.dirty_ring_entries);
    vm_.try_create_irqchip();
    constexpr std::uint64_t kTssAddr = 0xfffbd000;  // where QEMU puts it; 3 pages
    bool tss_free = true;
    for (const auto& slot : mem_.slots)
        tss_free = tss_free && (kTssAddr + 3 * kPageSize <= slot.gpa || slot.gpa + slot.size <= kTssAddr);
    if (tss_free)
        vm_.set_tss_addr(kTssAddr);
    for (const auto& slot : mem_.slots)
        vm_.set_memslot(slot, ram_.data());

    caps_.irqchip = vm_.has_irqchip();
    caps_.xsave = kvm_.check_extension(KVM_CAP_XSAVE) > 0;
    const int xsave2 = vm_.check_extension(KVM_CAP_XSAVE2);  // bytes, 0 if unsupported
    caps_.xsave2 = caps_.xsave && xsave2 > 0;
    caps_.xsave_bytes = caps_.xsave2 ? static_cast<std::size_t>(xsave2) : kXsaveMinBytes;
    caps_.xcrs = kvm_.check_extension(KVM_CAP_XCRS) > 0;
    const auto supported = kvm_.msr_index_list();
    caps_.msrs = msrs_to_save(supported);
}

Machine::Machine(const Config& cfg) : Machine(cfg, GuestRam(cfg.ram_size))
{
    const BootImage image = build_boot_image(mem_, area_, cfg.workload, cfg.vcpus, guest_image());
    for (const auto& blob : image.blobs)
        ram_.write(blob.gpa, blob.bytes);  // system area: GPA == memfd offset (slot 0)

    const auto cpuid = kvm_.supported_cpuid();
    for (std::uint32_t i = 0; i < cfg.vcpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(kvm_, vm_, i, cfg.dirty_ring_entries);
        vcpu->setup_long_mode(cpuid, image.cr3, vcpu_entry(i), vm_.has_irqchip());
        tracker_.add_ring(vcpu->ring_view());
        vcpus_.push_back(std::move(vcpu));
    }
}

Machine::Machine(const Config& cfg, GuestRam ram, const IncomingResult& incoming, bool autostart)
    : Machine(cfg, std::move(ram))
{
    if (incoming.vcpus.size() != cfg.vcpus)
        throw std::logic_error("Machine: incoming vCPU count does not match -smp");
    if (incoming.machine.irqchip != vm_.has_irqchip())
        throw KvmUnsupported(std::string("the source ran ") + (incoming.machine.irqchip ? "with" : "without") +
                             " an in-kernel irqchip but this host's KVM " +
                             (vm_.has_irqchip() ? "has one" : "cannot create one") +
                             "; migrate between hosts with the same KVM irqchip support");
    // No boot image: the stream brought RAM, including the system area.
    const auto cpuid = kvm_.supported_cpuid();
    for (std::uint32_t i = 0; i < cfg.vcpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(kvm_, vm_, i, cfg.dirty_ring_entries);
        vcpu->set_cpuid(cpuid);
        vcpu->restore(incoming.vcpus[i], caps_);
        rounds_done_[i] = incoming.vcpus[i].rounds_done;
        finished_[i] = incoming.vcpus[i].finished;
        tracker_.add_ring(vcpu->ring_view());
        vcpus_.push_back(std::move(vcpu));
    }
    pause_requested_ = !autostart;
    prelaunch_ = false;
}

MachineState Machine::machine_state() const
{
    MachineState m = local_machine_state(cfg_);
    m.irqchip = vm_.has_irqchip();
    return m;
}

std::vector<DeviceSection> Machine::save_devices()
{
    {
        std::lock_guard lock(mu_);
        if (!pause_requested_ || parked_ < alive_)
            throw std::runtime_error("the guest must be stopped");
    }
    std::vector<DeviceSection> out;
    out.push_back(encode_machine_state(machine_state()));
    for (std::uint32_t i = 0; i < vcpus_.size(); ++i) {
        VcpuState s = vcpus_[i]->save(caps_);
        s.rounds_done = rounds_done_[i].load();
        s.finished = finished_[i].load();
        out.push_back(encode_vcpu_state(s, i));
    }
    return out;
}

Machine::~Machine() { shutdown(); }

void Machine::start()
{
    if (started_)
        return;
    started_ = true;
    {
        std::lock_guard lock(mu_);
        alive_ = static_cast<std::uint32_t>(vcpus_.size());
    }
    for (std::uint32_t i = 0; i < vcpus_.size(); ++i)
        threads_.emplace_back([this, i] { vcpu_thread(i); });
    // With sync=on, rings are reaped at every round end; a periodic reap in the
    // middle of a round would count pages written twice in that round twice.
    if (cfg_.reap_interval_ms != 0 && !cfg_.workload.sync)
        reaper_ = std::thread([this] { reaper_thread(); });
}

void Machine::shutdown()
{
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    kick_all();
    for (auto& t : threads_)
        if (t.joinable())
            t.join();
    if (reaper_.joinable())
        reaper_.join();
    threads_.clear();
}

void Machine::kick_all()
{
    for (std::size_t i = 0; i < vcpus_.size(); ++i) {
        set_immediate_exit(vcpus_[i]->run(), 1);
        if (i < threads_.size() && threads_[i].joinable())
            ::pthread_kill(threads_[i].native_handle(), kKickSignal);
    }
}

std::optional<std::string> Machine::fatal_error() const
{
    std::lock_guard lock(mu_);
    return fatal_;
}

void Machine::fatal(std::uint32_t index, const std::string& what)
{
    {
        std::lock_guard lock(mu_);
        if (!fatal_)
            fatal_ = "vCPU " + std::to_string(index) + ": " + what;
    }
    const std::uint64_t one = 1;
    [[maybe_unused]] auto rc = ::write(error_fd_.get(), &one, sizeof(one));
}

void Machine::vcpu_thread(std::uint32_t index)
{
    Vcpu& vcpu = *vcpus_[index];
    kvm_run* run = vcpu.run();
    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, kKickSignal);
    ::pthread_sigmask(SIG_UNBLOCK, &unblock, nullptr);

    // After an I/O or MMIO exit the instruction completes (RIP advances) only
    // at the next KVM_RUN. A paused vCPU must be complete, or a migrated guest
    // would repeat the OUT: KVM_RUN with immediate_exit=1 completes the pending
    // operation and returns EINTR without running guest code (KVM API, kvm_run).
    bool needs_completion = false;
    // Handles the exit KVM_RUN just returned; false when the vCPU must stop.
    auto dispatch_exit = [&] {
        needs_completion = run->exit_reason == KVM_EXIT_IO || run->exit_reason == KVM_EXIT_MMIO;
        try {
            return handle_exit(vcpu);
        } catch (const std::exception& e) {
            fatal(index, e.what());
            return false;
        }
    };
    for (;;) {
        if (needs_completion) {
            bool park = false;
            {
                std::lock_guard lock(mu_);
                park = pause_requested_ && !stopping_;
            }
            if (park) {
                set_immediate_exit(run, 1);
                const int rc = ::ioctl(vcpu.fd(), KVM_RUN, 0);
                const int err = errno;
                set_immediate_exit(run, 0);
                if (rc < 0 && err != EINTR && err != EAGAIN) {
                    fatal(index, std::string("KVM_RUN (completing an exit) failed: ") + std::strerror(err));
                    break;
                }
                needs_completion = false;
                if (rc == 0) {
                    // Completing it exited again (e.g. the next iteration of a REP OUTS).
                    if (!dispatch_exit())
                        break;
                    continue;
                }
            }
        }
        {
            std::unique_lock lock(mu_);
            if (pause_requested_ && !stopping_) {
                ++parked_;
                cv_.notify_all();
                cv_.wait(lock, [&] { return stopping_ || !pause_requested_; });
                --parked_;
            }
            if (stopping_)
                break;
        }
        if (::ioctl(vcpu.fd(), KVM_RUN, 0) < 0) {
            if (errno == EINTR || errno == EAGAIN) {
                set_immediate_exit(run, 0);
                continue;
            }
            fatal(index, std::string("KVM_RUN failed: ") + std::strerror(errno));
            break;
        }
        if (!dispatch_exit())
            break;
    }
    std::lock_guard lock(mu_);
    --alive_;
    cv_.notify_all();
}

bool Machine::handle_exit(Vcpu& vcpu)
{
    kvm_run* run = vcpu.run();
    const std::uint32_t i = vcpu.index();
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        if (run->io.direction != KVM_EXIT_IO_OUT)
            return true;  // IN from an unknown port: leave the data as is
        std::uint32_t value = 0;
        const auto* data = reinterpret_cast<const std::uint8_t*>(run) + run->io.data_offset;
        std::memcpy(&value, data, std::min<std::size_t>(run->io.size, sizeof(value)));
        switch (run->io.port) {
        case DPDC_PORT_ROUND_DONE:
            if (cfg_.workload.sync)
                reap();
            rounds_done_[i].fetch_add(1);
            return true;
        case DPDC_PORT_FINISHED:
            finished_[i] = true;
            return true;
        case DPDC_PORT_PANIC:
            fatal(i, "guest panic, code " + std::to_string(value));
            return false;
        default:
            return true;  // ignore other ports
        }
    }
    case KVM_EXIT_DIRTY_RING_FULL:
        tracker_.note_full_exit();
        reap();
        return true;
    case KVM_EXIT_HLT:
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        return true;
    case KVM_EXIT_INTR:
        return true;
    case KVM_EXIT_MMIO:
        fatal(i, "guest accessed unbacked GPA " + hex(run->mmio.phys_addr));
        return false;
    case KVM_EXIT_SHUTDOWN:
        fatal(i, "guest triple fault (KVM_EXIT_SHUTDOWN)");
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        fatal(i, "KVM_EXIT_FAIL_ENTRY, hardware reason " +
                     hex(run->fail_entry.hardware_entry_failure_reason));
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        fatal(i, "KVM_EXIT_INTERNAL_ERROR, suberror " + std::to_string(run->internal.suberror));
        return false;
    default:
        fatal(i, "unexpected KVM exit reason " + std::to_string(run->exit_reason));
        return false;
    }
}

void Machine::reap()
{
    tracker_.harvest([this] { vm_.reset_dirty_rings(); });
}

void Machine::reaper_thread()
{
    const auto period = std::chrono::milliseconds(cfg_.reap_interval_ms);
    std::unique_lock lock(mu_);
    while (!stopping_) {
        if (cv_.wait_for(lock, period, [&] { return stopping_; }))
            break;
        lock.unlock();
        try {
            reap();
        } catch (const std::exception& e) {
            fatal(0, std::string("dirty-ring reaper: ") + e.what());
        }
        lock.lock();
    }
}

bool Machine::running() const
{
    std::lock_guard lock(mu_);
    return !pause_requested_;
}

bool Machine::prelaunch() const
{
    std::lock_guard lock(mu_);
    return prelaunch_;
}

void Machine::pause()
{
    std::unique_lock lock(mu_);
    pause_requested_ = true;
    prelaunch_ = false;
    lock.unlock();
    kick_all();
    lock.lock();
    cv_.wait(lock, [&] { return parked_ >= alive_ || stopping_; });
}

void Machine::resume()
{
    {
        std::lock_guard lock(mu_);
        pause_requested_ = false;
        prelaunch_ = false;
    }
    cv_.notify_all();
}

void Machine::request_quit() { quit_requested_ = true; }

MemoryInfo describe_memory(const Config& cfg, const MemoryLayout& mem, const WorkloadArea& area, int memfd)
{
    MemoryInfo m;
    m.ram_size = cfg.ram_size;
    m.memfd = memfd;
    m.vcpus = cfg.vcpus;
    m.dirty_ring_entries = cfg.dirty_ring_entries;
    m.slots = mem.slots;
    m.workload_first_page = area.first_page;
    m.workload_pages = area.pages;
    return m;
}

MemoryInfo Machine::memory_info() const { return describe_memory(cfg_, mem_, area_, ram_.fd()); }

HarvestReport Machine::harvest(std::uint64_t first, std::uint64_t count)
{
    reap();
    HarvestReport h;
    h.pages = mem_.pages();
    const HarvestTotals t = tracker_.snapshot(first, count, h.counts);
    h.total = t.total;
    h.unknown = t.unknown;
    h.resets = t.resets;
    h.full_exits = t.full_exits;
    return h;
}

WorkloadStatus Machine::workload_status() const
{
    WorkloadStatus w;
    w.name = std::string(cfg_.workload.name());
    w.finished = true;
    for (std::uint32_t i = 0; i < cfg_.vcpus; ++i) {
        w.rounds_done.push_back(rounds_done_[i].load());
        w.finished = w.finished && finished_[i].load();
    }
    return w;
}

}  // namespace dpdc::vm
