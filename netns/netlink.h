// NetlinkKernel: the real NetworkKernel, over rtnetlink through libnl-route. This header is free
// of libnl; only netlink.cc includes it.
//
// Named namespaces follow iproute2's layout, so `ip netns exec <name>` works on them: an empty
// file <dir>/<name> with the namespace bind-mounted on it, <dir> a shared mount. A namespace is
// created on a short-lived thread that unshares and binds its own namespace; no shared thread
// ever changes namespace. Thread-safe: one mutex guards the host netlink socket.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "netns/kernel.h"

namespace sc::netns {

class NetlinkKernel final : public NetworkKernel {
 public:
  // `netns_dir` is where named namespaces live (/run/netns).
  static Result<std::unique_ptr<NetlinkKernel>> create(std::string netns_dir = "/run/netns");
  ~NetlinkKernel() override;

  // NetworkKernel
  Result<Outcome> ensureBridge(const std::string& name, const IpAddress& gateway, int prefix) override;
  Result<Outcome> deleteLink(const std::string& name) override;
  Result<bool> linkExists(const std::string& name) override;
  Result<std::vector<std::string>> listLinks(const std::string& prefix) override;
  Result<Outcome> createNetns(const std::string& name) override;
  Result<Outcome> deleteNetns(const std::string& name) override;
  bool netnsExists(const std::string& name) override;
  std::string netnsPath(const std::string& name) const override { return netns_dir_ + "/" + name; }
  Result<std::vector<std::string>> listNetns(const std::string& prefix) override;
  Result<void> createVeth(const VethRequest& request) override;
  Result<void> configureTask(const TaskAddress& address) override;
  Result<std::vector<std::string>> taskAddresses(const std::string& netns_name, const std::string& ifname) override;
  Result<std::vector<HostRoute>> listHostRoutes() override;
  Result<void> replaceHostRoute(const HostRoute& route) override;
  Result<Outcome> deleteHostRoute(const HostRoute& route) override;

 private:
  struct Impl;
  NetlinkKernel(std::string netns_dir, std::unique_ptr<Impl> impl);
  Result<void> prepareNetnsDir();

  std::string netns_dir_;
  std::unique_ptr<Impl> impl_;
  std::mutex mu_;
  bool netns_dir_ready_ = false;
};

}  // namespace sc::netns
