#include "tests/support/controlplane/sccontrol_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "model/json_input.h"

namespace sc::testing {

SccontrolProcess::SccontrolProcess(const std::string& dir, std::vector<std::string> extra) {
  std::string bin = std::string(SC_BINARY_DIR) + "/controlplane/sccontrol";
  std::string port_file = dir + "/port";
  ::unlink(port_file.c_str());
  std::vector<std::string> args = {bin, "--listen", "127.0.0.1:0", "--data-dir", dir, "--port-file", port_file};
  args.insert(args.end(), extra.begin(), extra.end());
  std::string log = dir + "/sccontrol.log";
  pid_ = ::fork();
  if (pid_ == 0) {
    // A test that crashes must not leave a server behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(bin.c_str(), argv.data());
    ::_exit(127);
  }
  if (pid_ < 0) {
    ADD_FAILURE() << "fork failed";
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(port_file);
    int p = 0;
    if (f >> p && p > 0) {
      port_ = static_cast<uint16_t>(p);
      break;
    }
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (port_ == 0) {
    std::ifstream l(log);
    std::stringstream ss;
    ss << l.rdbuf();
    ADD_FAILURE() << "sccontrol did not start; its log:\n" << ss.str();
    return;
  }
  std::ifstream c(dir + "/credentials");
  std::stringstream cs;
  cs << c.rdbuf();
  auto j = model::Json::parse(cs.str());
  key_ = {j["accessKeys"][0]["id"].get<std::string>(), j["accessKeys"][0]["secret"].get<std::string>()};
  bootstrap_ = j["bootstrapToken"].get<std::string>();
}

int SccontrolProcess::kill(int sig) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  int st = 0;
  ::waitpid(pid_, &st, 0);
  pid_ = -1;
  return st;
}

SccontrolProcess::~SccontrolProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  for (int i = 0; i < 200; ++i) {
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  kill(SIGKILL);
}

}  // namespace sc::testing
