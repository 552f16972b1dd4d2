#include "tests/support/controlplane/sccontrol_process.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "model/json_input.h"

namespace sc::testing {

SccontrolProcess::SccontrolProcess(const std::string& dir, std::vector<std::string> extra, const std::string& listen) {
  std::string bin = std::string(SC_BINARY_DIR) + "/controlplane/sccontrol";
  std::string port_file = dir + "/port";
  ::unlink(port_file.c_str());
  std::vector<std::string> args = {bin, "--listen", listen, "--data-dir", dir, "--port-file", port_file};
  args.insert(args.end(), extra.begin(), extra.end());
  log_ = dir + "/sccontrol.log";
  const std::string& log = log_;
  process_.start(args, log);
  if (!process_.running()) return;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream f(port_file);
    int p = 0;
    if (f >> p && p > 0) {
      port_ = static_cast<uint16_t>(p);
      break;
    }
    if (process_.exited()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (port_ == 0) {
    ADD_FAILURE() << "sccontrol did not start; its log:\n" << readTestFile(log);
    return;
  }
  auto j = model::Json::parse(readTestFile(dir + "/credentials"));
  key_ = {j["accessKeys"][0]["id"].get<std::string>(), j["accessKeys"][0]["secret"].get<std::string>()};
  bootstrap_ = j["bootstrapToken"].get<std::string>();
}

int SccontrolProcess::kill(int sig) { return process_.kill(sig); }

void SccontrolProcess::signal(int sig) {
  if (process_.running()) ::kill(process_.pid(), sig);
}

SccontrolProcess::~SccontrolProcess() { process_.stop(); }

}  // namespace sc::testing
