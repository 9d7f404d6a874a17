// -incoming URI (parsed by dpdc::Destination, shared with the engine's --to):
// the byte source, a listening socket that accepts ONE connection or a file,
// driven by the main poll loop.
#pragma once

#include <poll.h>

#include <cstdint>
#include <span>
#include <string>

#include "stream/destination.h"
#include "sys.h"

namespace dpdc::vm {

class IncomingSource {
public:
    // tcp/unix: binds and listens (a stale unix socket file is replaced); file: opens it.
    // Throws dpdc::Error (or std::invalid_argument for an unusable address).
    explicit IncomingSource(const Destination& uri);
    ~IncomingSource();  // removes the unix socket file it created
    IncomingSource(const IncomingSource&) = delete;
    IncomingSource& operator=(const IncomingSource&) = delete;

    // What to poll: the listener until a connection is accepted, then the data fd.
    pollfd poll_fd() const;
    // After poll() reported readiness: accepts the one connection (returns 0),
    // or reads up to buf.size() bytes (0 at end of input: eof() turns true).
    std::size_t on_ready(std::span<std::uint8_t> buf);
    bool eof() const { return eof_; }

private:
    Destination uri_;
    UniqueFd listen_;
    UniqueFd data_;
    bool eof_ = false;
    bool unlink_ = false;
};

}  // namespace dpdc::vm
