// Host compatibility: what `scagent check-host` reports and what decides whether this host
// advertises the Service Connect capability.
//
// Facts are gathered by a HostProbe (real: files, feature probes in throwaway namespaces, the ECS
// agent's introspection endpoint; fake: tests) and judged by evaluateHost(), a pure function of
// the facts and the policy.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/process.h"
#include "common/result.h"

namespace sc::agent {

// The seed's policy table, with the overrides an operator may set in the agent's configuration.
struct HostPolicy {
  std::string min_ecs_agent_version = "1.67.2";
  std::string min_ami_version = "2.0.20221115";
  std::string min_haproxy_version = "2.4";
  bool allow_amazon_linux_2023 = false;  // the seed: the AL2023 ECS AMI is not supported
  bool allow_old_ami = false;            // an ECS-optimized AL2 AMI older than min_ami_version
  bool allow_external = false;           // ECS Anywhere ("External") instances
  std::string haproxy_path = "/usr/sbin/haproxy";
  std::string iptables_restore_path;  // empty: found in /usr/sbin, /sbin
};

struct ProbeOutcome {
  bool ok = false;
  std::string detail;
};

struct HostFacts {
  std::map<std::string, std::string> os_release;  // /etc/os-release
  std::map<std::string, std::string> image_id;    // /etc/image-id (Amazon Linux AMIs)
  std::optional<std::string> ecs_agent_version;   // from the ECS agent's introspection API
  bool external_instance = false;                 // ECS_EXTERNAL=true in /etc/ecs/ecs.config
  std::string kernel_release;
  ProbeOutcome netns;
  ProbeOutcome nat_redirect;
  ProbeOutcome cgroup_memory;
  ProbeOutcome seccomp;
  ProbeOutcome ip_forward;
  std::optional<std::string> haproxy_vv;  // `haproxy -vv` output; nullopt when it did not run
  std::string haproxy_error;
};

enum class CheckStatus { kPass, kFail, kNotApplicable };

struct HostCheck {
  std::string name;
  CheckStatus status;
  std::string detail;
};

struct HostReport {
  std::vector<HostCheck> checks;
  bool compatible() const;
  std::vector<std::string> failures() const;  // "name: detail" of each failed check
};

HostReport evaluateHost(const HostFacts& facts, const HostPolicy& policy);

class HostProbe {
 public:
  virtual ~HostProbe() = default;
  virtual HostFacts gather(const HostPolicy& policy) = 0;
};

// Reads the host and probes the kernel. Probes that need privileges run in children with a fresh
// network namespace, so they leave nothing behind.
class RealHostProbe final : public HostProbe {
 public:
  explicit RealHostProbe(ProcessRunner& runner, std::string root = "/") : runner_(runner), root_(std::move(root)) {}
  // HostProbe
  HostFacts gather(const HostPolicy& policy) override;

 private:
  ProcessRunner& runner_;
  std::string root_;  // prefix for /etc files (tests)
};

// Pure parsers, exposed for tests.
std::map<std::string, std::string> parseKeyValueFile(std::string_view text);  // os-release style
struct HaproxyInfo {
  std::string version;
  bool prometheus = false;
  bool netfilter = false;
  bool splice = false;
};
std::optional<HaproxyInfo> parseHaproxyVv(std::string_view text);
// "Amazon ECS Agent - v1.67.2 (abcdef)" or "1.67.2" -> "1.67.2".
std::optional<std::string> parseEcsAgentVersion(std::string_view text);
// True when /proc/self/mounts text shows a cgroup v1 memory hierarchy.
bool mountsHaveCgroupV1Memory(std::string_view mounts);
// The mount point of the cgroup2 hierarchy, if any.
std::optional<std::string> cgroup2MountPoint(std::string_view mounts);

std::string renderHostReportTable(const HostReport& report);
std::string renderHostReportJson(const HostReport& report);

}  // namespace sc::agent
