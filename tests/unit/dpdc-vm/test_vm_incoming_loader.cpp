// IncomingLoader: streams written with StreamWriter load into a RAM span byte
// for byte; broken or mismatched streams are rejected with one line naming
// the byte offset and section (pure, no KVM).
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "device_state.h"
#include "incoming_loader.h"
#include "stream/byte_io.h"
#include "stream/stream_writer.h"

using namespace dpdc::vm;
namespace stream = dpdc::stream;

namespace {

constexpr std::uint64_t kRam = 8 * MiB;
constexpr std::size_t kPages = kRam / 4096;

MachineState local_machine(std::uint32_t vcpus = 2)
{
    Config cfg;
    cfg.ram_size = kRam;
    cfg.vcpus = vcpus;
    return local_machine_state(cfg);
}

VcpuState vcpu(std::uint32_t i)
{
    VcpuState s;
    s.regs.rip = 0x100000 + i;
    s.xsave.assign(4096, static_cast<std::uint8_t>(i));
    s.rounds_done = i;
    return s;
}

struct StreamSpec {
    std::string machine_name = "dpdc-vm";
    std::uint64_t block_bytes = kRam;
    MachineState machine = local_machine();
    std::vector<std::uint32_t> cpus{0, 1};
    bool end = true;
    bool devices = true;
    std::size_t data_every = 3;  // every Nth page has data (1: every page, runs past IOV_MAX)
};

// header, config, setup; iteration 1 sends every page, iteration 2 a few
// rewritten ones, END a few more (one turned to zeros); then the devices.
std::vector<std::uint8_t> make_stream(const StreamSpec& spec, std::vector<std::uint8_t>& ram)
{
    std::mt19937 rng(7);
    ram.assign(spec.block_bytes, 0);
    for (std::size_t p = 0; p < ram.size() / 4096; p += spec.data_every)  // the rest stay zero
        for (std::size_t b = 0; b < 4096; b += 512)
            ram[p * 4096 + b] = static_cast<std::uint8_t>(rng());
    stream::VectorSink sink;
    stream::StreamWriter w(sink, 4096);
    w.header();
    w.configuration(spec.machine_name);
    w.ram_setup({{"dpdc.ram", spec.block_bytes, std::nullopt}});
    auto send = [&](std::size_t p) { w.ram_page(0, p * 4096, std::span(ram).subspan(p * 4096, 4096)); };
    w.ram_begin_iteration();
    for (std::size_t p = 0; p < ram.size() / 4096; ++p)
        send(p);
    w.ram_end_iteration();
    w.ram_begin_iteration();
    for (std::size_t p : {5, 6, 7, 100}) {
        ram[p * 4096 + 1] ^= 0x5a;
        send(p);
    }
    if (spec.data_every == 1) {
        // A run that ends with page 3, which the next round's first record clears.
        for (std::size_t p : {2, 3}) {
            ram[p * 4096 + 1] ^= 0x5a;
            send(p);
        }
    }
    w.ram_end_iteration();
    if (spec.end) {
        w.ram_begin_final();
        std::fill(ram.begin() + 3 * 4096, ram.begin() + 4 * 4096, 0);  // was data: a ZERO record clears it
        send(3);
        ram[1000 * 4096] = 1;
        send(1000);
        w.ram_end_iteration();
    }
    if (spec.devices) {
        const DeviceSection m = encode_machine_state(spec.machine);
        w.device_full(m.idstr, m.instance, m.version, m.payload, m.vmdesc);
        for (std::uint32_t i : spec.cpus) {
            const DeviceSection c = encode_vcpu_state(vcpu(i), i);
            w.device_full(c.idstr, c.instance, c.version, c.payload, c.vmdesc);
        }
    }
    w.eof_and_vmdesc();
    return sink.bytes;
}

// Loads `bytes` in chunks of `chunk`; returns the error text ("" on success).
std::string load(const std::vector<std::uint8_t>& bytes, std::vector<std::uint8_t>& dst, std::size_t chunk = 65536,
                 MachineState local = local_machine(), IncomingResult* out = nullptr, std::uint8_t fill = 0)
{
    // Zero-filled, as a fresh memfd is: the loader leaves zeros for a page no
    // record wrote (ZeroRecordsTouchOnlyPagesWrittenBefore checks that it does).
    dst.assign(kRam, fill);
    IncomingLoader loader(dst, std::move(local), false);
    try {
        for (std::size_t off = 0; off < bytes.size(); off += chunk)
            loader.feed(std::span(bytes).subspan(off, std::min(chunk, bytes.size() - off)));
        IncomingResult r = loader.finish();
        if (out != nullptr)
            *out = std::move(r);
    } catch (const stream::StreamError& e) {
        return e.what();
    }
    return "";
}

}  // namespace

// A ZERO record over a page nothing wrote yet is not written (a write would
// allocate the page of the destination's memfd); over a page an earlier
// record filled, it clears it. RAM filled with 0xee shows which were written.
TEST(VmIncomingLoader, ZeroRecordsTouchOnlyPagesWrittenBefore)
{
    std::vector<std::uint8_t> src, dst;
    ASSERT_EQ(load(make_stream({}, src), dst, 65536, local_machine(), nullptr, 0xee), "");
    auto page = [&](const std::vector<std::uint8_t>& ram, std::size_t p) {
        return std::vector<std::uint8_t>(ram.begin() + p * 4096, ram.begin() + (p + 1) * 4096);
    };
    EXPECT_EQ(page(dst, 1), std::vector<std::uint8_t>(4096, 0xee)) << "page 1 only ever had a ZERO record";
    EXPECT_EQ(page(dst, 3), std::vector<std::uint8_t>(4096, 0)) << "page 3 had data, then a ZERO record";
    EXPECT_EQ(page(dst, 6), page(src, 6));
    EXPECT_EQ(page(dst, 1000), page(src, 1000));
}

// With the memfd behind the RAM given, page contents go into the file with
// pwritev() and ZERO records through the mapping: the result is the same
// bytes, in any chunking. In one chunk the whole stream is parsed before any
// write, so page 3's data (round 1) and its ZERO record (the last round) are
// both pending at once: the ZERO record must come after the data it clears.
// With every page holding data, runs of consecutive pages pass IOV_MAX, and
// the last run of round 2 (pages 2 and 3) is still unwritten when the last
// round's ZERO record for page 3 comes.
TEST(VmIncomingLoader, WritingIntoTheRamFileLoadsTheSameBytes)
{
    for (std::size_t every : {3, 1}) {
    for (std::size_t chunk : {std::size_t{1} << 30, std::size_t{4099}, std::size_t{65536}, std::size_t{7}}) {
        std::vector<std::uint8_t> src;
        StreamSpec spec;
        spec.data_every = every;
        const auto bytes = make_stream(spec, src);
        const int fd = ::memfd_create("dpdc-test-ram", MFD_CLOEXEC);
        ASSERT_GE(fd, 0);
        ASSERT_EQ(::ftruncate(fd, kRam), 0);
        void* map = ::mmap(nullptr, kRam, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        ASSERT_NE(map, MAP_FAILED);
        std::span<std::uint8_t> ram(static_cast<std::uint8_t*>(map), kRam);
        std::string err;
        IncomingResult r;
        try {
            IncomingLoader loader(ram, local_machine(), false, fd);
            for (std::size_t off = 0; off < bytes.size(); off += chunk)
                loader.feed(std::span(bytes).subspan(off, std::min(chunk, bytes.size() - off)));
            r = loader.finish();
        } catch (const stream::StreamError& e) {
            err = e.what();
        }
        EXPECT_EQ(err, "") << chunk;
        // With every third page: page 1 only ever had a ZERO record, and the
        // file has no data there (asked first: reading a hole through the
        // mapping, as the comparison below does, allocates it).
        if (every == 3) {
            EXPECT_EQ(::lseek(fd, 4096, SEEK_HOLE), 4096) << "chunk " << chunk << ": page 1 was written";
        }
        std::size_t d = 0;
        while (d < src.size() && ram[d] == src[d]) ++d;
        EXPECT_EQ(d, src.size()) << "chunk " << chunk << ": differs at byte " << d << " (page " << d / 4096 << ")";
        EXPECT_EQ(r.pages_loaded, kPages);
        ::munmap(map, kRam);
        ::close(fd);
    }
    }
}

TEST(VmIncomingLoader, LoadsByteForByteInAnyChunking)
{
    std::vector<std::uint8_t> src, dst;
    const auto bytes = make_stream({}, src);
    for (std::size_t chunk : {std::size_t{1} << 30, std::size_t{4099}, std::size_t{65536}, std::size_t{7}}) {
        IncomingResult r;
        ASSERT_EQ(load(bytes, dst, chunk, local_machine(), &r), "") << chunk;
        ASSERT_EQ(dst.size(), src.size());
        std::size_t d = 0;
        while (d < src.size() && dst[d] == src[d]) ++d;
        EXPECT_EQ(d, src.size()) << "chunk " << chunk << ": differs at byte " << d << " (page " << d / 4096 << ")";
        EXPECT_EQ(r.pages_loaded, kPages);
        EXPECT_EQ(r.page_records, kPages + 4 + 2);
        EXPECT_EQ(r.stream_bytes, bytes.size());
        EXPECT_EQ(r.machine, local_machine());
        ASSERT_EQ(r.vcpus.size(), 2u);
        EXPECT_EQ(r.vcpus[1].regs.rip, 0x100001u);
        EXPECT_EQ(r.vcpus[1].rounds_done, 1u);
    }
}

TEST(VmIncomingLoader, DevicesMayComeInAnyOrder)
{
    std::vector<std::uint8_t> src, dst;
    StreamSpec spec;
    spec.cpus = {1, 0};
    IncomingResult r;
    ASSERT_EQ(load(make_stream(spec, src), dst, 65536, local_machine(), &r), "");
    EXPECT_EQ(r.vcpus[0].regs.rip, 0x100000u);  // indexed by instance, not arrival
}

TEST(VmIncomingLoader, TruncatedStreamIsRejected)
{
    std::vector<std::uint8_t> src, dst;
    const auto bytes = make_stream({}, src);
    for (std::size_t cut : {std::size_t{0}, std::size_t{5}, std::size_t{20}, bytes.size() / 2, bytes.size() - 300,
                            bytes.size() - 1}) {
        std::vector<std::uint8_t> part(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(cut));
        const std::string err = load(part, dst);
        EXPECT_EQ(err.rfind("stream offset ", 0), 0u) << cut << ": " << err;
        EXPECT_NE(err.find("truncated"), std::string::npos) << cut << ": " << err;
    }
}

TEST(VmIncomingLoader, WrongMagicIsRejected)
{
    std::vector<std::uint8_t> src, dst;
    auto bytes = make_stream({}, src);
    bytes[0] = 'X';
    EXPECT_EQ(load(bytes, dst).rfind("stream offset 0 (header): wrong magic", 0), 0u) << load(bytes, dst);
}

TEST(VmIncomingLoader, RamSizeMismatchSaysWhichMemorySize)
{
    std::vector<std::uint8_t> src, dst;
    StreamSpec spec;
    spec.block_bytes = 16 * MiB;
    const std::string err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("the stream's RAM is 16777216 bytes but this dpdc-vm has 8388608; start it with -m 16M"),
              std::string::npos)
        << err;
    EXPECT_EQ(err.rfind("stream offset ", 0), 0u);
}

TEST(VmIncomingLoader, ForeignMachineAndBlocksAreRejected)
{
    std::vector<std::uint8_t> src, dst;
    StreamSpec spec;
    spec.machine_name = "pc-i440fx-7.2";
    EXPECT_NE(load(make_stream(spec, src), dst).find("the stream is for machine 'pc-i440fx-7.2', not 'dpdc-vm'"),
              std::string::npos);

    stream::VectorSink sink;
    stream::StreamWriter w(sink);
    w.header();
    w.configuration("dpdc-vm");
    w.ram_setup({{"dpdc.ram", kRam, std::nullopt}, {"pc.bios", 4096, std::nullopt}});
    w.flush();
    EXPECT_NE(load(sink.bytes, dst).find("RAM block 'pc.bios' is not part of a dpdc-vm"), std::string::npos)
        << load(sink.bytes, dst);
}

namespace {

// A valid stream up to the RAM setup, then a hand-made PART with one page record.
std::vector<std::uint8_t> stream_with_record(std::uint64_t offset, const std::string& block)
{
    stream::VectorSink sink;
    stream::StreamWriter w(sink);
    w.header();
    w.configuration("dpdc-vm");
    w.ram_setup({{"dpdc.ram", kRam, std::nullopt}});
    w.flush();
    std::vector<std::uint8_t> out = sink.bytes;
    stream::ByteWriter b(out);
    b.u8(0x02);
    b.be32(w.ram_section_id());
    b.be64(offset | stream::ram_flag::kPage);
    b.str(block);
    std::vector<std::uint8_t> page(4096, 1);
    b.bytes(page);
    b.be64(stream::ram_flag::kEos);
    b.u8(0x7e);
    b.be32(w.ram_section_id());
    return out;
}

}  // namespace

TEST(VmIncomingLoader, UnknownBlockAndPageOutsideTheBlockAreRejected)
{
    std::vector<std::uint8_t> dst;
    std::string err = load(stream_with_record(0, "pc.ram"), dst);
    EXPECT_NE(err.find("unknown RAM block 'pc.ram'"), std::string::npos) << err;
    EXPECT_NE(err.find("section 'ram'"), std::string::npos) << err;
    err = load(stream_with_record(kRam, "dpdc.ram"), dst);
    EXPECT_NE(err.find("page offset 0x800000 outside block 'dpdc.ram'"), std::string::npos) << err;
    EXPECT_EQ(load(stream_with_record(kRam - 4096, "dpdc.ram"), dst).find("outside"), std::string::npos);
}

TEST(VmIncomingLoader, MissingSectionsAreRejected)
{
    std::vector<std::uint8_t> src, dst;
    StreamSpec spec;
    spec.cpus = {0};
    std::string err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("(EOF): the stream has no 'dpdc-vm/cpu' section for vCPU 1 of 2"), std::string::npos) << err;

    spec = {};
    spec.devices = false;
    err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("no 'dpdc-vm/machine' section"), std::string::npos) << err;

    spec = {};
    spec.end = false;
    err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("no END section"), std::string::npos) << err;
}

TEST(VmIncomingLoader, MachineMismatchIsRejectedNamingTheOption)
{
    std::vector<std::uint8_t> src, dst;
    StreamSpec spec;
    spec.machine.vcpus = 4;
    spec.cpus = {0, 1, 2, 3};
    std::string err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("section 'dpdc-vm/machine'"), std::string::npos) << err;
    EXPECT_NE(err.find("start it with -smp 4"), std::string::npos) << err;

    spec = {};
    spec.machine.has_hole = true;
    spec.machine.hole_start = 4 * MiB;
    spec.machine.hole_size = 1 * MiB;
    err = load(make_stream(spec, src), dst);
    EXPECT_NE(err.find("start it with --hole 4M,1M"), std::string::npos) << err;
}

TEST(VmIncomingLoader, BadDevicePayloadsAreRejected)
{
    std::vector<std::uint8_t> dst;
    auto with_device = [](const std::string& idstr, std::uint32_t instance, std::vector<std::uint8_t> payload) {
        std::vector<std::uint8_t> ram;
        StreamSpec spec;
        spec.devices = false;
        auto base = make_stream(spec, ram);
        std::vector<std::uint8_t> full;
        stream::ByteWriter b(full);
        b.u8(0x04);  // FULL, section id 10, idstr, instance, version 1, payload, footer
        b.be32(10);
        b.str(idstr);
        b.be32(instance);
        b.be32(1);
        b.bytes(payload);
        b.u8(0x7e);
        b.be32(10);
        // Splice it in before EOF: 0x00, then the vmdesc 0x06 + be32 length + {"devices"...}
        const std::string marker = "{\"devices\"";  // nlohmann sorts keys
        auto at = std::search(base.begin(), base.end(), marker.begin(), marker.end());
        EXPECT_NE(at, base.end());
        base.insert(at - 6, full.begin(), full.end());
        return base;
    };
    std::string err = load(with_device("dpdc-vm/cpu", 0, {1, 2, 3}), dst);
    EXPECT_NE(err.find("section 'dpdc-vm/cpu' instance 0, field 'regs'"), std::string::npos) << err;
    err = load(with_device("e1000", 0, {1, 2, 3}), dst);
    EXPECT_NE(err.find("unknown device 'e1000'"), std::string::npos) << err;
}
