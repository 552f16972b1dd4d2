#include "controlplane/http_server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "common/http_server.h"
#include "common/unique_fd.h"

namespace sc::controlplane {
namespace {

std::string decode(const char* s) {
  if (s == nullptr) return {};
  char* d = evhttp_uridecode(s, 0, nullptr);
  if (d == nullptr) return s;
  std::string out(d);
  free(d);  // NOLINT: evhttp allocates with malloc
  return out;
}

size_t countHeaders(const evkeyvalq* in) {
  size_t n = 0;
  for (const evkeyval* kv = in->tqh_first; kv != nullptr; kv = kv->next.tqe_next) ++n;
  return n;
}

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Handler handler;
  event_base* base = nullptr;
  evhttp* http = nullptr;
  event* notify_ev = nullptr;
  event* timer_ev = nullptr;
  uint16_t port = 0;
  std::thread loop;
  bool stopped = false;

  // Workers.
  std::mutex qmu;
  std::condition_variable qcv;
  std::deque<std::function<void()>> queue;
  bool quitting = false;
  std::vector<std::thread> workers;

  // Open connections (loop thread only, but for the count).
  struct Conn {
    uint32_t peer = 0;  // IPv4, network order
    std::chrono::steady_clock::time_point deadline;
    bool reading = true;  // false while a request on it is being handled
  };
  std::unordered_map<evhttp_connection*, Conn> conns;
  std::unordered_map<uint32_t, size_t> per_peer;
  std::atomic<size_t> conn_count{0};
  evconnlistener* listener = nullptr;
  event* resume_ev = nullptr;

  // Loop thread only.
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, evhttp_request*> live;
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> started;  // as live
  std::unordered_map<evhttp_connection*, std::vector<uint64_t>> by_conn;

  // Parked requests.
  mutable std::mutex pmu;
  std::unordered_map<uint64_t, Park> parked;
  std::unordered_set<uint64_t> polls;  // every long-poll not yet answered, parked or being re-checked
  uint64_t wake_gen = 0;

  // Answers waiting for the loop thread.
  std::mutex dmu;
  std::vector<std::pair<uint64_t, HttpResponse>> done;

  void submit(std::function<void()> f) {
    {
      std::lock_guard lock(qmu);
      queue.push_back(std::move(f));
    }
    qcv.notify_one();
  }

  void workerMain() {
    for (;;) {
      std::function<void()> f;
      {
        std::unique_lock lock(qmu);
        qcv.wait(lock, [&] { return quitting || !queue.empty(); });
        if (quitting) return;
        f = std::move(queue.front());
        queue.pop_front();
      }
      f();
    }
  }

  void complete(uint64_t id, HttpResponse r) {
    {
      std::lock_guard lock(dmu);
      done.emplace_back(id, std::move(r));
    }
    event_active(notify_ev, EV_READ, 0);
  }

  // The first park of a request: refused with a 503 when max_parked polls are already waiting.
  void parkNew(uint64_t id, uint64_t gen, Park p) {
    {
      std::lock_guard lock(pmu);
      if (polls.size() >= options.max_parked) {
        complete(id, HttpResponse{
                         503, "application/json", R"({"message":"too many parked polls"})", {{"Retry-After", "1"}}});
        return;
      }
      polls.insert(id);
    }
    park(id, gen, std::move(p));
  }

  // Parks `p` unless a wake() happened since `gen` was read; then it is checked again at once.
  void park(uint64_t id, uint64_t gen, Park p) {
    std::unique_lock lock(pmu);
    if (wake_gen != gen) {
      uint64_t now_gen = wake_gen;
      lock.unlock();
      submit([this, id, now_gen, p = std::move(p)]() mutable { recheck(id, now_gen, std::move(p)); });
      return;
    }
    parked.emplace(id, std::move(p));
  }

  void recheck(uint64_t id, uint64_t gen, Park p) {
    if (auto r = p.check()) {
      complete(id, std::move(*r));
      return;
    }
    park(id, gen, std::move(p));
  }

  void wake() {
    std::vector<std::pair<uint64_t, Park>> taken;
    uint64_t gen;
    {
      std::lock_guard lock(pmu);
      gen = ++wake_gen;
      taken.reserve(parked.size());
      for (auto& [id, p] : parked) taken.emplace_back(id, std::move(p));
      parked.clear();
    }
    if (taken.empty()) return;
    // Chunks spread the re-checks over every worker without one queue entry per request.
    size_t n = std::max<size_t>(1, static_cast<size_t>(options.workers));
    size_t chunk = std::max<size_t>(16, (taken.size() + n - 1) / n);
    auto shared = std::make_shared<std::vector<std::pair<uint64_t, Park>>>(std::move(taken));
    for (size_t begin = 0; begin < shared->size(); begin += chunk) {
      size_t end = std::min(shared->size(), begin + chunk);
      submit([this, shared, begin, end, gen] {
        for (size_t i = begin; i < end; ++i) recheck((*shared)[i].first, gen, std::move((*shared)[i].second));
      });
    }
  }

  // Loop thread.
  void send(evhttp_request* req, const HttpResponse& r) {
    evkeyvalq* out = evhttp_request_get_output_headers(req);
    evhttp_add_header(out, "Content-Type", r.content_type.c_str());
    for (const auto& [k, v] : r.headers) evhttp_add_header(out, k.c_str(), v.c_str());
    evbuffer* buf = evbuffer_new();
    evbuffer_add(buf, r.body.data(), r.body.size());
    evhttp_connection* conn = evhttp_request_get_connection(req);
    evhttp_send_reply(req, r.status, httpReason(r.status), buf);
    evbuffer_free(buf);
    setReading(conn, true);
  }

  void forget(uint64_t id, evhttp_request* req) {
    live.erase(id);
    started.erase(id);
    evhttp_connection* conn = evhttp_request_get_connection(req);
    auto it = by_conn.find(conn);
    if (it == by_conn.end()) return;
    std::erase(it->second, id);
  }

  static void onNotify(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    std::vector<std::pair<uint64_t, HttpResponse>> batch;
    {
      std::lock_guard lock(self->dmu);
      batch.swap(self->done);
    }
    {
      std::lock_guard lock(self->pmu);
      for (const auto& entry : batch) self->polls.erase(entry.first);
    }
    for (auto& [id, r] : batch) {
      auto it = self->live.find(id);
      if (it == self->live.end()) continue;  // the client went away
      evhttp_request* req = it->second;
      self->forget(id, req);
      self->send(req, r);
    }
  }

  static void onTimer(evutil_socket_t, short, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    auto now = std::chrono::steady_clock::now();
    self->cutSlowReaders(now);
    self->timeOutHandlers(now);
    std::vector<std::pair<uint64_t, Park>> expired;
    {
      std::lock_guard lock(self->pmu);
      for (auto it = self->parked.begin(); it != self->parked.end();) {
        if (it->second.deadline <= now) {
          expired.emplace_back(it->first, std::move(it->second));
          self->polls.erase(it->first);
          it = self->parked.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (auto& [id, p] : expired) {
      auto it = self->live.find(id);
      if (it == self->live.end()) continue;
      evhttp_request* req = it->second;
      self->forget(id, req);
      self->send(req, p.on_timeout());
    }
  }

  static void onClose(evhttp_connection* conn, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    self->forgetConn(conn);
    auto it = self->by_conn.find(conn);
    if (it == self->by_conn.end()) return;
    std::lock_guard lock(self->pmu);
    for (uint64_t id : it->second) {
      self->live.erase(id);
      self->started.erase(id);
      self->parked.erase(id);
      self->polls.erase(id);
    }
    self->by_conn.erase(it);
  }

  // evhttp's bufferevent for a new connection. Its fd and evhttp_connection are set after this
  // returns, so the caps are checked from a zero-delay event; the reference keeps `bev` valid.
  static bufferevent* onNewConnection(event_base* base, void* arg) {
    bufferevent* bev = bufferevent_socket_new(base, -1, 0);
    if (bev == nullptr) return nullptr;
    bufferevent_incref(bev);
    timeval now{0, 0};
    event_base_once(base, -1, EV_TIMEOUT, &Impl::onAccepted, new std::pair<void*, bufferevent*>(arg, bev), &now);
    return bev;
  }

  static void onAccepted(evutil_socket_t, short, void* arg) {
    std::unique_ptr<std::pair<void*, bufferevent*>> p(static_cast<std::pair<void*, bufferevent*>*>(arg));
    auto* self = static_cast<Impl*>(p->first);
    bufferevent_data_cb readcb = nullptr;
    void* cbarg = nullptr;
    bufferevent_getcb(p->second, &readcb, nullptr, nullptr, &cbarg);
    evutil_socket_t fd = bufferevent_getfd(p->second);
    // No callbacks any more: evhttp has freed the connection already (the client left at once).
    if (readcb != nullptr && cbarg != nullptr && fd >= 0) {
      self->admit(static_cast<evhttp_connection*>(cbarg), fd);
    }
    bufferevent_decref(p->second);
  }

  void admit(evhttp_connection* conn, evutil_socket_t fd) {
    sockaddr_in peer{};
    socklen_t len = sizeof peer;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return;
    uint32_t ip = peer.sin_addr.s_addr;
    auto same_peer = per_peer.find(ip);
    size_t from_peer = same_peer == per_peer.end() ? 0 : same_peer->second;
    if (conns.size() >= options.max_connections || from_peer >= options.max_connections_per_peer) {
      refuse(conn, fd);
      return;
    }
    // A request read before this ran is being handled: no read deadline until it is answered.
    auto handling = by_conn.find(conn);
    bool reading = handling == by_conn.end() || handling->second.empty();
    conns[conn] = Conn{ip, std::chrono::steady_clock::now() + options.header_timeout, reading};
    ++per_peer[ip];
    conn_count = conns.size();
    evhttp_connection_set_closecb(conn, &Impl::onClose, this);
  }

  // An orderly refusal: a 503 if the socket takes it, then the connection is freed (here, outside
  // every evhttp callback, that is safe; a shutdown instead would let evhttp write to a dead socket).
  static void refuse(evhttp_connection* conn, evutil_socket_t fd) {
    static constexpr char kBusy[] =
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\nContent-Length: 0\r\n\r\n";
    (void)::send(fd, kBusy, sizeof kBusy - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    evhttp_connection_free(conn);
  }

  void forgetConn(evhttp_connection* conn) {
    auto it = conns.find(conn);
    if (it == conns.end()) return;
    if (--per_peer[it->second.peer] == 0) per_peer.erase(it->second.peer);
    conns.erase(it);
    conn_count = conns.size();
  }

  // Connections whose request was not read by its deadline are closed (from the timer, outside
  // every evhttp callback; onClose forgets them).
  void cutSlowReaders(std::chrono::steady_clock::time_point now) {
    std::vector<evhttp_connection*> late;
    for (const auto& [conn, c] : conns) {
      if (c.reading && c.deadline <= now) late.push_back(conn);
    }
    for (evhttp_connection* conn : late) evhttp_connection_free(conn);
  }

  // Requests whose handler has not answered within request_timeout (parked polls excepted).
  void timeOutHandlers(std::chrono::steady_clock::time_point now) {
    std::vector<uint64_t> late;
    {
      std::lock_guard lock(pmu);
      for (const auto& [id, t] : started) {
        if (now - t >= options.request_timeout && !polls.contains(id)) late.push_back(id);
      }
    }
    for (uint64_t id : late) {
      evhttp_request* req = live.at(id);
      forget(id, req);
      send(req, HttpResponse{503, "application/json", R"({"message":"request timed out"})", {{"Connection", "close"}}});
    }
  }

  void setReading(evhttp_connection* conn, bool reading) {
    auto it = conns.find(conn);
    if (it == conns.end()) return;
    it->second.reading = reading;
    auto idle = std::chrono::seconds(std::max(1, options.connection_timeout_s));
    if (reading) it->second.deadline = std::chrono::steady_clock::now() + idle;
  }

  // At the fd limit accept() fails and the 2.1 listener, level-triggered, would call again at once
  // for ever (100 % CPU): pause accepting for a moment instead; the backlog keeps the clients.
  static void onAcceptError(evconnlistener* l, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    evconnlistener_disable(l);
    timeval pause{0, 100 * 1000};
    event_add(self->resume_ev, &pause);
  }

  static void onResume(evutil_socket_t, short, void* arg) { evconnlistener_enable(static_cast<Impl*>(arg)->listener); }

  static void onRequest(evhttp_request* req, void* arg) {
    auto* self = static_cast<Impl*>(arg);
    HttpRequest r;
    switch (evhttp_request_get_command(req)) {
      case EVHTTP_REQ_GET:
        r.method = "GET";
        break;
      case EVHTTP_REQ_POST:
        r.method = "POST";
        break;
      case EVHTTP_REQ_PUT:
        r.method = "PUT";
        break;
      case EVHTTP_REQ_DELETE:
        r.method = "DELETE";
        break;
      case EVHTTP_REQ_HEAD:
        r.method = "HEAD";
        break;
      default:
        r.method = "OTHER";
        break;
    }
    const char* uri = evhttp_request_get_uri(req);
    r.uri = uri != nullptr ? uri : "/";
    if (const evhttp_uri* parsed = evhttp_request_get_evhttp_uri(req)) {
      r.path = decode(evhttp_uri_get_path(parsed));
      if (const char* q = evhttp_uri_get_query(parsed)) {
        evkeyvalq params;
        params.tqh_first = nullptr;
        params.tqh_last = &params.tqh_first;
        if (evhttp_parse_query_str(q, &params) == 0) {
          for (evkeyval* kv = params.tqh_first; kv != nullptr; kv = kv->next.tqe_next) r.query[kv->key] = kv->value;
        }
        evhttp_clear_headers(&params);
      }
    }
    if (r.path.empty()) r.path = "/";
    evkeyvalq* in = evhttp_request_get_input_headers(req);
    if (countHeaders(in) > self->options.max_headers) {
      self->send(
          req,
          HttpResponse{431, "application/json", R"({"message":"too many header fields"})", {{"Connection", "close"}}});
      return;
    }
    for (evkeyval* kv = in->tqh_first; kv != nullptr; kv = kv->next.tqe_next) {
      std::string name(kv->key);
      std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
      auto [it, inserted] = r.headers.emplace(name, kv->value);
      if (!inserted) {
        it->second.push_back(',');
        it->second.append(kv->value);
      }
    }
    evbuffer* body = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(body);
    r.body.resize(len);
    if (len > 0) evbuffer_copyout(body, r.body.data(), len);

    uint64_t id = self->next_id++;
    self->live[id] = req;
    self->started[id] = std::chrono::steady_clock::now();
    evhttp_connection* conn = evhttp_request_get_connection(req);
    self->setReading(conn, false);
    auto [cit, fresh] = self->by_conn.try_emplace(conn);
    if (fresh) evhttp_connection_set_closecb(conn, &Impl::onClose, self);
    cit->second.push_back(id);

    self->submit([self, id, r = std::move(r)] {
      uint64_t gen;
      {
        std::lock_guard lock(self->pmu);
        gen = self->wake_gen;
      }
      HandlerOutcome outcome = self->handler(r);
      if (auto* resp = std::get_if<HttpResponse>(&outcome)) {
        self->complete(id, std::move(*resp));
      } else {
        self->parkNew(id, gen, std::move(std::get<Park>(outcome)));
      }
    });
  }

  void shutdown() {
    if (stopped) return;
    stopped = true;
    // loopexit (a queued event), not loopbreak: a break before the loop starts would be lost.
    if (base != nullptr) event_base_loopexit(base, nullptr);
    if (loop.joinable()) loop.join();
    {
      std::lock_guard lock(qmu);
      quitting = true;
    }
    qcv.notify_all();
    for (auto& t : workers) t.join();
    workers.clear();
    {
      std::lock_guard lock(pmu);
      parked.clear();
    }
    // No more answers or timeouts: the requests they point to go with evhttp below.
    if (notify_ev != nullptr) event_del(notify_ev);
    if (timer_ev != nullptr) event_del(timer_ev);
    if (resume_ev != nullptr) event_del(resume_ev);
    if (http != nullptr) evhttp_free(http);
    http = nullptr;
    live.clear();
    started.clear();
    by_conn.clear();
    conns.clear();
    per_peer.clear();
    // Connections freed above may have deferred callbacks (bufferevent frees) queued on the base;
    // run them before the base goes, or their memory is lost.
    if (base != nullptr) {
      for (int i = 0; i < 4; ++i) event_base_loop(base, EVLOOP_NONBLOCK);
    }
    if (notify_ev != nullptr) event_free(notify_ev);
    if (timer_ev != nullptr) event_free(timer_ev);
    if (resume_ev != nullptr) event_free(resume_ev);
    notify_ev = timer_ev = resume_ev = nullptr;
    if (base != nullptr) event_base_free(base);
    base = nullptr;
  }
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::~HttpServer() { stop(); }
void HttpServer::stop() { impl_->shutdown(); }
uint16_t HttpServer::port() const { return impl_->port; }
void HttpServer::wake() { impl_->wake(); }
size_t HttpServer::connectionCount() const { return impl_->conn_count; }
size_t HttpServer::parkedCount() const {
  std::lock_guard lock(impl_->pmu);
  return impl_->parked.size();
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const HttpServerOptions& options, Handler handler) {
  static std::once_flag threads_once;
  std::call_once(threads_once, [] { evthread_use_pthreads(); });
  std::string where = options.address + ":" + std::to_string(options.port);

  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(options.port);
  if (inet_pton(AF_INET, options.address.c_str(), &sa.sin_addr) != 1) {
    return makeError(ErrorCode::kInvalidArgument, "listen on", where, "not an IPv4 address");
  }
  int raw = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (raw < 0) return errnoError(errno, "listen on", where);
  UniqueFd fd(raw);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return errnoError(errno, "listen on", where);
  // A deep backlog: thousands of agents reconnect at once after a restart.
  if (::listen(fd.get(), 4096) != 0) return errnoError(errno, "listen on", where);
  socklen_t sl = sizeof(sa);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&sa), &sl);

  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->handler = std::move(handler);
  impl->port = ntohs(sa.sin_port);
  impl->base = event_base_new();
  if (impl->base == nullptr) return makeError(ErrorCode::kInternal, "listen on", where, "event_base_new failed");
  impl->http = evhttp_new(impl->base);
  if (impl->http == nullptr) {
    impl->shutdown();
    return makeError(ErrorCode::kInternal, "listen on", where, "evhttp_new failed");
  }
  evhttp_set_max_body_size(impl->http, static_cast<ev_ssize_t>(options.max_body_bytes));
  evhttp_set_max_headers_size(impl->http, static_cast<ev_ssize_t>(options.max_header_bytes));
  evhttp_set_timeout(impl->http, options.connection_timeout_s);
  evhttp_set_allowed_methods(impl->http,
                             EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
  evhttp_set_gencb(impl->http, &Impl::onRequest, impl.get());
  evhttp_set_bevcb(impl->http, &Impl::onNewConnection, impl.get());
  evhttp_bound_socket* bound = evhttp_accept_socket_with_handle(impl->http, fd.get());
  if (bound == nullptr) {
    impl->shutdown();
    return makeError(ErrorCode::kInternal, "listen on", where, "evhttp_accept_socket failed");
  }
  (void)fd.release();  // evhttp owns it now
  impl->listener = evhttp_bound_socket_get_listener(bound);
  impl->resume_ev = event_new(impl->base, -1, 0, &Impl::onResume, impl.get());
  evconnlistener_set_error_cb(impl->listener, &Impl::onAcceptError);
  impl->notify_ev = event_new(impl->base, -1, EV_PERSIST, &Impl::onNotify, impl.get());
  impl->timer_ev = event_new(impl->base, -1, EV_PERSIST, &Impl::onTimer, impl.get());
  timeval tick{0, 100 * 1000};
  event_add(impl->notify_ev, nullptr);
  event_add(impl->timer_ev, &tick);
  for (int i = 0; i < std::max(1, options.workers); ++i) {
    impl->workers.emplace_back([p = impl.get()] { p->workerMain(); });
  }
  impl->loop = std::thread([p = impl.get()] { event_base_dispatch(p->base); });
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

}  // namespace sc::controlplane
