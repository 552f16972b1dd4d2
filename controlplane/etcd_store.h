// EtcdStore: the Store contract on etcd v3 (3.4 and later), over etcd's JSON gateway (/v3/kv/range,
// /v3/kv/txn, /v3/watch) with libcurl.
//
// Every key lives under a prefix ("/sccontrol/" by default) so one etcd can hold other data.
// Revisions: etcd's revision is global to the cluster and starts at 1 on an empty cluster; this
// store reports etcd's revision minus one, so an empty cluster is at 0 and each committed
// transaction with changes moves it by one, as for the other stores. Other writers to the same
// etcd move it too: the revision then still only moves forward, strictly increasing per committed
// transaction. Create and mod revisions are mapped the same way; a compare on 0 means "absent".
//
// Limits: a transaction with more than 128 ops (etcd's --max-txn-ops default) or over 1.5 MiB
// (--max-request-bytes default) is refused with a clear error before anything is sent; it is never
// split, as that would break its atomicity. list() pages through large ranges at one revision.
// Endpoints are tried in turn on connection errors (fail-over); TLS applies to https:// endpoints.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "controlplane/store.h"

namespace sc::controlplane {

struct EtcdOptions {
  std::vector<std::string> endpoints;  // "http://host:port" or "https://host:port"
  std::string prefix = "/sccontrol/";
  std::string ca_file;  // with https://: the CA that signed etcd's certificate
  std::string cert_file;
  std::string key_file;
  std::chrono::milliseconds request_timeout{5000};
  size_t max_txn_ops = 128;
  size_t max_request_bytes = 1536 * 1024;
  size_t page_size = 1000;
};

// Parses "etcd://host:port[,host:port...]" (http) or "etcds://..." (https). False when `url` is
// not an etcd URL; an error when it is one but malformed.
Result<bool> parseEtcdUrl(const std::string& url, EtcdOptions& out);

class EtcdStore final : public Store {
 public:
  // Connects (reads the revision once) so that an unreachable etcd is reported at start.
  static Result<std::unique_ptr<EtcdStore>> open(EtcdOptions options);

  // Store
  Result<std::optional<KeyValue>> get(const std::string& key) override;
  Result<RangeResult> list(const std::string& prefix) override;
  Result<TxnResult> txn(const std::vector<Compare>& compares, const std::vector<TxnOp>& ops) override;
  Result<int64_t> revision() override;
  Result<int64_t> waitForRevision(int64_t after, std::chrono::milliseconds timeout) override;

 private:
  explicit EtcdStore(EtcdOptions options) : opt_(std::move(options)) {}
  // POSTs `body` to `path` on the current endpoint, moving to the next on connection errors.
  Result<std::string> call(const std::string& path, const std::string& body);
  Result<std::string> watchOnce(const std::string& body, std::chrono::milliseconds timeout);

  EtcdOptions opt_;
  std::mutex mu_;
  size_t current_ = 0;  // index of the endpoint that last answered
};

}  // namespace sc::controlplane
