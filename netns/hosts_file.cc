#include "netns/hosts_file.h"

namespace sc::netns {

std::string renderHostsFile(const SandboxSpec& spec, const IpAddress& task_address) {
  std::string out = "# written by scagent for task " + spec.task_id + " at task start; not updated later\n";
  out += "127.0.0.1\tlocalhost\n";
  out += "::1\tlocalhost ip6-localhost ip6-loopback\n";
  out += task_address.toString() + "\t" + spec.hostname + "\n";
  for (const HostEntry& h : spec.hosts) out += h.address + "\t" + h.name + "\n";
  return out;
}

}  // namespace sc::netns
