#include "qmp_server.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace dpdc::vm {

QmpServer::QmpServer(std::string path, VmControl& vm) : path_(std::move(path)), vm_(vm)
{
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path_.size() >= sizeof(addr.sun_path))
        throw std::invalid_argument("QMP socket path '" + path_ + "' is longer than " +
                                    std::to_string(sizeof(addr.sun_path) - 1) + " bytes; use a shorter path");
    std::memcpy(addr.sun_path, path_.c_str(), path_.size() + 1);
    listen_.reset(check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));
    ::unlink(path_.c_str());
    if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0)
        throw_errno(errno, "bind(" + path_ + ")");
    check(::listen(listen_.get(), 4), "listen(QMP socket)");
}

QmpServer::~QmpServer()
{
    client_.reset();
    listen_.reset();
    ::unlink(path_.c_str());
}

std::vector<pollfd> QmpServer::poll_fds() const
{
    if (client_)
        return {pollfd{client_.get(), POLLIN, 0}};
    return {pollfd{listen_.get(), POLLIN, 0}};
}

void QmpServer::on_ready(const pollfd& p)
{
    if (p.revents == 0)
        return;
    if (client_ && p.fd == client_.get())
        read_client();
    else if (p.fd == listen_.get())
        accept_client();
}

void QmpServer::accept_client()
{
    int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0)
        return;  // EAGAIN/ECONNABORTED etc.: try again on the next poll
    client_.reset(fd);
    session_ = std::make_unique<QmpSession>(vm_);
    splitter_ = QmpStreamSplitter();
    if (!send_all(qmp_frame(QmpSession::greeting())))
        drop_client();
}

void QmpServer::read_client()
{
    char buf[65536];
    const ssize_t n = ::recv(client_.get(), buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        drop_client();
        return;
    }
    for (const std::string& text : splitter_.feed(std::string_view(buf, static_cast<std::size_t>(n)))) {
        for (const auto& msg : session_->handle_text(text)) {
            if (!send_all(qmp_frame(msg))) {
                quit_ = quit_ || session_->quit_requested();
                drop_client();
                return;
            }
        }
        if (session_->quit_requested()) {
            quit_ = true;
            return;
        }
    }
}

void QmpServer::notify_shutdown(const char* reason)
{
    if (client_ && session_ && session_->negotiated())
        send_all(qmp_frame(qmp_event("SHUTDOWN", qmp_now(), {{"guest", false}, {"reason", reason}})));
}

void QmpServer::notify_event(const char* name, nlohmann::json data)
{
    if (client_ && session_ && session_->negotiated() &&
        !send_all(qmp_frame(qmp_event(name, qmp_now(), std::move(data)))))
        drop_client();
}

void QmpServer::drop_client()
{
    client_.reset();
    session_.reset();
}

bool QmpServer::send_all(const std::string& bytes)
{
    std::size_t off = 0;
    while (off < bytes.size()) {
        const ssize_t n = ::send(client_.get(), bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
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
