#include "stream/stream_inspect.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "stream/stream_reader.h"

namespace dpdc::stream {
namespace {

// Folds reader events into a report; shared by the in-memory and file paths.
class Collector {
 public:
  void operator()(const Event& ev) { std::visit([this](const auto& e) { on(e); }, ev); }
  InspectReport report;

 private:
  void on(const HeaderEvent& e) { report.version = e.version; }
  void on(const ConfigurationEvent& e) {
    report.machine = e.machine;
    report.capabilities = e.capabilities;
  }
  void on(const SectionBeginEvent& e) {
    current_ = report.sections.size();
    report.sections.push_back({e.offset, std::string(section_type_name(static_cast<uint8_t>(e.type))), e.section_id,
                               e.idstr, e.instance_id, e.version_id, 0});
    report.iterations.push_back(report.sections.back().type);
    for (auto& b : report.blocks) b.per_iteration.emplace_back();
  }
  void on(const RamSetupEvent& e) {
    for (const auto& b : e.blocks) {
      BlockSummary s;
      s.idstr = b.idstr;
      s.used_length = b.used_length;
      s.gpa = b.gpa;
      s.per_iteration.resize(report.iterations.size());
      report.blocks.push_back(std::move(s));
    }
  }
  void on(const RamPageEvent& e) {
    PageCounts c{e.zero ? 0u : 1u, e.zero ? 1u : 0u, e.wire_bytes};
    auto& b = report.blocks[e.block];
    b.per_iteration.back() += c;
    b.total += c;
    report.total += c;
  }
  void on(const SectionEndEvent& e) { report.sections[current_].size = e.size; }
  void on(const DeviceSectionEvent& e) {
    report.sections.push_back({e.offset, std::string(section_type_name(static_cast<uint8_t>(e.type))), e.section_id,
                               e.idstr, e.instance_id, e.version_id, e.size});
  }
  void on(const CommandEvent& e) {
    report.sections.push_back({e.offset, "COMMAND", e.command, "", 0, 0, 5 + e.data.size()});
  }
  void on(const EofEvent&) {}
  void on(const VmdescEvent& e) {
    report.has_vmdesc = true;
    for (const auto& d : vmdesc_devices(e.json)) report.vmdesc_devices.push_back(d.name + "/" + std::to_string(d.instance_id));
  }
  size_t current_ = 0;
};

std::string human_bytes(uint64_t b) {
  std::ostringstream o;
  if (b >= (1u << 20))
    o << (b >> 20) << " MiB";
  else if (b >= 1024)
    o << (b >> 10) << " KiB";
  else
    o << b << " B";
  return o.str();
}

nlohmann::json counts_json(const PageCounts& c) {
  return {{"pages", c.pages}, {"zero_pages", c.zero_pages}, {"bytes", c.bytes}};
}

}  // namespace

InspectReport inspect(std::span<const uint8_t> stream) {
  Collector c;
  read_all(stream, [&](const Event& ev) { c(ev); });
  c.report.stream_bytes = stream.size();
  return std::move(c.report);
}

std::string render_text(const InspectReport& r) {
  std::ostringstream o;
  o << "stream: " << r.stream_bytes << " bytes, version " << r.version << ", machine '" << r.machine << "'";
  if (!r.capabilities.empty()) {
    o << ", capabilities:";
    for (const auto& c : r.capabilities) o << ' ' << c;
  }
  o << "\nsections (" << r.sections.size() << "):\n";
  for (const auto& s : r.sections)
    o << "  @" << s.offset << ' ' << s.type << " id " << s.section_id << " '" << s.idstr << "' instance "
      << s.instance_id << " version " << s.version_id << ", " << s.size << " bytes\n";
  o << "RAM blocks (" << r.blocks.size() << "):\n";
  for (const auto& b : r.blocks) {
    o << "  " << b.idstr << ": used length " << b.used_length << " (" << human_bytes(b.used_length) << ")";
    if (b.gpa) o << ", gpa 0x" << std::hex << *b.gpa << std::dec;
    o << ", " << b.total.pages << " pages, " << b.total.zero_pages << " zero pages, " << b.total.bytes
      << " bytes\n";
    for (size_t i = 0; i < b.per_iteration.size(); ++i) {
      const auto& c = b.per_iteration[i];
      if (c.pages == 0 && c.zero_pages == 0) continue;
      o << "    iteration " << i << " (" << r.iterations[i] << "): " << c.pages << " pages, " << c.zero_pages
        << " zero pages, " << c.bytes << " bytes\n";
    }
  }
  o << "RAM total: " << r.iterations.size() << " RAM sections, " << r.total.pages << " pages, " << r.total.zero_pages
    << " zero pages, " << r.total.bytes << " bytes\n";
  if (r.has_vmdesc) {
    o << "vmdesc devices (" << r.vmdesc_devices.size() << "):";
    for (const auto& d : r.vmdesc_devices) o << ' ' << d;
    o << '\n';
  } else {
    o << "no vmdesc\n";
  }
  return o.str();
}

nlohmann::json to_json(const InspectReport& r) {
  nlohmann::json j;
  j["stream_bytes"] = r.stream_bytes;
  j["version"] = r.version;
  j["machine"] = r.machine;
  j["capabilities"] = r.capabilities;
  j["sections"] = nlohmann::json::array();
  for (const auto& s : r.sections)
    j["sections"].push_back({{"offset", s.offset},
                             {"type", s.type},
                             {"section_id", s.section_id},
                             {"idstr", s.idstr},
                             {"instance_id", s.instance_id},
                             {"version_id", s.version_id},
                             {"size", s.size}});
  j["ram_blocks"] = nlohmann::json::array();
  for (const auto& b : r.blocks) {
    nlohmann::json jb{{"idstr", b.idstr}, {"used_length", b.used_length}, {"total", counts_json(b.total)}};
    if (b.gpa) jb["gpa"] = *b.gpa;
    jb["iterations"] = nlohmann::json::array();
    for (size_t i = 0; i < b.per_iteration.size(); ++i) {
      auto c = counts_json(b.per_iteration[i]);
      c["kind"] = r.iterations[i];
      jb["iterations"].push_back(std::move(c));
    }
    j["ram_blocks"].push_back(std::move(jb));
  }
  j["ram_sections"] = r.iterations;
  j["total"] = counts_json(r.total);
  j["vmdesc"] = r.has_vmdesc ? nlohmann::json(r.vmdesc_devices) : nlohmann::json(nullptr);
  return j;
}

std::string render_json(const InspectReport& r) {
  return to_json(r).dump(2, ' ', false, nlohmann::json::error_handler_t::replace);
}

int run_inspect(const std::string& path, bool json, std::ostream& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open " + path + ": " + std::strerror(errno));
  // Feed 1 MiB at a time: memory stays bounded by the largest single item.
  StreamReader reader;
  Collector c;
  std::vector<uint8_t> chunk(1 << 20);
  uint64_t total = 0;
  while (true) {
    in.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(chunk.size()));
    const auto n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    total += n;
    reader.feed(std::span<const uint8_t>(chunk.data(), n));
    while (auto ev = reader.next()) c(*ev);
  }
  if (in.bad()) throw std::runtime_error("cannot read " + path + ": " + std::strerror(errno));
  reader.finish();
  while (auto ev = reader.next()) c(*ev);
  c.report.stream_bytes = total;
  if (json)
    out << render_json(c.report) << '\n';
  else
    out << render_text(c.report);
  return 0;
}

}  // namespace dpdc::stream
