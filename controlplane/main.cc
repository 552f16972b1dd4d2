// sccontrol: the control plane. See docs/control-plane.md.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include "common/file.h"
#include "common/log.h"
#include "common/strings.h"
#include "controlplane/control_plane.h"
#include "controlplane/credentials.h"
#include "controlplane/etcd_store.h"
#include "controlplane/frontend.h"
#include "controlplane/http_server.h"
#include "controlplane/sigv4.h"
#include "controlplane/sqlite_store.h"
#include "controlplane/token_cli.h"

#ifndef SC_VERSION
#define SC_VERSION "0.0.0"
#endif

namespace sc::controlplane {
namespace {

constexpr const char* kUsage =
    "usage: sccontrol [--config FILE] [--listen ADDR:PORT] [--data-dir DIR]\n"
    "                 [--store FILE|etcd://HOST:PORT[,HOST:PORT...]|etcds://...]\n"
    "                 [--etcd-ca FILE] [--etcd-cert FILE] [--etcd-key FILE]\n"
    "                 [--credentials FILE] [--region REGION] [--workers N] [--ttl SECONDS]\n"
    "                 [--lost-instance-retention SECONDS] [--port-file FILE] [HTTP limits, see below]\n"
    "       sccontrol token create|list|revoke ...   (bootstrap tokens; sccontrol token --help)\n"
    "       sccontrol --version\n"
    "defaults: --listen 127.0.0.1:8500 --data-dir /var/lib/sccontrol (store: DIR/state.db,\n"
    "          credentials: DIR/credentials, generated on first start, mode 0600)\n"
    "--config reads the same settings from JSON (listen, dataDir, store, etcdCa, etcdCert, etcdKey,\n"
    "credentials, region,\n"
    "workers, ttlSeconds, lostInstanceRetentionSeconds (default 86400), logLevel, and the HTTP limits maxHeaderBytes, "
    "maxHeaders, maxBodyBytes,\n"
    "headerTimeoutMs, requestTimeoutMs, idleTimeoutSeconds, maxConnections, maxConnectionsPerPeer,\n"
    "maxParkedPolls; as flags --max-header-bytes N, --max-headers N, --max-body-bytes N,\n"
    "--header-timeout-ms N, --request-timeout-ms N, --idle-timeout SECONDS, --max-connections N,\n"
    "--max-connections-per-peer N, --max-parked-polls N); flags given on the command line win.\n"
    "SIGHUP re-reads the\n"
    "log level and the credentials file. See docs/control-plane.md.\n"
    "Exit status: 0 stopped by SIGTERM or SIGINT, 1 could not start, 2 bad usage or configuration.\n";

// "sccontrol: <message>", a blank line and the usage on stderr; the exit status for usage errors.
int usageError(const std::string& message) {
  std::cerr << "sccontrol: " << message << "\n\n" << kUsage;
  return 2;
}

// --help / -h and --version anywhere win over everything else (a bad --config included).
std::optional<int> helpOrVersion(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << kUsage;
      return 0;
    }
  }
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--version") {
      std::cout << "sccontrol " << SC_VERSION << "\n";
      return 0;
    }
  }
  return std::nullopt;
}

// How long a lost instance stays registered (--lost-instance-retention): a minute to a year.
constexpr int64_t kMinLostRetention = 60;
constexpr int64_t kMaxLostRetention = 365 * 86400;

struct Flags {
  std::string listen = "127.0.0.1:8500";
  std::string data_dir = "/var/lib/sccontrol";
  std::string store;
  std::string etcd_ca;  // etcds:// only: CA, client certificate and key for etcd
  std::string etcd_cert;
  std::string etcd_key;
  std::string credentials;
  std::string region = "us-east-1";
  std::string port_file;
  std::string config;              // --config, "" when none
  std::string log_level = "info";  // debug, info, warn, error
  int workers = 4;
  int ttl = 30;
  int64_t lost_retention = 86400;  // --lost-instance-retention
  HttpServerOptions http;          // the limits below; address, port and workers are set from the rest
};

// The HTTP server's limits: config member, flag, range, and where the value goes.
struct HttpLimit {
  const char* key;
  const char* flag;
  uint64_t max;
  void (*set)(HttpServerOptions&, uint64_t);
};

constexpr HttpLimit kHttpLimits[] = {
    {"maxHeaderBytes", "--max-header-bytes", 16u << 20,
     [](HttpServerOptions& o, uint64_t v) { o.max_header_bytes = v; }},
    {"maxHeaders", "--max-headers", 10000, [](HttpServerOptions& o, uint64_t v) { o.max_headers = v; }},
    {"maxBodyBytes", "--max-body-bytes", 64u << 20, [](HttpServerOptions& o, uint64_t v) { o.max_body_bytes = v; }},
    {"headerTimeoutMs", "--header-timeout-ms", 3600000,
     [](HttpServerOptions& o, uint64_t v) { o.header_timeout = std::chrono::milliseconds(v); }},
    {"requestTimeoutMs", "--request-timeout-ms", 3600000,
     [](HttpServerOptions& o, uint64_t v) { o.request_timeout = std::chrono::milliseconds(v); }},
    {"idleTimeoutSeconds", "--idle-timeout", 86400,
     [](HttpServerOptions& o, uint64_t v) { o.connection_timeout_s = static_cast<int>(v); }},
    {"maxConnections", "--max-connections", 1000000, [](HttpServerOptions& o, uint64_t v) { o.max_connections = v; }},
    {"maxConnectionsPerPeer", "--max-connections-per-peer", 1000000,
     [](HttpServerOptions& o, uint64_t v) { o.max_connections_per_peer = v; }},
    {"maxParkedPolls", "--max-parked-polls", 1000000, [](HttpServerOptions& o, uint64_t v) { o.max_parked = v; }},
};

const HttpLimit* httpLimitByKey(const std::string& key) {
  for (const auto& l : kHttpLimits) {
    if (key == l.key) return &l;
  }
  return nullptr;
}

const HttpLimit* httpLimitByFlag(const std::string& flag) {
  for (const auto& l : kHttpLimits) {
    if (flag == l.flag) return &l;
  }
  return nullptr;
}

// Reads the --config file into `f`; every member optional, unknown members refused.
Result<void> applyConfigFile(const std::string& path, Flags& f) {
  SC_ASSIGN_OR_RETURN(std::string text, readFile(path, 1u << 20));
  auto parsed = model::parseJsonStrict(text, path);
  if (!parsed.ok()) return std::move(parsed).error();
  const model::Json& j = *parsed;
  auto bad = [&](const std::string& member, const std::string& why) {
    return makeError(ErrorCode::kInvalidArgument, "load", path, member + ": " + why);
  };
  if (!j.is_object()) return bad("(top level)", "expected an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string& k = it.key();
    std::string* target = k == "listen"        ? &f.listen
                          : k == "dataDir"     ? &f.data_dir
                          : k == "store"       ? &f.store
                          : k == "etcdCa"      ? &f.etcd_ca
                          : k == "etcdCert"    ? &f.etcd_cert
                          : k == "etcdKey"     ? &f.etcd_key
                          : k == "credentials" ? &f.credentials
                          : k == "region"      ? &f.region
                                               : nullptr;
    if (target) {
      if (!it->is_string() || it->get<std::string>().empty()) return bad(k, "expected a non-empty string");
      *target = it->get<std::string>();
    } else if (k == "logLevel") {
      log::Level level{};
      if (!it->is_string() || !log::parseLevel(it->get<std::string>(), &level)) {
        return bad(k, "expected one of debug, info, warn, error");
      }
      f.log_level = it->get<std::string>();
    } else if (const HttpLimit* l = httpLimitByKey(k)) {
      if (!it->is_number_unsigned() || it->get<uint64_t>() < 1 || it->get<uint64_t>() > l->max) {
        return bad(k, "expected an integer 1-" + std::to_string(l->max));
      }
      l->set(f.http, it->get<uint64_t>());
    } else if (k == "workers" || k == "ttlSeconds") {
      if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > 3600) {
        return bad(k, "expected an integer 1-3600");
      }
      (k == "workers" ? f.workers : f.ttl) = it->get<int>();
    } else if (k == "lostInstanceRetentionSeconds") {
      if (!it->is_number_integer() || it->get<int64_t>() < kMinLostRetention || it->get<int64_t>() > kMaxLostRetention)
        return bad(
            k, "expected an integer " + std::to_string(kMinLostRetention) + "-" + std::to_string(kMaxLostRetention));
      f.lost_retention = it->get<int64_t>();
    } else {
      return bad(k, "unknown member");
    }
  }
  return ok();
}

struct Reloadable {
  std::string log_level;
  Credentials credentials;
};

// What SIGHUP re-reads: the log level from --config (every other member is checked but takes
// effect on restart) and the credentials file (access keys and bootstrap token).
Result<Reloadable> readReloadable(const Flags& started) {
  Flags fresh = started;
  if (!started.config.empty()) SC_TRY(applyConfigFile(started.config, fresh));
  SC_ASSIGN_OR_RETURN(std::string text, readFile(started.credentials, 1u << 20));
  SC_ASSIGN_OR_RETURN(Credentials creds, parseCredentials(started.credentials, text));
  return Reloadable{fresh.log_level, std::move(creds)};
}

void applyLogLevel(const std::string& name) {
  log::Level level = log::Level::kInfo;
  (void)log::parseLevel(name, &level);  // applyConfigFile checked it
  log::setLevel(level);
}

// SIGHUP (systemctl reload): nothing changes unless everything read cleanly; one log line either
// way; the process never stops here.
void reload(const Flags& started, ControlPlane& cp, Frontend& frontend) {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%lld",
             static_cast<long long>(now.tv_sec) * 1000000 + static_cast<long long>(now.tv_nsec) / 1000);
  Result<Reloadable> r = readReloadable(started);
  sd_notify(0, "READY=1");
  if (!r.ok()) {
    log::error("configuration not reloaded; the current settings stay", {{"error", r.error().message}});
    return;
  }
  applyLogLevel(r->log_level);
  frontend.setAccessKeys(r->credentials.keys);
  cp.setBootstrapTokens(r->credentials.bootstrap_tokens);
  log::info("configuration reloaded (log level, credentials; other settings take effect on restart)",
            {{"logLevel", r->log_level},
             {"credentials", started.credentials},
             {"accessKeys", std::to_string(r->credentials.keys.size())},
             {"bootstrapTokens", std::to_string(r->credentials.bootstrap_tokens.size())}});
}

// One warn line per instance tick() declared lost (docs/operations.md, the log-message table).
void logLosses(const std::vector<InstanceLoss>& losses) {
  for (const InstanceLoss& l : losses) {
    log::warn("container instance lost",
              {{"instance", l.instance_id},
               {"hostname", l.hostname},
               {"cluster", l.cluster},
               {"lastHeartbeat", l.last_heartbeat ? formatUtc(std::chrono::system_clock::to_time_t(*l.last_heartbeat))
                                                  : "none since sccontrol started"},
               {"tasksStopped", std::to_string(l.tasks_stopped.size())},
               {"tasks", join(l.tasks_stopped, ",")}});
  }
}

// etcd://host:port[,...] (etcds:// for TLS) opens an EtcdStore; anything else is a SQLite file.
Result<std::unique_ptr<Store>> openStore(const Flags& f) {
  EtcdOptions eo;
  auto is_etcd = parseEtcdUrl(f.store, eo);
  if (!is_etcd.ok()) return std::move(is_etcd).error();
  if (!*is_etcd) {
    if (!f.etcd_ca.empty() || !f.etcd_cert.empty() || !f.etcd_key.empty())
      return makeError(ErrorCode::kInvalidArgument, "open store", f.store,
                       "--etcd-ca, --etcd-cert and --etcd-key apply to etcds:// stores only");
    auto s = SqliteStore::open(f.store);
    if (!s.ok()) return std::move(s).error();
    return std::unique_ptr<Store>(std::move(*s));
  }
  if (f.etcd_cert.empty() != f.etcd_key.empty())
    return makeError(ErrorCode::kInvalidArgument, "open store", f.store, "--etcd-cert and --etcd-key go together");
  if (f.store.rfind("etcd://", 0) == 0 && (!f.etcd_ca.empty() || !f.etcd_cert.empty()))
    return makeError(ErrorCode::kInvalidArgument, "open store", f.store,
                     "TLS files given for a plain etcd:// store; use etcds:// for TLS");
  eo.ca_file = f.etcd_ca;
  eo.cert_file = f.etcd_cert;
  eo.key_file = f.etcd_key;
  auto s = EtcdStore::open(eo);
  if (!s.ok()) return makeError(s.error().code, "open store", f.store, s.error().message);
  return std::unique_ptr<Store>(std::move(*s));
}

int run(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "token")
    return runTokenCommand(argc - 1, argv + 1, "/var/lib/sccontrol/credentials");
  if (auto done = helpOrVersion(argc, argv)) return *done;
  Flags f;
  // The config file first, so flags override it.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string(argv[i]) == "--config") {
      f.config = argv[i + 1];
      if (auto r = applyConfigFile(argv[i + 1], f); !r.ok()) {
        std::cerr << "sccontrol: " << r.error().message << "\n";
        return 2;
      }
    }
  }
  auto number = [&](const std::string& flag, const std::string& v) -> int {
    auto n = parseUint(v, 3600);
    if (!n || *n == 0) {
      std::exit(usageError(flag + " wants an integer 1-3600, got '" + v + "'"));
    }
    return static_cast<int>(*n);
  };
  auto limitValue = [&](const HttpLimit& l, const std::string& v) -> uint64_t {
    auto n = parseUint(v, l.max);
    if (!n || *n == 0)
      std::exit(usageError(std::string(l.flag) + " wants an integer 1-" + std::to_string(l.max) + ", got '" + v + "'"));
    return *n;
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) std::exit(usageError(a + " needs a value"));
      return argv[++i];
    };
    if (a == "--config")
      (void)next();
    else if (a == "--listen")
      f.listen = next();
    else if (a == "--data-dir")
      f.data_dir = next();
    else if (a == "--store")
      f.store = next();
    else if (a == "--etcd-ca")
      f.etcd_ca = next();
    else if (a == "--etcd-cert")
      f.etcd_cert = next();
    else if (a == "--etcd-key")
      f.etcd_key = next();
    else if (a == "--credentials")
      f.credentials = next();
    else if (a == "--region")
      f.region = next();
    else if (a == "--port-file")
      f.port_file = next();
    else if (a == "--workers")
      f.workers = number(a, next());
    else if (a == "--lost-instance-retention") {
      const std::string v = next();
      auto n = parseUint(v, kMaxLostRetention);
      if (!n || *n < kMinLostRetention)
        return usageError(a + " wants seconds " + std::to_string(kMinLostRetention) + "-" +
                          std::to_string(kMaxLostRetention) + ", got '" + v + "'");
      f.lost_retention = static_cast<int64_t>(*n);
    } else if (a == "--ttl")
      f.ttl = number(a, next());
    else if (const HttpLimit* l = httpLimitByFlag(a))
      l->set(f.http, limitValue(*l, next()));
    else
      return usageError("unknown argument '" + a + "'");
  }
  auto colon = f.listen.rfind(':');
  auto port = colon == std::string::npos ? std::nullopt : parseUint(f.listen.substr(colon + 1), 65535);
  if (!port) return usageError("--listen wants ADDR:PORT, got '" + f.listen + "'");
  if (f.store.empty() || f.credentials.empty()) {  // an etcd store keeps only credentials here
    if (auto d = makeDirs(f.data_dir, 0700); !d.ok()) {
      log::error("cannot start", {{"error", d.error().message}});
      return 1;
    }
  }
  if (f.store.empty()) f.store = f.data_dir + "/state.db";
  if (f.credentials.empty()) f.credentials = f.data_dir + "/credentials";

  // Thousands of agents hold a connection each.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);                    // reload, never the default action (terminate)
  pthread_sigmask(SIG_BLOCK, &set, nullptr);  // before any thread starts
  signal(SIGPIPE, SIG_IGN);

  applyLogLevel(f.log_level);
  auto creds = loadOrCreateCredentials(f.credentials, f.region, std::cerr);
  if (!creds.ok()) {
    log::error("cannot start", {{"error", creds.error().message}});
    return 1;
  }
  auto store = openStore(f);
  if (!store.ok()) {
    log::error("cannot start", {{"error", store.error().message}});
    return 1;
  }
  ControlPlaneOptions cpo;
  cpo.region = f.region;
  cpo.instance_ttl = std::chrono::seconds(f.ttl);
  cpo.bootstrap_tokens = creds->bootstrap_tokens;
  cpo.lost_instance_retention = std::chrono::seconds(f.lost_retention);
  auto cp = ControlPlane::create(**store, realClock(), cpo);
  if (!cp.ok()) {
    log::error("cannot start", {{"error", cp.error().message}});
    return 1;
  }
  FrontendOptions fo{creds->keys};
  fo.region = f.region;
  Frontend frontend(**cp, realClock(), std::move(fo));
  HttpServerOptions hso = f.http;
  hso.address = f.listen.substr(0, colon);
  hso.port = static_cast<uint16_t>(*port);
  hso.workers = f.workers;
  auto server = HttpServer::start(hso, [&](const HttpRequest& r) { return frontend.handle(r); });
  if (!server.ok()) {
    log::error("cannot start", {{"error", server.error().message}});
    return 1;
  }
  HttpServer* srv = server->get();
  (*cp)->setChangeListener([srv] { srv->wake(); });
  std::string where = hso.address + ":" + std::to_string(srv->port());
  if (!f.port_file.empty()) {
    if (auto w = writeFileAtomic(f.port_file, std::to_string(srv->port()) + "\n"); !w.ok()) {
      log::error("cannot start", {{"error", w.error().message}});
      return 1;
    }
  }
  log::info("sccontrol listening",
            {{"address", where}, {"store", f.store}, {"revision", std::to_string((*cp)->revision())}});
  // systemd (Type=notify): ready once the listener is bound; a no-op without NOTIFY_SOCKET.
  sd_notify(0, ("READY=1\nSTATUS=listening on " + where).c_str());
  timespec tick{1, 0};
  for (;;) {
    int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGTERM || sig == SIGINT) break;
    if (sig == SIGHUP) reload(f, **cp, frontend);
    logLosses((*cp)->tick());
  }
  sd_notify(0, "STOPPING=1");
  log::info("sccontrol stopping", {});
  (*server)->stop();
  return 0;
}

}  // namespace
}  // namespace sc::controlplane

int main(int argc, char** argv) { return sc::controlplane::run(argc, argv); }
