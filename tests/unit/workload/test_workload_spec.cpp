// --workload parsing (no KVM needed).
#include <gtest/gtest.h>

#include <string>

#include "workload/workload_spec.h"

using namespace dpdc::vm;

namespace {

std::string error_of(const std::string& text)
{
    try {
        parse_workload_spec(text);
    } catch (const WorkloadSpecError& e) {
        std::string msg = e.what();
        EXPECT_EQ(msg.find('\n'), std::string::npos);
        EXPECT_NE(msg.find("; "), std::string::npos) << msg;
        return msg;
    }
    ADD_FAILURE() << "no error for '" << text << "'";
    return {};
}

}  // namespace

TEST(VmWorkloadSpec, Names)
{
    EXPECT_EQ(parse_workload_spec("idle").kind, WorkloadKind::Idle);
    EXPECT_EQ(parse_workload_spec("ab").kind, WorkloadKind::Ab);
    EXPECT_EQ(parse_workload_spec("hotcold").kind, WorkloadKind::HotCold);
    EXPECT_EQ(parse_workload_spec("zipf").kind, WorkloadKind::Zipf);
    EXPECT_EQ(parse_workload_spec("seq").kind, WorkloadKind::Seq);
    EXPECT_EQ(parse_workload_spec("zipf").name(), "zipf");
}

TEST(VmWorkloadSpec, Defaults)
{
    WorkloadSpec s = parse_workload_spec("hotcold");
    EXPECT_EQ(s.pages, 0u);
    EXPECT_EQ(s.rounds, 0u);
    EXPECT_FALSE(s.sync);
    EXPECT_EQ(s.hot_percent, 10u);
    EXPECT_EQ(s.write_percent, 90u);
    EXPECT_DOUBLE_EQ(parse_workload_spec("zipf").zipf_s, 1.1);
}

TEST(VmWorkloadSpec, Keys)
{
    WorkloadSpec s = parse_workload_spec("hotcold,hot=25,writes=75,pages=1000,rounds=7,sync=on,seed=42");
    EXPECT_EQ(s.hot_percent, 25u);
    EXPECT_EQ(s.write_percent, 75u);
    EXPECT_EQ(s.pages, 1000u);
    EXPECT_EQ(s.rounds, 7u);
    EXPECT_TRUE(s.sync);
    EXPECT_EQ(s.seed, 42u);
    EXPECT_DOUBLE_EQ(parse_workload_spec("zipf,s=0.8").zipf_s, 0.8);
    EXPECT_FALSE(parse_workload_spec("seq,sync=off").sync);
    EXPECT_TRUE(parse_workload_spec("ab,sync=yes").sync);
    EXPECT_EQ(parse_workload_spec("seq,delay=300").delay, 300u);
    EXPECT_EQ(parse_workload_spec("seq").delay, 0u);
    EXPECT_THROW(parse_workload_spec("seq,delay=100000001"), WorkloadSpecError);
}

TEST(VmWorkloadSpec, Errors)
{
    EXPECT_NE(error_of("bogus").find("'bogus'"), std::string::npos);
    EXPECT_NE(error_of("").find("unknown workload"), std::string::npos);
    EXPECT_NE(error_of("ab,hot=10").find("'hot'"), std::string::npos);
    EXPECT_NE(error_of("zipf,writes=10").find("'writes'"), std::string::npos);
    EXPECT_NE(error_of("hotcold,hot=0").find("hot=0"), std::string::npos);
    EXPECT_NE(error_of("hotcold,hot=101").find("hot=101"), std::string::npos);
    EXPECT_NE(error_of("hotcold,writes=x").find("writes=x"), std::string::npos);
    EXPECT_NE(error_of("zipf,s=0").find("s=0"), std::string::npos);
    EXPECT_NE(error_of("zipf,s=abc").find("s=abc"), std::string::npos);
    EXPECT_NE(error_of("zipf,s=nan").find("s=nan"), std::string::npos);
    EXPECT_NE(error_of("ab,pages=0").find("pages=0"), std::string::npos);
    EXPECT_NE(error_of("ab,pages=-1").find("pages=-1"), std::string::npos);
    EXPECT_NE(error_of("ab,sync=maybe").find("sync=maybe"), std::string::npos);
    EXPECT_NE(error_of("ab,rounds").find("'rounds'"), std::string::npos);
    EXPECT_NE(error_of("ab,=3").find("'=3'"), std::string::npos);
    EXPECT_NE(error_of("ab,rounds=1,rounds=2").find("twice"), std::string::npos);
    EXPECT_NE(error_of("ab,").find("key=value"), std::string::npos);
}
