// api/router.h — routes of the HTTP API: method + path pattern → handler.
//
// A pattern is a path of literal segments and `{name}` captures, e.g.
// "/api/v1/runs/{id}/cancel". Matching compares the still-encoded segments of the
// request path with the literals (no allocation), then percent-decodes the
// captures. A path that matches a pattern under another method answers 405 with an
// `Allow` header; a path that matches nothing goes to the fallback (static assets),
// else 404 route_not_found.
//
// A handler runs on the connection's strand (an io thread). It answers at once by
// returning a Reply holding a response or an error Status, or later: it calls
// Exchange::Defer(), returns Reply::Deferred(), and hands the response to the
// completion from any thread. Handlers must not block for long: storage reads and
// a group commit are acceptable, waiting for a run is not (see run_waiter.h).
//
// The route table is built before the server starts and read-only afterwards, so
// matching needs no lock. Exchange belongs to one request on one strand.
#pragma once

#include <taskmill/status.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/value.hpp>
#include <boost/url/url_view.hpp>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::api {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Response = boost::beast::http::response<boost::beast::http::string_body>;

// A JSON response with the given status and an already-serialized body.
Response JsonResponse(boost::beast::http::status status, std::string body);
// `body` written as JSON by AppendJson (taskmill/model.h): every double in its shortest
// plain form (0, 0.25, 1e+300) rather than Boost.JSON's exponent form (0E0, 2.5E-1).
std::string PlainJson(const boost::json::value& body);
// An error response in the API's one error shape (api_error.h).
Response ErrorResponse(const Status& status);

struct Principal;
const Principal& AnonymousPrincipal();

class Exchange {
 public:
  using Completion = std::function<void(Response)>;

  Exchange(const Request& request, boost::urls::url_view url, std::vector<std::string> path_params,
           boost::asio::any_io_executor strand, std::function<Completion()> defer)
      : request_(request),
        url_(url),
        path_params_(std::move(path_params)),
        strand_(std::move(strand)),
        defer_(std::move(defer)) {}

  const Request& request() const { return request_; }
  const boost::urls::url_view& url() const { return url_; }
  // The i-th `{capture}` of the route pattern, percent-decoded.
  const std::string& path_param(size_t i) const { return path_params_.at(i); }

  // The decoded value of query parameter `key`; nullopt when absent.
  std::optional<std::string> query(std::string_view key) const;
  // kInvalidArgument naming the first query parameter not in `allowed`, so that a
  // typo (`?stauts=failed`) is an error rather than an unfiltered answer.
  Status CheckQuery(std::initializer_list<std::string_view> allowed) const;

  // The connection's strand: timers of a deferred answer run on it.
  const boost::asio::any_io_executor& strand() const { return strand_; }

  // Takes over answering: the returned completion may be called once, from any
  // thread, after the handler has returned Reply::Deferred().
  Completion Defer() { return defer_(); }

  // Who the request acts for (api/auth.h); the anonymous admin when the server has
  // no tokens. Set by the server before the handler runs.
  const Principal& principal() const { return *principal_; }
  void set_principal(const Principal* principal) { principal_ = principal; }

 private:
  const Request& request_;
  boost::urls::url_view url_;
  std::vector<std::string> path_params_;
  boost::asio::any_io_executor strand_;
  std::function<Completion()> defer_;
  const Principal* principal_ = &AnonymousPrincipal();
};

// The body of a streamed response, piece by piece: the next piece, an empty string
// at the end, or an error (which can only abort the connection: the status line has
// been sent by then). Called on the connection's strand; may read storage.
using BodySource = std::function<Result<std::string>()>;

// One piece of a pushed body, as immutable texts that may be shared with other
// connections: one event goes to a thousand clients as a thousand references to one
// string, not a thousand copies, so a connection whose client reads slowly holds only
// references while its write is in flight.
using PushPart = std::shared_ptr<const std::string>;

// The body of a long-lived response whose pieces arrive when they arrive (Server-Sent
// Events). The connection calls Start once, then Pull whenever `wake` was called or a
// keep-alive is due; both on the connection's strand. `wake` may be called from any
// thread, any number of times. The body ends only when the client goes away.
class PushSource {
 public:
  virtual ~PushSource() = default;
  virtual void Start(std::function<void()> wake) = 0;
  // Appends everything ready now to `parts` (which the connection reuses, so its
  // capacity is kept between pulls); appends nothing when nothing is ready.
  virtual void Pull(std::vector<PushPart>& parts) = 0;
};

class Reply {
 public:
  Reply(Response response) : response_(std::move(response)) {}     // NOLINT: implicit by design
  Reply(const Status& error) : response_(ErrorResponse(error)) {}  // NOLINT: implicit by design
  static Reply Deferred() { return Reply(); }
  // Answers with `head` (status and header fields; its body is ignored) and a body
  // sent with chunked transfer encoding as `source` produces it, so that a download
  // of any size never sits whole in memory.
  static Reply Stream(Response head, BodySource source) {
    Reply reply(std::move(head));
    reply.source_ = std::move(source);
    return reply;
  }

  // Answers with `head` and a body pushed by `source` for as long as the client stays.
  static Reply Push(Response head, std::shared_ptr<PushSource> source) {
    Reply reply(std::move(head));
    reply.push_ = std::move(source);
    return reply;
  }

  bool deferred() const { return !response_.has_value(); }
  bool streamed() const { return static_cast<bool>(source_); }
  bool pushed() const { return static_cast<bool>(push_); }
  Response& response() { return *response_; }
  BodySource& source() { return source_; }
  std::shared_ptr<PushSource>& push_source() { return push_; }

 private:
  Reply() = default;
  std::optional<Response> response_;
  BodySource source_;
  std::shared_ptr<PushSource> push_;
};

using Handler = std::function<Reply(Exchange&)>;

// Receives a request body in pieces as it arrives (uploads too large for memory).
// Used on the connection's strand only; destroyed without Finish() when the request
// fails (connection lost, timeout, a Write error), which must abandon the upload.
class BodySink {
 public:
  virtual ~BodySink() = default;
  // A piece of the body. An error answers the request with it (and closes).
  virtual Status Write(std::string_view piece) = 0;
  // The whole body has arrived: the answer.
  virtual Reply Finish() = 0;
};

// Called when the header of a request to an upload route has arrived, before any of
// its body is read (Exchange::request() has an empty body). Returns a sink for the
// body; nullptr to leave the request to the ordinary route of the same method and
// path (which reads the body whole, within max_json_body); or an error to answer at
// once.
using UploadHandler = std::function<Result<std::unique_ptr<BodySink>>(Exchange&)>;

class Router {
 public:
  // Adds a route. Patterns must start with '/'.
  void Add(boost::beast::http::verb method, std::string_view pattern, Handler handler);
  // Adds an upload route (see UploadHandler), consulted before the ordinary routes.
  void AddUpload(boost::beast::http::verb method, std::string_view pattern, UploadHandler handler);
  // Whether any upload route takes `method` (most requests need not look further).
  bool HasUpload(boost::beast::http::verb method) const {
    for (const UploadRoute& route : uploads_) {
      if (route.method == method) return true;
    }
    return false;
  }
  // The upload handler for a request, with the decoded captures (and, when `pattern`
  // is given, the route's pattern); nullptr when none.
  const UploadHandler* FindUpload(boost::beast::http::verb method, const boost::urls::url_view& url,
                                  std::vector<std::string>* params,
                                  std::string_view* pattern = nullptr) const;
  // Called for a GET whose path matches no route (the embedded web UI).
  void SetFallback(Handler handler) { fallback_ = std::move(handler); }

  struct Match {
    const Handler* handler = nullptr;  // null: no route for this method and path
    std::vector<std::string> params;   // decoded captures
    std::string allow;                 // methods of the path, when it matched another method
    // The pattern of the route that matched (with `allow`: the first that matched the
    // path), for metrics labels of bounded cardinality; empty when none did. Valid
    // while the router is.
    std::string_view pattern;
  };
  Match Find(boost::beast::http::verb method, const boost::urls::url_view& url) const;
  const Handler* fallback() const { return fallback_ ? &fallback_ : nullptr; }

  // Every distinct route as "METHOD /pattern" (e.g. "GET /api/v1/runs/{id}"), upload
  // routes included, in the order they were added. The OpenAPI test checks each one
  // is documented.
  std::vector<std::string> RouteList() const;

 private:
  struct Route {
    boost::beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;  // literal, or "{name}" for a capture
    Handler handler;
  };
  struct UploadRoute {
    boost::beast::http::verb method;
    std::string pattern;
    std::vector<std::string> segments;
    UploadHandler handler;
  };
  std::vector<Route> routes_;
  std::vector<UploadRoute> uploads_;
  Handler fallback_;
};

}  // namespace taskmill::api
