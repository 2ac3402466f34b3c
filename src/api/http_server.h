// api/http_server.h — the API server's state and lifecycle (ApiServer::Impl), shared
// by the server (server.cpp) and its connections (session.h).
//
// Server owns the io threads, the acceptor, the router and what routes share (waiters,
// event hub, authenticator). Start, BeginShutdown and Stop may be called from any
// thread; the rest is read-only after Start or runs on the io threads.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/url/url_view.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "api/auth.h"
#include "api/event_stream.h"
#include "api/function_stats.h"
#include "api/router.h"
#include "api/run_waiter.h"
#include "api/runner_registry.h"
#include "api/server.h"
#include "api/take_waiter.h"
#include "api/throughput.h"
#include "api/tls_front.h"

namespace taskmill::api {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = net::ip::tcp;

// How long a connection that is being closed after an error keeps reading (and
// discarding) what the client still sends, so that the client reads our response
// instead of a connection reset.
inline constexpr auto kLingerTime = std::chrono::seconds(2);

// The answer to every request, and to every pending long-poll, once the server is
// shutting down (with Retry-After, as every 503).
inline Status ShuttingDown() {
  return Status::Unavailable("the server is shutting down; retry later");
}

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

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
        throughput_(engine.events(), engine.clock()),
        function_stats_(engine.events(), engine.clock()),
        queue_stats_(engine.events(), engine.clock(), FunctionStatsRecorder::Key::kQueue) {
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
  FunctionStatsRecorder function_stats_;
  FunctionStatsRecorder queue_stats_;  // keyed by queue: the dashboard's sparklines
  StaticAssetLookup static_assets_;    // set before Start(), read-only afterwards
  std::atomic<int> connections_{0};    // open sessions, over-limit ones included
  HostPort bound_;                     // set in Start()
  mutable std::mutex lifecycle_mu_;    // serializes Start and Stop
  bool started_ = false;               // guarded by lifecycle_mu_
  bool stopped_ = false;               // guarded by lifecycle_mu_
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

}  // namespace taskmill::api
