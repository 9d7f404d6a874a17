// QMP dispatch with a fake VM, and the request stream splitter (no KVM needed).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "qmp_commands.h"
#include "qmp_stream.h"

using namespace dpdc::vm;
using nlohmann::json;

namespace {

class FakeVm : public VmControl {
public:
    bool running() const override { return running_; }
    bool prelaunch() const override { return prelaunch_; }
    void pause() override
    {
        prelaunch_ = false;
        ++pauses;
        running_ = false;
    }
    void resume() override
    {
        ++resumes;
        running_ = true;
        prelaunch_ = false;
    }
    void request_quit() override { quit = true; }
    MemoryInfo memory_info() const override
    {
        MemoryInfo m;
        m.ram_size = 16 * MiB;
        m.memfd = 7;
        m.vcpus = 2;
        m.dirty_ring_entries = 4096;
        m.slots = {{0, 0, 8 * MiB, 0}, {1, 9 * MiB, 8 * MiB, 8 * MiB}};
        m.workload_first_page = 512;
        m.workload_pages = 3584;
        return m;
    }
    std::uint64_t ram_pages() const override { return 10; }
    HarvestReport harvest(std::uint64_t first, std::uint64_t count) override
    {
        ++harvests;
        HarvestReport h;
        h.pages = 10;
        for (std::uint64_t p = first; p < first + count; ++p)
            h.counts.push_back(static_cast<std::uint32_t>(p));
        h.total = 45;
        h.unknown = 1;
        h.resets = 3;
        h.full_exits = 2;
        return h;
    }
    WorkloadStatus workload_status() const override { return {"ab", {4, 5}, false}; }

    bool running_ = true;
    bool prelaunch_ = false;
    bool quit = false;
    int pauses = 0, resumes = 0, harvests = 0;
};

class VmQmp : public ::testing::Test {
protected:
    FakeVm vm;
    QmpSession session{vm, [] { return QmpTimestamp{1700000000, 123456}; }};

    json one(const json& req)
    {
        auto out = session.handle(req);
        EXPECT_EQ(out.size(), 1u) << json(out).dump();
        return out.empty() ? json() : out[0];
    }
    void negotiate() { ASSERT_EQ(one({{"execute", "qmp_capabilities"}}), (json{{"return", json::object()}})); }
};

}  // namespace

TEST_F(VmQmp, Greeting)
{
    EXPECT_EQ(QmpSession::greeting(),
              json::parse(R"({"QMP": {"version": {"qemu": {"micro": 0, "minor": 1, "major": 0},
                             "package": "dpdc-vm"}, "capabilities": []}})"));
    EXPECT_EQ(qmp_frame(json{{"return", json::object()}}), "{\"return\":{}}\r\n");
}

TEST_F(VmQmp, CapabilitiesNegotiationFirst)
{
    json r = one({{"execute", "query-status"}, {"id", 1}});
    EXPECT_EQ(r, (json{{"error",
                        {{"class", "CommandNotFound"},
                         {"desc", "Expecting capabilities negotiation with 'qmp_capabilities'"}}},
                       {"id", 1}}));
    EXPECT_FALSE(session.negotiated());
    negotiate();
    EXPECT_TRUE(session.negotiated());
    r = one({{"execute", "qmp_capabilities"}});
    EXPECT_EQ(r["error"]["class"], "CommandNotFound");
}

TEST_F(VmQmp, IdEchoAndUnknownCommand)
{
    negotiate();
    json r = one({{"execute", "query-status"}, {"id", "abc"}});
    EXPECT_EQ(r["id"], "abc");
    r = one({{"execute", "query-status"}, {"id", json{{"x", 1}}}});
    EXPECT_EQ(r["id"], (json{{"x", 1}}));
    r = one({{"execute", "frob"}, {"id", 5}});
    EXPECT_EQ(r, (json{{"error", {{"class", "CommandNotFound"}, {"desc", "The command frob has not been found"}}},
                       {"id", 5}}));
}

TEST_F(VmQmp, MalformedRequests)
{
    auto out = session.handle_text("{\"execute\": ");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0]["error"]["class"], "GenericError");
    EXPECT_EQ(out[0]["error"]["desc"].get<std::string>().rfind("JSON parse error: ", 0), 0u);
    EXPECT_EQ(one(json::array())["error"]["class"], "GenericError");
    EXPECT_EQ(one({{"execute", 3}})["error"]["class"], "GenericError");
    EXPECT_EQ(one({{"arguments", json::object()}})["error"]["class"], "GenericError");
    negotiate();
    EXPECT_EQ(one({{"execute", "stop"}, {"arguments", {{"bogus", 1}}}})["error"]["desc"],
              "Parameter 'bogus' is unexpected");
    EXPECT_EQ(one({{"execute", "stop"}, {"arguments", 3}})["error"]["class"], "GenericError");
    EXPECT_EQ(vm.pauses, 0);
}

TEST_F(VmQmp, HostileJsonGetsAnErrorReplyAndTheSessionGoesOn)
{
    // An `id` of 100,000 nested arrays used to overflow the stack when the
    // reply copied it; a number outside double range escaped as an
    // exception that ended dpdc-vm. Both before capabilities are negotiated.
    const std::string deep = std::string(100000, '[') + std::string(100000, ']');
    for (const std::string& text : {"{\"execute\": \"qmp_capabilities\", \"id\": " + deep + "}",
                                    std::string("{\"execute\": \"qmp_capabilities\", \"arguments\": {\"x\": 4e3000}}"),
                                    std::string("4e3000")}) {
        auto out = session.handle_text(text);
        ASSERT_EQ(out.size(), 1u);
        EXPECT_EQ(out[0]["error"]["class"], "GenericError");
        EXPECT_EQ(out[0]["error"]["desc"].get<std::string>().rfind("JSON parse error: ", 0), 0u) << out[0].dump();
    }
    EXPECT_FALSE(session.negotiated());
    negotiate();
    EXPECT_EQ(one({{"execute", "query-status"}})["return"]["status"], "running");
}

TEST_F(VmQmp, QueryStatusStopCont)
{
    negotiate();
    EXPECT_EQ(one({{"execute", "query-status"}}),
              (json{{"return", {{"status", "running"}, {"running", true}, {"singlestep", false}}}}));

    auto out = session.handle({{"execute", "stop"}, {"id", 1}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], (json{{"event", "STOP"}, {"timestamp", {{"seconds", 1700000000}, {"microseconds", 123456}}}}));
    EXPECT_EQ(out[1], (json{{"return", json::object()}, {"id", 1}}));
    EXPECT_EQ(vm.pauses, 1);
    EXPECT_EQ(one({{"execute", "query-status"}})["return"],
              (json{{"status", "paused"}, {"running", false}, {"singlestep", false}}));
    // Stopping again: no second STOP event.
    EXPECT_EQ(session.handle({{"execute", "stop"}}).size(), 1u);

    out = session.handle({{"execute", "cont"}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["event"], "RESUME");
    EXPECT_EQ(out[1], (json{{"return", json::object()}}));
    EXPECT_TRUE(vm.running_);
    EXPECT_EQ(session.handle({{"execute", "cont"}}).size(), 1u);
}

TEST_F(VmQmp, PrelaunchWithDashS)
{
    vm.running_ = false;
    vm.prelaunch_ = true;
    negotiate();
    EXPECT_EQ(one({{"execute", "query-status"}})["return"]["status"], "prelaunch");
    auto out = session.handle({{"execute", "cont"}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["event"], "RESUME");
    EXPECT_EQ(one({{"execute", "query-status"}})["return"]["status"], "running");
}

TEST_F(VmQmp, Quit)
{
    negotiate();
    auto out = session.handle({{"execute", "quit"}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], (json{{"return", json::object()}}));
    EXPECT_EQ(out[1]["event"], "SHUTDOWN");
    EXPECT_EQ(out[1]["data"], (json{{"guest", false}, {"reason", "host-qmp-quit"}}));
    EXPECT_TRUE(out[1]["timestamp"].contains("seconds"));
    EXPECT_TRUE(vm.quit);
    EXPECT_TRUE(session.quit_requested());
}

TEST_F(VmQmp, QueryMemory)
{
    negotiate();
    json r = one({{"execute", "x-dpdc-query-memory"}})["return"];
    EXPECT_EQ(r["page-size"], 4096);
    EXPECT_EQ(r["ram-size"], 16 * MiB);
    EXPECT_EQ(r["pages"], 4096);
    EXPECT_EQ(r["memfd"], 7);
    EXPECT_EQ(r["vcpus"], 2);
    EXPECT_EQ(r["dirty-ring-size"], 4096);
    ASSERT_EQ(r["slots"].size(), 2u);
    EXPECT_EQ(r["slots"][1], (json{{"slot", 1},
                                   {"as", 0},
                                   {"gpa", 9 * MiB},
                                   {"size", 8 * MiB},
                                   {"memfd-offset", 8 * MiB},
                                   {"first-page", 2048}}));
    EXPECT_EQ(r["workload-area"], (json{{"first-page", 512}, {"pages", 3584}}));
}

TEST_F(VmQmp, QueryHarvest)
{
    negotiate();
    json r = one({{"execute", "x-dpdc-query-harvest"}})["return"];
    EXPECT_EQ(vm.harvests, 1);
    EXPECT_EQ(r["pages"], 10);
    EXPECT_EQ(r["counts"], (json{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
    EXPECT_EQ(r["total"], 45);
    EXPECT_EQ(r["unknown"], 1);
    EXPECT_EQ(r["resets"], 3);
    EXPECT_EQ(r["full-exits"], 2);

    r = one({{"execute", "x-dpdc-query-harvest"}, {"arguments", {{"first-page", 3}, {"count", 2}}}})["return"];
    EXPECT_EQ(r["counts"], (json{3, 4}));
    EXPECT_EQ(r["total"], 45);
    r = one({{"execute", "x-dpdc-query-harvest"}, {"arguments", {{"first-page", 8}}}})["return"];
    EXPECT_EQ(r["counts"], (json{8, 9}));

    EXPECT_EQ(one({{"execute", "x-dpdc-query-harvest"}, {"arguments", {{"first-page", 8}, {"count", 3}}}})["error"]
                 ["class"],
              "GenericError");
    EXPECT_EQ(one({{"execute", "x-dpdc-query-harvest"}, {"arguments", {{"first-page", -1}}}})["error"]["class"],
              "GenericError");
    EXPECT_EQ(one({{"execute", "x-dpdc-query-harvest"}, {"arguments", {{"count", "x"}}}})["error"]["class"],
              "GenericError");
}

TEST_F(VmQmp, QueryWorkload)
{
    negotiate();
    EXPECT_EQ(one({{"execute", "x-dpdc-query-workload"}, {"id", 2}}),
              (json{{"return", {{"name", "ab"}, {"rounds-done", {4, 5}}, {"finished", false}}}, {"id", 2}}));
}

TEST(VmQmpStream, SplitsAndJoins)
{
    QmpStreamSplitter s;
    EXPECT_TRUE(s.feed("  {\"execute\": \"qmp_").empty());
    EXPECT_FALSE(s.idle());
    auto out = s.feed("capabilities\"}\r\n{\"execute\":\"stop\"}{\"a\":\"}{\\\"\"}\n[1,2]");
    ASSERT_EQ(out.size(), 4u);
    EXPECT_EQ(out[0], "{\"execute\": \"qmp_capabilities\"}");
    EXPECT_EQ(out[1], "{\"execute\":\"stop\"}");
    EXPECT_EQ(out[2], "{\"a\":\"}{\\\"\"}");
    EXPECT_EQ(out[3], "[1,2]");
    EXPECT_TRUE(s.idle());
    out = s.feed("{\"x\": {\"y\": [{}]}}");
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(json::parse(out[0])["x"]["y"][0], json::object());
    out = s.feed("garbage {}");
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], "garbage");
    EXPECT_EQ(out[1], "{}");
}

TEST(VmQmpStream, ByteByByte)
{
    QmpStreamSplitter s;
    const std::string text = "{\"execute\": \"query-status\", \"id\": \"a}b\"}\r\n";
    std::vector<std::string> got;
    for (char c : text)
        for (auto& m : s.feed(std::string_view(&c, 1)))
            got.push_back(m);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(json::parse(got[0])["id"], "a}b");
}

TEST(VmQmpErrors, VmFailureBecomesGenericError)
{
    class Failing : public FakeVm {
    public:
        HarvestReport harvest(std::uint64_t, std::uint64_t) override { throw std::runtime_error("boom"); }
    } vm;
    QmpSession s(vm);
    s.handle({{"execute", "qmp_capabilities"}});
    auto out = s.handle({{"execute", "x-dpdc-query-harvest"}, {"id", 9}});
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], (json{{"error", {{"class", "GenericError"}, {"desc", "boom"}}}, {"id", 9}}));
}
