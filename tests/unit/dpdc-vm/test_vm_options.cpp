// dpdc-vm command-line parsing (no KVM needed).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "options.h"

using namespace dpdc::vm;

namespace {

ParseOutcome parse(std::vector<std::string> args) { return parse_options(args); }

Config ok(std::vector<std::string> args)
{
    ParseOutcome r = parse(std::move(args));
    EXPECT_EQ(r.kind, ParseOutcome::Kind::Run) << r.text;
    return r.config;
}

std::string err(std::vector<std::string> args)
{
    ParseOutcome r = parse(std::move(args));
    EXPECT_EQ(r.kind, ParseOutcome::Kind::Error);
    EXPECT_EQ(r.text.find('\n'), std::string::npos) << r.text;
    EXPECT_NE(r.text.find("; "), std::string::npos) << "message must say what to do: " << r.text;
    return r.text;
}

}  // namespace

TEST(VmOptions, Defaults)
{
    Config c = ok({});
    EXPECT_EQ(c.ram_size, 256 * MiB);
    EXPECT_EQ(c.vcpus, 1u);
    EXPECT_EQ(c.dirty_ring_entries, 4096u);
    EXPECT_FALSE(c.hole.has_value());
    EXPECT_FALSE(c.qmp_path.has_value());
    EXPECT_EQ(c.workload.kind, WorkloadKind::Idle);
    EXPECT_EQ(c.reap_interval_ms, 100u);
    EXPECT_FALSE(c.pidfile.has_value());
    EXPECT_FALSE(c.incoming.has_value());
    EXPECT_FALSE(c.start_paused);
    EXPECT_TRUE(ok({"-S", "-m", "64M"}).start_paused);
}

TEST(VmOptions, QemuStyleOptions)
{
    Config c = ok({"-m", "1G", "-smp", "4", "-accel", "kvm,dirty-ring-size=1024", "-qmp",
                   "unix:/tmp/x.qmp,server=on,wait=off", "--workload", "ab,rounds=3,sync=on", "--hole", "8M,1M",
                   "--reap-interval", "50", "-pidfile", "/tmp/x.pid"});
    EXPECT_EQ(c.ram_size, 1 * GiB);
    EXPECT_EQ(c.vcpus, 4u);
    EXPECT_EQ(c.dirty_ring_entries, 1024u);
    ASSERT_TRUE(c.qmp_path);
    EXPECT_EQ(*c.qmp_path, "/tmp/x.qmp");
    EXPECT_EQ(c.workload.kind, WorkloadKind::Ab);
    EXPECT_EQ(c.workload.rounds, 3u);
    EXPECT_TRUE(c.workload.sync);
    ASSERT_TRUE(c.hole);
    EXPECT_EQ(c.hole->start, 8 * MiB);
    EXPECT_EQ(c.hole->size, 1 * MiB);
    EXPECT_EQ(c.reap_interval_ms, 50u);
    ASSERT_TRUE(c.pidfile);
    EXPECT_EQ(*c.pidfile, "/tmp/x.pid");
}

TEST(VmOptions, DoubleDashAndEqualsForms)
{
    Config c = ok({"--smp=2", "-m", "512", "--accel=kvm", "--qmp=unix:/tmp/q"});
    EXPECT_EQ(c.vcpus, 2u);
    EXPECT_EQ(c.ram_size, 512 * MiB);
    EXPECT_EQ(*c.qmp_path, "/tmp/q");
    EXPECT_EQ(ok({"-smp", "cpus=3"}).vcpus, 3u);
    EXPECT_EQ(ok({"-m", "size=64M"}).ram_size, 64 * MiB);
    EXPECT_EQ(*ok({"-qmp", "unix:/tmp/a,server,nowait"}).qmp_path, "/tmp/a");
}

TEST(VmOptions, MemorySizes)
{
    EXPECT_EQ(ok({"-m", "8G"}).ram_size, 8 * GiB);
    EXPECT_EQ(ok({"-m", "4M"}).ram_size, 4 * MiB);
    EXPECT_EQ(ok({"-m", "4096k"}).ram_size, 4 * MiB);
    EXPECT_NE(err({"-m", "2M"}).find("below 4M"), std::string::npos);
    EXPECT_NE(err({"-m", "5M"}).find("multiple of 2M"), std::string::npos);
    EXPECT_NE(err({"-m", "lots"}).find("'lots'"), std::string::npos);
    EXPECT_NE(err({"-m", "1Q"}).find("'1Q'"), std::string::npos);
    err({"-m", "128G"});
}

TEST(VmOptions, IncomingIsAcceptedAndReserved)
{
    Config c = ok({"-incoming", "tcp:0:4444"});
    ASSERT_TRUE(c.incoming);
    EXPECT_EQ(*c.incoming, "tcp:0:4444");
}

TEST(VmOptions, BadValues)
{
    EXPECT_NE(err({"-smp", "0"}).find("-smp 0"), std::string::npos);
    err({"-smp", "9"});
    err({"-smp", "two"});
    EXPECT_NE(err({"-accel", "tcg"}).find("'tcg'"), std::string::npos);
    EXPECT_NE(err({"-accel", "kvm,dirty-ring-size=0"}).find("dirty-ring-size=0"), std::string::npos);
    err({"-accel", "kvm,dirty-ring-size=1000"});
    err({"-accel", "kvm,dirty-ring-size=128"});
    err({"-accel", "kvm,dirty-ring-size=131072"});
    EXPECT_NE(err({"-accel", "kvm,foo=1"}).find("foo=1"), std::string::npos);
    err({"-qmp", "tcp:localhost:4444"});
    err({"-qmp", "unix:/tmp/x,wait=on"});
    err({"-qmp", "unix:/tmp/x,server=off"});
    err({"-qmp", "unix:"});
    EXPECT_NE(err({"--workload", "bogus"}).find("'bogus'"), std::string::npos);
    err({"--hole", "8M"});
    err({"--hole", "8M,x"});
    err({"--reap-interval", "-1"});
    err({"--reap-interval", "100000"});
}

TEST(VmOptions, LayoutIsValidatedEarly)
{
    EXPECT_NE(err({"--hole", "2M,1M"}).find("system area"), std::string::npos);
    EXPECT_NE(err({"-m", "64M", "--hole", "64M,1M"}).find("hole start"), std::string::npos);
    err({"--hole", "8M,0"});
    err({"--hole", "8M,1000B"});
    // 8 MiB RAM: 2048 pages, the workload area starts at page 512.
    EXPECT_EQ(ok({"-m", "8M", "--workload", "ab,pages=1536"}).workload.pages, 1536u);
    EXPECT_NE(err({"-m", "8M", "--workload", "ab,pages=1537"}).find("pages=1537"), std::string::npos);
}

TEST(VmOptions, UnknownOptionAndHelp)
{
    std::string e = err({"--frobnicate"});
    EXPECT_NE(e.find("--frobnicate"), std::string::npos);
    EXPECT_NE(e.find("--help"), std::string::npos);
    ParseOutcome h = parse({"--help"});
    EXPECT_EQ(h.kind, ParseOutcome::Kind::Help);
    for (const char* word : {"-m", "--smp", "--accel", "--qmp", "--workload", "--hole", "--reap-interval",
                             "--pidfile", "Example"})
        EXPECT_NE(h.text.find(word), std::string::npos) << word;
}

TEST(VmOptions, NormalizeArgs)
{
    auto v = normalize_args({"-smp", "2", "-m", "1G", "-accel=kvm", "-qmp", "x", "-incoming", "y", "-pidfile", "p",
                             "--", "-smp"});
    std::vector<std::string> want{"--smp", "2",          "-m", "1G", "--accel=kvm", "--qmp", "x", "--incoming",
                                  "y",     "--pidfile", "p",  "--", "-smp"};
    EXPECT_EQ(v, want);
}
