#include "qemu/qemu_device_capture.h"

#include <cstring>
#include <variant>

#include "dpdc/error.h"
#include "stream/byte_io.h"
#include "stream/stream_reader.h"

namespace dpdc {

namespace {

constexpr std::size_t kRunStateBytes = 100;  // QEMU's GlobalState.runstate buffer

std::string section_key(const std::string& idstr, std::uint32_t instance) {
  return idstr + '\0' + std::to_string(instance);
}

}  // namespace

QemuDeviceCapture capture_qemu_stream(std::span<const std::uint8_t> bytes) {
  QemuDeviceCapture c;
  // Later copies of a page replace earlier ones.
  std::map<std::pair<std::size_t, std::uint64_t>, std::size_t> page_index;
  std::map<std::string, nlohmann::json> vmdesc;
  try {
    stream::read_all(bytes, [&](const stream::Event& ev) {
      if (auto* cfg = std::get_if<stream::ConfigurationEvent>(&ev)) {
        c.machine = cfg->machine;
        c.capabilities = cfg->capabilities;
      } else if (auto* setup = std::get_if<stream::RamSetupEvent>(&ev)) {
        c.blocks = setup->blocks;
      } else if (auto* pg = std::get_if<stream::RamPageEvent>(&ev)) {
        CapturedPage p{c.blocks.at(pg->block).idstr, pg->offset, pg->zero, {}};
        if (pg->zero && pg->fill != 0) {  // a fill byte other than 0: keep the page as bytes
          p.data.assign(stream::kPageSize, pg->fill);
          p.zero = false;
        }
        if (!pg->zero) p.data.assign(pg->data.begin(), pg->data.end());
        auto key = std::make_pair(pg->block, pg->offset);
        if (auto it = page_index.find(key); it != page_index.end()) {
          c.pages[it->second] = std::move(p);
        } else {
          page_index.emplace(key, c.pages.size());
          c.pages.push_back(std::move(p));
        }
      } else if (auto* dev = std::get_if<stream::DeviceSectionEvent>(&ev)) {
        if (dev->type != stream::SectionType::Full) {
          throw Error(ErrorKind::Runtime, "QEMU migrates the iterative device '" + dev->idstr +
                                              "' (block or dirty-bitmap migration?), which the engine cannot splice; "
                                              "migrate without it");
        }
        c.sections.push_back({dev->idstr, dev->instance_id, dev->version_id,
                              std::vector<std::uint8_t>(dev->payload.begin(), dev->payload.end()), {}});
      } else if (std::holds_alternative<stream::CommandEvent>(ev)) {
        throw Error(ErrorKind::Runtime, "QEMU's stream carries a migration command (postcopy or colo?); the engine "
                                        "supports plain precopy streams only");
      } else if (auto* vd = std::get_if<stream::VmdescEvent>(&ev)) {
        for (const auto& d : stream::vmdesc_devices(vd->json)) vmdesc[section_key(d.name, d.instance_id)] = *d.entry;
      }
    });
  } catch (const stream::StreamError& e) {
    throw Error(ErrorKind::Runtime, std::string("QEMU's device state stream is malformed: ") + e.what());
  }
  if (c.machine.empty()) throw Error(ErrorKind::Runtime, "QEMU's device state stream has no configuration section");
  for (auto& s : c.sections) {
    if (auto it = vmdesc.find(section_key(s.idstr, s.instance_id)); it != vmdesc.end()) s.vmdesc_json = it->second.dump();
    if (s.idstr == "globalstate") s.payload = globalstate_running(s.payload);
  }
  return c;
}

std::vector<std::uint8_t> globalstate_running(std::span<const std::uint8_t> payload) {
  if (payload.size() < 4 + kRunStateBytes) {
    throw Error(ErrorKind::Runtime, "QEMU's globalstate section is " + std::to_string(payload.size()) +
                                        " bytes, too short for a run state; unsupported QEMU version?");
  }
  stream::ByteReader r(payload);
  const std::uint32_t size = r.be32();
  if (size == 0 || size > kRunStateBytes || payload[4 + size - 1] != 0) {
    throw Error(ErrorKind::Runtime, "QEMU's globalstate section has no valid run state; unsupported QEMU version?");
  }
  static constexpr std::string_view kRunning = "running";
  std::vector<std::uint8_t> out;
  stream::ByteWriter w(out);
  w.be32(static_cast<std::uint32_t>(kRunning.size() + 1));  // the NUL counts
  std::vector<std::uint8_t> state(kRunStateBytes, 0);
  std::memcpy(state.data(), kRunning.data(), kRunning.size());
  w.bytes(state);
  w.bytes(payload.subspan(4 + kRunStateBytes));  // subsections, if any, unchanged
  return out;
}

void write_captured_pages(const QemuDeviceCapture& capture, stream::StreamWriter& writer) {
  std::map<std::string, std::size_t> index;
  for (std::size_t i = 0; i < writer.blocks().size(); ++i) index[writer.blocks()[i].idstr] = i;
  static const std::vector<std::uint8_t> zeros(stream::kPageSize, 0);
  for (const auto& p : capture.pages) {
    auto it = index.find(p.block);
    if (it == index.end()) {
      throw Error(ErrorKind::Runtime, "QEMU sent pages of RAM block '" + p.block +
                                          "', which its 'info ramblock' did not list; did QEMU's RAM change?");
    }
    writer.ram_page(it->second, p.offset, p.zero ? std::span<const std::uint8_t>(zeros) : p.data);
  }
}

void write_captured_sections(const QemuDeviceCapture& capture, stream::StreamWriter& writer) {
  for (const auto& s : capture.sections) writer.device_full_text(s.idstr, s.instance_id, s.version_id, s.payload, s.vmdesc_json);
}

}  // namespace dpdc
