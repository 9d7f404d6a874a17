// QMP over a unix stream socket: several clients at once (up to kMaxClients),
// as QEMU's monitor serves them, each with its own session (capabilities
// negotiation, stream splitting, reply order). Events go to every negotiated
// client. Driven by the main poll loop.
#pragma once

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <memory>
#include <string>
#include <vector>

#include "qmp_commands.h"
#include "qmp_stream.h"
#include "sys.h"

namespace dpdc::vm {

class QmpServer {
public:
    // Clients served at once. A connection beyond this is accepted and closed
    // at once (the client sees end-of-file before any greeting).
    static constexpr std::size_t kMaxClients = 16;

    // Removes a stale socket file at `path`, binds and listens (like QEMU).
    QmpServer(std::string path, VmControl& vm);
    ~QmpServer();  // closes sockets and removes the socket file
    QmpServer(const QmpServer&) = delete;
    QmpServer& operator=(const QmpServer&) = delete;

    // The fds to poll for input: every connected client, then the listener
    // (always). Each call starts a round: on_ready() serves only clients that
    // this call returned, so a client dropped since, or a new one accepted on
    // a reused fd number, is never mistaken for one polled.
    std::vector<pollfd> poll_fds();
    // Handles readiness reported by poll() for fds returned by the latest
    // poll_fds(). A client that hangs up, or whose send fails, is dropped
    // alone; the others are served on.
    void on_ready(const pollfd& p);

    // Some client sent `quit`.
    bool quit_requested() const { return quit_; }

    // Sends {"event": "SHUTDOWN", "data": {"guest": false, "reason": REASON}} to
    // every negotiated client (e.g. "host-signal" on SIGINT/SIGTERM, like QEMU).
    void notify_shutdown(const char* reason);
    // Sends an asynchronous event (e.g. RESUME when an incoming migration
    // completes) to every negotiated client. Events a command causes (STOP,
    // RESUME, SHUTDOWN) likewise reach every negotiated client, the issuer
    // in order with its reply.
    void notify_event(const char* name, nlohmann::json data = nullptr);
    const std::string& path() const { return path_; }

    std::size_t client_count() const { return clients_.size(); }

private:
    struct Client {
        Client(UniqueFd f, VmControl& vm, MigrationHold& hold) : fd(std::move(f)), session(vm, {}, &hold) {}
        UniqueFd fd;
        QmpSession session;
        QmpStreamSplitter splitter;
        bool polled = false;  // returned by the latest poll_fds()
    };
    using ClientIt = std::list<Client>::iterator;

    void accept_client();
    void read_client(ClientIt it);
    // Drops a client that went away; a guest it held paused for a migration
    // runs again (MigrationHold), said on stderr and to the other clients.
    void drop(ClientIt it);
    // Sends `event` to every negotiated client except `skip`, dropping those
    // whose send fails. Never erases `skip`.
    void broadcast(const nlohmann::json& event, const Client* skip);
    static bool send_all(int fd, const std::string& bytes);

    std::string path_;
    VmControl& vm_;
    MigrationHold hold_;  // before clients_: their sessions refer to it
    UniqueFd listen_;
    std::list<Client> clients_;  // a list: dropping one leaves the others' iterators valid
    std::deque<nlohmann::json> unsent_;  // events from drops, for every client still here
    bool quit_ = false;
};

}  // namespace dpdc::vm
