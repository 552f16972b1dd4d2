#include "agent/host_check.h"

#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>

#include "common/file.h"
#include "common/http_client.h"
#include "common/strings.h"
#include "common/unique_fd.h"
#include "common/version.h"

namespace sc::agent {

std::map<std::string, std::string> parseKeyValueFile(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const std::string& raw : split(text, '\n')) {
    std::string_view line = trim(raw);
    if (line.empty() || line[0] == '#') continue;
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string key(trim(line.substr(0, eq)));
    std::string_view v = trim(line.substr(eq + 1));
    if (v.size() >= 2 && (v.front() == '"' || v.front() == '\'') && v.back() == v.front())
      v = v.substr(1, v.size() - 2);
    out[key] = std::string(v);
  }
  return out;
}

std::optional<HaproxyInfo> parseHaproxyVv(std::string_view text) {
  // "HAProxy version 2.6.12-1+deb12u4 2026/10/17 - https://haproxy.org/"
  size_t at = text.find("HAProxy version ");
  if (at == std::string_view::npos) at = text.find("HA-Proxy version ");
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(text.find("version ", at) + 8);
  HaproxyInfo info;
  info.version = std::string(rest.substr(0, rest.find_first_of(" \n")));
  info.prometheus = text.find("Built with the Prometheus exporter") != std::string_view::npos ||
                    text.find("+PROMEX") != std::string_view::npos;
  info.netfilter = text.find("+NETFILTER") != std::string_view::npos;
  info.splice = text.find("+LINUX_SPLICE") != std::string_view::npos;
  return info;
}

std::optional<std::string> parseEcsAgentVersion(std::string_view text) {
  size_t v = text.find('v');
  std::string_view t = text;
  if (size_t p = text.find("Agent - v"); p != std::string_view::npos)
    t = text.substr(p + 9);
  else if (v == 0)
    t = text.substr(1);
  size_t end = t.find_first_not_of("0123456789.");
  std::string ver(t.substr(0, end));
  if (ver.empty() || !parseVersion(ver).ok()) return std::nullopt;
  return ver;
}

bool mountsHaveCgroupV1Memory(std::string_view mounts) {
  for (const std::string& line : split(mounts, '\n')) {
    std::vector<std::string> f = split(line, ' ');
    if (f.size() < 4 || f[2] != "cgroup") continue;
    for (const std::string& opt : split(f[3], ',')) {
      if (opt == "memory") return true;
    }
  }
  return false;
}

std::optional<std::string> cgroup2MountPoint(std::string_view mounts) {
  for (const std::string& line : split(mounts, '\n')) {
    std::vector<std::string> f = split(line, ' ');
    if (f.size() >= 3 && f[2] == "cgroup2") return f[1];
  }
  return std::nullopt;
}

bool HostReport::compatible() const {
  for (const auto& c : checks)
    if (c.status == CheckStatus::kFail) return false;
  return true;
}

std::vector<std::string> HostReport::failures() const {
  std::vector<std::string> out;
  for (const auto& c : checks)
    if (c.status == CheckStatus::kFail) out.push_back(c.name + ": " + c.detail);
  return out;
}

namespace {

bool atLeast(const std::string& have, const std::string& need, bool ami = false) {
  auto h = ami ? parseAmiVersion(have) : parseVersion(have);
  auto n = ami ? parseAmiVersion(need) : parseVersion(need);
  return h.ok() && n.ok() && *h >= *n;
}

HostCheck kernelCheck(const std::string& name, const ProbeOutcome& p) {
  return {name, p.ok ? CheckStatus::kPass : CheckStatus::kFail, p.detail};
}

}  // namespace

HostReport evaluateHost(const HostFacts& f, const HostPolicy& policy) {
  HostReport r;
  auto get = [](const std::map<std::string, std::string>& m, const char* k) {
    auto it = m.find(k);
    return it == m.end() ? std::string() : it->second;
  };
  const std::string id = get(f.os_release, "ID");
  const std::string version_id = get(f.os_release, "VERSION_ID");
  const std::string pretty = get(f.os_release, "PRETTY_NAME");

  r.checks.push_back({"os", id.empty() ? CheckStatus::kFail : CheckStatus::kPass,
                      id.empty() ? "no /etc/os-release; cannot tell the operating system"
                                 : (pretty.empty() ? id : pretty) + ", kernel " + f.kernel_release});

  // The seed's AMI policy applies to Amazon Linux hosts; elsewhere scagent brings its own proxy.
  const std::string image_name = get(f.image_id, "image_name") + " " + get(f.image_id, "image_file");
  const bool ecs_ami = image_name.find("ecs") != std::string::npos;
  if (id == "amzn" && version_id == "2023") {
    r.checks.push_back({"ami", policy.allow_amazon_linux_2023 ? CheckStatus::kPass : CheckStatus::kFail,
                        policy.allow_amazon_linux_2023 ? "Amazon Linux 2023, allowed by hostPolicy.allowAmazonLinux2023"
                                                       : "Amazon Linux 2023 is not supported for Service Connect (set "
                                                         "hostPolicy.allowAmazonLinux2023 to override)"});
  } else if (id == "amzn" && ecs_ami) {
    auto v = parseAmiVersion(image_name);
    if (!v.ok()) {
      r.checks.push_back(
          {"ami", CheckStatus::kFail, "ECS-optimized AMI of unknown version (" + std::string(trim(image_name)) + ")"});
    } else if (atLeast(v->toString(), policy.min_ami_version, true)) {
      r.checks.push_back({"ami", CheckStatus::kPass,
                          "ECS-optimized Amazon Linux 2 AMI " + v->toString() + " >= " + policy.min_ami_version});
    } else {
      r.checks.push_back({"ami", policy.allow_old_ami ? CheckStatus::kPass : CheckStatus::kFail,
                          "ECS-optimized Amazon Linux 2 AMI " + v->toString() + " is older than " +
                              policy.min_ami_version +
                              (policy.allow_old_ami ? ", allowed by hostPolicy.allowOldAmi"
                                                    : " (update the AMI or set hostPolicy.allowOldAmi)")});
    }
  } else {
    r.checks.push_back({"ami", CheckStatus::kNotApplicable,
                        "not an ECS-optimized AMI; the AMI minimum (" + policy.min_ami_version +
                            ") applies only there, scagent supplies its own proxy"});
  }

  if (f.ecs_agent_version) {
    const bool okay = atLeast(*f.ecs_agent_version, policy.min_ecs_agent_version);
    r.checks.push_back(
        {"ecs-agent", okay ? CheckStatus::kPass : CheckStatus::kFail,
         "ECS agent " + *f.ecs_agent_version + (okay ? " >= " : " is older than ") + policy.min_ecs_agent_version});
  } else {
    r.checks.push_back({"ecs-agent", CheckStatus::kNotApplicable,
                        "no ECS agent answered on 127.0.0.1:51678; the minimum (" + policy.min_ecs_agent_version +
                            ") applies only beside one"});
  }
  if (f.external_instance) {
    r.checks.push_back({"external-instance", policy.allow_external ? CheckStatus::kPass : CheckStatus::kFail,
                        policy.allow_external ? "ECS Anywhere instance, allowed by hostPolicy.allowExternal"
                                              : "ECS Anywhere (External) instances are not supported for Service "
                                                "Connect (set hostPolicy.allowExternal to override)"});
  } else {
    r.checks.push_back({"external-instance", CheckStatus::kPass, "not an ECS Anywhere instance"});
  }

  r.checks.push_back(kernelCheck("kernel.netns", f.netns));
  r.checks.push_back(kernelCheck("kernel.nat-redirect", f.nat_redirect));
  r.checks.push_back(kernelCheck("kernel.cgroup-memory", f.cgroup_memory));
  r.checks.push_back(kernelCheck("kernel.seccomp", f.seccomp));
  r.checks.push_back(kernelCheck("kernel.ip-forward", f.ip_forward));

  if (!f.haproxy_vv) {
    r.checks.push_back({"haproxy", CheckStatus::kFail, f.haproxy_error});
  } else if (auto info = parseHaproxyVv(*f.haproxy_vv); !info) {
    r.checks.push_back({"haproxy", CheckStatus::kFail, policy.haproxy_path + " -vv did not print a version"});
  } else if (!atLeast(info->version, policy.min_haproxy_version)) {
    r.checks.push_back({"haproxy", CheckStatus::kFail,
                        "HAProxy " + info->version + " is older than " + policy.min_haproxy_version +
                            " (the runtime API needs add/del server)"});
  } else if (!info->prometheus) {
    r.checks.push_back(
        {"haproxy", CheckStatus::kFail, "HAProxy " + info->version + " is built without the Prometheus exporter"});
  } else {
    r.checks.push_back({"haproxy", CheckStatus::kPass,
                        "HAProxy " + info->version + " at " + policy.haproxy_path + ": Prometheus exporter" +
                            (info->splice ? ", splice" : "") + (info->netfilter ? ", netfilter" : "")});
  }
  return r;
}

// ---- Real probes. ----

namespace {

std::string findProgram(const std::string& configured, std::initializer_list<const char*> candidates) {
  if (!configured.empty()) return configured;
  for (const char* c : candidates) {
    if (::access(c, X_OK) == 0) return c;
  }
  return *candidates.begin();
}

ProbeOutcome probeSeccomp() {
  // A child installs an allow-everything filter: proves seccomp filter mode works here.
  pid_t pid = ::fork();
  if (pid < 0) return {false, std::string("fork: ") + std::strerror(errno)};
  if (pid == 0) {
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) _exit(10 + (errno & 0x3f));
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) _exit(100 + (errno & 0x3f));
    _exit(0);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    return {true, "seccomp filter mode (SECCOMP_SET_MODE_FILTER) works"};
  const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  const int err = code >= 100 ? code - 100 : code >= 10 ? code - 10 : 0;
  return {false, std::string("installing a seccomp filter failed: ") + std::strerror(err)};
}

}  // namespace

HostFacts RealHostProbe::gather(const HostPolicy& policy) {
  HostFacts f;
  auto rootPath = [&](const char* p) { return root_ == "/" ? std::string(p) : root_ + p; };
  if (auto t = readFile(rootPath("/etc/os-release")); t.ok())
    f.os_release = parseKeyValueFile(*t);
  else if (auto u = readFile(rootPath("/usr/lib/os-release")); u.ok())
    f.os_release = parseKeyValueFile(*u);
  if (auto t = readFile(rootPath("/etc/image-id")); t.ok()) f.image_id = parseKeyValueFile(*t);
  if (auto t = readFile(rootPath("/etc/ecs/ecs.config")); t.ok()) {
    auto kv = parseKeyValueFile(*t);
    f.external_instance = kv["ECS_EXTERNAL"] == "true";
  }
  struct utsname u {};
  if (::uname(&u) == 0) f.kernel_release = u.release;

  // The ECS agent's introspection API, if one runs here.
  if (auto r = httpRequest({.url = "http://127.0.0.1:51678/v1/metadata",
                            .timeout = std::chrono::milliseconds(300),
                            .connect_timeout = std::chrono::milliseconds(200)});
      r.ok() && r->status == 200) {
    size_t p = r->body.find("\"Version\"");
    if (p != std::string::npos) {
      size_t q1 = r->body.find('"', r->body.find(':', p) + 1);
      size_t q2 = q1 == std::string::npos ? q1 : r->body.find('"', q1 + 1);
      if (q2 != std::string::npos) f.ecs_agent_version = parseEcsAgentVersion(r->body.substr(q1 + 1, q2 - q1 - 1));
    }
  }

  // Network namespaces: a child unshares one and runs /bin/true in it.
  {
    auto r = runner_.run({.path = "/bin/true", .timeout = std::chrono::milliseconds(5000), .new_netns = true});
    f.netns = r.ok() && r->success() ? ProbeOutcome{true, "unshare(CLONE_NEWNET) works"}
                                     : ProbeOutcome{false, r.ok() ? r->describe() : r.error().message};
  }

  // nat REDIRECT and addrtype: apply the rules the agent uses inside a throwaway namespace.
  {
    const std::string restore =
        findProgram(policy.iptables_restore_path, {"/usr/sbin/iptables-restore", "/sbin/iptables-restore"});
    std::string backend = "unknown backend";
    if (auto v = runner_.run({.path = restore, .args = {"--version"}, .timeout = std::chrono::milliseconds(5000)});
        v.ok() && v->success()) {
      backend = v->out.find("nf_tables") != std::string::npos ? "nf_tables"
                : v->out.find("legacy") != std::string::npos  ? "legacy"
                                                              : backend;
    }
    const std::string rules =
        "*nat\n:SC_PROBE - [0:0]\n"
        "-A PREROUTING -p tcp -m addrtype ! --src-type LOCAL -j SC_PROBE\n"
        "-A SC_PROBE -p tcp --dport 80 -m comment --comment sc:probe -j REDIRECT --to-ports 8080\n"
        "-A OUTPUT -p tcp -d 127.255.0.0/16 -j REDIRECT --to-ports 8081\nCOMMIT\n";
    auto r = runner_.run({.path = restore,
                          .args = {"--noflush", "--wait"},
                          .stdin_data = rules,
                          .timeout = std::chrono::milliseconds(10000),
                          .new_netns = true});
    if (r.ok() && r->success()) {
      f.nat_redirect = {true, restore + " (" + backend + "): nat REDIRECT, addrtype and comment rules apply"};
    } else {
      f.nat_redirect = {false, restore + ": " + (r.ok() ? r->describe() : r.error().message)};
    }
  }

  // The cgroup memory controller, v1 or v2.
  {
    auto mounts = readFile("/proc/self/mounts");
    if (!mounts.ok()) {
      f.cgroup_memory = {false, mounts.error().message};
    } else {
      std::vector<std::string> found;
      if (mountsHaveCgroupV1Memory(*mounts)) found.push_back("v1 memory hierarchy");
      if (auto mp = cgroup2MountPoint(*mounts)) {
        auto ctl = readFile(*mp + "/cgroup.controllers");
        if (ctl.ok() && (" " + std::string(trim(*ctl)) + " ").find(" memory ") != std::string::npos) {
          found.push_back("v2 at " + *mp + " with memory");
        }
      }
      f.cgroup_memory = found.empty() ? ProbeOutcome{false, "no cgroup memory controller is mounted (v1 or v2)"}
                                      : ProbeOutcome{true, join(found, "; ")};
    }
  }

  f.seccomp = probeSeccomp();

  {
    UniqueFd fd(::open("/proc/sys/net/ipv4/ip_forward", O_WRONLY | O_CLOEXEC));
    if (fd.valid()) {
      auto cur = readFile("/proc/sys/net/ipv4/ip_forward");
      f.ip_forward = {
          true, "/proc/sys/net/ipv4/ip_forward is writable (now " + std::string(cur.ok() ? trim(*cur) : "?") + ")"};
    } else {
      f.ip_forward = {false, std::string("/proc/sys/net/ipv4/ip_forward is not writable: ") + std::strerror(errno)};
    }
  }

  if (auto r = runner_.run({.path = policy.haproxy_path, .args = {"-vv"}, .timeout = std::chrono::milliseconds(5000)});
      r.ok() && r->success()) {
    f.haproxy_vv = r->out;
  } else {
    f.haproxy_error = r.ok() ? policy.haproxy_path + " -vv: " + r->describe() : r.error().message;
  }
  return f;
}

// ---- Rendering. ----

namespace {
const char* statusName(CheckStatus s) {
  switch (s) {
    case CheckStatus::kPass:
      return "pass";
    case CheckStatus::kFail:
      return "FAIL";
    case CheckStatus::kNotApplicable:
      return "n/a";
  }
  return "?";
}
}  // namespace

std::string renderHostReportTable(const HostReport& report) {
  size_t w = 5;
  for (const auto& c : report.checks) w = std::max(w, c.name.size());
  std::ostringstream o;
  o << "CHECK" << std::string(w - 5 + 2, ' ') << "RESULT  WHY\n";
  for (const auto& c : report.checks) {
    o << c.name << std::string(w - c.name.size() + 2, ' ') << statusName(c.status)
      << std::string(8 - std::strlen(statusName(c.status)), ' ') << c.detail << "\n";
  }
  o << (report.compatible() ? "host is compatible with Service Connect\n"
                            : "host is NOT compatible with Service Connect\n");
  return o.str();
}

std::string renderHostReportJson(const HostReport& report) {
  std::string o = "{\"compatible\":";
  o += report.compatible() ? "true" : "false";
  o += ",\"checks\":[";
  for (size_t i = 0; i < report.checks.size(); ++i) {
    const auto& c = report.checks[i];
    if (i) o += ',';
    o += "{\"name\":" + jsonQuote(c.name) + ",\"result\":" +
         jsonQuote(c.status == CheckStatus::kPass   ? "pass"
                   : c.status == CheckStatus::kFail ? "fail"
                                                    : "n/a") +
         ",\"detail\":" + jsonQuote(c.detail) + "}";
  }
  o += "]}\n";
  return o;
}

}  // namespace sc::agent
