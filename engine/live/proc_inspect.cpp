#include "live/proc_inspect.h"

#include <algorithm>

#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "dpdc/error.h"

namespace dpdc {

namespace {

// KVM maps a vCPU's dirty ring at page offset KVM_DIRTY_LOG_PAGE_OFFSET (64 on x86).
constexpr std::uint64_t kDirtyRingMmapOffset = 64 * 4096;
constexpr std::uint32_t kDirtyGfnBytes = 16;  // sizeof(struct kvm_dirty_gfn)

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::optional<std::uint64_t> hex(std::string_view s) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// "key1=v1,key2=v2" → map; a leading bare word is stored under "".
std::map<std::string, std::string> split_opts(std::string_view s) {
  std::map<std::string, std::string> out;
  bool first = true;
  while (!s.empty()) {
    auto comma = s.find(',');
    std::string_view part = s.substr(0, comma);
    auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      out[first ? "" : std::string(part)] = first ? std::string(part) : "on";
    } else {
      out[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    }
    first = false;
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

std::optional<std::uint64_t> dirty_ring_bytes_from_maps(std::string_view maps) {
  while (!maps.empty()) {
    auto nl = maps.find('\n');
    std::string_view line = maps.substr(0, nl);
    maps.remove_prefix(nl == std::string_view::npos ? maps.size() : nl + 1);
    if (line.find("anon_inode:kvm-vcpu:") == std::string_view::npos) continue;
    // start-end perms offset dev inode path
    std::istringstream fields{std::string(line)};
    std::string range, perms, offset;
    fields >> range >> perms >> offset;
    auto dash = range.find('-');
    if (dash == std::string::npos) continue;
    auto start = hex(std::string_view(range).substr(0, dash));
    auto end = hex(std::string_view(range).substr(dash + 1));
    auto off = hex(offset);
    if (start && end && off && *off == kDirtyRingMmapOffset && *end > *start) return *end - *start;
  }
  return std::nullopt;
}

std::vector<dpdc_region> file_regions_from_maps(std::string_view maps, unsigned dev_major, unsigned dev_minor,
                                                std::uint64_t inode, std::uint64_t file_pages) {
  std::vector<dpdc_region> out;
  while (!maps.empty()) {
    auto nl = maps.find('\n');
    std::string_view line = maps.substr(0, nl);
    maps.remove_prefix(nl == std::string_view::npos ? maps.size() : nl + 1);
    // start-end perms offset major:minor inode path
    std::istringstream fields{std::string(line)};
    std::string range, perms, offset, dev;
    std::uint64_t ino = 0;
    if (!(fields >> range >> perms >> offset >> dev >> ino) || ino != inode) continue;
    const auto dash = range.find('-'), colon = dev.find(':');
    if (dash == std::string::npos || colon == std::string::npos) continue;
    const auto start = hex(std::string_view(range).substr(0, dash));
    const auto end = hex(std::string_view(range).substr(dash + 1));
    const auto off = hex(offset);
    const auto major = hex(std::string_view(dev).substr(0, colon));
    const auto minor = hex(std::string_view(dev).substr(colon + 1));
    if (!start || !end || !off || !major || !minor || *major != dev_major || *minor != dev_minor) continue;
    if (*end <= *start || (*start | *off) % DPDC_PAGE_SIZE != 0) continue;
    const std::uint64_t first = *off / DPDC_PAGE_SIZE;
    if (first >= file_pages) continue;
    const std::uint64_t pages = std::min((*end - *start) / DPDC_PAGE_SIZE, file_pages - first);
    out.push_back(dpdc_region{*start, *start + pages * DPDC_PAGE_SIZE, first});
  }
  return out;
}

std::optional<std::string> qmp_socket_from_argv(const std::vector<std::string>& argv) {
  std::map<std::string, std::string> chardev_paths;
  std::vector<std::string> control_mons;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    std::string opt = argv[i];
    if (opt.rfind("--", 0) == 0) opt.erase(0, 1);
    const std::string& val = argv[i + 1];
    if (opt == "-qmp" || opt == "-qmp-pretty") {
      auto o = split_opts(val);
      const std::string& head = o[""];
      if (head.rfind("unix:", 0) == 0) return head.substr(5);
    } else if (opt == "-chardev") {
      auto o = split_opts(val);
      if (o[""] == "socket" && o.count("id") && o.count("path")) chardev_paths[o["id"]] = o["path"];
    } else if (opt == "-mon") {
      auto o = split_opts(val);
      if (o["mode"] == "control" && o.count("chardev")) control_mons.push_back(o["chardev"]);
    }
  }
  for (const auto& id : control_mons) {
    auto it = chardev_paths.find(id);
    if (it != chardev_paths.end()) return it->second;
  }
  return std::nullopt;
}

void require_process_exists(pid_t pid) {
  if (pid <= 0 || ::access(("/proc/" + std::to_string(pid)).c_str(), F_OK) != 0) {
    throw Error(ErrorKind::Target, "no such process: pid " + std::to_string(pid) + "; give the pid of a running VMM");
  }
}

VmmProcess inspect_process(pid_t pid) {
  require_process_exists(pid);
  VmmProcess vmm;
  vmm.pid = pid;
  const std::string dir = "/proc/" + std::to_string(pid);
  vmm.comm = read_file(dir + "/comm");
  while (!vmm.comm.empty() && vmm.comm.back() == '\n') vmm.comm.pop_back();
  std::string cmdline = read_file(dir + "/cmdline");
  for (std::size_t pos = 0; pos < cmdline.size();) {
    auto end = cmdline.find('\0', pos);
    if (end == std::string::npos) end = cmdline.size();
    vmm.argv.emplace_back(cmdline.substr(pos, end - pos));
    pos = end + 1;
  }

  std::error_code ec;
  std::filesystem::directory_iterator fds(dir + "/fd", ec);
  if (ec) {
    if (ec.value() == ENOENT) throw Error(ErrorKind::Target, "process " + std::to_string(pid) + " exited");
    throw_errno(ec.value(), "reading " + dir + "/fd", ErrorKind::Target);
  }
  for (const auto& fd : fds) {
    char target[256];
    ssize_t n = ::readlink(fd.path().c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    std::string_view link(target, static_cast<std::size_t>(n));
    if (link == "anon_inode:kvm-vm") vmm.has_kvm_vm = true;
    if (link.rfind("anon_inode:kvm-vcpu:", 0) == 0) ++vmm.vcpus;
    int num = -1;
    const std::string name = fd.path().filename().string();
    std::from_chars(name.data(), name.data() + name.size(), num);
    vmm.files.push_back({num, std::string(link)});
  }
  if (auto bytes = dirty_ring_bytes_from_maps(read_file(dir + "/maps"))) {
    vmm.ring_entries = static_cast<std::uint32_t>(*bytes / kDirtyGfnBytes);
  }
  return vmm;
}

void require_kvm_vmm(const VmmProcess& vmm) {
  if (!vmm.has_kvm_vm) {
    throw Error(ErrorKind::Target, "pid " + std::to_string(vmm.pid) + " (" + vmm.comm +
                                       ") is not a KVM process (it holds no KVM VM); give the pid of a QEMU or "
                                       "dpdc-vm running with -accel kvm");
  }
}

void require_dirty_ring_vmm(const VmmProcess& vmm) {
  const std::string who = "pid " + std::to_string(vmm.pid) + " (" + vmm.comm + ")";
  require_kvm_vmm(vmm);
  if (vmm.ring_entries == 0) {
    throw Error(ErrorKind::Target, who + " does not use the KVM dirty ring; start it with "
                                         "-accel kvm,dirty-ring-size=4096");
  }
}

}  // namespace dpdc
