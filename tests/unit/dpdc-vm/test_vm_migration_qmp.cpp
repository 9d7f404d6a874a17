// QMP for migration (x-dpdc-save-devices, "inmigrate"), IncomingVm and the
// -incoming URI parser (pure, no KVM).
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>

#include <nlohmann/json.hpp>

#include "incoming_control.h"
#include "incoming_source.h"
#include "options.h"
#include "qmp_commands.h"
#include "stream/base64.h"
#include "stub_vm_control.h"

using namespace dpdc::vm;
using dpdc::Destination;
using nlohmann::json;

namespace {

class SavingVm : public dpdc::vm::test::StubVm {
public:
    SavingVm() : StubVm(4, {"ab", {1}, false}) {}
    std::vector<DeviceSection> save_devices() override
    {
        ++saves;
        MachineState m;
        m.ram_size = 8 * MiB;
        m.vcpus = 1;
        m.workload = "idle,rounds=0,sync=off,seed=1";
        VcpuState c;
        c.xsave.assign(4096, 0);
        c.regs.rip = 0x100000;
        return {encode_machine_state(m), encode_vcpu_state(c, 0)};
    }
    int saves = 0;
};

json one(QmpSession& s, const json& req)
{
    auto out = s.handle(req);
    EXPECT_EQ(out.size(), 1u) << json(out).dump();
    return out.empty() ? json() : out[0];
}

}  // namespace

TEST(VmMigrationQmp, SaveDevicesNeedsAStoppedGuest)
{
    SavingVm vm;
    QmpSession s(vm);
    one(s, {{"execute", "qmp_capabilities"}});
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-save-devices"}, {"id", 1}}),
              (json{{"error", {{"class", "GenericError"}, {"desc", "the guest must be stopped"}}}, {"id", 1}}));
    EXPECT_EQ(vm.saves, 0);
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-save-devices"}, {"arguments", {{"x", 1}}}})["error"]["desc"],
              "Parameter 'x' is unexpected");
}

TEST(VmMigrationQmp, SaveDevicesReplyShape)
{
    SavingVm vm;
    vm.running_ = false;
    QmpSession s(vm);
    one(s, {{"execute", "qmp_capabilities"}});
    const json r = one(s, {{"execute", "x-dpdc-save-devices"}});
    ASSERT_TRUE(r.contains("return")) << r.dump();
    const json& ret = r["return"];
    EXPECT_EQ(ret["machine"], "dpdc-vm");
    ASSERT_EQ(ret["sections"].size(), 2u);
    const json& m = ret["sections"][0];
    EXPECT_EQ(m["idstr"], "dpdc-vm/machine");
    EXPECT_EQ(m["instance"], 0);
    EXPECT_EQ(m["version"], 1);
    EXPECT_EQ(m["vmdesc"]["name"], "dpdc-vm/machine");
    EXPECT_EQ(m["vmdesc"]["instance_id"], 0);
    EXPECT_EQ(m["vmdesc"]["fields"][0]["type"], "buffer");
    const auto payload = dpdc::stream::base64_decode(m["payload"].get<std::string>());
    EXPECT_EQ(decode_machine_state(payload, 1).ram_size, 8 * MiB);
    const json& c = ret["sections"][1];
    EXPECT_EQ(c["idstr"], "dpdc-vm/cpu");
    EXPECT_EQ(c["instance"], 0);
    EXPECT_EQ(decode_vcpu_state(dpdc::stream::base64_decode(c["payload"].get<std::string>()), 1, 0).regs.rip,
              0x100000u);
}

TEST(VmMigrationQmp, InmigrateStatusAndAutostart)
{
    MemoryInfo info;
    info.ram_size = 8 * MiB;
    info.memfd = 5;
    IncomingVm vm(info, true);
    QmpSession s(vm, [] { return QmpTimestamp{1, 2}; });
    one(s, {{"execute", "qmp_capabilities"}});
    EXPECT_EQ(one(s, {{"execute", "query-status"}}),
              (json{{"return", {{"status", "inmigrate"}, {"running", false}, {"singlestep", false}}}}));
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-query-memory"}})["return"]["memfd"], 5);
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-save-devices"}})["error"]["class"], "GenericError");
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-query-harvest"}})["error"]["class"], "GenericError");
    // stop/cont while loading only decide whether the guest runs afterwards; no events.
    EXPECT_EQ(one(s, {{"execute", "stop"}}), (json{{"return", json::object()}}));
    EXPECT_FALSE(vm.autostart());
    EXPECT_EQ(one(s, {{"execute", "cont"}}), (json{{"return", json::object()}}));
    EXPECT_TRUE(vm.autostart());

    SavingVm machine;
    vm.attach(machine);
    EXPECT_FALSE(vm.inmigrate());
    EXPECT_EQ(one(s, {{"execute", "query-status"}})["return"]["status"], "running");
    auto out = s.handle({{"execute", "stop"}});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0]["event"], "STOP");
    EXPECT_EQ(one(s, {{"execute", "x-dpdc-save-devices"}})["return"]["sections"].size(), 2u);
}

TEST(VmMigrationQmp, IncomingUriParsing)
{
    const auto listen = Destination::Role::Listen;
    Destination u = Destination::parse("tcp:0:4444", listen);
    EXPECT_EQ(u.kind, Destination::Kind::Tcp);
    EXPECT_EQ(u.host, "0");
    EXPECT_EQ(u.port, 4444);
    u = Destination::parse("tcp::4444", listen);
    EXPECT_EQ(u.host, "");
    u = Destination::parse("tcp:[::1]:5555", listen);
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 5555);
    u = Destination::parse("unix:/tmp/mig.sock", listen);
    EXPECT_EQ(u.kind, Destination::Kind::Unix);
    EXPECT_EQ(u.path, "/tmp/mig.sock");
    u = Destination::parse("file:/tmp/vm.mig", listen);
    EXPECT_EQ(u.kind, Destination::Kind::File);
    EXPECT_EQ(u.path, "/tmp/vm.mig");
    for (const char* bad : {"tcp:host", "tcp:h:0", "tcp:h:99999", "tcp:h:port", "tcp:::1:4444", "unix:", "file:",
                            "exec:cat x", "defer", "rdma:h:1"}) {
        try {
            Destination::parse(bad, listen);
            ADD_FAILURE() << bad;
        } catch (const dpdc::Error& e) {
            EXPECT_NE(std::string(e.what()).find("; use -incoming tcp:HOST:PORT, unix:PATH or file:PATH"),
                      std::string::npos)
                << e.what();
        }
    }
}

TEST(VmMigrationQmp, OptionsValidateIncomingAndNoteAGivenWorkload)
{
    ParseOutcome p = parse_options({"-incoming", "exec:cat f"});
    EXPECT_EQ(p.kind, ParseOutcome::Kind::Error);
    EXPECT_NE(p.text.find("bad -incoming URI 'exec:cat f'"), std::string::npos) << p.text;
    p = parse_options({"-incoming", "unix:/tmp/m.sock", "-S"});
    ASSERT_EQ(p.kind, ParseOutcome::Kind::Run) << p.text;
    EXPECT_EQ(*p.config.incoming, "unix:/tmp/m.sock");
    EXPECT_FALSE(p.config.workload_given);
    p = parse_options({"--workload", "ab"});
    EXPECT_TRUE(p.config.workload_given);
}

TEST(VmMigrationQmp, IncomingSourceReadsFileAndOneUnixConnection)
{
    char tmpl[] = "/tmp/dpdc-vm-incoming-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    const std::string dir = tmpl;
    std::vector<std::uint8_t> buf(64);

    const std::string file = dir + "/stream";
    {
        FILE* f = std::fopen(file.c_str(), "wb");
        ASSERT_NE(f, nullptr);
        std::fputs("QEVM", f);
        std::fclose(f);
    }
    {
        IncomingSource src(Destination::parse("file:" + file, Destination::Role::Listen));
        EXPECT_EQ(src.on_ready(buf), 4u);
        EXPECT_EQ(buf[0], 'Q');
        EXPECT_EQ(src.on_ready(buf), 0u);
        EXPECT_TRUE(src.eof());
    }

    const std::string sock = dir + "/mig.sock";
    {
        IncomingSource src(Destination::parse("unix:" + sock, Destination::Role::Listen));
        const int listener = src.poll_fd().fd;
        int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock.c_str());
        ASSERT_EQ(::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        EXPECT_EQ(src.on_ready(buf), 0u);  // the accept
        EXPECT_NE(src.poll_fd().fd, listener);
        ASSERT_EQ(::write(c, "abc", 3), 3);
        ::close(c);
        EXPECT_EQ(src.on_ready(buf), 3u);
        EXPECT_EQ(src.on_ready(buf), 0u);
        EXPECT_TRUE(src.eof());
        // One connection only: the listener is gone.
        int c2 = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        EXPECT_NE(::connect(c2, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
        ::close(c2);
    }
    ::unlink(file.c_str());
    ::rmdir(dir.c_str());
}
