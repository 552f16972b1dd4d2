#include "model/capabilities.h"

#include <gtest/gtest.h>

#include "model/parse.h"
#include "tests/support/model_fixtures.h"

namespace sc::model {
namespace {

TEST(CapabilitiesTest, NamesMapToTheKernelsNumbers) {
  EXPECT_EQ(capabilityNumber("CHOWN"), 0);
  EXPECT_EQ(capabilityNumber("NET_BIND_SERVICE"), 10);
  EXPECT_EQ(capabilityNumber("SYS_ADMIN"), 21);
  EXPECT_EQ(capabilityNumber("BLOCK_SUSPEND"), 36);
  EXPECT_FALSE(capabilityNumber("ALL"));
  EXPECT_FALSE(capabilityNumber("CAP_CHOWN"));
  EXPECT_TRUE(isCapabilityName("ALL"));
  EXPECT_FALSE(isCapabilityName("net_raw"));
}

TEST(CapabilitiesTest, DockersDefaultSetHasFourteen) {
  const uint64_t d = dockerDefaultCapabilities();
  EXPECT_EQ(__builtin_popcountll(d), 14);
  EXPECT_EQ(d, 0x00000000a80425fbull);  // CapEff of `docker run` as root
}

TEST(CapabilitiesTest, AddAndDropAreRelativeToDockersDefault) {
  auto none = containerCapabilities({}, {"ALL"}, 0);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0u);
  auto only_bind = containerCapabilities({"NET_BIND_SERVICE"}, {"ALL"}, 0);
  ASSERT_TRUE(only_bind.ok());
  EXPECT_EQ(*only_bind, 1ull << 10);
  auto no_raw = containerCapabilities({}, {"NET_RAW"}, 0);
  ASSERT_TRUE(no_raw.ok());
  EXPECT_EQ(*no_raw, dockerDefaultCapabilities() & ~(1ull << 13));
}

TEST(CapabilitiesTest, AddingBeyondDockersDefaultIsRefusedByName) {
  for (const char* cap : {"SYS_ADMIN", "NET_ADMIN", "ALL"}) {
    auto r = containerCapabilities({cap}, {}, 0);
    ASSERT_FALSE(r.ok()) << cap;
    EXPECT_NE(r.error().message.find(std::string(cap) == "ALL" ? "SYS_ADMIN" : cap), std::string::npos)
        << r.error().message;
  }
  auto allowed = containerCapabilities({"SYS_PTRACE"}, {}, 1ull << 19);
  ASSERT_TRUE(allowed.ok());
  EXPECT_EQ(*allowed, dockerDefaultCapabilities() | (1ull << 19));
}

TEST(CapabilitiesTest, TheTaskDefinitionsSecurityMembersAreRead) {
  Json td = testing::seedJson("task-definition.json");
  Json& c = td["containerDefinitions"][0];
  c["privileged"] = true;
  c["readonlyRootFilesystem"] = true;
  c["linuxParameters"] = {{"capabilities", {{"add", {"NET_BIND_SERVICE"}}, {"drop", {"ALL"}}}},
                          {"sharedMemorySize", 128},
                          {"tmpfs", {{{"containerPath", "/cache"}, {"size", 32}, {"mountOptions", {"noexec"}}}}},
                          {"devices", {{{"hostPath", "/dev/sda"}}}},
                          {"initProcessEnabled", true}};
  auto parsed = parseTaskDefinition(td.dump());
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  const ContainerDefinition& cd = parsed->containers[0];
  EXPECT_TRUE(cd.privileged);
  EXPECT_TRUE(cd.readonly_root_filesystem);
  EXPECT_EQ(cd.linux_parameters.cap_drop, std::vector<std::string>{"ALL"});
  EXPECT_EQ(cd.linux_parameters.shared_memory_size_mib, 128);
  ASSERT_EQ(cd.linux_parameters.tmpfs.size(), 1u);
  EXPECT_EQ(cd.linux_parameters.tmpfs[0].container_path, "/cache");
  EXPECT_EQ(cd.linux_parameters.unsupported, (std::vector<std::string>{"devices", "initProcessEnabled"}));
}

TEST(CapabilitiesTest, AnUnknownCapabilityIsRefusedAtRegistration) {
  Json td = testing::seedJson("task-definition.json");
  td["containerDefinitions"][0]["linuxParameters"] = {{"capabilities", {{"add", {"CAP_SYS_ADMIN"}}}}};
  auto parsed = parseTaskDefinition(td.dump());
  ASSERT_FALSE(parsed.ok());
  EXPECT_NE(parsed.error().message.find("linuxParameters.capabilities.add"), std::string::npos)
      << parsed.error().message;
  EXPECT_NE(parsed.error().message.find("\"CAP_SYS_ADMIN\""), std::string::npos) << parsed.error().message;
}

}  // namespace
}  // namespace sc::model
