// A guest paused for a migration runs again when the migration goes away
// before it completed, and only then (dpdc-vm's MigrationHold, through QMP
// sessions sharing one hold, as dpdc-vm's server has them).
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "qmp_commands.h"

using namespace dpdc::vm;
using nlohmann::json;

namespace {

class RunState : public VmControl {
public:
    bool running() const override { return running_; }
    void pause() override { running_ = false; }
    void resume() override
    {
        running_ = true;
        ++resumes;
    }
    void request_quit() override {}
    MemoryInfo memory_info() const override { return {}; }
    std::uint64_t ram_pages() const override { return 0; }
    HarvestReport harvest(std::uint64_t, std::uint64_t) override { return {}; }
    WorkloadStatus workload_status() const override { return {}; }

    bool running_ = true;
    int resumes = 0;
};

class MigrationHoldTest : public ::testing::Test {
protected:
    RunState vm;
    MigrationHold hold;
    QmpSession engine{vm, {}, &hold};
    QmpSession user{vm, {}, &hold};

    void SetUp() override
    {
        for (QmpSession* s : {&engine, &user})
            ASSERT_TRUE(s->handle({{"execute", "qmp_capabilities"}}).back().contains("return"));
    }
    static json last(QmpSession& s, const std::string& command) { return s.handle({{"execute", command}}).back(); }
    std::string status() { return last(user, "query-status")["return"]["status"]; }
};

TEST_F(MigrationHoldTest, AMigrationThatGoesAwayBeforeCompletingResumesTheGuest)
{
    ASSERT_TRUE(last(engine, "x-dpdc-migration-stop").contains("return"));
    EXPECT_EQ(status(), "paused");
    const auto said = engine.closed();
    ASSERT_EQ(said.size(), 1u);
    EXPECT_EQ(said[0]["event"], "RESUME");
    EXPECT_TRUE(vm.running());
    EXPECT_EQ(vm.resumes, 1);
}

TEST_F(MigrationHoldTest, ACompletedMigrationLeavesTheSourcePausedInPostmigrate)
{
    ASSERT_TRUE(last(engine, "x-dpdc-migration-stop").contains("return"));
    ASSERT_TRUE(last(engine, "x-dpdc-migration-complete").contains("return"));
    EXPECT_TRUE(engine.closed().empty());
    EXPECT_FALSE(vm.running());
    EXPECT_EQ(status(), "postmigrate");
    // cont by hand still runs it (as QEMU's postmigrate allows).
    ASSERT_TRUE(last(user, "cont").contains("return"));
    EXPECT_EQ(status(), "running");
}

TEST_F(MigrationHoldTest, APauseByHandIsKeptWhenItsClientGoesAway)
{
    ASSERT_TRUE(last(user, "stop").contains("return"));
    EXPECT_TRUE(user.closed().empty());
    EXPECT_FALSE(vm.running());
    // A migration's pause taken over by a stop by hand is the user's too.
    RunState vm2;
    MigrationHold hold2;
    QmpSession a{vm2, {}, &hold2}, b{vm2, {}, &hold2};
    a.handle({{"execute", "qmp_capabilities"}});
    b.handle({{"execute", "qmp_capabilities"}});
    a.handle({{"execute", "x-dpdc-migration-stop"}});
    b.handle({{"execute", "stop"}});
    EXPECT_TRUE(a.closed().empty());
    EXPECT_FALSE(vm2.running());
}

TEST_F(MigrationHoldTest, OnlyTheClientThatPausedCompletesAndAPausedGuestIsNotTakenForAMigration)
{
    ASSERT_TRUE(last(engine, "x-dpdc-migration-stop").contains("return"));
    const json other = last(user, "x-dpdc-migration-complete");
    ASSERT_TRUE(other.contains("error"));
    EXPECT_NE(other["error"]["desc"].get<std::string>().find("did not pause the guest"), std::string::npos);
    EXPECT_TRUE(user.closed().empty()) << "another client going away does not resume the guest";
    EXPECT_FALSE(vm.running());
    ASSERT_EQ(engine.closed().size(), 1u);
    EXPECT_TRUE(vm.running());

    ASSERT_TRUE(last(user, "stop").contains("return"));
    const json refused = last(engine, "x-dpdc-migration-stop");
    ASSERT_TRUE(refused.contains("error"));
    EXPECT_NE(refused["error"]["desc"].get<std::string>().find("resume it (cont)"), std::string::npos);
    EXPECT_TRUE(engine.closed().empty());
    EXPECT_FALSE(vm.running());
}

}  // namespace
