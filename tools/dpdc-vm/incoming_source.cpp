#include "incoming_source.h"

#include <fcntl.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace dpdc::vm {

IncomingSource::IncomingSource(const Destination& uri) : uri_(uri)
{
    switch (uri.kind) {
    case Destination::Kind::File: {
        const int fd = ::open(uri.path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            throw_errno(errno, "open(-incoming file:" + uri.path + ")");
        data_.reset(fd);
        break;
    }
    case Destination::Kind::Unix: {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::memcpy(addr.sun_path, uri.path.c_str(), uri.path.size() + 1);
        listen_.reset(check(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "socket(AF_UNIX)"));
        ::unlink(uri.path.c_str());
        if (::bind(listen_.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) < 0)
            throw_errno(errno, "bind(-incoming unix:" + uri.path + ")");
        unlink_ = true;
        check(::listen(listen_.get(), 1), "listen(-incoming)");
        break;
    }
    case Destination::Kind::Tcp: {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_PASSIVE;
        addrinfo* res = nullptr;
        const int rc = ::getaddrinfo(uri.host.empty() ? nullptr : uri.host.c_str(), std::to_string(uri.port).c_str(), &hints, &res);
        if (rc != 0)
            throw std::invalid_argument("-incoming tcp:" + uri.host + ":" + std::to_string(uri.port) + ": " + ::gai_strerror(rc) +
                                        "; use a local address or an empty host");
        int err = 0;
        for (addrinfo* a = res; a != nullptr && !listen_; a = a->ai_next) {
            UniqueFd s(::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol));
            if (!s) {
                err = errno;
                continue;
            }
            const int one = 1;
            ::setsockopt(s.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
            if (::bind(s.get(), a->ai_addr, a->ai_addrlen) == 0 && ::listen(s.get(), 1) == 0)
                listen_ = std::move(s);
            else
                err = errno;
        }
        ::freeaddrinfo(res);
        if (!listen_)
            throw_errno(err, "listen(-incoming tcp:" + uri.host + ":" + std::to_string(uri.port) + ")");
        break;
    }
    }
}

IncomingSource::~IncomingSource()
{
    if (unlink_)
        ::unlink(uri_.path.c_str());
}

pollfd IncomingSource::poll_fd() const
{
    return pollfd{data_ ? data_.get() : listen_.get(), POLLIN, 0};
}

std::size_t IncomingSource::on_ready(std::span<std::uint8_t> buf)
{
    if (!data_) {
        const int fd = ::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED)
                return 0;
            throw_errno(errno, "accept(-incoming)");
        }
        data_.reset(fd);
        listen_.reset();  // ONE connection: later ones are refused
        if (unlink_) {
            ::unlink(uri_.path.c_str());
            unlink_ = false;
        }
        return 0;
    }
    for (;;) {
        const ssize_t n = ::read(data_.get(), buf.data(), buf.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            throw_errno(errno, "read(-incoming)");
        if (n == 0)
            eof_ = true;
        return static_cast<std::size_t>(n);
    }
}

}  // namespace dpdc::vm
