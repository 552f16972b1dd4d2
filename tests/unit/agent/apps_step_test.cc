// appContainerSpec: what a container definition's security members become, and what is refused.
#include "agent/apps_step.h"

#include <gtest/gtest.h>
#include <linux/mount.h>

#include <filesystem>

#include "model/capabilities.h"
#include "tests/support/temp_dir.h"

namespace sc::agent {
namespace {

class AppsStepSpecTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(tmp_.file("images/app/bin"));
    testing::writeTestFile(tmp_.file("images/app/bin/server"), "");
    settings_.image_dir = tmp_.file("images");
    settings_.run_root = tmp_.file("run");
    task_.task_id = "t1";
    c_.name = "web";
    c_.image = "app";
    c_.command = {"server"};
  }

  Result<inject::ContainerSpec> spec() { return appContainerSpec(c_, task_, settings_); }

  void expectRefused(const std::string& member) {
    auto s = spec();
    ASSERT_FALSE(s.ok()) << member;
    EXPECT_NE(s.error().message.find(member), std::string::npos) << s.error().message;
  }

  testing::TempDir tmp_;
  AppSettings settings_;
  TaskRecord task_;
  model::ContainerDefinition c_;
};

TEST_F(AppsStepSpecTest, DefaultsAreDockersCapabilitiesAsRootOnTheImage) {
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->capabilities, model::dockerDefaultCapabilities());
  EXPECT_EQ(s->uid, 0u);
  EXPECT_EQ(s->rootfs, std::filesystem::canonical(tmp_.file("images/app")).string());
  EXPECT_EQ(s->binary, "/bin/server");
  EXPECT_EQ(s->shm_bytes, 64ll << 20);
  EXPECT_FALSE(s->readonly_rootfs);
  EXPECT_TRUE(s->seccomp);
}

TEST_F(AppsStepSpecTest, CapabilitiesUserAndReadOnlyRootFollowTheDefinition) {
  c_.linux_parameters.cap_drop = {"ALL"};
  c_.linux_parameters.cap_add = {"NET_BIND_SERVICE"};
  c_.linux_parameters.shared_memory_size_mib = 8;
  c_.readonly_root_filesystem = true;
  c_.user = "1000:1000";
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.error().message;
  EXPECT_EQ(s->capabilities, 1ull << 10);
  EXPECT_EQ(s->shm_bytes, 8ll << 20);
  EXPECT_TRUE(s->readonly_rootfs);
  EXPECT_EQ(s->uid, 1000u);
}

TEST_F(AppsStepSpecTest, PrivilegedIsRefused) {
  c_.privileged = true;
  expectRefused("privileged");
}

TEST_F(AppsStepSpecTest, MembersScagentCannotHonourAreRefusedByName) {
  c_.linux_parameters.unsupported = {"devices"};
  expectRefused("linuxParameters.devices");
}

TEST_F(AppsStepSpecTest, CapabilitiesBeyondDockersDefaultAreRefused) {
  c_.linux_parameters.cap_add = {"SYS_ADMIN"};
  expectRefused("SYS_ADMIN");
}

TEST_F(AppsStepSpecTest, TmpfsMountsAreCheckedAndTranslated) {
  c_.linux_parameters.tmpfs = {{"/cache", 32, {"noexec", "mode=1777", "ro"}}};
  auto s = spec();
  ASSERT_TRUE(s.ok()) << s.error().message;
  ASSERT_EQ(s->tmpfs.size(), 1u);
  EXPECT_EQ(s->tmpfs[0].path, "/cache");
  EXPECT_EQ(s->tmpfs[0].attrs, MOUNT_ATTR_NOEXEC | MOUNT_ATTR_RDONLY);
  const std::vector<std::pair<std::string, std::string>> want = {{"size", "32m"}, {"mode", "1777"}};
  EXPECT_EQ(s->tmpfs[0].options, want);
  for (const model::TmpfsMount& bad : std::vector<model::TmpfsMount>{{"/cache", 32, {"suid"}},
                                                                     {"/cache", 32, {"mode=1777,size=9g"}},
                                                                     {"/proc/sys", 32, {}},
                                                                     {"/a/../etc", 32, {}},
                                                                     {"relative", 32, {}},
                                                                     {"/cache", 0, {}}}) {
    c_.linux_parameters.tmpfs = {bad};
    EXPECT_FALSE(spec().ok()) << bad.container_path;
  }
}

TEST_F(AppsStepSpecTest, AnImageOutsideTheImageDirectoryIsRefused) {
  c_.image = "file:///";
  expectRefused("beneath the image directory");
  c_.image = "../images/app";
  expectRefused("expected the name of a directory");
}

}  // namespace
}  // namespace sc::agent
