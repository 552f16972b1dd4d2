// Attacks on an app container's sandbox (issue 12), each tried from inside a real container that the
// launcher starts the way the agent does (uid 0, Docker's default capabilities, an image directory
// under an overlay): the attack must fail and the host must be as before. The shell is busybox's;
// what each command printed is read back from the container's log.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "agent/apps_step.h"
#include "common/file.h"
#include "common/strings.h"
#include "inject/cgroups.h"
#include "inject/launcher.h"
#include "model/capabilities.h"
#include "tests/support/root_guard.h"
#include "tests/support/temp_dir.h"

namespace sc {
namespace {

using namespace std::chrono_literals;

std::string orEmpty(const Result<std::string>& r) { return r.ok() ? *r : std::string(); }

class AppSandboxRootTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SC_REQUIRE_ROOT();
    image_ = tmp_.file("images/app");
    std::filesystem::create_directories(image_ + "/bin");
    std::filesystem::create_directories(image_ + "/www");
    std::filesystem::copy_file("/bin/busybox", image_ + "/bin/busybox");
    ::chmod((image_ + "/bin/busybox").c_str(), 0755);
    testing::writeTestFile(image_ + "/www/id", "original");
    hosts_ = tmp_.file("hosts");
    testing::writeTestFile(hosts_, "127.0.0.1 localhost\n");
  }

  inject::ContainerSpec spec(const std::string& name, const std::string& script) {
    inject::ContainerSpec s;
    s.name = name;
    s.hostname = name;
    s.hosts_file = hosts_;
    s.run_dir = tmp_.file("run/" + name);
    s.rootfs = image_;
    s.log_file = tmp_.file(name + ".log");
    s.binary = "/bin/busybox";
    s.args = {"sh", "-c", script};
    s.uid = 0;
    s.gid = 0;
    s.capabilities = model::dockerDefaultCapabilities();
    return s;
  }

  // Runs the container to its end (at most 20 s) and returns what it printed.
  std::string run(const inject::ContainerSpec& s, const std::function<Result<void>(pid_t)>& place = {}) {
    auto c = inject::Container::launch(s, place);
    EXPECT_TRUE(c.ok()) << c.error().message;
    if (!c.ok()) return "";
    if (!c->waitExit(20s)) {
      ADD_FAILURE() << s.name << " did not exit";
      (void)c->signal(SIGKILL);
      c->waitExit(5s);
    }
    c->reap(2s);
    auto log = readFile(s.log_file);
    return log.ok() ? *log : "";
  }

  testing::TempDir tmp_;
  std::string image_;
  std::string hosts_;
};

// /proc/sys and /proc/sysrq-trigger are read-only to an app even as uid 0 with Docker's default
// capabilities (DAC_OVERRIDE among them); the masked paths read as empty. (A kernel without
// CONFIG_MAGIC_SYSRQ, like this VM's, has no sysrq-trigger at all: the write fails either way.)
TEST_F(AppSandboxRootTest, ProcKnobsOfTheHostAreReadOnlyAndMasked) {
  const std::string out = run(spec("proc",
                                   "echo 1 > /proc/sys/vm/drop_caches && echo drop_caches-written;"
                                   "echo h > /proc/sysrq-trigger && echo sysrq-written;"
                                   "echo '|/bin/sh' > /proc/sys/kernel/core_pattern && echo core-written;"
                                   "echo interrupts=$(busybox wc -c < /proc/interrupts);"
                                   "echo timer_list=$(busybox wc -c < /proc/timer_list);"
                                   "echo self=$(busybox cat /proc/self/comm)"));
  EXPECT_EQ(out.find("-written"), std::string::npos) << out;
  EXPECT_NE(out.find("Read-only file system"), std::string::npos) << out;
  EXPECT_NE(out.find("interrupts=0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("timer_list=0\n"), std::string::npos) << out;
  EXPECT_NE(out.find("self=busybox"), std::string::npos) << out;  // /proc itself works
  ASSERT_GT(orEmpty(readFile("/proc/interrupts")).size(), 0u) << "the host's file has content";
}

// What a task writes into its root lands in its own layer: the image and the next container see the
// original. A container's layer goes with its run directory.
TEST_F(AppSandboxRootTest, ATaskCannotChangeItsImageForTheNextTask) {
  const std::string first = run(spec("first",
                                     "echo evil > /www/id; busybox rm -f /bin/busybox.bak; echo planted > /bin/planted;"
                                     "busybox ln -sf /etc /www/link; echo done"));
  EXPECT_NE(first.find("done"), std::string::npos) << first;
  EXPECT_EQ(orEmpty(readFile(image_ + "/www/id")), "original");
  EXPECT_FALSE(std::filesystem::exists(image_ + "/bin/planted"));
  EXPECT_FALSE(std::filesystem::is_symlink(image_ + "/www/link"));
  EXPECT_FALSE(std::filesystem::exists(image_ + "/proc"));  // mount points live in the layer too
  const std::string second = run(spec("second", "busybox cat /www/id; echo; busybox ls /bin"));
  EXPECT_NE(second.find("original"), std::string::npos) << second;
  EXPECT_EQ(second.find("planted"), std::string::npos) << second;
}

// An image whose etc is a symlink to a host directory, and whose dev and tmp point elsewhere: the
// agent's mount points are made beneath the image, never in the host directory.
TEST_F(AppSandboxRootTest, SymlinksInTheImageCannotSendMountPointsOutside) {
  const std::string outside = tmp_.file("outside");
  std::filesystem::create_directories(outside);
  std::filesystem::create_directory_symlink(outside, image_ + "/etc");
  std::filesystem::create_directory_symlink("../../../../../../../" + outside, image_ + "/dev");
  const std::string out = run(spec("links", "busybox cat /etc/hosts; echo null=$(busybox wc -c < /dev/null)"));
  EXPECT_NE(out.find("127.0.0.1 localhost"), std::string::npos) << out;
  EXPECT_NE(out.find("null=0"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::is_empty(outside)) << "the agent created files in a host directory";
}

// A FIFO where /etc/hosts is mounted would hang an agent that opens it; a symlink there would make it
// write elsewhere. Both are replaced in the container's layer; the start neither hangs nor escapes.
TEST_F(AppSandboxRootTest, AFifoOrSymlinkAtAMountPointDoesNotHangOrEscape) {
  std::filesystem::create_directories(image_ + "/etc");
  ASSERT_EQ(::mkfifo((image_ + "/etc/hosts").c_str(), 0644), 0);
  const std::string target = tmp_.file("victim");
  std::filesystem::create_directories(image_ + "/dev");
  std::filesystem::create_symlink(target, image_ + "/dev/null");
  const std::string out = run(spec("fifo", "busybox cat /etc/hosts"));
  EXPECT_NE(out.find("127.0.0.1 localhost"), std::string::npos) << out;
  EXPECT_FALSE(std::filesystem::exists(target));
  struct stat st {};
  ASSERT_EQ(::lstat((image_ + "/etc/hosts").c_str(), &st), 0);
  EXPECT_TRUE(S_ISFIFO(st.st_mode)) << "the image changed";
}

// Docker's 14 capabilities by default; linuxParameters.capabilities.drop ALL leaves none. unshare
// (a new user namespace) and mount are refused by the seccomp filter whatever the capabilities.
TEST_F(AppSandboxRootTest, CapabilitiesFollowTheTaskDefinitionAndNamespacesStayClosed) {
  inject::ContainerSpec s = spec("caps",
                                 "busybox grep Cap /proc/self/status; busybox unshare -U true && echo userns-made;"
                                 "busybox mount -t tmpfs x /tmp && echo mounted; exit 0");
  const std::string out = run(s);
  char expected[32];
  std::snprintf(expected, sizeof expected, "CapEff:\t%016llx",
                static_cast<unsigned long long>(model::dockerDefaultCapabilities()));
  EXPECT_NE(out.find(expected), std::string::npos) << out;
  EXPECT_EQ(out.find("userns-made"), std::string::npos) << out;
  EXPECT_EQ(out.find("mounted"), std::string::npos) << out;
  auto none = model::containerCapabilities({}, {"ALL"}, 0);
  ASSERT_TRUE(none.ok());
  s = spec("nocaps", "busybox grep CapEff /proc/self/status");
  s.capabilities = *none;
  EXPECT_NE(run(s).find("CapEff:\t0000000000000000"), std::string::npos);
}

// A new user namespace needs no capability, so seccomp must stop it: clone(2) with a namespace flag
// and unshare(2) fail with EPERM, clone3(2) with ENOSYS (glibc then uses clone); io_uring_setup,
// bpf and keyctl with EPERM; get_mempolicy, in neither of the filter's lists, with EPERM from the
// default action. A plain clone (a fork) works, and the probe runs to its end. The same probe
// without the filter is the control: there the kernel answers each of these calls otherwise.
TEST_F(AppSandboxRootTest, NamespacesIoUringBpfKeyctlAndUnlistedCallsAreRefusedBySeccomp) {
  const std::string probe = std::string(SC_BINARY_DIR) + "/tests/root/sc_clone_probe";
  std::filesystem::copy_file(probe, image_ + "/bin/probe");
  ::chmod((image_ + "/bin/probe").c_str(), 0755);
  inject::ContainerSpec s = spec("probe", "");
  s.binary = "/bin/probe";
  s.args = {};
  const std::string out = run(s);
  for (const char* line : {"clone NEWUSER: EPERM", "clone NEWNET: EPERM", "clone plain: allowed",
                           "clone3 NEWUSER: ENOSYS", "unshare NEWUSER: EPERM", "io_uring_setup: EPERM", "bpf: EPERM",
                           "keyctl: EPERM", "get_mempolicy: EPERM", "probe done"}) {
    EXPECT_NE(out.find(line), std::string::npos) << line << "\n" << out;
  }
  inject::ContainerSpec unfiltered = spec("probe-unfiltered", "");
  unfiltered.binary = "/bin/probe";
  unfiltered.args = {};
  unfiltered.seccomp = false;
  const std::string control = run(unfiltered);
  for (const char* line :
       {"clone NEWUSER: allowed", "clone plain: allowed", "clone3 NEWUSER: allowed", "unshare NEWUSER: allowed",
        "io_uring_setup: allowed", "bpf: EINVAL", "keyctl: allowed", "get_mempolicy: allowed", "probe done"}) {
    EXPECT_NE(control.find(line), std::string::npos) << line << "\n" << control;
  }
}

// readonlyRootFilesystem: the root refuses writes, /tmp still takes them.
TEST_F(AppSandboxRootTest, ReadOnlyRootFilesystemLeavesTmpWritable) {
  inject::ContainerSpec s = spec("ro", "echo x > /www/new && echo root-written; echo y > /tmp/t && echo tmp-written");
  s.readonly_rootfs = true;
  const std::string out = run(s);
  EXPECT_EQ(out.find("root-written"), std::string::npos) << out;
  EXPECT_NE(out.find("tmp-written"), std::string::npos) << out;
}

// A fork bomb is stopped by the task's pids.max; the host keeps forking.
TEST_F(AppSandboxRootTest, AForkBombIsStoppedByThePidsLimit) {
  const std::string name = "scagent-sandbox-test-" + std::to_string(::getpid());
  auto cg = inject::TaskCgroup::create({.task_cgroup = name, .task_memory_bytes = 256ll << 20, .pids_max = 32});
  ASSERT_TRUE(cg.ok()) << cg.error().message;
  auto limit = (*cg)->taskPidsLimit();
  ASSERT_TRUE(limit.ok()) << limit.error().message;
  EXPECT_EQ(*limit, 32);
  inject::ContainerSpec s = spec("bomb",
                                 "i=0; while [ $i -lt 100 ]; do busybox sleep 30 & i=$((i+1)); done;"
                                 "echo started=$(busybox cat /proc/loadavg >/dev/null; echo ok)");
  s.cgroup = name;
  const std::string out = run(s, [&](pid_t pid) { return (*cg)->attachApp("bomb", pid, 0); });
  EXPECT_NE(out.find("can't fork"), std::string::npos) << out;
  EXPECT_TRUE((*cg)->destroy().ok());
}

// Images come from the image directory only: file:// paths elsewhere, '..', and symlinks that leave
// it are refused with an error that says so.
TEST_F(AppSandboxRootTest, ImagesOutsideTheImageDirectoryAreRefused) {
  const std::string dir = tmp_.file("images");
  EXPECT_TRUE(agent::resolveImage("app", dir).ok());
  EXPECT_TRUE(agent::resolveImage("file://" + dir + "/app", dir).ok());
  std::filesystem::create_directory_symlink("/etc", dir + "/escape");
  for (const std::string& bad : {std::string("file:///"), std::string("file:///etc"), "file://" + dir + "/../",
                                 std::string(".."), std::string("escape"), std::string("a/b")}) {
    auto r = agent::resolveImage(bad, dir);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(
        r.error().message.find(bad == "escape" || bad.starts_with("file") ? "beneath the image directory" : "expected"),
        std::string::npos)
        << bad << ": " << r.error().message;
  }
}

}  // namespace
}  // namespace sc
