// QMP over a unix stream socket: one client at a time; the next client is
// accepted after the previous one disconnects. Driven by the main poll loop.
#pragma once

#include <poll.h>

#include <memory>
#include <string>
#include <vector>

#include "qmp_commands.h"
#include "qmp_stream.h"
#include "sys.h"

namespace dpdc::vm {

class QmpServer {
public:
    // Removes a stale socket file at `path`, binds and listens (like QEMU).
    QmpServer(std::string path, VmControl& vm);
    ~QmpServer();  // closes sockets and removes the socket file
    QmpServer(const QmpServer&) = delete;
    QmpServer& operator=(const QmpServer&) = delete;

    // The fds to poll for input (the listener while no client is connected, else the client).
    std::vector<pollfd> poll_fds() const;
    // Handles readiness reported by poll() for fds returned by poll_fds().
    void on_ready(const pollfd& p);

    bool quit_requested() const { return quit_; }

    // Sends {"event": "SHUTDOWN", "data": {"guest": false, "reason": REASON}} to a
    // negotiated client (e.g. "host-signal" on SIGINT/SIGTERM, like QEMU).
    void notify_shutdown(const char* reason);
    // Sends an asynchronous event (e.g. RESUME when an incoming migration
    // completes) to a negotiated client, if there is one.
    void notify_event(const char* name, nlohmann::json data = nullptr);
    const std::string& path() const { return path_; }

private:
    void accept_client();
    void read_client();
    void drop_client();
    bool send_all(const std::string& bytes);

    std::string path_;
    VmControl& vm_;
    UniqueFd listen_;
    UniqueFd client_;
    std::unique_ptr<QmpSession> session_;
    QmpStreamSplitter splitter_;
    bool quit_ = false;
};

}  // namespace dpdc::vm
