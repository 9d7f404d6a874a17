#pragma once
// Files the engine writes because the user named them: a `--record` trace,
// a `file:` migration stream, `synth --out`, a heatmap.
//
// The engine runs as root, often with paths under /tmp. A path whose last
// component is a symbolic link is refused, not followed (O_NOFOLLOW), so the
// only file ever created or truncated is the one the user named. An existing
// regular file of that name is overwritten, as `cp` or QEMU's `migrate
// file:` would; a directory is refused. Errors are one line with the path
// and what to do (ErrorKind::Usage: the path is the user's to change).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "dpdc/unique_fd.h"

namespace dpdc {

// Creates or truncates `path` for writing (mode 0644). `what` names the file
// in messages ("trace", "migration stream").
UniqueFd create_output_file(const std::string& path, std::string_view what);

// Writes all of `bytes` at the file's position (or at `offset` with
// write_all_at), retrying short writes and EINTR; throws Error(Runtime)
// naming `path` on failure.
void write_all(int fd, std::span<const std::uint8_t> bytes, const std::string& path);
void write_all_at(int fd, std::span<const std::uint8_t> bytes, std::uint64_t offset, const std::string& path);

}  // namespace dpdc
