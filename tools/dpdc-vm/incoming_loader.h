// The destination side of a migration, without KVM (pure): parses a QEMU
// stream fed in chunks, writes RAM pages into the destination's guest RAM,
// decodes dpdc-vm's device sections and, at EOF, checks that the stream is
// complete and fits this dpdc-vm. The caller runs a vCPU only after finish()
// returned; any error is a stream::StreamError whose one-line what() names the
// byte offset and the section.
//
// Accepted stream: header; configuration "dpdc-vm" (no x-ignore-shared); RAM
// START with exactly one block "dpdc.ram" of the local RAM size; PART/END
// iterations (ZERO records fill the page); FULL sections "dpdc-vm/machine"
// (instance 0) and "dpdc-vm/cpu" (instance = vCPU), each once, in any order;
// commands are ignored; EOF; optional vmdesc.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <sys/uio.h>
#include <span>
#include <string>
#include <vector>

#include "device_state.h"
#include "options.h"
#include "stream/stream_reader.h"

namespace dpdc::vm {

struct IncomingResult {
    MachineState machine;
    std::vector<VcpuState> vcpus;    // index = vCPU index
    std::uint64_t page_records = 0;  // PAGE + ZERO records applied
    std::uint64_t pages_loaded = 0;  // distinct pages written
    std::uint64_t stream_bytes = 0;
};

// This dpdc-vm's machine section as its command line describes it (irqchip
// false: only KVM knows; the workload in canonical form).
MachineState local_machine_state(const Config& cfg);

class IncomingLoader {
public:
    // `ram`: the zero-filled guest RAM (memfd offset 0 = ram[0]). `local`: this
    // dpdc-vm's machine (RAM size, hole, vCPUs, layout, workload);
    // `workload_given`: --workload was on the command line. `ram_fd`, if
    // given, is the file mapped as `ram`: page contents are then written into
    // it with pwritev(), a run of consecutive pages per call, instead of
    // copied through the mapping: a first store through a shared mapping
    // takes a page fault per new page, a write into the file one call per
    // run (vm-dest 9.11 -> 8.37 s at 1 GiB, docs/benchmarks.md; the new page
    // is zeroed either way on kernels with init_on_alloc). ZERO records still go
    // through the mapping, after every earlier page is written: the order of
    // the stream's records is the order of the writes.
    IncomingLoader(std::span<std::uint8_t> ram, MachineState local, bool workload_given, int ram_fd = -1);

    // Parses as far as the bytes allow. Throws stream::StreamError.
    void feed(std::span<const std::uint8_t> bytes);
    // The same without a copy: read up to `want` bytes into input_space(want),
    // then commit(n) the n that arrived; parses as feed() does.
    std::span<std::uint8_t> input_space(std::size_t want) { return reader_.input_space(want); }
    void commit(std::size_t n);
    // The input ended: throws stream::StreamError unless the stream was complete
    // and valid; returns what the destination needs to run the guest.
    IncomingResult finish();

    std::uint64_t bytes_fed() const { return fed_; }
    std::uint64_t page_records() const { return page_records_; }

private:
    void drain();
    void write_page(std::uint64_t offset, std::span<const std::uint8_t> data);
    void flush_pages();
    void on_event(const stream::Event& ev);
    void on_device(const stream::DeviceSectionEvent& ev);
    void validate_at_eof(std::uint64_t offset);

    std::span<std::uint8_t> ram_;
    int ram_fd_;
    // Pages parsed but not yet written: consecutive in the file from
    // pending_offset_, their bytes in the reader's buffer (valid until the
    // next feed or input_space, so drain() writes them before it returns).
    std::vector<struct iovec> pending_;
    std::uint64_t pending_offset_ = 0;
    MachineState local_;
    bool workload_given_;
    // The vmdesc describes the source's devices for tools; dpdc-vm does not read it.
    stream::StreamReader reader_{stream::ReaderOptions{.parse_vmdesc = false}};
    std::uint64_t fed_ = 0;
    bool configured_ = false;
    bool ram_setup_ = false;
    bool ram_end_ = false;
    bool eof_ = false;
    std::optional<MachineState> machine_;
    std::map<std::uint32_t, VcpuState> vcpus_;
    std::vector<bool> seen_;
    std::uint64_t page_records_ = 0;
    std::uint64_t pages_loaded_ = 0;
};

}  // namespace dpdc::vm
