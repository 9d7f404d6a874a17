#include "guest_probe.h"

#include <cstring>
#include <filesystem>

namespace dpdc::test {

dpdc_guest_status read_guest_status(Qemu& q, const TempDir& dir) {
  const std::string file = dir / "guest-status";
  q.qmp().execute("pmemsave", {{"val", DPDC_GUEST_STATUS_GPA}, {"size", sizeof(dpdc_guest_status)}, {"filename", file}});
  auto bytes = read_file(file);
  std::filesystem::remove(file);
  dpdc_guest_status st{};
  if (bytes.size() == sizeof st) std::memcpy(&st, bytes.data(), sizeof st);
  return st;
}

std::uint64_t guest_rounds(Qemu& q, const TempDir& dir) {
  const auto st = read_guest_status(q, dir);
  return st.magic == DPDC_GUEST_STATUS_MAGIC ? st.rounds : 0;
}

nlohmann::json json_line_of_type(const std::string& out, const std::string& type) {
  for (std::size_t at = 0, nl; at < out.size(); at = nl + 1) {
    nl = out.find('\n', at);
    if (nl == std::string::npos) nl = out.size();
    auto j = nlohmann::json::parse(out.substr(at, nl - at), nullptr, false);
    if (j.is_object() && j.value("type", "") == type) return j;
  }
  return {};
}

}  // namespace dpdc::test
