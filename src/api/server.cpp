// The API server (ApiServer): options, listening, the io threads, accepting
// connections, shutdown, and the web UI's files. Each connection is a Session
// (session.h); the server's state is Server (http_server.h).
#include "api/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <charconv>

#include "api/api_error.h"
#include "api/http_server.h"
#include "api/routes.h"
#include "api/routes_bulk.h"
#include "api/session.h"

namespace taskmill::api {

namespace {

// How long Stop() lets the answers of a shutdown (503 to pending long-polls and to
// requests in progress) go out before it closes every connection.
constexpr auto kShutdownDrainLimit = std::chrono::seconds(2);

std::string LowerFirst(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

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
                       .function_stats = function_stats_,
                       .queue_stats = queue_stats_,
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
    AddFlowRoutes(router_, context);
    AddFlowRetryRoutes(router_, context);
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
