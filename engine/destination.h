#pragma once
// Where a migration stream goes, in QEMU's URI syntax: tcp:HOST:PORT,
// unix:PATH, file:PATH. Pure parsing.
#include <cstdint>
#include <string>
#include <string_view>

namespace dpdc {

struct Destination {
  enum class Kind { Tcp, Unix, File } kind = Kind::File;
  std::string host;   // tcp
  std::uint16_t port = 0;
  std::string path;   // unix, file
  std::string uri;    // as given

  static Destination parse(std::string_view uri);  // throws Error(Usage)
};

}  // namespace dpdc
