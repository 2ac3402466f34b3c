#include "api/server.h"

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/url/parse.hpp>
#include <charconv>
#include <limits>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "api/api_error.h"
#include "api/auth.h"
#include "api/event_stream.h"
#include "api/router.h"
#include "api/routes.h"
#include "api/routes_bulk.h"
#include "api/run_waiter.h"
#include "api/runner_registry.h"
#include "api/take_waiter.h"
#include "api/tls_front.h"
#include "api/throughput.h"
#include "api/utf8_text.h"
#include "metrics/taskmill_metrics.h"

namespace taskmill::api {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

// How often an idle event stream sends a comment line, so that proxies and clients
// see the connection alive and a vanished client is noticed.
constexpr auto kEventKeepAlive = std::chrono::seconds(15);

// A pushed write (Reply::Push) as one HTTP chunk — its size line, the shared texts
// read in place (no copy of the bytes, no second list per connection), and the CRLF
// that ends it — in one flat buffer sequence. Beast's make_chunk over a sequence of
// hundreds of small texts spent 16 % of the server's CPU stepping its concatenated
// iterator on every partial write; this one steps an index.
class PushChunk {
 public:
  class const_iterator {
   public:
    using value_type = net::const_buffer;
    using reference = net::const_buffer;
    using pointer = void;
    using difference_type = std::ptrdiff_t;
    using iterator_category = std::bidirectional_iterator_tag;
    const_iterator() = default;
    const_iterator(const PushChunk* chunk, size_t at) : chunk_(chunk), at_(at) {}
    net::const_buffer operator*() const { return chunk_->at(at_); }
    const_iterator& operator++() {
      ++at_;
      return *this;
    }
    const_iterator operator++(int) { return const_iterator(chunk_, at_++); }
    const_iterator& operator--() {
      --at_;
      return *this;
    }
    const_iterator operator--(int) { return const_iterator(chunk_, at_--); }
    bool operator==(const const_iterator& other) const { return at_ == other.at_; }

   private:
    const PushChunk* chunk_ = nullptr;
    size_t at_ = 0;
  };
  using value_type = net::const_buffer;

  // The chunk of `parts` without its first `skip` bytes (those already written).
  explicit PushChunk(const std::vector<PushPart>& parts, size_t skip = 0)
      : parts_(parts.data()), count_(parts.size()) {
    size_t bytes = 0;
    for (const PushPart& part : parts) bytes += part->size();
    auto [end, ec] = std::to_chars(head_.data(), head_.data() + head_.size() - 2, bytes, 16);
    *end++ = '\r';
    *end++ = '\n';
    head_size_ = static_cast<size_t>(end - head_.data());
    while (first_ < count_ + 2 && skip >= whole(first_).size()) skip -= whole(first_++).size();
    first_offset_ = skip;
  }
  // Copies refer to their own size line (the write operation keeps a copy).
  PushChunk(const PushChunk&) = default;
  PushChunk& operator=(const PushChunk&) = default;

  const_iterator begin() const { return const_iterator(this, first_); }
  const_iterator end() const { return const_iterator(this, count_ + 2); }

 private:
  net::const_buffer at(size_t i) const { return i == first_ ? whole(i) + first_offset_ : whole(i); }
  net::const_buffer whole(size_t i) const {
    if (i == 0) return net::buffer(head_.data(), head_size_);
    if (i <= count_) return net::buffer(*parts_[i - 1]);
    return net::buffer("\r\n", 2);
  }

  const PushPart* parts_;
  size_t count_;
  std::array<char, 20> head_{};
  size_t head_size_ = 0;
  size_t first_ = 0;         // the first element not wholly skipped
  size_t first_offset_ = 0;  // bytes of it skipped
};

// How long a connection that is being closed after an error keeps reading (and
// discarding) what the client still sends, so that the client reads our response
// instead of a connection reset.
constexpr auto kLingerTime = std::chrono::seconds(2);

// How long Stop() lets the answers of a shutdown (503 to pending long-polls and to
// requests in progress) go out before it closes every connection.
constexpr auto kShutdownDrainLimit = std::chrono::seconds(2);

// The answer to every request, and to every pending long-poll, once the server is
// shutting down (with Retry-After, as every 503).
Status ShuttingDown() { return Status::Unavailable("the server is shutting down; retry later"); }

std::string LowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

Result<HostPort> ParseListen(const std::string& listen) {
  auto bad = [&] {
    return Status::InvalidArgument("listen address '" + listen +
                                   "' is not HOST:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)");
  };
  HostPort out;
  std::string_view port;
  if (!listen.empty() && listen.front() == '[') {
    auto close = listen.find("]:");
    if (close == std::string::npos) return bad();
    out.host = listen.substr(1, close - 1);
    port = std::string_view(listen).substr(close + 2);
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string::npos) return bad();
    out.host = listen.substr(0, colon);
    port = std::string_view(listen).substr(colon + 1);
  }
  if (out.host.empty() || port.empty()) return bad();
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), out.port);
  if (ec != std::errc() || end != port.data() + port.size()) return bad();
  return out;
}

// Whether an Accept-Encoding header value (RFC 9110, 12.5.3) allows gzip: "gzip" (or
// the old "x-gzip") or "*" with a q-value above 0, unless gzip itself is refused with
// q=0. No header means no compression: a client that sends none may not expect it.
bool AcceptsGzip(std::string_view header) {
  std::optional<bool> gzip;  // gzip named explicitly: allowed or refused
  bool any = false;          // "*" allowed
  while (!header.empty()) {
    size_t comma = header.find(',');
    std::string_view item = header.substr(0, comma);
    header = comma == std::string_view::npos ? std::string_view() : header.substr(comma + 1);
    size_t semicolon = item.find(';');
    std::string_view name = item.substr(0, semicolon);
    auto trim = [](std::string_view v) {
      while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
      while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
      return v;
    };
    name = trim(name);
    bool allowed = true;
    if (semicolon != std::string_view::npos) {
      std::string_view params = item.substr(semicolon + 1);
      size_t q = params.find_first_of("qQ");
      if (q != std::string_view::npos) {
        std::string_view value = trim(params.substr(q + 1));
        if (!value.empty() && value.front() == '=') value = trim(value.substr(1));
        // q=0, q=0.0, q=0.000: refused; any other weight allows it.
        allowed = value.empty() || value.find_first_not_of("0.") != std::string_view::npos;
      }
    }
    if (beast::iequals(name, "gzip") || beast::iequals(name, "x-gzip")) {
      gzip = allowed;
    } else if (name == "*") {
      any = allowed;
    }
  }
  return gzip.value_or(any);
}

}  // namespace

Status ApiOptions::Validate() const {
  if (threads < 1 || threads > 256) return Status::InvalidArgument("api threads: expected 1-256");
  if (max_json_body < 1024)
    return Status::InvalidArgument("api max_json_body: at least 1024 bytes");
  if (max_header < 1024 || max_header > (64u << 20)) {
    return Status::InvalidArgument("api max_header: expected 1 KiB to 64 MiB");
  }
  if (request_timeout.count() <= 0 || idle_timeout.count() <= 0) {
    return Status::InvalidArgument("api request_timeout and idle_timeout must be positive");
  }
  if (max_connections < 1) return Status::InvalidArgument("api max_connections: at least 1");
  if (tls_cert.empty() != tls_key.empty()) {
    return Status::InvalidArgument("api tls_cert and tls_key: give both, or neither");
  }
  if (max_wait.count() < 0 || wait_recheck.count() <= 0) {
    return Status::InvalidArgument("api max_wait must not be negative, wait_recheck positive");
  }
  return ParseListen(listen).status();
}

class Session;

// The server's state and lifecycle; ApiServer::Impl is this under the header's name.
class Server {
 public:
  Server(ApiOptions options, Engine& engine)
      : options_(std::move(options)),
        engine_(engine),
        waiter_(engine, options_.wait_recheck),
        takes_(engine.events(), options_.wait_recheck),
        auth_(engine.storage()),
        events_(engine.events(), engine.clock()),
        throughput_(engine.events(), engine.clock()) {
    // One io_context per io thread (see `iocs_`); a hint of 1 tells Asio that one
    // thread runs each, which spares it waking other threads.
    for (int i = 0; i < std::max(1, options_.threads); ++i) {
      iocs_.push_back(std::make_unique<net::io_context>(1));
    }
    acceptor_.emplace(iocs_[0]->get_executor());
  }

  Status Start();
  void BeginShutdown();
  void Stop();
  std::string url() const;
  std::vector<std::string> RouteList() const {
    // Start() fills the router under this lock; it is read-only afterwards.
    std::lock_guard lock(lifecycle_mu_);
    return router_.RouteList();
  }
  void SetStaticAssets(StaticAssetLookup lookup) { static_assets_ = std::move(lookup); }
  ApiServer::Counters counters() const {
    return {.connections = connections_.load(std::memory_order_relaxed),
            .pending_waits = waiter_.pending(),
            .pending_takes = takes_.pending(),
            .event_streams = events_.subscribers()};
  }

 private:
  friend class Session;
  void Accept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  // The web UI's file for `url`; gzip-compressed when `accept_encoding` allows it.
  Response StaticAsset(const boost::urls::url_view& url, std::string_view accept_encoding) const;

  const ApiOptions options_;
  Engine& engine_;
  Router router_;  // built in Start(), read-only afterwards
  RunWaiter waiter_;
  TakeWaiter takes_;
  RunnerRegistry runners_;
  Authenticator auth_;
  EventHub events_;  // before the io context: sessions hold cursors into it
  ThroughputRecorder throughput_;
  StaticAssetLookup static_assets_;  // set before Start(), read-only afterwards
  std::atomic<int> connections_{0};  // open sessions, over-limit ones included
  HostPort bound_;                   // set in Start()
  mutable std::mutex lifecycle_mu_;  // serializes Start and Stop
  bool started_ = false;             // guarded by lifecycle_mu_
  bool stopped_ = false;             // guarded by lifecycle_mu_
  // BeginShutdown() was called.
  std::atomic<bool> shutting_down_{false};
  // Requests read and not yet answered (see Session::BeginAnswer); Stop() waits for
  // them to reach 0, so that the 503 answers of the shutdown go out.
  std::atomic<int> answering_{0};
  std::mutex drain_mu_;
  std::condition_variable drain_cv_;  // notified when answering_ drops to 0

  // Declared last: destroyed first, while what pending handlers refer to still exists.
  // Stop() destroys them, which destroys every pending handler and with them every
  // connection (their sockets close, so clients see the end at once).
  //
  // Each io thread runs an io_context of its own, and a connection lives on one of
  // them (round robin), so its steps never run concurrently without a strand, and
  // no handler hops between threads: with one shared io_context every completion
  // woke another thread (about 1.5 futex calls per request, measured under wrk).
  // The acceptor, its retry timer and the TLS front live on the first.
  std::vector<std::unique_ptr<net::io_context>> iocs_;
  size_t next_ioc_ = 0;  // the io_context of the next connection; acceptor's thread only
  std::optional<tcp::acceptor> acceptor_;
  std::optional<net::steady_timer> accept_retry_;  // on the acceptor's io_context
  std::optional<TlsFront> tls_front_;              // HTTPS, when configured
  std::vector<std::thread> threads_;
};

// One HTTP/1.1 connection. Every step runs on the connection's io thread (its
// io_context has one), which serializes them as a strand would.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Server& server, bool over_limit)
      : stream_(std::move(socket)),
        read_timer_(stream_.get_executor()),
        watchdog_(stream_.get_executor()),
        server_(server),
        over_limit_(over_limit) {}
  ~Session() {
    EndAnswer();
    server_.connections_.fetch_sub(1, std::memory_order_relaxed);
  }

  void Start() {
    net::dispatch(stream_.get_executor(),
                  beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  // ---- deadlines of the common exchange (read a request, write its answer) ---------
  //
  // One timer per connection, the watchdog, enforces them: a phase sets deadline_,
  // and the watchdog, when it fires, acts only if the current phase's deadline has
  // passed, else waits again until it. Arming and cancelling a timer for every read
  // and write (and the stream's own expiry timer for writes) cost a timer-queue
  // update and a cancelled handler each, per request; now a keep-alive connection
  // re-arms its timer about once per timeout. The less common exchanges (uploads,
  // streamed and pushed bodies, lingering) use the stream's expiry (SetStreamExpiry).
  enum class Phase { kIdle, kReading, kWriting };

  void SetDeadline(std::chrono::steady_clock::duration timeout, Phase phase) {
    deadline_ = std::chrono::steady_clock::now() + timeout;
    phase_ = phase;
    if (!watchdog_armed_) ArmWatchdog();
  }

  void ArmWatchdog() {
    watchdog_armed_ = true;
    watchdog_.expires_at(deadline_);
    // A weak reference: the watchdog must not keep a finished connection alive.
    watchdog_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->watchdog_armed_ = false;
      if (ec || self->phase_ == Phase::kIdle) return;  // Close(), or nothing to time
      if (std::chrono::steady_clock::now() < self->deadline_) return self->ArmWatchdog();
      if (self->phase_ == Phase::kReading) {
        // The read fails with operation_aborted; OnReadError answers 408.
        self->read_timed_out_ = true;
        beast::error_code ignored;
        self->stream_.socket().cancel(ignored);
      } else {
        self->Close();  // the client does not read its answer
      }
    });
  }

  void SetStreamExpiry(std::chrono::steady_clock::duration timeout) {
    stream_.expires_after(timeout);
    stream_expiry_set_ = true;
  }

  void Read() {
    const ApiOptions& options = server_.options_;
    route_ = metrics::kOtherRoute;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(options.max_header));
    // No body limit yet: Beast checks Content-Length against it while parsing the
    // header, and an upload route (TryUpload) streams bodies of any size. OnHeader
    // applies max_json_body to every other request.
    parser_->body_limit(boost::none);
    // The first request of a connection must arrive within request_timeout; later
    // ones within idle_timeout of the previous answer (a slow client is dropped).
    // The deadline covers header and body. It is the watchdog rather than the
    // stream's expiry, which would close the socket before a 408 could be sent.
    if (stream_expiry_set_) {
      stream_.expires_never();
      stream_expiry_set_ = false;
    }
    read_timed_out_ = false;
    SetDeadline(first_request_ ? options.request_timeout : options.idle_timeout, Phase::kReading);
    // The header first: a body over the limit is refused before it is sent, and a
    // client that asks `Expect: 100-continue` (curl does for bodies over 1 KiB) is
    // told to go on instead of waiting a second for it.
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  void OnHeader(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    if (TryUpload()) return;
    // A declared length over the limit is refused before the body is sent; a chunked
    // body is counted as it arrives.
    const uint64_t limit = server_.options_.max_json_body;
    if (auto length = parser_->content_length(); length && *length > limit) {
      return OnReadError(http::error::body_limit);
    }
    parser_->body_limit(limit);
    if (parser_->is_done()) return OnRead({}, 0);
    auto expect = parser_->get()[http::field::expect];
    if (beast::iequals(expect, "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code write_ec, size_t) {
                         if (write_ec) return self->Close();
                         self->ReadBody();
                       });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(stream_, buffer_, *parser_,
                     beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, size_t) {
    if (ec) return OnReadError(ec);
    phase_ = Phase::kIdle;
    first_request_ = false;
    Handle();
  }

  void OnReadError(beast::error_code ec) {
    const ApiOptions& options = server_.options_;
    phase_ = Phase::kIdle;
    if (ec == http::error::end_of_stream) return Close();
    if (read_timed_out_) {
      // Silence on an idle keep-alive connection is normal; a request that started
      // and did not finish in time gets an answer.
      if (!parser_->got_some() && buffer_.size() == 0) return Close();
      auto limit = std::chrono::duration_cast<std::chrono::seconds>(
          first_request_ ? options.request_timeout : options.idle_timeout);
      return SendError(Status::Timeout("the request was not received within " +
                                       std::to_string(limit.count()) + " s"));
    }
    if (ec == http::error::body_limit) {
      return SendError(Status::TooLarge("request body exceeds the limit of " +
                                        std::to_string(options.max_json_body) + " bytes"));
    }
    if (ec == http::error::header_limit) {
      return SendError(Status::TooLarge("request header exceeds the limit of " +
                                        std::to_string(options.max_header) + " bytes"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return SendError(ApiStatus(StatusCode::kInvalidArgument, "bad_request",
                                 "malformed HTTP request: " + ec.message()));
    }
    Close();  // reset by the peer, or the server is stopping
  }

  // A request is owed an answer from Handle() until its answer is written (or the
  // connection ends); counted in Server::answering_.
  void BeginAnswer() {
    if (owes_answer_) return;
    owes_answer_ = true;
    server_.answering_.fetch_add(1);
  }
  void EndAnswer() {
    if (!owes_answer_) return;
    owes_answer_ = false;
    if (server_.answering_.fetch_sub(1) == 1) {
      std::lock_guard lock(server_.drain_mu_);
      server_.drain_cv_.notify_all();
    }
  }

  void Handle() {
    BeginAnswer();
    const Request& request = parser_->get();
    request_version_ = request.version();
    request_keep_alive_ = request.keep_alive();
    // HEAD is GET without the body (Send drops it and keeps Content-Length).
    head_ = request.method() == http::verb::head;
    http::verb method = head_ ? http::verb::get : request.method();
    if (over_limit_) {
      return SendError(Status::Unavailable("too many open connections (limit " +
                                           std::to_string(server_.options_.max_connections) +
                                           "); retry later"));
    }
    if (server_.shutting_down_.load()) return SendError(ShuttingDown());
    auto url = boost::urls::parse_origin_form(
        std::string_view(request.target().data(), request.target().size()));
    if (!url) {
      return SendError(
          ApiStatus(StatusCode::kInvalidArgument, "bad_request",
                    "malformed request target '" + std::string(request.target()) + "'"));
    }
    if (!Authorize(*url, request)) return;
    Router::Match match = server_.router_.Find(method, *url);
    if (!match.pattern.empty()) route_ = match.pattern;
    if (!match.handler) {
      if (!match.allow.empty()) {
        json::object details;
        details["allow"] = match.allow;
        Response response =
            ErrorResponse(ApiStatus(StatusCode::kInvalidArgument, "method_not_allowed",
                                    std::string(request.method_string()) + " is not allowed on " +
                                        std::string(url->path()) + "; allowed: " + match.allow,
                                    std::move(details)));
        response.set(http::field::allow, match.allow);
        return Send(std::move(response));
      }
      std::string path = url->path();
      bool api_path = path == "/api" || path.starts_with("/api/");
      if (method == http::verb::get && !api_path && server_.static_assets_) {
        return Send(server_.StaticAsset(*url, request[http::field::accept_encoding]));
      }
      return Send(
          ErrorResponse(ApiStatus(StatusCode::kNotFound, "route_not_found",
                                  "no route for " + std::string(request.method_string()) + " " +
                                      path + "; the API is under /api/v1 (see docs/api.md)")));
    }

    if (Status s = CheckRequestText(match.pattern, match.params, *url); !s.ok()) {
      return SendError(s);
    }
    Exchange exchange(request, *url, std::move(match.params), stream_.get_executor(), [this] {
      return Exchange::Completion([self = shared_from_this()](Response response) {
        net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
          self->Send(std::move(response));
        });
      });
    });
    exchange.set_principal(&principal_);
    std::optional<Reply> reply;
    try {
      reply.emplace((*match.handler)(exchange));
    } catch (const std::exception& e) {
      spdlog::error("api: {} {}: unexpected exception: {}", std::string(request.method_string()),
                    std::string(request.target()), e.what());
      return SendError(Status::Internal(std::string("unexpected error: ") + e.what()));
    }
    if (reply->deferred()) {
      // The answer comes from a long-poll; its own deadline bounds the wait.
      stream_.expires_never();
      return;
    }
    // A stream has no end to wait for at shutdown: it is simply closed.
    if (reply->streamed()) {
      EndAnswer();
      return SendStream(std::move(*reply));
    }
    if (reply->pushed()) {
      EndAnswer();
      return SendPush(std::move(*reply));
    }
    Send(std::move(reply->response()));
  }

  // Sets principal_ for the request, or answers 401 and returns false. Routes under
  // /api/ need a token once the server has tokens; the web UI's files, /healthz,
  // /metrics and the OpenAPI document do not.
  bool Authorize(const boost::urls::url_view& url, const Request& request) {
    std::string_view path(url.encoded_path().data(), url.encoded_path().size());
    if (!path.starts_with("/api/") || path == "/api/v1/openapi.json") {
      principal_ = Principal{};  // a public route: no authority
      return true;
    }
    auto header = request[http::field::authorization];
    auto principal = server_.auth_.Authenticate(std::string_view(header.data(), header.size()));
    if (!principal.ok()) {
      Response response = ErrorResponse(principal.status());
      if (principal.status().code() == StatusCode::kUnauthenticated) {
        response.set(http::field::www_authenticate, "Bearer realm=\"taskmill\"");
      }
      // The body of an upload is still unread: close rather than parse it.
      Send(std::move(response), /*close=*/true);
      return false;
    }
    principal_ = std::move(*principal);
    return true;
  }

  // ---- streamed request bodies (Router::AddUpload) -------------------------------

  // Hands the request to an upload route when one takes it; false to go on as usual.
  bool TryUpload() {
    const Request& header = parser_->get();
    // Most requests use a method no upload route has: no need to look at the target.
    if (!server_.router_.HasUpload(header.method())) return false;
    auto url = boost::urls::parse_origin_form(
        std::string_view(header.target().data(), header.target().size()));
    if (!url) return false;
    std::vector<std::string> params;
    std::string_view pattern;
    const UploadHandler* upload =
        server_.router_.FindUpload(header.method(), *url, &params, &pattern);
    if (!upload) return false;
    route_ = pattern;
    request_version_ = header.version();
    request_keep_alive_ = header.keep_alive();
    head_ = false;
    if (over_limit_) return false;  // Handle() answers 503
    if (!Authorize(*url, header)) return true;
    if (Status s = CheckRequestText(pattern, params, *url); !s.ok()) {
      SendError(s);
      return true;
    }
    Exchange exchange(header, *url, std::move(params), stream_.get_executor(), [this] {
      return Exchange::Completion([self = shared_from_this()](Response response) {
        net::post(self->stream_.get_executor(), [self, response = std::move(response)]() mutable {
          self->Send(std::move(response));
        });
      });
    });
    exchange.set_principal(&principal_);
    Result<std::unique_ptr<BodySink>> sink = Status::Internal("upload route failed");
    try {
      sink = (*upload)(exchange);
    } catch (const std::exception& e) {
      sink = Status::Internal(std::string("unexpected error: ") + e.what());
    }
    if (sink.ok() && !*sink) return false;
    phase_ = Phase::kIdle;  // from here the stream's expiry times the upload
    if (!sink.ok()) {
      SendError(sink.status());
      return true;
    }
    upload_sink_ = std::move(*sink);
    // The whole-request deadline cannot fit a body of any size: from here on each read
    // has its own (the stream's expiry), so only a stalled client times out.
    upload_parser_.emplace(std::move(*parser_));
    if (!upload_buffer_) upload_buffer_ = std::make_unique_for_overwrite<char[]>(kUploadPiece);
    upload_parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (beast::iequals(upload_parser_->get()[http::field::expect], "100-continue")) {
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code write_ec, size_t) {
                         if (write_ec) return self->Close();
                         self->ReadUploadPiece();
                       });
      return true;
    }
    ReadUploadPiece();
    return true;
  }

  void ReadUploadPiece() {
    if (upload_parser_->is_done()) return FinishUpload();
    auto& body = upload_parser_->get().body();
    body.data = upload_buffer_.get();
    body.size = kUploadPiece;
    SetStreamExpiry(server_.options_.request_timeout);
    http::async_read(stream_, buffer_, *upload_parser_,
                     beast::bind_front_handler(&Session::OnUploadPiece, shared_from_this()));
  }

  void OnUploadPiece(beast::error_code ec, size_t) {
    if (ec == http::error::need_buffer) ec = {};  // the piece buffer is full: hand it over
    if (ec) {
      upload_sink_.reset();
      if (ec == beast::error::timeout) {
        return SendError(
            Status::Timeout("the upload stalled: nothing received for " +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                               server_.options_.request_timeout)
                                               .count()) +
                            " s"));
      }
      return Close();
    }
    size_t got = kUploadPiece - upload_parser_->get().body().size;
    if (got > 0) {
      Status written = upload_sink_->Write(std::string_view(upload_buffer_.get(), got));
      if (!written.ok()) {
        upload_sink_.reset();
        return SendError(written);
      }
    }
    ReadUploadPiece();
  }

  void FinishUpload() {
    stream_.expires_never();
    first_request_ = false;
    std::optional<Reply> reply;
    try {
      reply.emplace(upload_sink_->Finish());
    } catch (const std::exception& e) {
      reply.emplace(Status::Internal(std::string("unexpected error: ") + e.what()));
    }
    upload_sink_.reset();
    upload_parser_.reset();
    upload_buffer_.reset();
    if (reply->streamed()) return SendStream(std::move(*reply));
    Send(std::move(reply->response()));
  }

  // ---- streamed response bodies (Reply::Stream) ----------------------------------

  void SendStream(Reply reply) {
    Response& head = reply.response();
    CountRequest(head.result_int());
    stream_head_ = {};
    stream_head_.result(head.result());
    stream_head_.version(request_version_);
    for (const auto& field : head) stream_head_.set(field.name_string(), field.value());
    stream_head_.keep_alive(request_keep_alive_);
    stream_head_.chunked(true);
    stream_source_ = std::move(reply.source());
    stream_serializer_.emplace(stream_head_);
    SetStreamExpiry(server_.options_.request_timeout);
    http::async_write_header(stream_, *stream_serializer_,
                             beast::bind_front_handler(&Session::OnStreamHead, shared_from_this()));
  }

  void OnStreamHead(beast::error_code ec, size_t) {
    if (ec) return Close();
    if (head_) return OnStreamDone({}, 0);  // HEAD: the header alone
    NextPiece();
  }

  void NextPiece() {
    Result<std::string> piece = Status::Internal("no body");
    try {
      piece = stream_source_();
    } catch (const std::exception& e) {
      piece = Status::Internal(e.what());
    }
    if (!piece.ok()) {
      // The status line is out: all that is left is to cut the body short, which a
      // client sees as an incomplete chunked body.
      spdlog::warn("api: streamed response failed: {}", piece.status().ToString());
      return Close();
    }
    SetStreamExpiry(server_.options_.request_timeout);
    if (piece->empty()) {
      net::async_write(stream_, http::make_chunk_last(),
                       beast::bind_front_handler(&Session::OnStreamDone, shared_from_this()));
      return;
    }
    stream_piece_ = std::move(*piece);
    net::async_write(stream_, http::make_chunk(net::buffer(stream_piece_)),
                     [self = shared_from_this()](beast::error_code write_ec, size_t) {
                       if (write_ec) return self->Close();
                       self->NextPiece();
                     });
  }

  void OnStreamDone(beast::error_code ec, size_t) {
    stream_source_ = nullptr;
    stream_serializer_.reset();
    stream_piece_.clear();
    if (ec) return Close();
    if (!request_keep_alive_) return Linger();
    Read();
  }

  // ---- pushed response bodies (Reply::Push, Server-Sent Events) -------------------

  void SendPush(Reply reply) {
    Response& head = reply.response();
    stream_head_ = {};
    stream_head_.result(head.result());
    stream_head_.version(request_version_);
    for (const auto& field : head) stream_head_.set(field.name_string(), field.value());
    stream_head_.keep_alive(true);
    stream_head_.chunked(true);
    push_ = std::move(reply.push_source());
    stream_serializer_.emplace(stream_head_);
    SetStreamExpiry(server_.options_.request_timeout);
    http::async_write_header(stream_, *stream_serializer_,
                             [self = shared_from_this()](beast::error_code ec, size_t) {
                               if (ec) return self->Close();
                               if (self->head_) return self->OnStreamDone({}, 0);
                               self->StartPush();
                             });
  }

  void StartPush() {
    stream_.expires_never();
    // WritePushParts writes what the socket takes at once without waiting.
    beast::error_code ignored;
    stream_.socket().non_blocking(true, ignored);
    std::weak_ptr<Session> weak = shared_from_this();
    push_->Start([weak, executor = stream_.get_executor()] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->PushNext();
      });
    });
    // The client sends nothing more on this connection: input or its end means the
    // client is gone (or misbehaving), and either way the stream ends.
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code, size_t) {
                              self->push_closed_ = true;
                              self->Close();
                            });
    PushNext();
  }

  void PushNext() {
    if (push_writing_ || push_closed_) return;
    push_->Pull(push_parts_);
    if (push_parts_.empty()) {
      read_timer_.expires_after(kEventKeepAlive);
      read_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (ec || self->push_writing_ || self->push_closed_) return;
        static const PushPart kKeepAlive = std::make_shared<const std::string>(": keep-alive\n\n");
        self->push_parts_.push_back(kKeepAlive);
        self->WritePushParts();
      });
      return;
    }
    WritePushParts();
  }

  // Writes push_parts_ as one chunk.
  void WritePushParts() {
    push_writing_ = true;
    // Most pieces fit in the socket's send buffer at once: try that first, from a copy
    // in a per-thread scratch buffer that lives only for this call, so a piece costs
    // one system call. Written from the shared texts themselves, a piece of hundreds
    // of small frames took one call per 64 of them (the gather limit), and the server
    // used about a third more CPU than when each connection wrote a copy of its own.
    thread_local std::string scratch;
    scratch.clear();
    for (net::const_buffer buffer : PushChunk(push_parts_)) {
      scratch.append(static_cast<const char*>(buffer.data()), buffer.size());
    }
    beast::error_code ec;
    size_t written = stream_.socket().write_some(net::buffer(scratch), ec);  // non-blocking
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      written = 0;
    }
    if (ec) {
      push_parts_.clear();
      push_closed_ = true;
      return Close();
    }
    if (written == scratch.size()) {
      push_parts_.clear();
      // Through the queue rather than at once, so that one busy stream does not keep
      // the thread from its other connections. push_writing_ holds off wakes meanwhile;
      // the pull that follows takes whatever they announced.
      net::post(stream_.get_executor(), [self = shared_from_this()] {
        self->push_writing_ = false;
        self->PushNext();
      });
      return;
    }
    // The client is behind: the rest goes out as the socket drains, from the shared
    // texts (see PushPart), so a slow client holds references rather than bytes.
    // A client that stops reading is dropped instead of holding its buffers forever.
    SetStreamExpiry(server_.options_.request_timeout);
    net::async_write(stream_, PushChunk(push_parts_, written),
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->push_writing_ = false;
                       // Written: let go of the texts (the last reference frees one
                       // that the ring has dropped meanwhile).
                       self->push_parts_.clear();
                       if (ec) {
                         self->push_closed_ = true;
                         return self->Close();
                       }
                       self->stream_.expires_never();  // the watching read has no deadline
                       self->PushNext();
                     });
  }

  // Answers with an error and closes: after a protocol error or a limit the rest of
  // the input cannot be trusted to frame a next request.
  void SendError(const Status& status) { Send(ErrorResponse(status), /*close=*/true); }

  void Send(Response response, bool close = false) {
    CountRequest(response.result_int());
    response.version(request_version_);
    response.keep_alive(request_keep_alive_ && !close);
    response.prepare_payload();
    if (head_) {
      auto length = response.body().size();
      response.body().clear();
      if (length > 0) response.content_length(length);
    }
    response_ = std::move(response);
    SetDeadline(server_.options_.request_timeout, Phase::kWriting);
    http::async_write(stream_, response_,
                      beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    phase_ = Phase::kIdle;
    EndAnswer();
    if (ec) return Close();
    if (!response_.keep_alive()) return Linger();
    response_ = {};
    Read();
  }

  // Half-closes, then discards input until the client closes or kLingerTime passes.
  void Linger() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    SetStreamExpiry(kLingerTime);
    Drain();
  }

  void Drain() {
    stream_.async_read_some(net::buffer(drain_),
                            [self = shared_from_this()](beast::error_code ec, size_t) {
                              if (ec) return self->Close();
                              self->Drain();
                            });
  }

  // Counts the answer to the request being handled, under its route pattern.
  // The counter of the last (route, code) is kept: a keep-alive connection usually
  // repeats its request, and the family's lookup takes a lock shared by every thread.
  void CountRequest(unsigned code) {
    if (!request_counter_ || code != counted_code_ || route_.data() != counted_route_.data() ||
        route_.size() != counted_route_.size()) {
      char digits[8];
      auto [end, ec] = std::to_chars(digits, digits + sizeof digits, code);
      request_counter_ = &metrics::Taskmill().http_requests->WithLabels(
          {route_, std::string_view(digits, end - digits)});
      counted_route_ = route_;
      counted_code_ = code;
    }
    request_counter_->Increment();
  }

  void Close() {
    phase_ = Phase::kIdle;
    EndAnswer();
    watchdog_.cancel();
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream_.socket().close(ignored);
  }

  beast::tcp_stream stream_;
  net::steady_timer read_timer_;  // keep-alives of a pushed body
  bool read_timed_out_ = false;
  net::steady_timer watchdog_;  // see SetDeadline
  bool watchdog_armed_ = false;
  Phase phase_ = Phase::kIdle;
  std::chrono::steady_clock::time_point deadline_;  // of phase_
  bool stream_expiry_set_ = false;  // the stream's expiry is in use (SetStreamExpiry)
  metrics::Counter* request_counter_ = nullptr;  // CountRequest's last counter
  std::string_view counted_route_;
  unsigned counted_code_ = 0;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Response response_;  // the response being written
  Server& server_;
  const bool over_limit_;  // answer 503 and close
  bool first_request_ = true;
  bool owes_answer_ = false;  // see BeginAnswer
  unsigned request_version_ = 11;
  bool request_keep_alive_ = true;
  bool head_ = false;  // the request being answered is a HEAD
  // The route pattern of the request being handled (metrics::kOtherRoute until one
  // matches); points into the router or a constant.
  std::string_view route_ = metrics::kOtherRoute;
  std::array<char, 4096> drain_{};
  // An upload in progress (Router::AddUpload).
  std::unique_ptr<BodySink> upload_sink_;
  std::optional<http::request_parser<http::buffer_body>> upload_parser_;
  // The piece buffer of an upload: allocated when one starts, since most connections
  // never upload and a buffer inside every session cost 64 KiB of resident memory
  // each (1,000 event streams: 64 MB).
  static constexpr size_t kUploadPiece = 64 << 10;
  std::unique_ptr<char[]> upload_buffer_;
  // A streamed response in progress (Reply::Stream).
  http::response<http::empty_body> stream_head_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  BodySource stream_source_;
  std::string stream_piece_;
  // A pushed response in progress (Reply::Push).
  std::shared_ptr<PushSource> push_;
  std::vector<PushPart> push_parts_;  // being written; empty between writes
  bool push_writing_ = false;
  bool push_closed_ = false;
  Principal principal_;  // who the request being answered acts for
};

Status Server::Start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_ || stopped_) return Status::FailedPrecondition("the API server was already started");
  TASKMILL_RETURN_IF_ERROR(options_.Validate());
  auto listen = ParseListen(options_.listen);
  if (!listen.ok()) return listen.status();
  auto cannot_listen = [&](const beast::error_code& ec) {
    return Status::Unavailable("cannot listen on " + options_.listen + ": " +
                               LowerFirst(ec.message()));
  };

  beast::error_code ec;
  tcp::endpoint endpoint;
  auto address = net::ip::make_address(listen->host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, listen->port);
  } else {
    tcp::resolver resolver(*iocs_[0]);
    auto results = resolver.resolve(listen->host, std::to_string(listen->port), ec);
    if (ec || results.empty()) return cannot_listen(ec ? ec : net::error::host_not_found);
    endpoint = results.begin()->endpoint();
  }
  // With TLS the plain server listens on a loopback port of its own, and the TLS front
  // takes the configured address (tls_front.h).
  const bool tls = !options_.tls_cert.empty();
  if (tls) {
    tls_front_.emplace(*iocs_[0], options_.request_timeout);
    TASKMILL_RETURN_IF_ERROR(tls_front_->LoadCertificate(options_.tls_cert, options_.tls_key));
  }
  tcp::endpoint plain_endpoint =
      tls ? tcp::endpoint(net::ip::make_address("127.0.0.1"), 0) : endpoint;
  acceptor_->open(plain_endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(plain_endpoint, ec);
  if (!ec) acceptor_->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acceptor_->close(ignored);
    return cannot_listen(ec);
  }
  // Without tokens anyone who reaches the port could run functions: only loopback may
  // go without.
  if (Status loaded = auth_.Load(); !loaded.ok()) {
    beast::error_code ignored;
    acceptor_->close(ignored);
    return loaded;
  }
  if (!endpoint.address().is_loopback()) {
    auth_.Require();
    if (!auth_.has_tokens()) {
      beast::error_code ignored;
      acceptor_->close(ignored);
      return Status::FailedPrecondition(
          "refusing to listen on " + options_.listen +
          " without API tokens: anyone who can reach that address could run tasks. Create an "
          "admin token first (`taskmill token create --admin`), or listen on 127.0.0.1");
    }
  }
  if (tls) {
    if (Status listening = tls_front_->Listen(endpoint, acceptor_->local_endpoint());
        !listening.ok()) {
      beast::error_code ignored;
      acceptor_->close(ignored);
      return Status::Unavailable("cannot listen on " + options_.listen + ": " +
                                 LowerFirst(listening.message()));
    }
  }
  bound_.host = endpoint.address().to_string();
  bound_.port = tls ? tls_front_->port() : acceptor_->local_endpoint().port();

  RouteContext context{.engine = engine_,
                       .waiter = waiter_,
                       .max_wait = options_.max_wait,
                       .auth = auth_,
                       .events = events_,
                       .takes = takes_,
                       .runners = runners_,
                       .throughput = throughput_,
                       .allow_command_tasks = options_.allow_command_tasks};
  if (options_.observability_only) {
    AddHealthRoute(router_);
    AddMetricsRoutes(router_, context);
  } else {
    AddRunRoutes(router_, context);
    AddCatalogRoutes(router_, context);
    AddSchedulingRoutes(router_, context);
    AddBulkRoutes(router_, context);
    AddAccessRoutes(router_, context);
    AddRunnerRoutes(router_, context);
    AddMetricsRoutes(router_, context);
    AddDashboardRoutes(router_, context);
  }
  waiter_.Start();
  takes_.Start();

  started_ = true;
  net::dispatch(acceptor_->get_executor(), [this] { Accept(); });
  threads_.reserve(iocs_.size());
  for (auto& ioc : iocs_) {
    threads_.emplace_back([this, &ioc = *ioc] {
      // Runs until Stop(), also while the io_context has no work (between connections).
      auto work = net::make_work_guard(ioc);
      for (;;) {
        try {
          ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler let an exception escape: log it and keep serving.
          spdlog::error("api: io thread: {}", e.what());
        }
      }
    });
  }
  return Status::Ok();
}

void Server::BeginShutdown() {
  shutting_down_.store(true);
  waiter_.Close(ShuttingDown());
  takes_.Close(ShuttingDown());
}

void Server::Stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (stopped_) return;
  stopped_ = true;
  if (!started_) return;
  BeginShutdown();
  {
    std::unique_lock drain(drain_mu_);
    drain_cv_.wait_for(drain, kShutdownDrainLimit, [&] { return answering_.load() == 0; });
  }
  waiter_.Stop();
  takes_.Stop();
  for (auto& ioc : iocs_) ioc->stop();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  accept_retry_.reset();
  tls_front_.reset();
  acceptor_.reset();
  // The acceptor's io_context first: a pending accept may hold a socket of another.
  for (auto& ioc : iocs_) ioc.reset();
  iocs_.clear();
}

std::string Server::url() const {
  std::lock_guard lock(lifecycle_mu_);
  HostPort where = bound_;
  if (!started_) {
    auto configured = ParseListen(options_.listen);
    if (!configured.ok()) return "http://" + options_.listen;
    where = *configured;
  }
  const std::string& host = where.host;
  uint16_t port = where.port;
  bool ipv6 = host.find(':') != std::string::npos;
  std::string scheme = options_.tls_cert.empty() ? "http://" : "https://";
  return scheme + (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

void Server::Accept() {
  net::io_context& ioc = *iocs_[next_ioc_];
  next_ioc_ = (next_ioc_ + 1) % iocs_.size();
  acceptor_->async_accept(ioc.get_executor(), beast::bind_front_handler(&Server::OnAccept, this));
}

void Server::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted) return;
  if (ec) {
    // Typically out of file descriptors: wait a little instead of spinning.
    spdlog::warn("api: accept failed: {}", ec.message());
    accept_retry_.emplace(acceptor_->get_executor());
    accept_retry_->expires_after(std::chrono::milliseconds(100));
    accept_retry_->async_wait([this](beast::error_code wait_ec) {
      if (!wait_ec) Accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  int open = connections_.fetch_add(1, std::memory_order_relaxed) + 1;
  std::make_shared<Session>(std::move(socket), *this, open > options_.max_connections)->Start();
  Accept();
}

Response Server::StaticAsset(const boost::urls::url_view& url,
                             std::string_view accept_encoding) const {
  std::string path = url.path();
  if (path.empty() || path == "/") path = "/index.html";
  auto asset = static_assets_(path);
  bool fallback = false;
  if (!asset) {
    // The UI routes in the browser (/runs/ID): every unknown page is the app.
    asset = static_assets_("/index.html");
    fallback = true;
  }
  if (!asset) {
    return ErrorResponse(ApiStatus(StatusCode::kNotFound, "route_not_found",
                                   "no page at " + path + "; the API is under /api/v1"));
  }
  Response response{http::status::ok, 11};
  response.set(http::field::content_type,
               beast::string_view(asset->content_type.data(), asset->content_type.size()));
  // Built assets carry a content hash in their name and never change; the page that
  // names them must be revalidated so that an upgrade is picked up.
  bool immutable = !fallback && path.starts_with("/assets/");
  response.set(http::field::cache_control,
               immutable ? "public, max-age=31536000, immutable" : "no-cache");
  std::string_view body = asset->body;
  if (!asset->gzip.empty()) {
    // Both answers name the header they depend on, so that a shared cache keeps them
    // apart.
    response.set(http::field::vary, "Accept-Encoding");
    if (AcceptsGzip(accept_encoding)) {
      response.set(http::field::content_encoding, "gzip");
      body = asset->gzip;
    }
  }
  response.body().assign(body.data(), body.size());
  return response;
}

class ApiServer::Impl : public Server {
 public:
  using Server::Server;
};

ApiServer::ApiServer(ApiOptions options, Engine& engine)
    : impl_(std::make_unique<Impl>(std::move(options), engine)) {}
ApiServer::~ApiServer() { Stop(); }
Status ApiServer::Start() { return impl_->Start(); }
void ApiServer::BeginShutdown() { impl_->BeginShutdown(); }
void ApiServer::Stop() { impl_->Stop(); }
std::string ApiServer::url() const { return impl_->url(); }
ApiServer::Counters ApiServer::counters() const { return impl_->counters(); }
std::vector<std::string> ApiServer::RouteList() const { return impl_->RouteList(); }
void ApiServer::SetStaticAssets(StaticAssetLookup lookup) {
  impl_->SetStaticAssets(std::move(lookup));
}

}  // namespace taskmill::api
