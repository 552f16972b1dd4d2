// The only file that includes libnl headers.
#include "netns/netlink.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <net/if.h>
#include <netlink/addr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <thread>

#include "common/file.h"
#include "common/unique_fd.h"
#include "netns/netns_thread.h"

namespace sc::netns {
namespace {

// One owner per libnl type (Mesos routing::Netlink<T>).
struct SockDeleter {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
struct LinkDeleter {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
struct AddrDeleter {
  void operator()(rtnl_addr* a) const { rtnl_addr_put(a); }
};
struct NlAddrDeleter {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RouteDeleter {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
struct CacheDeleter {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
using Sock = std::unique_ptr<nl_sock, SockDeleter>;
using Link = std::unique_ptr<rtnl_link, LinkDeleter>;
using Addr = std::unique_ptr<rtnl_addr, AddrDeleter>;
using NlAddr = std::unique_ptr<nl_addr, NlAddrDeleter>;
using Route = std::unique_ptr<rtnl_route, RouteDeleter>;
using Cache = std::unique_ptr<nl_cache, CacheDeleter>;

Error nlError(int err, std::string_view verb, std::string_view object) {
  return makeError(err == -NLE_PERM ? ErrorCode::kPermission : ErrorCode::kFailedPrecondition, verb, object,
                   nl_geterror(err));
}

Result<Sock> openSocket() {
  Sock s(nl_socket_alloc());
  if (!s) return makeError(ErrorCode::kInternal, "allocate", "netlink socket", "out of memory");
  if (int err = nl_connect(s.get(), NETLINK_ROUTE); err < 0) return nlError(err, "connect", "rtnetlink socket");
  return s;
}

// The link called `name`, or null when there is none.
Result<Link> getLink(nl_sock* sock, const std::string& name) {
  rtnl_link* raw = nullptr;
  int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &raw);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return Link();
  if (err < 0) return nlError(err, "look up link", name);
  return Link(raw);
}

Result<NlAddr> v4Addr(const IpAddress& ip, int prefix) {
  if (ip.family != 4) return makeError(ErrorCode::kInvalidArgument, "use address", ip.toString(), "IPv4 only");
  NlAddr a(nl_addr_build(AF_INET, ip.bytes.data(), 4));
  if (!a) return makeError(ErrorCode::kInternal, "build address", ip.toString(), "out of memory");
  nl_addr_set_prefixlen(a.get(), prefix);
  return a;
}

// Adds `ip/prefix` to the link with `ifindex`; an address already there is fine.
Result<void> addAddress(nl_sock* sock, int ifindex, const IpAddress& ip, int prefix, const std::string& ifname) {
  Addr addr(rtnl_addr_alloc());
  if (!addr) return makeError(ErrorCode::kInternal, "allocate", "address", "out of memory");
  SC_ASSIGN_OR_RETURN(NlAddr local, v4Addr(ip, prefix));
  rtnl_addr_set_ifindex(addr.get(), ifindex);
  rtnl_addr_set_family(addr.get(), AF_INET);
  if (int err = rtnl_addr_set_local(addr.get(), local.get()); err < 0) {
    return nlError(err, "set address", ip.toString());
  }
  int err = rtnl_addr_add(sock, addr.get(), 0);
  if (err < 0 && err != -NLE_EXIST) return nlError(err, "add address " + ip.toString() + " to", ifname);
  return ok();
}

Result<void> setUp(nl_sock* sock, rtnl_link* link, const std::string& name) {
  if (rtnl_link_get_flags(link) & IFF_UP) return ok();
  Link change(rtnl_link_alloc());
  if (!change) return makeError(ErrorCode::kInternal, "allocate", "link", "out of memory");
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (int err = rtnl_link_change(sock, link, change.get(), 0); err < 0) return nlError(err, "bring up", name);
  return ok();
}

// `route.dst via route.via`, tagged kRouteProtocol, in the main table.
Result<Route> hostRoute(const HostRoute& r) {
  Route route(rtnl_route_alloc());
  if (!route) return makeError(ErrorCode::kInternal, "allocate", "route", "out of memory");
  SC_ASSIGN_OR_RETURN(NlAddr dst, v4Addr(r.dst.base, r.dst.prefix));
  SC_ASSIGN_OR_RETURN(NlAddr via, v4Addr(r.via, 32));
  rtnl_route_set_family(route.get(), AF_INET);
  rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
  rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
  rtnl_route_set_protocol(route.get(), kRouteProtocol);
  if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) return nlError(err, "set route", r.dst.toString());
  rtnl_nexthop* nh = rtnl_route_nh_alloc();
  if (nh == nullptr) return makeError(ErrorCode::kInternal, "allocate", "next hop", "out of memory");
  rtnl_route_nh_set_gateway(nh, via.get());
  rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
  return route;
}

std::optional<IpAddress> ipv4Of(nl_addr* a) {
  if (a == nullptr || nl_addr_get_family(a) != AF_INET || nl_addr_get_len(a) != 4) return std::nullopt;
  IpAddress ip;
  std::memcpy(ip.bytes.data(), nl_addr_get_binary_addr(a), 4);
  return ip;
}

bool isNsfsMount(const std::string& path) {
  struct statfs st {};
  return ::statfs(path.c_str(), &st) == 0 && st.f_type == static_cast<decltype(st.f_type)>(NSFS_MAGIC);
}

}  // namespace

const char* outcomeName(Outcome o) {
  switch (o) {
    case Outcome::kCreated:
      return "created";
    case Outcome::kAlreadyPresent:
      return "already present";
    case Outcome::kRemoved:
      return "removed";
    case Outcome::kAbsent:
      return "absent";
  }
  return "?";
}

struct NetlinkKernel::Impl {
  Sock host;
};

NetlinkKernel::NetlinkKernel(std::string netns_dir, std::unique_ptr<Impl> impl)
    : netns_dir_(std::move(netns_dir)), impl_(std::move(impl)) {}
NetlinkKernel::~NetlinkKernel() = default;

Result<std::unique_ptr<NetlinkKernel>> NetlinkKernel::create(std::string netns_dir) {
  auto impl = std::make_unique<Impl>();
  SC_ASSIGN_OR_RETURN(impl->host, openSocket());
  return std::unique_ptr<NetlinkKernel>(new NetlinkKernel(std::move(netns_dir), std::move(impl)));
}

Result<Outcome> NetlinkKernel::ensureBridge(const std::string& name, const IpAddress& gateway, int prefix) {
  std::lock_guard lock(mu_);
  nl_sock* sock = impl_->host.get();
  SC_ASSIGN_OR_RETURN(Link existing, getLink(sock, name));
  Outcome outcome = Outcome::kAlreadyPresent;
  if (!existing) {
    Link br(rtnl_link_bridge_alloc());
    if (!br) return makeError(ErrorCode::kInternal, "allocate", "bridge", "out of memory");
    rtnl_link_set_name(br.get(), name.c_str());
    rtnl_link_set_flags(br.get(), IFF_UP);
    int err = rtnl_link_add(sock, br.get(), NLM_F_CREATE | NLM_F_EXCL);
    if (err < 0 && err != -NLE_EXIST) return nlError(err, "create bridge", name);
    if (err == 0) outcome = Outcome::kCreated;
    SC_ASSIGN_OR_RETURN(existing, getLink(sock, name));
    if (!existing) return makeError(ErrorCode::kNotFound, "find bridge", name, "gone right after creation");
  }
  SC_TRY(setUp(sock, existing.get(), name));
  SC_TRY(addAddress(sock, rtnl_link_get_ifindex(existing.get()), gateway, prefix, name));
  return outcome;
}

Result<Outcome> NetlinkKernel::deleteLink(const std::string& name) {
  std::lock_guard lock(mu_);
  Link link(rtnl_link_alloc());
  if (!link) return makeError(ErrorCode::kInternal, "allocate", "link", "out of memory");
  rtnl_link_set_name(link.get(), name.c_str());
  int err = rtnl_link_delete(impl_->host.get(), link.get());
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NODEV) return Outcome::kAbsent;
  if (err < 0) return nlError(err, "delete link", name);
  return Outcome::kRemoved;
}

Result<bool> NetlinkKernel::linkExists(const std::string& name) {
  std::lock_guard lock(mu_);
  SC_ASSIGN_OR_RETURN(Link l, getLink(impl_->host.get(), name));
  return static_cast<bool>(l);
}

Result<std::vector<std::string>> NetlinkKernel::listLinks(const std::string& prefix) {
  std::lock_guard lock(mu_);
  nl_cache* raw = nullptr;
  if (int err = rtnl_link_alloc_cache(impl_->host.get(), AF_UNSPEC, &raw); err < 0) {
    return nlError(err, "list", "links");
  }
  Cache cache(raw);
  std::vector<std::string> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    const char* n = rtnl_link_get_name(reinterpret_cast<rtnl_link*>(o));
    if (n != nullptr && std::string_view(n).starts_with(prefix)) out.emplace_back(n);
  }
  return out;
}

Result<void> NetlinkKernel::prepareNetnsDir() {
  if (netns_dir_ready_) return ok();
  SC_TRY(makeDirs(netns_dir_, 0755));
  // As iproute2 does: make the directory a shared mount (binding it onto itself first when it is
  // not a mount point), so namespace mounts propagate to every mount namespace that sees it.
  if (::mount("", netns_dir_.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
    if (errno != EINVAL) return errnoError(errno, "make shared mount", netns_dir_);
    if (::mount(netns_dir_.c_str(), netns_dir_.c_str(), "none", MS_BIND | MS_REC, nullptr) != 0) {
      return errnoError(errno, "bind mount", netns_dir_);
    }
    if (::mount("", netns_dir_.c_str(), "none", MS_SHARED | MS_REC, nullptr) != 0) {
      return errnoError(errno, "make shared mount", netns_dir_);
    }
  }
  netns_dir_ready_ = true;
  return ok();
}

Result<Outcome> NetlinkKernel::createNetns(const std::string& name) {
  const std::string path = netnsPath(name);
  {
    std::lock_guard lock(mu_);
    SC_TRY(prepareNetnsDir());
  }
  if (isNsfsMount(path)) return Outcome::kAlreadyPresent;
  ::unlink(path.c_str());  // a stale file without a namespace on it
  {
    UniqueFd f(::open(path.c_str(), O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0));
    if (!f.valid()) return errnoError(errno, "create namespace file", path);
  }
  Result<void> bound = makeError(ErrorCode::kInternal, "create network namespace", name, "thread did not run");
  std::thread t([&] {
    // This thread alone moves into the new namespace and ends there.
    if (::unshare(CLONE_NEWNET) != 0) {
      bound = errnoError(errno, "create network namespace", name);
      return;
    }
    if (::mount("/proc/thread-self/ns/net", path.c_str(), "none", MS_BIND, nullptr) != 0) {
      bound = errnoError(errno, "bind network namespace to", path);
      return;
    }
    bound = ok();
  });
  t.join();
  if (!bound.ok()) {
    ::unlink(path.c_str());
    return std::move(bound).error();
  }
  return Outcome::kCreated;
}

Result<Outcome> NetlinkKernel::deleteNetns(const std::string& name) {
  const std::string path = netnsPath(name);
  bool mounted = ::umount2(path.c_str(), MNT_DETACH) == 0;
  if (!mounted && errno != EINVAL && errno != ENOENT) return errnoError(errno, "unmount", path);
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return mounted ? Outcome::kRemoved : Outcome::kAbsent;
    return errnoError(errno, "remove", path);
  }
  return Outcome::kRemoved;
}

bool NetlinkKernel::netnsExists(const std::string& name) { return isNsfsMount(netnsPath(name)); }

Result<std::vector<std::string>> NetlinkKernel::listNetns(const std::string& prefix) {
  std::vector<std::string> out;
  DIR* d = ::opendir(netns_dir_.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return out;
    return errnoError(errno, "list", netns_dir_);
  }
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != ".." && n.starts_with(prefix)) out.push_back(n);
  }
  ::closedir(d);
  return out;
}

Result<void> NetlinkKernel::createVeth(const VethRequest& req) {
  const std::string ns_path = netnsPath(req.netns_name);
  UniqueFd ns(::open(ns_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!ns.valid()) return errnoError(errno, "open network namespace", ns_path);
  std::lock_guard lock(mu_);
  nl_sock* sock = impl_->host.get();
  SC_ASSIGN_OR_RETURN(Link br, getLink(sock, req.bridge));
  if (!br) return makeError(ErrorCode::kNotFound, "find bridge", req.bridge, "no such link");
  Link veth(rtnl_link_veth_alloc());
  if (!veth) return makeError(ErrorCode::kInternal, "allocate", "veth", "out of memory");
  Link peer(rtnl_link_veth_get_peer(veth.get()));  // a new reference
  rtnl_link_set_name(veth.get(), req.host_name.c_str());
  rtnl_link_set_master(veth.get(), rtnl_link_get_ifindex(br.get()));
  rtnl_link_set_flags(veth.get(), IFF_UP);
  rtnl_link_set_name(peer.get(), req.peer_name.c_str());
  // Not IFF_UP here: the kernel opens the peer before it links the pair and refuses with
  // ENOTCONN (veth_open()); configureTask() brings eth0 up.
  // The peer is born in the task namespace: no move afterwards, so no unregister/re-register
  // under rtnl_lock and no rcu_barrier() (amazon-vpc-cni-k8s PR #3764).
  rtnl_link_set_ns_fd(peer.get(), ns.get());
  int err = rtnl_link_add(sock, veth.get(), NLM_F_CREATE | NLM_F_EXCL);
  if (err < 0) return nlError(err, "create veth", req.host_name);
  return ok();
}

Result<void> NetlinkKernel::configureTask(const TaskAddress& a) {
  return runInNetns(netnsPath(a.netns_name), [&]() -> Result<void> {
    SC_ASSIGN_OR_RETURN(Sock sock, openSocket());
    SC_ASSIGN_OR_RETURN(Link lo, getLink(sock.get(), "lo"));
    if (!lo) return makeError(ErrorCode::kNotFound, "find link", "lo", "no loopback in " + a.netns_name);
    // With lo up, 127.0.0.0/8 is local in the namespace: the proxy can bind any loopback VIP.
    SC_TRY(setUp(sock.get(), lo.get(), "lo"));
    SC_ASSIGN_OR_RETURN(Link eth, getLink(sock.get(), a.ifname));
    if (!eth) return makeError(ErrorCode::kNotFound, "find link", a.ifname, "not in " + a.netns_name);
    const int ifindex = rtnl_link_get_ifindex(eth.get());
    SC_TRY(addAddress(sock.get(), ifindex, a.address, a.prefix, a.ifname));
    SC_TRY(setUp(sock.get(), eth.get(), a.ifname));
    Route route(rtnl_route_alloc());
    if (!route) return makeError(ErrorCode::kInternal, "allocate", "route", "out of memory");
    SC_ASSIGN_OR_RETURN(NlAddr dst, v4Addr(IpAddress::fromV4(0), 0));
    SC_ASSIGN_OR_RETURN(NlAddr gw, v4Addr(a.gateway, 32));
    rtnl_route_set_family(route.get(), AF_INET);
    rtnl_route_set_table(route.get(), RT_TABLE_MAIN);
    rtnl_route_set_scope(route.get(), RT_SCOPE_UNIVERSE);
    rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
    if (int err = rtnl_route_set_dst(route.get(), dst.get()); err < 0) return nlError(err, "set route", "default");
    rtnl_nexthop* nh = rtnl_route_nh_alloc();
    if (nh == nullptr) return makeError(ErrorCode::kInternal, "allocate", "next hop", "out of memory");
    rtnl_route_nh_set_gateway(nh, gw.get());
    rtnl_route_nh_set_ifindex(nh, ifindex);
    rtnl_route_add_nexthop(route.get(), nh);  // the route owns nh now
    int err = rtnl_route_add(sock.get(), route.get(), 0);
    if (err < 0 && err != -NLE_EXIST)
      return nlError(err, "add default route via " + a.gateway.toString() + " in", a.netns_name);
    return ok();
  });
}

Result<std::vector<HostRoute>> NetlinkKernel::listHostRoutes() {
  std::lock_guard lock(mu_);
  nl_cache* raw = nullptr;
  if (int err = rtnl_route_alloc_cache(impl_->host.get(), AF_INET, 0, &raw); err < 0)
    return nlError(err, "list", "routes");
  Cache cache(raw);
  std::vector<HostRoute> out;
  for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
    auto* r = reinterpret_cast<rtnl_route*>(o);
    if (rtnl_route_get_protocol(r) != kRouteProtocol || rtnl_route_get_table(r) != RT_TABLE_MAIN) continue;
    if (rtnl_route_get_nnexthops(r) != 1) continue;
    auto dst = ipv4Of(rtnl_route_get_dst(r));
    auto via = ipv4Of(rtnl_route_nh_get_gateway(rtnl_route_nexthop_n(r, 0)));
    if (!dst || !via) continue;
    out.push_back({Cidr{*dst, static_cast<int>(nl_addr_get_prefixlen(rtnl_route_get_dst(r)))}, *via});
  }
  return out;
}

Result<void> NetlinkKernel::replaceHostRoute(const HostRoute& r) {
  std::lock_guard lock(mu_);
  SC_ASSIGN_OR_RETURN(Route route, hostRoute(r));
  if (int err = rtnl_route_add(impl_->host.get(), route.get(), NLM_F_REPLACE); err < 0)
    return nlError(err, "add route to " + r.dst.toString() + " via", r.via.toString());
  return ok();
}

Result<Outcome> NetlinkKernel::deleteHostRoute(const HostRoute& r) {
  std::lock_guard lock(mu_);
  SC_ASSIGN_OR_RETURN(Route route, hostRoute(r));
  int err = rtnl_route_delete(impl_->host.get(), route.get(), 0);
  if (err == -NLE_OBJ_NOTFOUND || err == -NLE_NOADDR) return Outcome::kAbsent;
  if (err < 0) return nlError(err, "delete route to " + r.dst.toString() + " via", r.via.toString());
  return Outcome::kRemoved;
}

Result<std::vector<std::string>> NetlinkKernel::taskAddresses(const std::string& netns_name,
                                                              const std::string& ifname) {
  std::vector<std::string> out;
  SC_TRY(runInNetns(netnsPath(netns_name), [&]() -> Result<void> {
    SC_ASSIGN_OR_RETURN(Sock sock, openSocket());
    SC_ASSIGN_OR_RETURN(Link eth, getLink(sock.get(), ifname));
    if (!eth) return ok();
    nl_cache* raw = nullptr;
    if (int err = rtnl_addr_alloc_cache(sock.get(), &raw); err < 0)
      return nlError(err, "list addresses in", netns_name);
    Cache cache(raw);
    for (nl_object* o = nl_cache_get_first(cache.get()); o != nullptr; o = nl_cache_get_next(o)) {
      auto* addr = reinterpret_cast<rtnl_addr*>(o);
      if (rtnl_addr_get_ifindex(addr) != rtnl_link_get_ifindex(eth.get()) || rtnl_addr_get_family(addr) != AF_INET) {
        continue;
      }
      char buf[64];
      nl_addr2str(rtnl_addr_get_local(addr), buf, sizeof buf);
      out.emplace_back(buf);
    }
    return ok();
  }));
  return out;
}

}  // namespace sc::netns
