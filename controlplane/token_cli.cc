#include "controlplane/token_cli.h"

#include <ctime>
#include <iostream>
#include <optional>
#include <vector>

#include "common/file.h"
#include "controlplane/credentials.h"

namespace sc::controlplane {
namespace {

constexpr const char* kTokenUsage =
    "usage: sccontrol token create [--credentials FILE] [--expires-in DURATION] [--single-use]\n"
    "                              [--description TEXT]\n"
    "       sccontrol token list   [--credentials FILE]\n"
    "       sccontrol token revoke [--credentials FILE] ID\n"
    "create prints the new token on standard output, once (the file keeps only its SHA-256).\n"
    "DURATION: 90s, 30m, 12h, 7d. --credentials defaults to /var/lib/sccontrol/credentials.\n"
    "A running sccontrol uses the change after `systemctl reload sccontrol` (SIGHUP).\n"
    "Instances registered with a revoked token keep their instance tokens.\n";

int usage(const std::string& message) {
  std::cerr << "sccontrol token: " << message << "\n\n" << kTokenUsage;
  return 2;
}

int failed(const Error& e) {
  std::cerr << "sccontrol token: " << e.message << "\n";
  return 1;
}

struct TokenArgs {
  std::string sub;
  std::string credentials;
  std::optional<int64_t> expires_in;
  bool single_use = false;
  std::string description;
  std::vector<std::string> positional;
};

// Parses argv into `a`; returns an exit status when parsing ends the command (help, usage error).
std::optional<int> parseArgs(int argc, char** argv, TokenArgs& a) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (arg == "--help" || arg == "-h") {
      std::cout << kTokenUsage;
      return 0;
    } else if (arg == "--credentials" || arg == "--expires-in" || arg == "--description") {
      auto v = value();
      if (!v) return usage(arg + " needs a value");
      if (arg == "--credentials") a.credentials = *v;
      if (arg == "--description") a.description = *v;
      if (arg == "--expires-in") {
        a.expires_in = parseDuration(*v);
        if (!a.expires_in) return usage("--expires-in wants 1s-3650d such as 90s, 30m, 12h or 7d, got '" + *v + "'");
      }
    } else if (arg == "--single-use") {
      a.single_use = true;
    } else if (arg.starts_with("-")) {
      return usage("unknown argument '" + arg + "'");
    } else if (a.sub.empty()) {
      a.sub = arg;
    } else {
      a.positional.push_back(arg);
    }
  }
  if (a.sub != "create" && a.sub != "list" && a.sub != "revoke")
    return usage(a.sub.empty() ? "token needs a subcommand" : "unknown subcommand '" + a.sub + "'");
  const size_t want = a.sub == "revoke" ? 1 : 0;
  if (a.positional.size() != want)
    return usage(a.sub == "revoke" ? "revoke needs one token ID" : a.sub + " takes no positional arguments");
  if (a.sub != "create" && (a.expires_in || a.single_use || !a.description.empty()))
    return usage("--expires-in, --single-use and --description go with create");
  return std::nullopt;
}

int list(const std::string& path) {
  auto text = readFile(path, 1u << 20);
  if (!text.ok()) return failed(text.error());
  auto creds = parseCredentials(path, *text);
  if (!creds.ok()) return failed(creds.error());
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  std::cout << "ID\tEXPIRES\tSINGLE-USE\tDESCRIPTION\n";
  for (const BootstrapToken& t : creds->bootstrap_tokens) {
    std::string expires = t.expires_at ? formatUtc(*t.expires_at) : "never";
    if (t.expires_at && *t.expires_at <= now) expires += " (expired)";
    std::cout << t.id << "\t" << expires << "\t" << (t.single_use ? "yes" : "no") << "\t" << t.description << "\n";
  }
  return 0;
}

}  // namespace

int runTokenCommand(int argc, char** argv, const std::string& default_credentials) {
  TokenArgs a;
  if (auto done = parseArgs(argc, argv, a)) return *done;
  const std::string path = a.credentials.empty() ? default_credentials : a.credentials;
  if (a.sub == "list") return list(path);
  if (a.sub == "revoke") {
    if (auto r = revokeBootstrapToken(path, a.positional[0]); !r.ok()) return failed(r.error());
    std::cerr << "sccontrol token: revoked " << a.positional[0] << " in " << path
              << "; reload sccontrol (systemctl reload sccontrol) to refuse it\n";
    return 0;
  }
  std::optional<int64_t> expires_at;
  if (a.expires_in) expires_at = static_cast<int64_t>(std::time(nullptr)) + *a.expires_in;
  auto made = addBootstrapToken(path, expires_at, a.single_use, a.description);
  if (!made.ok()) return failed(made.error());
  std::cout << made->token << "\n";
  std::cerr << "sccontrol token: added " << made->meta.id << " to " << path
            << (expires_at ? ", expires " + formatUtc(*expires_at) : std::string(", no expiry"))
            << (a.single_use ? ", single use" : "") << "; reload sccontrol (systemctl reload sccontrol) to accept it\n";
  return 0;
}

}  // namespace sc::controlplane
