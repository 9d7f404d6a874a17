#include "qemu/qemu_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "dpdc/clock.h"
#include "dpdc/error.h"
#include "dpdc/unique_fd.h"

namespace dpdc {

namespace {

namespace fs = std::filesystem;

std::optional<std::uint64_t> parse_hex(std::string_view s) {
  if (s.rfind("0x", 0) == 0) s.remove_prefix(2);
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 16);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

std::string bytes_text(std::uint64_t b) { return std::to_string(b >> 20) + " MiB"; }

const char* kSetupHint =
    "start QEMU with its RAM in a shared backend, e.g. -object memory-backend-memfd,id=pc.ram,size=<RAM>,share=on "
    "-M pc,memory-backend=pc.ram";

// The fd in QEMU through which the shared backend `name` of `size` bytes can be
// mapped: a memfd or regular file of exactly that size.
UniqueFd open_backend_fd(const VmmProcess& process, const std::string& name, std::uint64_t size) {
  std::vector<UniqueFd> found;
  for (const auto& f : process.files) {
    const std::string& target = f.target;
    if (target.empty() || (target.rfind("/memfd:", 0) != 0 && target[0] != '/')) continue;
    if (target.rfind("/dev/", 0) == 0 || target.rfind("/proc/", 0) == 0) continue;
    const std::string path = "/proc/" + std::to_string(process.pid) + "/fd/" + std::to_string(f.fd);
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    if (static_cast<std::uint64_t>(st.st_size) != size) continue;
    found.push_back(std::move(fd));
  }
  if (found.empty()) {
    throw Error(ErrorKind::Target, "cannot find the file behind QEMU's shared memory backend '" + name + "' (" +
                                       bytes_text(size) + ") among pid " + std::to_string(process.pid) +
                                       "'s open files; " + kSetupHint);
  }
  if (found.size() > 1) {
    throw Error(ErrorKind::Target, "QEMU holds several " + bytes_text(size) +
                                       " memory files and the engine cannot tell which backs '" + name +
                                       "'; give each shared memory backend a different size");
  }
  return std::move(found.front());
}

bool wait_readable(int fd, int cancel_fd, int timeout_ms) {
  pollfd p[2] = {{fd, POLLIN, 0}, {cancel_fd, POLLIN, 0}};
  int r;
  do {
    r = ::poll(p, 2, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0 && (p[0].revents & (POLLIN | POLLHUP | POLLERR)) && !(p[1].revents & POLLIN);
}

}  // namespace

// A private unix socket that QEMU's own migration connects to, read to the
// end by a thread of its own (QEMU blocks once the socket buffer is full, so
// someone must read while the engine sends its last round). The directory is
// removed, and the thread stopped, on every path.
class DeviceStateReceiver {
 public:
  // `buffer`'s capacity takes what QEMU sends without growing (memory
  // touched before the stop costs no page faults inside the downtime).
  explicit DeviceStateReceiver(std::vector<std::uint8_t> buffer) : bytes_(std::move(buffer)) {
    bytes_.clear();
    char tmpl[] = "/tmp/dpdc-devices-XXXXXX";
    if (!::mkdtemp(tmpl)) throw_errno(errno, "creating a private directory for QEMU's device state");
    dir_ = tmpl;
    try {
      listener_ = UniqueFd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!listener_) throw_errno(errno, "creating a unix socket");
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      path().copy(addr.sun_path, sizeof addr.sun_path - 1);
      check_sys(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr),
                "binding the device-state socket");
      check_sys(::listen(listener_.get(), 1), "listening on the device-state socket");
      cancel_ = UniqueFd(::eventfd(0, EFD_CLOEXEC));
      if (!cancel_) throw_errno(errno, "creating an eventfd");
    } catch (...) {
      remove_dir();
      throw;
    }
    reader_ = std::thread([this] { read_all(); });
  }
  ~DeviceStateReceiver() {
    const std::uint64_t one = 1;
    if (reader_.joinable()) {
      (void)!::write(cancel_.get(), &one, sizeof one);
      reader_.join();
    }
    remove_dir();
  }
  DeviceStateReceiver(const DeviceStateReceiver&) = delete;
  DeviceStateReceiver& operator=(const DeviceStateReceiver&) = delete;

  std::string path() const { return (dir_ / "devices.sock").string(); }

  // Everything QEMU sent, once it closed the connection. Throws Error.
  std::vector<std::uint8_t> take() {
    reader_.join();
    if (!error_.empty()) throw Error(ErrorKind::Runtime, error_);
    return std::move(bytes_);
  }

 private:
  static constexpr int kTimeoutMs = 30'000;

  void read_all() {
    if (!wait_readable(listener_.get(), cancel_.get(), kTimeoutMs)) {
      error_ = "QEMU did not connect to hand over its device state within 30 s";
      return;
    }
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) {
      error_ = std::string("accepting QEMU's device-state connection: ") + std::strerror(errno);
      return;
    }
    constexpr std::size_t kChunk = 1 << 16;
    for (;;) {
      if (!wait_readable(conn.get(), cancel_.get(), kTimeoutMs)) {
        error_ = "QEMU stopped sending its device state for 30 s";
        return;
      }
      // Straight into the buffer, which grows only past its capacity.
      const std::size_t at = bytes_.size();
      if (bytes_.capacity() - at < kChunk) bytes_.reserve(std::max(2 * bytes_.capacity(), at + kChunk));
      bytes_.resize(at + kChunk);
      const ssize_t n = ::read(conn.get(), bytes_.data() + at, kChunk);
      const int err = errno;
      bytes_.resize(at + static_cast<std::size_t>(std::max<ssize_t>(n, 0)));
      if (n < 0 && err == EINTR) continue;
      if (n < 0) {
        error_ = std::string("reading QEMU's device state: ") + std::strerror(err);
        return;
      }
      if (n == 0) return;
    }
  }
  void remove_dir() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  fs::path dir_;
  UniqueFd listener_, cancel_;
  std::thread reader_;
  std::vector<std::uint8_t> bytes_;  // written by the reader thread until it ends
  std::string error_;
};

std::vector<QemuRamBlock> parse_info_ramblock(std::string_view text) {
  std::vector<QemuRamBlock> blocks;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    // "   pc.ram    4 KiB  0x0000000000000000 0x0000000004000000 0x0000000004000000"
    std::istringstream row(line);
    std::vector<std::string> f;
    for (std::string w; row >> w;) f.push_back(w);
    if (f.size() != 6 || f[0] == "Block") continue;
    auto offset = parse_hex(f[3]), used = parse_hex(f[4]);
    if (!offset || !used) continue;
    blocks.push_back({f[0], *offset, *used});
  }
  if (blocks.empty()) throw Error(ErrorKind::Target, "QEMU's 'info ramblock' listed no RAM blocks");
  return blocks;
}

std::string machine_from_qom_type(std::string_view type) {
  constexpr std::string_view suffix = "-machine";
  if (type.size() > suffix.size() && type.substr(type.size() - suffix.size()) == suffix) {
    type.remove_suffix(suffix.size());
  }
  return std::string(type);
}

bool is_qemu(const VmmProcess& process) {
  auto starts = [](std::string_view s) { return s.rfind("qemu-system-", 0) == 0; };
  if (starts(process.comm)) return true;
  return !process.argv.empty() && starts(fs::path(process.argv[0]).filename().string());
}

QemuSource::QemuSource(const VmmProcess& process, const std::string& qmp_path)
    : pid_(process.pid), kvm_(process.has_kvm_vm) {
  std::string path = qmp_path;
  if (path.empty()) {
    auto found = qmp_socket_from_argv(process.argv);
    if (!found) {
      throw Error(ErrorKind::Target, "QEMU pid " + std::to_string(process.pid) +
                                         " has no QMP socket on its command line; pass --qmp PATH or start it with "
                                         "-qmp unix:PATH,server=on,wait=off");
    }
    path = *found;
  }
  qmp_ = std::make_unique<QmpClient>(path);
  machine_ = machine_from_qom_type(qmp_->execute("qom-get", {{"path", "/machine"}, {"property", "type"}}).get<std::string>());

  const auto rows = parse_info_ramblock(
      qmp_->execute("human-monitor-command", {{"command-line", "info ramblock"}}).get<std::string>());
  std::optional<std::size_t> shared;
  std::uint64_t shared_bytes = 0;
  const auto memdevs = qmp_->execute("query-memdev");
  for (const auto& m : memdevs) {
    if (!m.value("share", false)) continue;
    const std::string id = m.value("id", "");
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].name != id) continue;
      if (shared) {
        throw Error(ErrorKind::Target, "QEMU has more than one shared memory backend ('" + rows[*shared].name +
                                           "', '" + id + "'); the engine migrates one shared block for now");
      }
      shared = i;
      shared_bytes = rows[i].used;
    }
  }
  if (!shared) {
    throw Error(ErrorKind::Target, "QEMU pid " + std::to_string(process.pid) +
                                       " keeps its guest RAM private, so the engine cannot read it; " + kSetupHint);
  }
  for (const auto& r : rows) blocks_.push_back({r.name, r.used, std::nullopt});
  shared_block_ = *shared;
  backing_ = open_backend_fd(process, rows[*shared].name, shared_bytes);
  ram_ = Mapping(shared_bytes, PROT_READ, MAP_SHARED, backing_.get(), 0, "mapping QEMU's guest RAM");
}

std::vector<dpdc_region> QemuSource::regions() const {
  struct stat st {};
  if (::fstat(backing_.get(), &st) != 0) throw_errno(errno, "fstat of QEMU's guest RAM file", ErrorKind::Target);
  std::ifstream f("/proc/" + std::to_string(pid_) + "/maps");
  const std::string maps{std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
  auto out = file_regions_from_maps(maps, major(st.st_dev), minor(st.st_dev), st.st_ino, ram_.size() / DPDC_PAGE_SIZE);
  if (out.empty()) {
    throw Error(ErrorKind::Target, "QEMU pid " + std::to_string(pid_) +
                                       " does not map its shared RAM backend (not in /proc/<pid>/maps); " + kSetupHint);
  }
  return out;
}

QemuSwitchover::QemuSwitchover(QmpClient& qmp, std::string machine) : qmp_(qmp), machine_(std::move(machine)) {
  // The switchover is a QEMU migration of its own: one already under way
  // (someone else's) must neither be disturbed nor be mistaken for ours.
  const std::string running = qmp_.execute("query-migrate").value("status", "none");
  if (running != "none" && running != "completed" && running != "failed" && running != "cancelled") {
    throw Error(ErrorKind::Target, "QEMU is already migrating (status '" + running +
                                       "'); wait for that migration to end or cancel it (QMP migrate_cancel)");
  }
  // Checked now, set only at the stop (set_for_switchover): an engine
  // killed during the rounds must leave QEMU's own migration settings as
  // the user had them, or the user's next `migrate` would skip the shared
  // RAM (x-ignore-shared) without a word.
  bool known = false;
  for (const auto& c : qmp_.execute("query-migrate-capabilities")) {
    if (c.value("capability", "") == "x-ignore-shared") known = true;
  }
  if (!known) {
    throw Error(ErrorKind::Target, "this QEMU has no x-ignore-shared migration capability, which the switchover "
                                   "needs; use QEMU 4.0 or later");
  }
  // A pc guest's private blocks and device state come to about 0.3 MiB;
  // touch room for more now, while faults cost no downtime.
  spare_.resize(kSpareBytes);
}

QemuSwitchover::~QemuSwitchover() {
  receiver_.reset();
  if (parsing_.valid()) parsing_.wait();
  restore();
}

void QemuSwitchover::restore() noexcept {
  // QEMU may be gone; then there is nothing left to undo.
  if (saved_max_bandwidth_) {
    try {
      qmp_.execute("migrate-set-parameters", {{"max-bandwidth", *saved_max_bandwidth_}});
    } catch (...) {
    }
    saved_max_bandwidth_.reset();
  }
  if (restore_ignore_shared_) {
    try {
      qmp_.execute("migrate-set-capabilities",
                   {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", false}}}}});
    } catch (...) {
    }
    restore_ignore_shared_ = false;
  }
}

void QemuSwitchover::set_for_switchover() {
  bool already = false;
  for (const auto& c : qmp_.execute("query-migrate-capabilities")) {
    if (c.value("capability", "") == "x-ignore-shared") already = c.value("state", false);
  }
  if (!already) {
    restore_ignore_shared_ = true;  // before the command: a reply lost on the way still gets undone
    qmp_.execute("migrate-set-capabilities",
                 {{"capabilities", {{{"capability", "x-ignore-shared"}, {"state", true}}}}});
  }
  // QEMU's own migration carries only its small private blocks and the
  // device state here; a bandwidth cap set for whole-guest migrations must
  // not slow it (it would delay the stop, or hold the guest stopped).
  const auto params = qmp_.execute("query-migrate-parameters");
  if (params.contains("max-bandwidth")) {
    saved_max_bandwidth_ = params["max-bandwidth"].get<std::uint64_t>();
    qmp_.execute("migrate-set-parameters", {{"max-bandwidth", kSwitchoverBandwidth}});
  }
}

void QemuSwitchover::stop() {
  receiver_ = std::make_unique<DeviceStateReceiver>(std::move(spare_));
  try {
    set_for_switchover();
    // Refused, QEMU has started nothing: no cancel, and the guest runs on.
    qmp_.execute("migrate", {{"uri", "unix:" + receiver_->path()}});
  } catch (...) {
    restore();
    throw;
  }
  stopped_ = true;  // from here on QEMU may stop the guest at any moment
  try {
    // QEMU closes the socket once it has sent everything, and it sends the
    // device state only with the guest stopped.
    std::vector<std::uint8_t> bytes = receiver_->take();
    receiver_.reset();
    // Parsing runs beside the engine's last scan.
    parsing_ = std::async(std::launch::async, [b = std::move(bytes)] { return capture_qemu_stream(b); });
    await_completed();
  } catch (...) {
    // A migration still under way would stop the guest later on its own.
    try {
      qmp_.execute("migrate_cancel");
    } catch (...) {
    }
    throw;
  }
}

void QemuSwitchover::await_completed() {
  // A migration can still fail after its last byte (a final flush, the block
  // layer); QEMU then restarts the guest, so nothing may reach the
  // destination's EOF unless QEMU says completed. It sets that before it
  // closes the socket, so this is one round trip. Then QEMU's settings are
  // the user's again at once (two more round trips inside the downtime), so
  // that an engine killed in its last round leaves nothing of its own in
  // QEMU but the pause.
  const std::uint64_t deadline = monotonic_ns() + 10'000'000'000ull;
  for (;;) {
    status_ = qmp_.execute("query-migrate");
    const std::string st = status_.value("status", "");
    if (st == "completed") break;
    if (st == "failed" || st == "cancelled" || monotonic_ns() > deadline) {
      throw Error(ErrorKind::Runtime, "QEMU's own device-state migration ended '" + st +
                                          "': " + status_.value("error-desc", std::string("no reason given")));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  restore();
}

const QemuDeviceCapture& QemuSwitchover::captured() {
  if (capture_) return *capture_;
  if (!parsing_.valid()) throw Error(ErrorKind::Runtime, "QEMU's device state is wanted before the guest was stopped");
  QemuDeviceCapture c = parsing_.get();
  if (c.machine != machine_) {
    throw Error(ErrorKind::Runtime, "QEMU's device state names machine '" + c.machine + "', not '" + machine_ +
                                        "' as it said before the migration");
  }
  capture_ = std::move(c);
  return *capture_;
}

void QemuSwitchover::write_final_pages(stream::StreamWriter& writer) { write_captured_pages(captured(), writer); }

void QemuSwitchover::write_sections(stream::StreamWriter& writer) { write_captured_sections(captured(), writer); }

}  // namespace dpdc
