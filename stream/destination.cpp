#include "stream/destination.h"

#include <charconv>

#include "dpdc/error.h"

namespace dpdc {

Destination Destination::parse(std::string_view uri, Role role) {
  auto bad = [&](const std::string& why) {
    const bool listen = role == Role::Listen;
    return Error(ErrorKind::Usage, std::string(listen ? "bad -incoming URI '" : "bad destination '") +
                                       std::string(uri) + "': " + why + "; use " + (listen ? "-incoming " : "") +
                                       "tcp:HOST:PORT, unix:PATH or file:PATH");
  };
  Destination d;
  d.uri = std::string(uri);
  if (uri.rfind("tcp:", 0) == 0) {
    std::string_view rest = uri.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) throw bad("no port");
    if (colon == 0 && role == Role::Connect) throw bad("no host");
    std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
    } else if (host.find(':') != std::string_view::npos) {
      throw bad("write an IPv6 host in brackets, e.g. tcp:[::1]:4444");
    }
    unsigned value = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || p != port.data() + port.size() || value == 0 || value > 65535) {
      throw bad("port must be 1-65535");
    }
    d.kind = Kind::Tcp;
    d.host = std::string(host);
    d.port = static_cast<std::uint16_t>(value);
  } else if (uri.rfind("unix:", 0) == 0) {
    d.kind = Kind::Unix;
    d.path = std::string(uri.substr(5));
    if (d.path.empty()) throw bad("empty socket path");
    if (d.path.size() >= 108) throw bad("socket path longer than 107 bytes");
  } else if (uri.rfind("file:", 0) == 0) {
    d.kind = Kind::File;
    d.path = std::string(uri.substr(5));
    if (d.path.empty()) throw bad("empty file path");
  } else if (uri == "defer") {
    throw bad("defer (migrate-incoming over QMP) is not supported");
  } else {
    throw bad("unknown scheme");
  }
  return d;
}

}  // namespace dpdc
