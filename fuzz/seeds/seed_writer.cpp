// Writes the seeds the project's own writers make (fuzz/README.md, "Seeds"):
//   fuzz_seed_writer DIR            streams (StreamWriter, dpdc-vm's device
//                                   sections), QMP transcripts, traces and
//                                   BPF records into DIR/<target>/
//   fuzz_seed_writer --crop IN DIR NAME
//                                   a QEMU stream IN, cropped (qemu_crop.h),
//                                   as DIR/stream_{inspect,destination}/NAME
// Targets that take parameters after their main input (FuzzedDataProvider
// reads them from the end) get a fixed trailer here.
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "device_state.h"
#include "dpdc/dirty_track.h"
#include "loader_machine.h"
#include "qemu_crop.h"
#include "stream/stream_writer.h"
#include "trace/trace.h"

namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<std::uint8_t>;
using namespace dpdc;

fs::path g_dir;

void put(const std::string& target, const std::string& name, const Bytes& bytes) {
  fs::create_directories(g_dir / target);
  std::ofstream(g_dir / target / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()),
                                                               static_cast<std::streamsize>(bytes.size()));
}

Bytes with(Bytes b, std::initializer_list<std::uint8_t> trailer) {
  b.insert(b.end(), trailer);
  return b;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

// A stream goes to both stream targets; one for the fixed dpdc-vm to the loader too.
void put_stream(const std::string& name, const Bytes& s, bool fits_loader) {
  put("stream_inspect", name, s);
  put("stream_destination", name, with(s, {0x12, 0x34, 0x07}));  // piece seed, largest piece 8 x 64 bytes
  if (fits_loader) put("incoming_loader", name, with(s, {0x3f, 0x00}));  // pieces of (63 + 1) x 16 bytes
}

vm::VcpuState vcpu(std::uint32_t i) {
  vm::VcpuState s;
  s.regs.rip = 0x100000 + i;
  s.regs.rflags = 2;
  s.sregs.cr0 = 0x80000011;
  if (i == 0) {
    s.xsave.assign(vm::kXsaveMinBytes, 0);
    s.xsave[0] = 0x7f;
    s.xcrs = {{0, 7}};
    s.lapic = Bytes(1024, 0);
  } else {
    s.fpu_format = vm::FpuFormat::Fpu;
    s.fpu.fcw = 0x37f;
  }
  s.msrs = {{0x10, 12345}, {0xc0000100, 0}};
  s.mp_state = 0;
  s.rounds_done = i;
  return s;
}

void devices(stream::StreamWriter& w, std::uint32_t vcpus) {
  const vm::DeviceSection m = vm::encode_machine_state(fuzz::loader_machine());
  w.device_full(m.idstr, m.instance, m.version, m.payload, m.vmdesc);
  for (std::uint32_t i = 0; i < vcpus; ++i) {
    const vm::DeviceSection c = vm::encode_vcpu_state(vcpu(i), i);
    w.device_full(c.idstr, c.instance, c.version, c.payload, c.vmdesc);
  }
}

// A dpdc-vm migration of the loader's machine: setup, `iterations` PART
// sections of a few pages (data and zero), END, devices, EOF and vmdesc.
Bytes dpdc_vm_stream(int iterations, bool all_devices) {
  stream::VectorSink sink;
  stream::StreamWriter w(sink, 4096);
  w.header();
  w.configuration(vm::kStreamMachineName);
  w.ram_setup({{std::string(vm::kRamBlockIdstr), fuzz::kLoaderRamBytes, std::nullopt}});
  Bytes page(stream::kPageSize, 0);
  for (int it = 0; it < iterations; ++it) {
    w.ram_begin_iteration();
    for (std::uint64_t p : {0, 1, 2, 511, 1023}) {
      page[p % 4096] = static_cast<std::uint8_t>(it + p);
      w.ram_page(0, p * stream::kPageSize, (p + it) % 2 ? page : Bytes(stream::kPageSize, 0));
    }
    w.ram_end_iteration();
  }
  w.ram_begin_final();
  w.ram_page(0, 3 * stream::kPageSize, page);
  w.ram_end_iteration();
  devices(w, all_devices ? fuzz::kLoaderVcpus : 1);
  w.eof_and_vmdesc();
  return sink.bytes;
}

// QEMU's shape with x-ignore-shared: two blocks with addresses, devices of its names.
Bytes ignore_shared_stream() {
  stream::VectorSink sink;
  stream::StreamWriter w(sink, 4096);
  w.header();
  w.configuration("pc-i440fx-7.2", {"x-ignore-shared"});
  w.ram_setup({{"pc.ram", 8 << 20, 0}, {"pc.bios", 256 << 10, 0xfffc0000}}, true);
  w.ram_begin_iteration();
  Bytes page(stream::kPageSize, 0x90);
  w.ram_page(1, 0, page);
  w.ram_page(1, stream::kPageSize, page);
  w.ram_end_iteration();
  w.ram_begin_final();
  w.ram_end_iteration();
  const Bytes gs{0, 0, 0, 8, 'r', 'u', 'n', 'n', 'i', 'n', 'g', 0};
  w.device_full("timer", 0, 2, Bytes(16, 1));
  w.device_full("globalstate", 0, 1, gs);
  w.eof_and_vmdesc();
  return sink.bytes;
}

void streams() {
  put_stream("dpdc-vm-rounds", dpdc_vm_stream(2, true), true);
  put_stream("dpdc-vm-stopped", dpdc_vm_stream(0, true), true);
  put_stream("dpdc-vm-one-vcpu", dpdc_vm_stream(1, false), true);
  put_stream("qemu-shape-ignore-shared", ignore_shared_stream(), false);
}

// Trailer {kind, low, high}: the largest piece is (high << 8 | low) % 4096 + 1
// bytes; kind: the VM (see the target).
void qmp_server() {
  const std::string negotiate = R"({"execute": "qmp_capabilities"})" "\r\n";
  const std::string all = negotiate +
      R"({"execute":"query-status","id":1}
{"execute":"x-dpdc-query-memory","id":"two"}
{"execute":"x-dpdc-query-harvest","arguments":{"first-page":10,"count":20},"id":[3]}
{"execute":"x-dpdc-query-harvest","arguments":{"first-page":1000,"count":100}}
{"execute":"x-dpdc-query-workload","id":{"n":4}}
{"execute":"stop"}{"execute":"x-dpdc-save-devices","id":5}
{"execute":"cont","id":6.5}
{"execute":"no-such-command"}
{"execute":"stop","arguments":{"extra":1}}
{"execute":"quit"}
)";
  put("qmp_server", "every-command", with(text(all), {0x11, 0xff, 0x00}));
  put("qmp_server", "incoming", with(text(all), {0x04, 0x09, 0x00}));
  put("qmp_server", "not-negotiated", with(text(R"({"execute":"query-status"})"), {0x11, 0x00, 0x01}));
  put("qmp_server", "malformed",
      with(text(negotiate + "42 \"str\\\"ing\" [1,[2,{\"a\":[]}]] {\"execute\":1} {\"id\":1} {bad} 4e3000 "
                                "{\"execute\":\"cont\",\"arguments\":[]}\n"),
           {0x13, 0x05, 0x00}));
}

// What a QMP server says to the engine's client session (qmp_client_fuzz.cpp).
void qmp_client() {
  const std::string greeting =
      R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}})"
      "\r\n";
  const std::string ok = greeting + R"({"return": {}, "id": 1}
{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}
{"return": {"status": "running", "running": true}, "id": 2}
{"return": {"page-size": 4096, "ram-size": 4194304, "pages": 1024, "memfd": 5, "vcpus": 2, "dirty-ring-size": 4096,
 "slots": [{"slot": 0, "as": 0, "gpa": 0, "size": 2097152, "memfd-offset": 0, "first-page": 0},
           {"slot": 1, "as": 0, "gpa": 4294967296, "size": 2097152, "memfd-offset": 2097152, "first-page": 512}],
 "workload-area": {"first-page": 512, "pages": 512}}, "id": 3}
{"return": "Block Name    PSize              Offset               Used              Total\r\n    pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000\r\n", "id": 4}
{"return": {"pages": 1024, "counts": [0, 1, 2], "total": 3, "unknown": 0, "resets": 1, "full-exits": 0}, "id": 5}
{"timestamp": {"seconds": 1, "microseconds": 3}, "event": "STOP"}
{"return": {}, "id": 6}
{"return": {"machine": "dpdc-vm", "sections": []}, "id": 7}
{"return": {}, "id": 8}
)";
  put("qmp_client", "dpdc-vm-session", text(ok));
  put("qmp_client", "error-reply",
      text(greeting + R"({"return": {}, "id": 1}
{"error": {"class": "GenericError", "desc": "the guest must be stopped"}, "id": 2}
)"));
  put("qmp_client", "stale-reply",
      text(greeting + "{\"return\": {}, \"id\": 1}\n{\"return\": 7, \"id\": 99}\n\n  \r\n{\"return\": {}, \"id\": 2}\n"));
}

void traces() {
  Trace t;
  t.pages = 1024;
  t.duration_ns = 5'000'000;
  put("trace_reader", "empty", encode_trace(t));
  t.events = {{0, 0, 0}, {1000, 1023, 1}, {1000, 5, 0}, {4'000'000, 7, 3}};
  put("trace_reader", "sorted", encode_trace(t));
  std::swap(t.events[0], t.events[3]);
  put("trace_reader", "unsorted", encode_trace(t));
}

// Bytes for FuzzedDataProvider: raw bytes are taken from the front, integers
// from the back (last byte first, most significant first).
class ProviderInput {
 public:
  template <class T>
  void raw(const T& v) {
    const auto* p = reinterpret_cast<const std::uint8_t*>(&v);
    front_.insert(front_.end(), p, p + sizeof v);
  }
  void integer(std::uint64_t v, int bytes) {
    for (int i = bytes - 1; i >= 0; --i) back_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Bytes bytes() const {
    Bytes out = front_;
    out.insert(out.end(), back_.rbegin(), back_.rend());
    return out;
  }

 private:
  Bytes front_, back_;
};

// The tracker's maps as bpf_records_fuzz.cpp reads them (same order).
Bytes bpf_records(std::uint32_t rings, std::uint32_t pages, std::uint64_t now_ns) {
  ProviderInput in;
  in.integer(rings, 1);
  in.integer(now_ns, 8);
  for (int sample = 0; sample < 2; ++sample) {
    for (std::uint32_t r = 0; r < rings; ++r) {
      dpdc_ring ring{};
      ring.resets = 3 + sample * 2 + r;
      ring.last_reset_ns = now_ns / 2 + static_cast<std::uint64_t>(sample) * 1'000'000'000;
      ring.reset_index = ring.flushed_index = 100 * ring.resets;
      ring.dirty_index = ring.reset_index + 5;
      ring.reset_gen[0] = ring.reset_gen[1] = ring.reset_gen[2] = static_cast<std::uint32_t>(ring.resets);
      in.raw(ring);
    }
  }
  in.integer(2, 1);  // two ring buffer records
  in.integer(sizeof(dpdc_event), 1);
  in.raw(dpdc_event{now_ns - 5, 1, 0});
  in.integer(sizeof(dpdc_event) - 1, 1);
  in.raw(Bytes(sizeof(dpdc_event) - 1, 0xab));
  in.integer(pages, 2);
  for (std::uint32_t p = 0; p < pages; ++p) {
    dpdc_page page{};
    page.count = p % 4;
    page.last_ns = page.count ? now_ns - p * 1000 : 0;
    page.prev_ns = page.count > 1 ? page.last_ns - 50'000'000 : 0;
    page.ring_pos = 100 * p;
    page.last_ring = p % 3 == 2 ? DPDC_RING_ANY : p % (rings + 1);
    in.raw(page);
  }
  for (std::uint32_t w = 0; w < (pages + 63) / 64 + 1; ++w) in.raw(std::uint64_t{0x5555555555555555ull} << (w % 2));
  return in.bytes();
}

void bpf() {
  put("bpf_records", "two-rings", bpf_records(2, 100, 60'000'000'000ull));
  put("bpf_records", "no-rings", bpf_records(0, 10, 1'000'000'000ull));
}

Bytes read_file(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc == 5 && std::string(argv[1]) == "--crop") {
      g_dir = argv[3];
      put_stream(argv[4], fuzz::crop_qemu_stream(read_file(argv[2]), 2), false);
      return 0;
    }
    if (argc != 2) {
      std::fprintf(stderr, "usage: %s DIR | --crop QEMU_STREAM DIR NAME\n", argv[0]);
      return 2;
    }
    g_dir = argv[1];
    streams();
    qmp_server();
    qmp_client();
    traces();
    bpf();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz_seed_writer: %s\n", e.what());
    return 1;
  }
  return 0;
}
