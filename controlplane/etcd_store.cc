#include "controlplane/etcd_store.h"

#include <nlohmann/json.hpp>

#include "common/http_client.h"

namespace sc::controlplane {
namespace {

using Json = nlohmann::json;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint32_t byteAt(const std::string& s, size_t i) { return static_cast<uint8_t>(s[i]); }

std::string b64encode(const std::string& in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t n = (byteAt(in, i) << 16) | (byteAt(in, i + 1) << 8) | byteAt(in, i + 2);
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], kB64[(n >> 6) & 63], kB64[n & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t n = byteAt(in, i) << 16;
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t n = (byteAt(in, i) << 16) | (byteAt(in, i + 1) << 8);
    out += {kB64[n >> 18], kB64[(n >> 12) & 63], kB64[(n >> 6) & 63], '='};
  }
  return out;
}

int b64value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

std::string b64decode(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = b64value(c);
    if (v < 0) continue;  // '=' padding
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

// etcd's JSON gateway writes int64 as strings and omits zero values.
int64_t int64Of(const Json& obj, const char* name) {
  auto it = obj.find(name);
  if (it == obj.end()) return 0;
  if (it->is_string()) return std::stoll(it->get<std::string>());
  if (it->is_number_integer()) return it->get<int64_t>();
  return 0;
}

// The end of the range of keys starting with `p` (etcd's "prefix end"); "\0" means "to the end".
std::string prefixEnd(std::string p) {
  while (!p.empty()) {
    if (static_cast<uint8_t>(p.back()) < 0xff) {
      p.back() = static_cast<char>(static_cast<uint8_t>(p.back()) + 1);
      return p;
    }
    p.pop_back();
  }
  return std::string(1, '\0');
}

// Store revisions are etcd's minus one (an empty etcd is at 1); 0 stays 0 ("absent").
int64_t toStore(int64_t etcd_rev) { return etcd_rev > 0 ? etcd_rev - 1 : 0; }
int64_t toEtcd(int64_t store_rev) { return store_rev > 0 ? store_rev + 1 : 0; }

Result<Json> parseReply(const std::string& body, const std::string& what) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return makeError(ErrorCode::kUnavailable, "read", what, "etcd sent a reply that is not a JSON object");
  return j;
}

std::string keyOf(const Json& kv, size_t strip) {
  std::string k = b64decode(kv.value("key", ""));
  return k.size() >= strip ? k.substr(strip) : k;
}

}  // namespace

Result<bool> parseEtcdUrl(const std::string& url, EtcdOptions& out) {
  std::string scheme;
  if (url.rfind("etcd://", 0) == 0)
    scheme = "http://";
  else if (url.rfind("etcds://", 0) == 0)
    scheme = "https://";
  else
    return false;
  const std::string rest = url.substr(url.find("://") + 3);
  out.endpoints.clear();
  size_t start = 0;
  while (start <= rest.size()) {
    size_t comma = rest.find(',', start);
    if (comma == std::string::npos) comma = rest.size();
    const std::string hp = rest.substr(start, comma - start);
    if (hp.empty() || hp.find(':') == std::string::npos || hp.find('/') != std::string::npos)
      return makeError(ErrorCode::kInvalidArgument, "parse", url, "want etcd://host:port[,host:port...]");
    out.endpoints.push_back(scheme + hp);
    start = comma + 1;
  }
  return true;
}

Result<std::unique_ptr<EtcdStore>> EtcdStore::open(EtcdOptions options) {
  if (options.endpoints.empty()) return makeError(ErrorCode::kInvalidArgument, "open", "etcd", "no endpoints given");
  std::unique_ptr<EtcdStore> s(new EtcdStore(std::move(options)));
  auto rev = s->revision();
  if (!rev.ok()) return rev.error();
  return s;
}

Result<std::string> EtcdStore::call(const std::string& path, const std::string& body) {
  size_t first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = current_;
  }
  std::string last_error;
  for (size_t i = 0; i < opt_.endpoints.size(); ++i) {
    const size_t idx = (first + i) % opt_.endpoints.size();
    HttpRequest req;
    req.method = "POST";
    req.url = opt_.endpoints[idx] + path;
    req.body = body;
    req.headers = {"Content-Type: application/json"};
    req.timeout = opt_.request_timeout;
    req.connect_timeout = std::chrono::milliseconds(1000);
    req.ca_file = opt_.ca_file;
    req.cert_file = opt_.cert_file;
    req.key_file = opt_.key_file;
    auto resp = httpRequest(req);
    if (!resp.ok()) {
      last_error = resp.error().message;
      continue;  // connection error: fail over to the next endpoint
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      current_ = idx;
    }
    if (resp->status != 200) {
      auto j = Json::parse(resp->body, nullptr, false);
      std::string msg = j.is_object() ? j.value("error", j.value("message", resp->body)) : resp->body;
      return makeError(ErrorCode::kUnavailable, "call", req.url,
                       "etcd answered " + std::to_string(resp->status) + ": " + msg);
    }
    return std::move(resp->body);
  }
  return makeError(ErrorCode::kUnavailable, "reach", "etcd", "no endpoint answered (last: " + last_error + ")");
}

Result<std::optional<KeyValue>> EtcdStore::get(const std::string& key) {
  Json req = {{"key", b64encode(opt_.prefix + key)}};
  auto body = call("/v3/kv/range", req.dump());
  if (!body.ok()) return body.error();
  auto j = parseReply(*body, "etcd range");
  if (!j.ok()) return j.error();
  auto kvs = j->find("kvs");
  if (kvs == j->end() || !kvs->is_array() || kvs->empty()) return std::optional<KeyValue>{};
  const Json& kv = (*kvs)[0];
  return std::optional<KeyValue>{KeyValue{key, b64decode(kv.value("value", "")),
                                          toStore(int64Of(kv, "create_revision")),
                                          toStore(int64Of(kv, "mod_revision"))}};
}

Result<RangeResult> EtcdStore::list(const std::string& prefix) {
  RangeResult out;
  const std::string end = prefixEnd(opt_.prefix + prefix);
  std::string from = opt_.prefix + prefix;
  int64_t at = 0;  // every page reads at the first page's revision
  for (;;) {
    Json req = {{"key", b64encode(from)}, {"range_end", b64encode(end)}, {"limit", opt_.page_size}};
    if (at > 0) req["revision"] = at;
    auto body = call("/v3/kv/range", req.dump());
    if (!body.ok()) return body.error();
    auto j = parseReply(*body, "etcd range");
    if (!j.ok()) return j.error();
    if (at == 0) at = int64Of(j->value("header", Json::object()), "revision");
    auto kvs = j->find("kvs");
    if (kvs != j->end() && kvs->is_array()) {
      for (const Json& kv : *kvs)
        out.kvs.push_back(KeyValue{keyOf(kv, opt_.prefix.size()), b64decode(kv.value("value", "")),
                                   toStore(int64Of(kv, "create_revision")), toStore(int64Of(kv, "mod_revision"))});
    }
    if (!j->value("more", false) || kvs == j->end() || kvs->empty()) break;
    from = opt_.prefix + out.kvs.back().key + std::string(1, '\0');
  }
  out.revision = toStore(at);
  return out;
}

Result<TxnResult> EtcdStore::txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) {
  if (ops.size() > opt_.max_txn_ops || compares.size() > opt_.max_txn_ops)
    return makeError(ErrorCode::kInvalidArgument, "commit", "transaction",
                     std::to_string(std::max(ops.size(), compares.size())) + " ops exceed etcd's limit of " +
                         std::to_string(opt_.max_txn_ops));
  size_t bytes = 0;
  Json cmp = Json::array(), success = Json::array();
  for (const Compare& c : compares) {
    bytes += opt_.prefix.size() + c.key.size() + 16;
    cmp.push_back({{"key", b64encode(opt_.prefix + c.key)},
                   {"target", "MOD"},
                   {"result", "EQUAL"},
                   {"mod_revision", toEtcd(c.mod_revision)}});
  }
  for (const TxnOp& op : ops) {
    bytes += opt_.prefix.size() + op.key.size() + op.value.size() + 16;
    if (op.kind == TxnOp::Kind::kPut)
      success.push_back({{"request_put", {{"key", b64encode(opt_.prefix + op.key)}, {"value", b64encode(op.value)}}}});
    else
      success.push_back({{"request_delete_range", {{"key", b64encode(opt_.prefix + op.key)}}}});
  }
  if (bytes > opt_.max_request_bytes)
    return makeError(
        ErrorCode::kInvalidArgument, "commit", "transaction",
        std::to_string(bytes) + " bytes exceed etcd's request limit of " + std::to_string(opt_.max_request_bytes));
  Json req = {{"compare", cmp}, {"success", success}};
  auto body = call("/v3/kv/txn", req.dump());
  if (!body.ok()) return body.error();
  auto j = parseReply(*body, "etcd txn");
  if (!j.ok()) return j.error();
  return TxnResult{j->value("succeeded", false), toStore(int64Of(j->value("header", Json::object()), "revision"))};
}

Result<int64_t> EtcdStore::revision() {
  // A count-only range over our prefix reads the header's revision cheaply.
  Json req = {{"key", b64encode(opt_.prefix)}, {"range_end", b64encode(prefixEnd(opt_.prefix))}, {"count_only", true}};
  auto body = call("/v3/kv/range", req.dump());
  if (!body.ok()) return body.error();
  auto j = parseReply(*body, "etcd range");
  if (!j.ok()) return j.error();
  return toStore(int64Of(j->value("header", Json::object()), "revision"));
}

Result<std::string> EtcdStore::watchOnce(const std::string& body, std::chrono::milliseconds timeout) {
  size_t idx;
  {
    std::lock_guard<std::mutex> lock(mu_);
    idx = current_;
  }
  HttpRequest req;
  req.method = "POST";
  req.url = opt_.endpoints[idx] + "/v3/watch";
  req.body = body;
  req.headers = {"Content-Type: application/json"};
  req.timeout = timeout;
  req.connect_timeout = std::chrono::milliseconds(1000);
  req.ca_file = opt_.ca_file;
  req.cert_file = opt_.cert_file;
  req.key_file = opt_.key_file;
  // The stream sends one JSON object per line: "created" first, then events or a cancellation.
  req.done = [](const std::string& got) {
    return got.find("\"events\"") != std::string::npos || got.find("\"canceled\"") != std::string::npos ||
           got.find("\"compact_revision\"") != std::string::npos;
  };
  auto resp = httpRequest(req);
  if (!resp.ok()) return resp.error();
  return std::move(resp->body);
}

Result<int64_t> EtcdStore::waitForRevision(int64_t after, std::chrono::milliseconds timeout) {
  auto now = revision();
  if (!now.ok() || *now > after) return now;
  Json create = {{"key", b64encode(opt_.prefix)},
                 {"range_end", b64encode(prefixEnd(opt_.prefix))},
                 {"start_revision", toEtcd(after) + 1}};
  if (after == 0) create["start_revision"] = 2;
  Json req = {{"create_request", create}};
  auto streamed = watchOnce(req.dump(), timeout);
  if (!streamed.ok() && streamed.error().code != ErrorCode::kTimeout) return streamed.error();
  // After an event, a timeout or a cancellation the revision itself is the answer.
  return revision();
}

}  // namespace sc::controlplane
