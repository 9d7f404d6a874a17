// QmpServer over a real unix socket with a fake VM (no KVM needed).
#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "qmp_server.h"
#include "stub_vm_control.h"

using namespace dpdc::vm;
using nlohmann::json;

namespace {

using dpdc::vm::test::StubVm;

class VmQmpServer : public ::testing::Test {
protected:
    void SetUp() override
    {
        path_ = "/tmp/dpdc-vm-test-" + std::to_string(::getpid()) + ".qmp";
        server_ = std::make_unique<QmpServer>(path_, vm_);
    }
    void TearDown() override
    {
        if (client_ >= 0)
            ::close(client_);
        server_.reset();
    }

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

    void connect_client()
    {
        client_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
        ASSERT_GE(client_, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
        ASSERT_EQ(::connect(client_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        pump();
    }

    void send_text(const std::string& s) { ASSERT_EQ(::send(client_, s.data(), s.size(), 0), (ssize_t)s.size()); }

    // Reads until `n` complete "\r\n"-terminated messages arrived.
    std::vector<json> read_messages(std::size_t n)
    {
        std::vector<json> out;
        while (out.size() < n) {
            pump();
            pollfd p{client_, POLLIN, 0};
            if (::poll(&p, 1, 1000) <= 0)
                break;
            char buf[4096];
            ssize_t r = ::recv(client_, buf, sizeof(buf), 0);
            if (r <= 0)
                break;
            pending_.append(buf, static_cast<std::size_t>(r));
            std::size_t pos;
            while ((pos = pending_.find("\r\n")) != std::string::npos) {
                out.push_back(json::parse(pending_.substr(0, pos)));
                pending_.erase(0, pos + 2);
            }
        }
        return out;
    }

    StubVm vm_;
    std::string path_;
    std::unique_ptr<QmpServer> server_;
    int client_ = -1;
    std::string pending_;
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
    ::close(client_);
    client_ = -1;
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

TEST_F(VmQmpServer, SocketFileRemovedOnDestruction)
{
    server_.reset();
    struct stat st{};
    EXPECT_NE(::stat(path_.c_str(), &st), 0);
}
