#include "netns/ipam.h"

#include <nlohmann/json.hpp>

#include "common/failpoint.h"
#include "common/file.h"
#include "common/strings.h"

namespace sc::netns {

using nlohmann::ordered_json;

Result<Ipam> Ipam::open(std::string path, const Cidr& cidr, int port_min, int port_max) {
  if (cidr.base.family != 4 || cidr.prefix > 30) {
    return makeError(ErrorCode::kInvalidArgument, "use task CIDR", cidr.toString(),
                     "need an IPv4 range of /30 or wider");
  }
  Ipam ipam(std::move(path), cidr, port_min, port_max);
  auto text = readFile(ipam.path_);
  if (!text.ok()) {
    if (text.error().sys_errno != ENOENT) return std::move(text).error().context("read", ipam.path_);
    SC_TRY(ipam.save({}, {}));
    return ipam;
  }
  auto j = ordered_json::parse(*text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return makeError(ErrorCode::kFailedPrecondition, "parse", ipam.path_, "not a JSON object");
  }
  if (j.value("cidr", "") != cidr.toString()) {
    return makeError(ErrorCode::kFailedPrecondition, "use", ipam.path_,
                     "it leases from '" + j.value("cidr", "") + "', not '" + cidr.toString() +
                         "'; remove every task before changing the task CIDR");
  }
  std::map<std::string, std::string> addresses, ports;
  try {
    addresses = j.value("addresses", ordered_json::object()).get<std::map<std::string, std::string>>();
    ports = j.value("ports", ordered_json::object()).get<std::map<std::string, std::string>>();
  } catch (const nlohmann::json::exception& e) {
    return makeError(ErrorCode::kFailedPrecondition, "parse", ipam.path_, e.what());
  }
  for (const auto& [addr, task] : addresses) {
    auto ip = IpAddress::parse(addr);
    if (!ip.ok() || !cidr.contains(*ip)) {
      return makeError(ErrorCode::kFailedPrecondition, "parse", ipam.path_, "bad address lease '" + addr + "'");
    }
    ipam.addresses_[ip->v4()] = task;
  }
  for (const auto& [key, task] : ports) {
    std::vector<std::string> parts = split(key, '/');
    auto port = parts.size() == 2 ? parseUint(parts[1], 65535) : std::nullopt;
    if (!port || (parts[0] != "tcp" && parts[0] != "udp")) {
      return makeError(ErrorCode::kFailedPrecondition, "parse", ipam.path_, "bad port lease '" + key + "'");
    }
    ipam.ports_[{parts[0] == "tcp" ? Proto::kTcp : Proto::kUdp, static_cast<int>(*port)}] = task;
  }
  return ipam;
}

std::string Ipam::render(const Cidr& cidr, const std::map<uint32_t, std::string>& addresses,
                         const std::map<std::pair<Proto, int>, std::string>& ports) {
  ordered_json j;
  j["cidr"] = cidr.toString();
  j["addresses"] = ordered_json::object();
  for (const auto& [a, t] : addresses) j["addresses"][IpAddress::fromV4(a).toString()] = t;
  j["ports"] = ordered_json::object();
  for (const auto& [p, t] : ports) j["ports"][std::string(protoName(p.first)) + "/" + std::to_string(p.second)] = t;
  return j.dump(2) + "\n";
}

Result<void> Ipam::save(const std::map<uint32_t, std::string>& addresses,
                        const std::map<std::pair<Proto, int>, std::string>& ports) {
  return writeFileAtomic(path_, render(cidr_, addresses, ports), 0600);
}

Result<Lease> Ipam::allocate(const std::string& task, const std::vector<PortRequest>& requests,
                             const PortInUse& in_use) {
  SC_FAILPOINT("netns.ipam_allocate");
  if (addressOf(task)) return makeError(ErrorCode::kAlreadyExists, "lease address to", task, "it holds one");
  auto addresses = addresses_;
  auto ports = ports_;
  Lease lease;
  const uint64_t last = cidr_.size() - 2;  // the broadcast is size-1
  bool found = false;
  for (uint64_t n = 2; n <= last; ++n) {
    uint32_t a = cidr_.at(n).v4();
    if (!addresses.count(a)) {
      addresses[a] = task;
      lease.address = IpAddress::fromV4(a);
      found = true;
      break;
    }
  }
  if (!found) return makeError(ErrorCode::kUnavailable, "lease address to", task, cidr_.toString() + " is full");
  for (const PortRequest& r : requests) {
    if (r.port != 0) {
      if (ports.count({r.proto, r.port})) {
        return makeError(ErrorCode::kAlreadyExists, "lease host port",
                         std::string(protoName(r.proto)) + "/" + std::to_string(r.port),
                         "leased to task '" + ports[{r.proto, r.port}] + "'");
      }
      if (in_use && in_use(r.proto, r.port)) {
        return makeError(ErrorCode::kAlreadyExists, "lease host port",
                         std::string(protoName(r.proto)) + "/" + std::to_string(r.port),
                         "a socket on the host uses it");
      }
      ports[{r.proto, r.port}] = task;
      lease.ports.emplace_back(r.proto, r.port);
      continue;
    }
    int chosen = 0;
    for (int p = port_min_; p <= port_max_; ++p) {
      if (!ports.count({r.proto, p}) && !(in_use && in_use(r.proto, p))) {
        chosen = p;
        break;
      }
    }
    if (chosen == 0) {
      return makeError(ErrorCode::kUnavailable, "lease host port to", task,
                       "no free port in " + std::to_string(port_min_) + "-" + std::to_string(port_max_));
    }
    ports[{r.proto, chosen}] = task;
    lease.ports.emplace_back(r.proto, chosen);
  }
  SC_TRY_CTX(save(addresses, ports), "record lease of", task);
  addresses_ = std::move(addresses);
  ports_ = std::move(ports);
  return lease;
}

Result<void> Ipam::release(const std::string& task) {
  auto addresses = addresses_;
  auto ports = ports_;
  bool changed = false;
  for (auto it = addresses.begin(); it != addresses.end();) {
    if (it->second == task) {
      it = addresses.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  for (auto it = ports.begin(); it != ports.end();) {
    if (it->second == task) {
      it = ports.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (!changed) return ok();
  SC_TRY_CTX(save(addresses, ports), "release lease of", task);
  addresses_ = std::move(addresses);
  ports_ = std::move(ports);
  return ok();
}

std::optional<IpAddress> Ipam::addressOf(const std::string& task) const {
  for (const auto& [a, t] : addresses_) {
    if (t == task) return IpAddress::fromV4(a);
  }
  return std::nullopt;
}

std::vector<std::string> Ipam::tasks() const {
  std::set<std::string> s;
  for (const auto& [a, t] : addresses_) s.insert(t);
  for (const auto& [p, t] : ports_) s.insert(t);
  return {s.begin(), s.end()};
}

std::optional<std::string> Ipam::holderOf(const IpAddress& address) const {
  if (address.family != 4) return std::nullopt;
  auto it = addresses_.find(address.v4());
  if (it == addresses_.end()) return std::nullopt;
  return it->second;
}

}  // namespace sc::netns
