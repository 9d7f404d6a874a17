// QmpServer over a real unix socket with a fake VM (no KVM needed).
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "qmp_server.h"
#include "stub_vm_control.h"

using namespace dpdc::vm;
using nlohmann::json;

namespace {

using dpdc::vm::test::StubVm;

// One client connection of a test, with its receive buffer.
struct Peer {
    Peer() = default;
    Peer(const Peer&) = delete;
    Peer& operator=(const Peer&) = delete;
    ~Peer() { hang_up(); }
    void hang_up()
    {
        if (fd >= 0)
            ::close(fd);
        fd = -1;
    }
    int fd = -1;
    std::string pending;
};

class VmQmpServer : public ::testing::Test {
protected:
    void SetUp() override
    {
        path_ = "/tmp/dpdc-vm-test-" + std::to_string(::getpid()) + ".qmp";
        server_ = std::make_unique<QmpServer>(path_, vm_);
    }
    void TearDown() override { server_.reset(); }

    void pump(int timeout_ms = 50)
    {
        for (int i = 0; i < 4; ++i) {
            auto fds = server_->poll_fds();
            if (::poll(fds.data(), fds.size(), timeout_ms) <= 0)
                return;
            for (auto& p : fds)
                server_->on_ready(p);
        }
    }

    // One poll_fds()/poll()/on_ready() round of the main loop; false if nothing was ready.
    bool serve_round(int timeout_ms = 1000)
    {
        auto fds = server_->poll_fds();
        if (::poll(fds.data(), fds.size(), timeout_ms) <= 0)
            return false;
        for (auto& p : fds)
            server_->on_ready(p);
        return true;
    }

    // Connects without letting the server accept.
    void connect_only(Peer& peer)
    {
        peer.fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        ASSERT_GE(peer.fd, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
        ASSERT_EQ(::connect(peer.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    }
    void connect(Peer& peer)
    {
        connect_only(peer);
        pump();
    }

    void send_to(Peer& peer, const std::string& s)
    {
        ASSERT_EQ(::send(peer.fd, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size());
    }

    // Reads until `n` complete "\r\n"-terminated messages arrived (or 1 s without any).
    std::vector<json> read_from(Peer& peer, std::size_t n)
    {
        std::vector<json> out;
        while (out.size() < n) {
            pump();
            pollfd p{peer.fd, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0)
                break;
            char buf[4096];
            ssize_t r = ::recv(peer.fd, buf, sizeof(buf), 0);
            if (r <= 0)
                break;
            peer.pending.append(buf, static_cast<std::size_t>(r));
            std::size_t pos;
            while ((pos = peer.pending.find("\r\n")) != std::string::npos) {
                out.push_back(json::parse(peer.pending.substr(0, pos)));
                peer.pending.erase(0, pos + 2);
            }
        }
        return out;
    }

    // Whether `peer` has anything to read (bytes or end-of-file) right now;
    // the server sends synchronously, so no wait is needed.
    static bool readable_now(const Peer& peer)
    {
        pollfd p{peer.fd, POLLIN, 0};
        return ::poll(&p, 1, 0) > 0;
    }

    // Connects, reads the greeting and negotiates capabilities.
    void negotiate(Peer& peer)
    {
        connect(peer);
        auto greet = read_from(peer, 1);
        ASSERT_EQ(greet.size(), 1u);
        ASSERT_EQ(greet[0], QmpSession::greeting());
        send_to(peer, "{\"execute\": \"qmp_capabilities\"}");
        auto ok = read_from(peer, 1);
        ASSERT_EQ(ok.size(), 1u);
        ASSERT_EQ(ok[0], (json{{"return", json::object()}}));
    }

    // The single-client helpers of the first tests.
    void connect_client() { connect(client_); }
    void send_text(const std::string& s) { send_to(client_, s); }
    std::vector<json> read_messages(std::size_t n) { return read_from(client_, n); }

    StubVm vm_;
    std::string path_;
    std::unique_ptr<QmpServer> server_;
    Peer client_;
};

}  // namespace

TEST_F(VmQmpServer, GreetingSplitAndBatchedRequests)
{
    struct stat st{};
    ASSERT_EQ(::stat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    connect_client();
    auto greet = read_messages(1);
    ASSERT_EQ(greet.size(), 1u);
    EXPECT_EQ(greet[0], QmpSession::greeting());

    send_text("{\"execute\": \"qmp_capa");
    pump();
    send_text("bilities\", \"id\": 1}\r\n{\"execute\": \"query-status\", \"id\": 2}{\"execute\": \"stop\"}\r\n");
    auto msgs = read_messages(4);
    ASSERT_EQ(msgs.size(), 4u);
    EXPECT_EQ(msgs[0], (json{{"return", json::object()}, {"id", 1}}));
    EXPECT_EQ(msgs[1]["return"]["status"], "running");
    EXPECT_EQ(msgs[1]["id"], 2);
    EXPECT_EQ(msgs[2]["event"], "STOP");
    EXPECT_EQ(msgs[3], (json{{"return", json::object()}}));

    send_text("{oops}\r\n");
    msgs = read_messages(1);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0]["error"]["class"], "GenericError");
}

TEST_F(VmQmpServer, NextClientAfterDisconnectAndQuit)
{
    connect_client();
    ASSERT_EQ(read_messages(1).size(), 1u);
    client_.hang_up();
    pump();
    connect_client();
    ASSERT_EQ(read_messages(1).size(), 1u);  // fresh greeting
    send_text("{\"execute\": \"query-status\"}");
    auto msgs = read_messages(1);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0]["error"]["class"], "CommandNotFound");  // new session: negotiate again
    send_text("{\"execute\": \"qmp_capabilities\"}{\"execute\": \"quit\"}");
    msgs = read_messages(3);
    ASSERT_EQ(msgs.size(), 3u);
    EXPECT_EQ(msgs[2]["event"], "SHUTDOWN");
    EXPECT_TRUE(server_->quit_requested());
}

TEST_F(VmQmpServer, ClientArrivingWhileAnotherIsConnectedIsGreetedAtOnce)
{
    Peer a, b;
    negotiate(a);
    connect_only(b);
    ASSERT_TRUE(serve_round());  // the listener is polled although `a` is connected
    ASSERT_TRUE(readable_now(b));
    auto greet = read_from(b, 1);
    ASSERT_EQ(greet.size(), 1u);
    EXPECT_EQ(greet[0], QmpSession::greeting());
    EXPECT_EQ(server_->client_count(), 2u);
    send_to(a, "{\"execute\": \"query-status\", \"id\": \"a\"}");
    auto msgs = read_from(a, 1);
    ASSERT_EQ(msgs.size(), 1u);
    EXPECT_EQ(msgs[0]["id"], "a");
    EXPECT_EQ(msgs[0]["return"]["status"], "running");
}

TEST_F(VmQmpServer, TwoClientsEachHaveTheirOwnSessionAndStream)
{
    Peer a, b;
    connect(a);
    connect(b);
    ASSERT_EQ(read_from(a, 1).size(), 1u);
    ASSERT_EQ(read_from(b, 1).size(), 1u);

    // `a` negotiates; `b` has not, so its command is refused in its own session.
    send_to(a, "{\"execute\": \"qmp_capabilities\", \"id\": \"a1\"}");
    send_to(b, "{\"execute\": \"query-status\", \"id\": \"b1\"}");
    auto ma = read_from(a, 1);
    auto mb = read_from(b, 1);
    ASSERT_EQ(ma.size(), 1u);
    ASSERT_EQ(mb.size(), 1u);
    EXPECT_EQ(ma[0], (json{{"return", json::object()}, {"id", "a1"}}));
    EXPECT_EQ(mb[0]["error"]["class"], "CommandNotFound");
    EXPECT_EQ(mb[0]["id"], "b1");

    // Interleaved, with `a`'s request split around one of `b`'s: each stream is split alone.
    send_to(a, "{\"execute\": \"query-st");
    pump();
    send_to(b, "{\"execute\": \"qmp_capabilities\", \"id\": \"b2\"}{\"execute\": \"query-status\", \"id\": \"b3\"}");
    pump();
    send_to(a, "atus\", \"id\": \"a2\"}{\"execute\": \"qmp_capabilities\", \"id\": \"a3\"}");
    ma = read_from(a, 2);
    mb = read_from(b, 2);
    ASSERT_EQ(ma.size(), 2u);
    ASSERT_EQ(mb.size(), 2u);
    EXPECT_EQ(ma[0]["id"], "a2");
    EXPECT_EQ(ma[0]["return"]["status"], "running");
    EXPECT_EQ(ma[1]["id"], "a3");
    EXPECT_EQ(ma[1]["error"]["class"], "CommandNotFound");  // `a` negotiated already
    EXPECT_EQ(mb[0], (json{{"return", json::object()}, {"id", "b2"}}));
    EXPECT_EQ(mb[1]["id"], "b3");
    EXPECT_EQ(mb[1]["return"]["status"], "running");
    EXPECT_FALSE(readable_now(a));
    EXPECT_FALSE(readable_now(b));
}

TEST_F(VmQmpServer, EventsReachEveryNegotiatedClientOnly)
{
    Peer a, b, fresh;
    negotiate(a);
    negotiate(b);
    connect(fresh);
    ASSERT_EQ(read_from(fresh, 1).size(), 1u);  // greeting only

    server_->notify_event("RESUME");
    for (Peer* p : {&a, &b}) {
        auto m = read_from(*p, 1);
        ASSERT_EQ(m.size(), 1u);
        EXPECT_EQ(m[0]["event"], "RESUME");
    }
    EXPECT_FALSE(readable_now(fresh));

    // An event a command causes reaches the others too; the issuer gets it before its reply.
    send_to(a, "{\"execute\": \"stop\", \"id\": 7}");
    auto ma = read_from(a, 2);
    ASSERT_EQ(ma.size(), 2u);
    EXPECT_EQ(ma[0]["event"], "STOP");
    EXPECT_EQ(ma[1], (json{{"return", json::object()}, {"id", 7}}));
    auto mb = read_from(b, 1);
    ASSERT_EQ(mb.size(), 1u);
    EXPECT_EQ(mb[0]["event"], "STOP");
    EXPECT_FALSE(readable_now(b));  // no reply meant for `a`
    EXPECT_FALSE(readable_now(fresh));

    server_->notify_shutdown("host-signal");
    for (Peer* p : {&a, &b}) {
        auto m = read_from(*p, 1);
        ASSERT_EQ(m.size(), 1u);
        EXPECT_EQ(m[0]["event"], "SHUTDOWN");
        EXPECT_EQ(m[0]["data"], (json{{"guest", false}, {"reason", "host-signal"}}));
    }
    EXPECT_FALSE(readable_now(fresh));
}

TEST_F(VmQmpServer, ClientHangingUpLeavesTheOthersServed)
{
    Peer a, b, c;
    negotiate(a);
    negotiate(b);
    negotiate(c);
    ASSERT_EQ(server_->client_count(), 3u);

    a.hang_up();  // noticed by the poll loop
    pump();
    EXPECT_EQ(server_->client_count(), 2u);
    send_to(b, "{\"execute\": \"query-status\", \"id\": 1}");
    auto mb = read_from(b, 1);
    ASSERT_EQ(mb.size(), 1u);
    EXPECT_EQ(mb[0]["id"], 1);

    b.hang_up();  // noticed when an event fails to reach it
    server_->notify_event("RESUME");
    EXPECT_EQ(server_->client_count(), 1u);
    auto mc = read_from(c, 1);
    ASSERT_EQ(mc.size(), 1u);
    EXPECT_EQ(mc[0]["event"], "RESUME");
    send_to(c, "{\"execute\": \"query-status\", \"id\": 2}");
    mc = read_from(c, 1);
    ASSERT_EQ(mc.size(), 1u);
    EXPECT_EQ(mc[0]["id"], 2);
}

TEST_F(VmQmpServer, ClientDroppedMidRoundIsNotConfusedWithOneAcceptedOnItsFd)
{
    Peer a, b, late;
    negotiate(a);
    negotiate(b);
    auto fds = server_->poll_fds();  // a, b, listener
    ASSERT_EQ(fds.size(), 3u);
    const int a_fd = fds[0].fd;

    a.hang_up();
    connect_only(late);
    ASSERT_GT(::poll(fds.data(), fds.size(), 1000), 0);
    ASSERT_NE(fds[0].revents, 0);  // a's end-of-file
    ASSERT_NE(fds[2].revents, 0);  // late's connection
    server_->notify_event("RESUME");  // drops `a` (its send fails), freeing its fd number
    ASSERT_EQ(server_->client_count(), 1u);
    server_->on_ready(fds[2]);  // accepts `late`, on the lowest free fd: a's
    server_->on_ready(fds[0]);  // stale report for `a`: must not touch `late`
    server_->on_ready(fds[1]);

    auto next = server_->poll_fds();
    ASSERT_EQ(next.size(), 3u);
    EXPECT_EQ(next[1].fd, a_fd);  // the reuse this test is about did happen
    auto greet = read_from(late, 1);
    ASSERT_EQ(greet.size(), 1u);
    EXPECT_EQ(greet[0], QmpSession::greeting());
    send_to(late, "{\"execute\": \"qmp_capabilities\", \"id\": 1}");
    auto m = read_from(late, 1);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0], (json{{"return", json::object()}, {"id", 1}}));
    m = read_from(b, 1);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0]["event"], "RESUME");
}

TEST_F(VmQmpServer, ClientsBeyondTheCapAreClosedAtOnce)
{
    std::vector<std::unique_ptr<Peer>> peers;
    for (std::size_t i = 0; i < QmpServer::kMaxClients; ++i) {
        peers.push_back(std::make_unique<Peer>());
        connect_only(*peers.back());
        ASSERT_TRUE(serve_round());
        ASSERT_TRUE(readable_now(*peers.back())) << "client " << i << " not greeted";
    }
    EXPECT_EQ(server_->client_count(), QmpServer::kMaxClients);

    Peer over;
    connect_only(over);
    ASSERT_TRUE(serve_round());
    ASSERT_TRUE(readable_now(over));
    char byte;
    EXPECT_EQ(::recv(over.fd, &byte, 1, 0), 0);  // end-of-file, no greeting
    EXPECT_EQ(server_->client_count(), QmpServer::kMaxClients);

    peers.front()->hang_up();  // room again
    ASSERT_TRUE(serve_round());
    EXPECT_EQ(server_->client_count(), QmpServer::kMaxClients - 1);
    Peer next;
    connect_only(next);
    ASSERT_TRUE(serve_round());
    auto greet = read_from(next, 1);
    ASSERT_EQ(greet.size(), 1u);
    EXPECT_EQ(greet[0], QmpSession::greeting());
}

TEST_F(VmQmpServer, QuitFromAnyClientEndsTheVmAndTheOthersHearOfIt)
{
    Peer a, b;
    negotiate(a);
    negotiate(b);
    send_to(b, "{\"execute\": \"quit\", \"id\": 9}");
    auto mb = read_from(b, 2);
    ASSERT_EQ(mb.size(), 2u);
    EXPECT_EQ(mb[0], (json{{"return", json::object()}, {"id", 9}}));
    EXPECT_EQ(mb[1]["event"], "SHUTDOWN");
    EXPECT_TRUE(server_->quit_requested());
    auto ma = read_from(a, 1);
    ASSERT_EQ(ma.size(), 1u);
    EXPECT_EQ(ma[0]["event"], "SHUTDOWN");
    EXPECT_EQ(ma[0]["data"]["reason"], "host-qmp-quit");
}

TEST_F(VmQmpServer, SocketFileRemovedOnDestruction)
{
    server_.reset();
    struct stat st{};
    EXPECT_NE(::stat(path_.c_str(), &st), 0);
}

// Clients wait for the socket's name and then connect at once: the name must
// appear only when the socket already listens (moved into place, never created
// under it, where a connect between bind and listen is refused).
TEST_F(VmQmpServer, SocketNameAppearsOnlyOnceItListens)
{
    server_.reset();
    const std::string dir = path_.substr(0, path_.rfind('/'));
    const std::string name = path_.substr(path_.rfind('/') + 1);
    const int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    ASSERT_GE(in, 0);
    ASSERT_GE(::inotify_add_watch(in, dir.c_str(), IN_CREATE | IN_MOVED_TO), 0);
    server_ = std::make_unique<QmpServer>(path_, vm_);
    alignas(inotify_event) char buf[64 * 1024];
    const ssize_t n = ::read(in, buf, sizeof buf);
    ::close(in);
    ASSERT_GT(n, 0);
    std::vector<std::uint32_t> events_for_name;
    for (ssize_t off = 0; off < n;) {
        const auto* e = reinterpret_cast<const inotify_event*>(buf + off);
        if (e->len > 0 && name == e->name)
            events_for_name.push_back(e->mask & (IN_CREATE | IN_MOVED_TO));
        off += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
    }
    EXPECT_EQ(events_for_name, std::vector<std::uint32_t>{IN_MOVED_TO});
    struct stat st{};
    EXPECT_NE(::stat((path_ + ".new").c_str(), &st), 0) << "the staging name must not stay behind";
    Peer peer;
    connect(peer);
    EXPECT_EQ(read_from(peer, 1).size(), 1u) << "greeted";
}

TEST_F(VmQmpServer, AMigrationClientThatHangsUpBeforeCompletingLeavesTheGuestRunning)
{
    Peer engine, watcher;
    negotiate(engine);
    negotiate(watcher);
    send_to(engine, "{\"execute\": \"x-dpdc-migration-stop\"}");
    ASSERT_EQ(read_from(engine, 2).size(), 2u);  // STOP, then the reply
    ASSERT_EQ(read_from(watcher, 1).at(0)["event"], "STOP");
    EXPECT_FALSE(vm_.running());

    engine.hang_up();  // as a SIGKILLed engine's socket does
    pump();
    EXPECT_TRUE(vm_.running());
    auto seen = read_from(watcher, 1);
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0]["event"], "RESUME");
}
