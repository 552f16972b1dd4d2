#include "common/http_client.h"

#include <curl/curl.h>

#include <memory>

namespace sc {
namespace {

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
using CurlHandle = std::unique_ptr<CURL, CurlDeleter>;
struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlHeaders = std::unique_ptr<curl_slist, SlistDeleter>;

struct BodySink {
  std::string* out;
  const std::function<bool(const std::string&)>* done;
  size_t max_bytes;
  bool ended_early = false;
  bool too_long = false;
};

size_t appendBody(char* data, size_t size, size_t n, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t len = size * n;
  if (sink->out->size() + len > sink->max_bytes) {
    sink->too_long = true;
    return 0;
  }
  sink->out->append(data, len);
  if (*sink->done && (*sink->done)(*sink->out)) {
    sink->ended_early = true;
    return 0;  // ends the transfer with CURLE_WRITE_ERROR, which the caller turns into success
  }
  return len;
}

// libcurl calls this about once a second, and more often while data moves.
int checkCancel(void* flag, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  return static_cast<const std::atomic<bool>*>(flag)->load() ? 1 : 0;
}

void globalInit() {
  static const bool done = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK; }();
  (void)done;
}

}  // namespace

Result<HttpResponse> httpRequest(const HttpRequest& req) {
  globalInit();
  CurlHandle curl(curl_easy_init());
  if (!curl) return makeError(ErrorCode::kInternal, "request", req.url, "curl_easy_init failed");
  HttpResponse resp;
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, appendBody);
  BodySink sink{&resp.body, &req.done, req.max_response_bytes};
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
  if (!req.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, req.ca_file.c_str());
  if (!req.cert_file.empty()) curl_easy_setopt(c, CURLOPT_SSLCERT, req.cert_file.c_str());
  if (!req.key_file.empty()) curl_easy_setopt(c, CURLOPT_SSLKEY, req.key_file.c_str());
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // local peers only: ignore *_proxy variables
  if (!req.unix_socket.empty()) curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, req.unix_socket.c_str());
  if (req.method != "GET") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (!req.body.empty()) {
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(req.body.size()));
  }
  CurlHeaders headers;
  for (const std::string& h : req.headers) {
    curl_slist* grown = curl_slist_append(headers.get(), h.c_str());
    if (grown == nullptr) return makeError(ErrorCode::kInternal, "request", req.url, "out of memory for headers");
    (void)headers.release();
    headers.reset(grown);
  }
  if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  if (req.cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, checkCancel);
    // libcurl's callback takes a void*; it only reads the flag.
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(req.cancel));
  }
  CURLcode rc = curl_easy_perform(c);
  const std::string target = req.unix_socket.empty() ? req.url : req.unix_socket + " " + req.url;
  if (rc == CURLE_WRITE_ERROR && sink.ended_early) rc = CURLE_OK;
  if (rc == CURLE_WRITE_ERROR && sink.too_long) {
    return makeError(ErrorCode::kFailedPrecondition, "request", target,
                     "the answer is longer than " + std::to_string(req.max_response_bytes) + " bytes");
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK)
    return makeError(ErrorCode::kUnavailable, "request", target, "request cancelled");
  if (rc != CURLE_OK) {
    ErrorCode code = rc == CURLE_OPERATION_TIMEDOUT ? ErrorCode::kTimeout : ErrorCode::kUnavailable;
    return makeError(code, "request", target, curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
  return resp;
}

}  // namespace sc
