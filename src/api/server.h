// api/server.h — the HTTP API server (REST + JSON under /api/v1, /healthz, and the
// embedded web UI at "/"), on Boost.Beast over Boost.Asio.
//
// Threading: `threads` io threads, each running an io_context of its own; every
// connection lives on one of them (round robin), so a connection's steps never run
// concurrently while different connections proceed in parallel. Handlers run on the io threads and
// call the Engine synchronously: a storage read is short, a write waits for one group commit.
// Nothing waits for a run on an io thread: `?wait=` long-polls are timers plus one EventBus
// subscription (run_waiter.h, and take_waiter.h for remote runners' takes). There is no global lock
// on the request path.
//
// Connections are HTTP/1.1 with keep-alive. Limits (ApiOptions) answer with the
// API's JSON error: a body over max_json_body or a header over max_header → 413
// too_large, a request not received within the timeouts → 408 timeout (an idle
// keep-alive connection is just closed), more than max_connections → 503
// unavailable. After an error that leaves unread input the connection is closed.
//
// Shutting down: from BeginShutdown() on, every request and every pending long-poll
// is answered 503 unavailable (with Retry-After) while the server keeps running;
// Stop() begins the shutdown when it was not begun, lets those answers go out (for at
// most 2 s), then closes every connection.
//
// Start() once; Stop() is idempotent and also run by the destructor. The Engine
// must outlive the server. SetStaticAssets must be called before Start().
#pragma once

#include <taskmill/clock.h>
#include <taskmill/engine.h>
#include <taskmill/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace taskmill::api {

struct ApiOptions {
  // HOST:PORT to listen on; port 0 picks a free port (see ApiServer::url()).
  // IPv6 as [::1]:8080. Default: 127.0.0.1:8080 (loopback only).
  std::string listen = "127.0.0.1:8080";
  int threads = 2;                 // io threads. Default: 2
  size_t max_json_body = 1 << 20;  // bytes of a JSON request body. Default: 1 MiB
  size_t max_header = 16 << 10;    // bytes of a request header. Default: 16 KiB
  // Time to receive the first request of a connection, and to send each response.
  Duration request_timeout = std::chrono::seconds(30);  // Default: 30 s
  // Time a keep-alive connection may stay silent before its next request (which must
  // then also arrive within this time). Default: 60 s
  Duration idle_timeout = std::chrono::seconds(60);
  int max_connections = 1024;  // open connections. Default: 1024
  // Longest ?wait= long-poll (of a run, or of a remote runner's take). Default: 60 s
  Duration max_wait = std::chrono::seconds(60);
  // How often a long-poll re-reads its run, or a take tries to claim again, when no
  // event arrived (runs finished or created by another node publish no event here).
  // Default: 1 s
  Duration wait_recheck = std::chrono::seconds(1);

  // Whether the API may create runs of command tasks' functions, or start a command
  // task with extra arguments. Even then only admin tokens may: the API must not be a
  // remote shell. Default: false
  bool allow_command_tasks = false;
  // HTTPS: PEM files of the certificate chain and its private key. Both or neither;
  // with them the server answers only HTTPS on `listen`. Default: none (plain HTTP)
  std::string tls_cert;
  std::string tls_key;
  // Serve /metrics and /healthz only: a process without the api role (a runner, a
  // scheduler) that must still be observable. Default: false
  bool observability_only = false;

  Status Validate() const;  // names the offending field
};

// One file of the embedded web UI. The strings must stay valid for the server's life
// (they point into the binary's embedded assets).
struct WebAsset {
  std::string_view content_type;
  std::string_view body;
  // The body compressed with gzip, answered with `Content-Encoding: gzip` to clients
  // that accept it; empty when the file is not compressed (images, or too small to
  // gain).
  std::string_view gzip;
};

// What the embedded web UI answers for a path, or nullopt. Paths start with '/'; "/"
// is asked as "/index.html".
using StaticAssetLookup = std::function<std::optional<WebAsset>(std::string_view path)>;

class ApiServer {
 public:
  ApiServer(ApiOptions options, Engine& engine);
  ~ApiServer();
  ApiServer(const ApiServer&) = delete;
  ApiServer& operator=(const ApiServer&) = delete;

  // Binds and starts the io threads. Fails (kUnavailable) naming the address, e.g.
  // "cannot listen on 127.0.0.1:8080: Address already in use", or kInvalidArgument
  // for an option out of range or an address that is not HOST:PORT.
  Status Start();
  // From now on every request, and every pending `?wait=` long-poll of a run or of a
  // remote runner's take, is answered 503 unavailable. Idempotent.
  void BeginShutdown();
  // BeginShutdown() unless begun, waits for the answers in progress (at most 2 s),
  // then closes the listener and every connection and joins the io threads.
  // Idempotent.
  void Stop();
  // "http://127.0.0.1:8080", with the bound port once started.
  std::string url() const;

  // Live counters, for metrics and tests.
  struct Counters {
    int connections = 0;       // open connections
    size_t pending_waits = 0;  // ?wait= long-polls of runs in progress
    size_t pending_takes = 0;  // remote runners' take?wait= long-polls in progress
    size_t event_streams = 0;  // open /api/v1/events streams
  };
  Counters counters() const;

  // Every route of the API as "METHOD /pattern", e.g. "GET /api/v1/runs/{id}" (upload
  // routes included, each method and pattern once). Empty before Start(), which
  // registers the routes.
  std::vector<std::string> RouteList() const;

  // Serves GET requests outside /api/ from `lookup`: unknown paths fall back to
  // /index.html (the UI routes in the browser). Call before Start().
  void SetStaticAssets(StaticAssetLookup lookup);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace taskmill::api
