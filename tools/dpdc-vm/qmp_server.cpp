#include "qmp_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace dpdc::vm {

QmpServer::QmpServer(std::string path, VmControl& vm) : path_(std::move(path)), vm_(vm)
{
    // Clients (ours, QEMU's tools, scripts) wait for the socket to appear and
    // then connect; a socket bound but not yet listening refuses them. So the
    // socket is made ready under a temporary name and renamed into place.
    const std::string staging = path_ + ".new";
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (staging.size() >= sizeof(addr.sun_path))
        throw std::invalid_argument("QMP socket path '" + path_ + "' is longer than " +
                                    std::to_string(sizeof(addr.sun_path) - 5) + " bytes; use a shorter path");
    std::memcpy(addr.sun_path, staging.c_str(), staging.size() + 1);
    listen_.reset(check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));
    ::unlink(staging.c_str());
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0)
        throw_errno(errno, "bind(" + staging + ")");
    check(::listen(listen_.get(), static_cast<int>(kMaxClients)), "listen(QMP socket)");
    if (::rename(staging.c_str(), path_.c_str()) < 0) {
        const int err = errno;
        ::unlink(staging.c_str());
        throw_errno(err, "rename(" + staging + ", " + path_ + ")");
    }
}

QmpServer::~QmpServer()
{
    clients_.clear();
    listen_.reset();
    ::unlink(path_.c_str());
}

std::vector<pollfd> QmpServer::poll_fds()
{
    std::vector<pollfd> fds;
    fds.reserve(clients_.size() + 1);
    for (Client& c : clients_) {
        c.polled = true;
        fds.push_back(pollfd{c.fd.get(), POLLIN, 0});
    }
    fds.push_back(pollfd{listen_.get(), POLLIN, 0});  // last: accept after serving the clients
    return fds;
}

void QmpServer::on_ready(const pollfd& p)
{
    if (p.revents == 0)
        return;
    if (p.fd == listen_.get()) {
        accept_client();
        return;
    }
    for (auto it = clients_.begin(); it != clients_.end(); ++it) {
        if (it->polled && it->fd.get() == p.fd) {
            read_client(it);
            break;
        }
    }
    while (!unsent_.empty()) {
        const nlohmann::json msg = std::move(unsent_.front());
        unsent_.pop_front();
        broadcast(msg, nullptr);
    }
    // A client dropped since poll_fds(): nothing to do.
}

void QmpServer::accept_client()
{
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
        return;  // EAGAIN/ECONNABORTED etc.: try again on the next poll
    UniqueFd conn(fd);
    if (clients_.size() >= kMaxClients)
        return;  // over the cap: closed at once, before any greeting
    if (!send_all(conn.get(), qmp_frame(QmpSession::greeting())))
        return;
    clients_.emplace_back(std::move(conn), vm_, hold_);  // polled only from the next poll_fds()
}

void QmpServer::read_client(ClientIt it)
{
    char buf[65536];
    // MSG_DONTWAIT: a readiness report never blocks the loop, whatever it was for.
    const ssize_t n = ::recv(it->fd.get(), buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n <= 0) {
        drop(it);
        return;
    }
    Client& c = *it;
    for (const std::string& text : c.splitter.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
        for (const auto& msg : c.session.handle_text(text)) {
            if (msg.contains("event"))
                broadcast(msg, &c);  // erases only other clients: `it` stays valid
            if (!send_all(c.fd.get(), qmp_frame(msg))) {
                quit_ = quit_ || c.session.quit_requested();
                drop(it);
                return;
            }
        }
        if (c.session.quit_requested()) {
            quit_ = true;
            return;
        }
    }
}

void QmpServer::drop(ClientIt it)
{
    std::vector<nlohmann::json> said = it->session.closed();
    clients_.erase(it);
    if (said.empty())
        return;
    std::fprintf(stderr, "dpdc-vm: the migration that paused the guest went away before it completed; "
                         "the guest runs again\n");
    // Sent by on_ready() once it is done: a drop may happen inside a broadcast.
    for (auto& msg : said)
        unsent_.push_back(std::move(msg));
}

void QmpServer::broadcast(const nlohmann::json& event, const Client* skip)
{
    const std::string bytes = qmp_frame(event);
    for (auto it = clients_.begin(); it != clients_.end();) {
        auto here = it++;
        if (&*here != skip && here->session.negotiated() && !send_all(here->fd.get(), bytes))
            drop(here);
    }
}

void QmpServer::notify_shutdown(const char* reason)
{
    broadcast(qmp_event("SHUTDOWN", qmp_now(), {{"guest", false}, {"reason", reason}}), nullptr);
}

void QmpServer::notify_event(const char* name, nlohmann::json data)
{
    broadcast(qmp_event(name, qmp_now(), std::move(data)), nullptr);
}

bool QmpServer::send_all(int fd, const std::string& bytes)
{
    std::size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        off += static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace dpdc::vm
