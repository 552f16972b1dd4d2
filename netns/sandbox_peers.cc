// SandboxManager's routes to the other hosts' task subnets (host-gw; sandbox.h, setPeers()).
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/file.h"
#include "netns/sandbox.h"

namespace sc::netns {

using nlohmann::ordered_json;

namespace {

std::string peerName(const PeerSubnet& p) { return "peer " + p.name + " (" + p.subnet.toString() + ")"; }

// The peers that can be routed at all, in the order given; the others named in `findings`.
std::vector<PeerSubnet> routable(std::vector<PeerSubnet> peers, const Cidr& own, std::vector<std::string>& findings) {
  std::vector<PeerSubnet> out;
  for (PeerSubnet& p : peers) {
    std::string why;
    // A subnet holding a host's address would take that host's traffic (a longer prefix than the
    // shared link's): a hostile or mistaken registration must not capture another host.
    auto captured =
        std::find_if(peers.begin(), peers.end(), [&](const PeerSubnet& q) { return p.subnet.contains(q.via); });
    if (overlaps(p.subnet, own)) {
      why = "its task CIDR overlaps this host's " + own.toString();
    } else if (own.contains(p.via)) {
      why = "its host address " + p.via.toString() + " lies in this host's task CIDR";
    } else if (captured != peers.end()) {
      why = "its task CIDR holds the host address " + captured->via.toString();
    } else {
      for (const PeerSubnet& q : out) {
        if (overlaps(p.subnet, q.subnet)) why = "its task CIDR overlaps that of " + q.name;
      }
    }
    if (why.empty()) {
      out.push_back(std::move(p));
    } else {
      findings.push_back(peerName(p) + " is not routed: " + why + "; its awsvpc tasks are unreachable from here");
    }
  }
  return out;
}

}  // namespace

Result<std::vector<std::string>> SandboxManager::setPeersLocked(std::vector<PeerSubnet> peers) {
  std::vector<std::string> findings;
  peers_ = routable(std::move(peers), cidr_, findings);
  if (::access(hostStatePath().c_str(), F_OK) != 0) return findings;  // set up with the first task
  SC_ASSIGN_OR_RETURN(std::vector<std::string> more, syncPeersLocked());
  findings.insert(findings.end(), more.begin(), more.end());
  return findings;
}

Result<std::vector<std::string>> SandboxManager::syncPeersLocked() {
  std::vector<std::string> findings;
  SC_ASSIGN_OR_RETURN(std::vector<HostRoute> have, deps_.kernel.listHostRoutes());
  std::vector<PeerSubnet> routed;
  for (const PeerSubnet& p : peers_) {
    const HostRoute want{p.subnet, p.via};
    if (std::find(have.begin(), have.end(), want) == have.end()) {
      if (auto r = deps_.kernel.replaceHostRoute(want); !r.ok()) {
        findings.push_back(peerName(p) + " is not routed: " + r.error().message);
        continue;
      }
    }
    routed.push_back(p);
  }
  for (const HostRoute& r : have) {
    const bool wanted = std::any_of(routed.begin(), routed.end(),
                                    [&](const PeerSubnet& p) { return p.subnet == r.dst && p.via == r.via; });
    if (wanted) continue;
    if (auto d = deps_.kernel.deleteHostRoute(r); !d.ok()) findings.push_back(d.error().message);
  }
  HostBase base = hostBase();
  std::vector<Cidr> subnets;
  for (const PeerSubnet& p : routed) subnets.push_back(p.subnet);
  if (subnets == base.peer_subnets) return findings;
  // Recorded first: after a crash in between, verifyHost() refills the chains from the record.
  SC_TRY(recordPeers(routed));
  base.peer_subnets = std::move(subnets);
  const RuleDocument doc = hostPeerChains(chains_, base);
  std::string text;
  for (Table t : tablesOf(doc)) {
    SC_ASSIGN_OR_RETURN(std::string part, renderInstall(doc, t));
    text += part;
  }
  SC_TRY(deps_.rules.restore("", doc.family, text));
  return findings;
}

Result<void> SandboxManager::recordPeers(const std::vector<PeerSubnet>& routed) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(hostStatePath()));
  auto j = ordered_json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) j = ordered_json::object();
  ordered_json peers = ordered_json::array();
  for (const PeerSubnet& p : routed) {
    peers.push_back({{"name", p.name}, {"subnet", p.subnet.toString()}, {"via", p.via.toString()}});
  }
  j["peers"] = std::move(peers);
  return writeFileAtomic(hostStatePath(), j.dump(2) + "\n", 0600);
}

std::vector<PeerSubnet> SandboxManager::recordedPeers() const {
  std::vector<PeerSubnet> out;
  auto text = readFile(hostStatePath());
  auto j = ordered_json::parse(text.ok() ? *text : std::string("{}"), nullptr, false);
  if (!j.is_object() || !j.contains("peers") || !j["peers"].is_array()) return out;
  for (const auto& p : j["peers"]) {
    if (!p.is_object()) continue;
    auto subnet = Cidr::parse(p.value("subnet", ""));
    auto via = IpAddress::parse(p.value("via", ""));
    if (subnet.ok() && via.ok()) out.push_back({p.value("name", ""), *subnet, *via});
  }
  return out;
}

std::vector<std::string> SandboxManager::verifyRoutesLocked() {
  std::vector<std::string> findings;
  auto have = deps_.kernel.listHostRoutes();
  if (!have.ok()) return {have.error().message};
  for (const PeerSubnet& p : recordedPeers()) {
    const HostRoute want{p.subnet, p.via};
    if (std::find(have->begin(), have->end(), want) != have->end()) continue;
    auto r = deps_.kernel.replaceHostRoute(want);
    findings.push_back("host route to " + p.subnet.toString() + " via " + p.via.toString() + " was missing" +
                       (r.ok() ? "" : "; not put back: " + r.error().message));
  }
  return findings;
}

std::vector<std::string> SandboxManager::removeRoutes() {
  std::vector<std::string> errors;
  auto have = deps_.kernel.listHostRoutes();
  if (!have.ok()) return {have.error().message};
  for (const HostRoute& r : *have) {
    if (auto d = deps_.kernel.deleteHostRoute(r); !d.ok()) errors.push_back(d.error().message);
  }
  return errors;
}

}  // namespace sc::netns
