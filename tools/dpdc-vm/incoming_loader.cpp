#include "incoming_loader.h"

#include <sys/uio.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <variant>

#include "dpdc/error.h"

namespace dpdc::vm {
namespace {

using stream::StreamError;
constexpr std::uint64_t kPage = stream::kPageSize;

std::string section_name(const stream::DeviceSectionEvent& ev)
{
    return "section '" + ev.idstr + "' id " + std::to_string(ev.section_id) + " instance " +
           std::to_string(ev.instance_id) + " (" +
           std::string(stream::section_type_name(static_cast<std::uint8_t>(ev.type))) + ")";
}

}  // namespace

MachineState local_machine_state(const Config& cfg)
{
    const MemoryLayout mem = plan_memory(cfg.ram_size, cfg.hole);
    MachineState m;
    m.ram_size = cfg.ram_size;
    m.has_hole = mem.hole.has_value();
    m.hole_start = mem.hole ? mem.hole->start : 0;
    m.hole_size = mem.hole ? mem.hole->size : 0;
    m.vcpus = cfg.vcpus;
    m.dirty_ring_entries = cfg.dirty_ring_entries;
    m.irqchip = false;
    m.boot_info_gpa = layout::kBootInfoGpa;
    m.workload_gpa = layout::kWorkloadGpa;
    m.workload = format_workload_spec(cfg.workload);
    return m;
}

IncomingLoader::IncomingLoader(std::span<std::uint8_t> ram, MachineState local, bool workload_given, int ram_fd)
    : ram_(ram), ram_fd_(ram_fd), local_(std::move(local)), workload_given_(workload_given),
      seen_(ram.size() / kPage, false)
{
}

void IncomingLoader::write_page(std::uint64_t offset, std::span<const std::uint8_t> data)
{
    if (ram_fd_ < 0) {
        std::memcpy(ram_.data() + offset, data.data(), kPage);
        return;
    }
    const bool follows = offset == pending_offset_ + pending_.size() * kPage;
    if (!pending_.empty() && (!follows || pending_.size() == static_cast<std::size_t>(IOV_MAX)))
        flush_pages();
    if (pending_.empty())
        pending_offset_ = offset;
    pending_.push_back({const_cast<std::uint8_t*>(data.data()), kPage});
}

void IncomingLoader::flush_pages()
{
    std::size_t done = 0;  // iovecs written whole; a short write resumes inside one
    std::uint64_t at = pending_offset_;
    while (done < pending_.size()) {
        const ssize_t n = ::pwritev(ram_fd_, pending_.data() + done, static_cast<int>(pending_.size() - done),
                                    static_cast<off_t>(at));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            throw_errno(n < 0 ? errno : EIO, "pwritev(migrated pages into the guest RAM)");
        at += static_cast<std::uint64_t>(n);
        for (auto left = static_cast<std::size_t>(n); left > 0;) {
            iovec& v = pending_[done];
            const std::size_t k = std::min(left, v.iov_len);
            v.iov_base = static_cast<std::uint8_t*>(v.iov_base) + k;
            v.iov_len -= k;
            left -= k;
            if (v.iov_len == 0)
                ++done;
        }
    }
    pending_.clear();
}

void IncomingLoader::feed(std::span<const std::uint8_t> bytes)
{
    fed_ += bytes.size();
    reader_.feed(bytes);
    drain();
}

void IncomingLoader::commit(std::size_t n)
{
    fed_ += n;
    reader_.commit(n);
    drain();
}

void IncomingLoader::drain()
{
    while (auto ev = reader_.next())
        on_event(*ev);
    flush_pages();
}

IncomingResult IncomingLoader::finish()
{
    reader_.finish();
    drain();  // throws "truncated stream" if the input stopped mid-item or before EOF
    if (!eof_)
        throw StreamError(reader_.offset(), "top level", "truncated stream: no EOF section");
    IncomingResult r;
    r.machine = *machine_;
    for (auto& [index, state] : vcpus_)
        r.vcpus.push_back(std::move(state));
    vcpus_.clear();
    r.page_records = page_records_;
    r.pages_loaded = pages_loaded_;
    r.stream_bytes = fed_;
    return r;
}

void IncomingLoader::on_event(const stream::Event& event)
{
    if (const auto* c = std::get_if<stream::ConfigurationEvent>(&event)) {
        // The reader reports the configuration after parsing it; its offset is the header's end.
        const std::uint64_t at = 8;
        if (c->machine != kStreamMachineName)
            throw StreamError(at, "configuration",
                              "the stream is for machine '" + c->machine +
                                  "', not 'dpdc-vm'; migrate from a dpdc-vm source");
        for (const auto& cap : c->capabilities)
            if (cap == stream::kIgnoreSharedCapability)
                throw StreamError(at, "configuration",
                                  "capability x-ignore-shared leaves RAM out of the stream; "
                                  "migrate without x-ignore-shared");
        configured_ = true;
    } else if (const auto* b = std::get_if<stream::SectionBeginEvent>(&event)) {
        if (!configured_)
            throw StreamError(b->offset, "section 'ram' id " + std::to_string(b->section_id),
                              "RAM section before the configuration section (machine 'dpdc-vm')");
    } else if (const auto* s = std::get_if<stream::RamSetupEvent>(&event)) {
        const std::string ctx = "section 'ram' (START)";
        const std::uint64_t at = reader_.offset();
        const stream::RamBlockInfo* ours = nullptr;
        for (const auto& blk : s->blocks) {
            if (blk.idstr != kRamBlockIdstr)
                throw StreamError(at, ctx,
                                  "RAM block '" + blk.idstr + "' is not part of a dpdc-vm (which has only '" +
                                      std::string(kRamBlockIdstr) + "'); migrate from a dpdc-vm source");
            ours = &blk;
        }
        if (ours == nullptr)
            throw StreamError(at, ctx, "the stream has no RAM block 'dpdc.ram'");
        if (ours->used_length != ram_.size())
            throw StreamError(at, ctx,
                              "the stream's RAM is " + std::to_string(ours->used_length) +
                                  " bytes but this dpdc-vm has " + std::to_string(ram_.size()) +
                                  "; start it with -m " + format_size(ours->used_length));
        ram_setup_ = true;
    } else if (const auto* p = std::get_if<stream::RamPageEvent>(&event)) {
        // The reader checked the block name, alignment and used length: the page is inside ram_.
        std::uint8_t* dst = ram_.data() + p->offset;
        const std::size_t page = static_cast<std::size_t>(p->offset / kPage);
        // The RAM starts zero-filled: zeros over a page no record has written
        // yet change nothing, and writing them would allocate the page (a
        // sparse guest's holes stay holes here, as at the source).
        if (p->zero && (p->fill != 0 || seen_[page])) {
            flush_pages();  // an earlier record may hold this page
            std::memset(dst, p->fill, kPage);
        } else if (!p->zero) {
            write_page(p->offset, p->data);
        }
        ++page_records_;
        if (!seen_[page]) {
            seen_[page] = true;
            ++pages_loaded_;
        }
    } else if (const auto* e = std::get_if<stream::SectionEndEvent>(&event)) {
        if (e->type == stream::SectionType::End)
            ram_end_ = true;
    } else if (const auto* d = std::get_if<stream::DeviceSectionEvent>(&event)) {
        on_device(*d);
    } else if (const auto* eof = std::get_if<stream::EofEvent>(&event)) {
        validate_at_eof(eof->offset);
        eof_ = true;
    }
    // HeaderEvent, CommandEvent (QEMU's MIG_CMD_*; nothing for dpdc-vm), VmdescEvent: nothing to do.
}

void IncomingLoader::on_device(const stream::DeviceSectionEvent& ev)
{
    const std::string ctx = section_name(ev);
    if (ev.type != stream::SectionType::Full)
        throw StreamError(ev.offset, ctx, "dpdc-vm has no iterable device '" + ev.idstr + "' besides RAM");
    try {
        if (ev.idstr == kMachineSectionIdstr) {
            if (ev.instance_id != 0)
                throw StreamError(ev.offset, ctx, "machine section instance must be 0");
            if (machine_)
                throw StreamError(ev.offset, ctx, "second machine section");
            machine_ = decode_machine_state(ev.payload, ev.version_id);
            if (auto why = machine_mismatch(*machine_, local_, workload_given_))
                throw StreamError(ev.offset, ctx, *why);
        } else if (ev.idstr == kCpuSectionIdstr) {
            if (vcpus_.contains(ev.instance_id))
                throw StreamError(ev.offset, ctx, "second section for vCPU " + std::to_string(ev.instance_id));
            if (ev.instance_id >= local_.vcpus)
                throw StreamError(ev.offset, ctx,
                                  "vCPU " + std::to_string(ev.instance_id) + " but this dpdc-vm has -smp " +
                                      std::to_string(local_.vcpus) + "; start it with -smp " +
                                      std::to_string(ev.instance_id + 1) + " or more (as the source)");
            vcpus_.emplace(ev.instance_id, decode_vcpu_state(ev.payload, ev.version_id, ev.instance_id));
        } else {
            throw StreamError(ev.offset, ctx,
                              "unknown device '" + ev.idstr + "' (dpdc-vm has 'dpdc-vm/machine' and 'dpdc-vm/cpu')");
        }
    } catch (const DeviceStateError& e) {
        throw StreamError(ev.offset, ctx, e.what());
    }
}

void IncomingLoader::validate_at_eof(std::uint64_t offset)
{
    const std::string ctx = "EOF";
    if (!configured_)
        throw StreamError(offset, ctx, "the stream has no configuration section (machine 'dpdc-vm')");
    if (!ram_setup_)
        throw StreamError(offset, ctx, "the stream has no RAM section");
    if (!ram_end_)
        throw StreamError(offset, ctx, "the RAM section never ended (no END section: the source's final pass is missing)");
    if (!machine_)
        throw StreamError(offset, ctx, "the stream has no 'dpdc-vm/machine' section");
    for (std::uint32_t i = 0; i < local_.vcpus; ++i)
        if (!vcpus_.contains(i))
            throw StreamError(offset, ctx,
                              "the stream has no 'dpdc-vm/cpu' section for vCPU " + std::to_string(i) + " of " +
                                  std::to_string(local_.vcpus));
    // The machine check ran when its section arrived (it names -m/-smp/--hole).
}

}  // namespace dpdc::vm
