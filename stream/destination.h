#pragma once
// Where a migration stream goes or comes from, in QEMU's URI syntax:
// tcp:HOST:PORT, unix:PATH, file:PATH (the engine's --to, dpdc-vm's
// -incoming). Pure parsing.
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

  // Connect: the engine's --to. Listen: -incoming, where tcp::PORT (no host)
  // means every local address.
  enum class Role { Connect, Listen };
  static Destination parse(std::string_view uri, Role role = Role::Connect);  // throws Error(Usage)
};

}  // namespace dpdc
