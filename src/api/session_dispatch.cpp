// A request read whole: its route, its authorization, and the handler's reply, which
// is written at once, later (a long-poll), or as a streamed or pushed body.
#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/url/parse.hpp>

#include "api/api_error.h"
#include "api/session.h"
#include "api/utf8_text.h"

namespace taskmill::api {

void Session::Handle() {
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
    return SendError(ApiStatus(StatusCode::kInvalidArgument, "bad_request",
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
bool Session::Authorize(const boost::urls::url_view& url, const Request& request) {
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

}  // namespace taskmill::api
