#include "destination.h"

#include <charconv>

#include "dpdc/error.h"

namespace dpdc {

Destination Destination::parse(std::string_view uri) {
  auto bad = [&](const std::string& why) {
    return Error(ErrorKind::Usage, "bad destination '" + std::string(uri) + "': " + why +
                                       "; use tcp:HOST:PORT, unix:PATH or file:PATH");
  };
  Destination d;
  d.uri = std::string(uri);
  if (uri.rfind("tcp:", 0) == 0) {
    std::string_view rest = uri.substr(4);
    auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon == 0) throw bad("no host or port");
    std::string_view host = rest.substr(0, colon), port = rest.substr(colon + 1);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
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
  } else {
    throw bad("unknown scheme");
  }
  return d;
}

}  // namespace dpdc
