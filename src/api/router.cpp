#include "api/router.h"

#include <taskmill/model.h>

#include <algorithm>
#include <array>
#include <boost/beast/http/field.hpp>
#include <boost/url/params_encoded_view.hpp>
#include <boost/url/segments_encoded_view.hpp>
#include <charconv>
#include <cmath>

#include "api/api_error.h"

namespace taskmill::api {
namespace http = boost::beast::http;

// Retry-After of a 503: a restarting server is back within a few seconds.
constexpr const char* kRetryAfterSeconds = "5";

Response JsonResponse(http::status status, std::string body) {
  Response response{status, 11};
  response.set(http::field::content_type, "application/json");
  // API answers describe live state: never let a proxy or browser reuse them.
  response.set(http::field::cache_control, "no-store");
  response.body() = std::move(body);
  return response;
}

std::string PlainJson(const boost::json::value& body) {
  std::string out;
  AppendJson(body, &out);
  return out;
}

Response ErrorResponse(const Status& status) {
  ApiError error = ToApiError(status);
  Response response = JsonResponse(error.http_status, ErrorBody(error));
  // Every 503 (too many connections, shutting down) is temporary: say when to retry.
  if (error.http_status == http::status::service_unavailable) {
    response.set(http::field::retry_after, kRetryAfterSeconds);
  }
  return response;
}

std::optional<std::string> Exchange::query(std::string_view key) const {
  for (auto param : url_.encoded_params()) {
    if (param.key == key) {
      if (!param.has_value) return std::string();
      return param.value.decode();
    }
  }
  return std::nullopt;
}

Status Exchange::CheckQuery(std::initializer_list<std::string_view> allowed) const {
  for (auto param : url_.encoded_params()) {
    bool known = false;
    for (auto name : allowed) known = known || param.key == name;
    if (!known) {
      std::string accepted;
      for (auto name : allowed) {
        if (!accepted.empty()) accepted += ", ";
        accepted += name;
      }
      return ParameterError(
          param.key.decode(),
          "unknown parameter; accepted: " + (accepted.empty() ? std::string("none") : accepted));
    }
  }
  return Status::Ok();
}

namespace {
std::vector<std::string> SplitPattern(std::string_view pattern) {
  std::vector<std::string> segments;
  size_t start = 1;  // skip the leading '/'
  while (start <= pattern.size()) {
    size_t end = pattern.find('/', start);
    if (end == std::string_view::npos) end = pattern.size();
    segments.emplace_back(pattern.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

bool IsCapture(const std::string& segment) {
  return segment.size() >= 2 && segment.front() == '{' && segment.back() == '}';
}
}  // namespace

void Router::Add(http::verb method, std::string_view pattern, Handler handler) {
  routes_.push_back(Route{method, std::string(pattern), SplitPattern(pattern), std::move(handler)});
}

void Router::AddUpload(http::verb method, std::string_view pattern, UploadHandler handler) {
  uploads_.push_back(
      UploadRoute{method, std::string(pattern), SplitPattern(pattern), std::move(handler)});
}

std::vector<std::string> Router::RouteList() const {
  std::vector<std::string> out;
  auto add = [&out](http::verb method, const std::string& pattern) {
    std::string route = std::string(http::to_string(method)) + " " + pattern;
    // An upload route usually shares its method and path with an ordinary route.
    if (std::find(out.begin(), out.end(), route) == out.end()) out.push_back(std::move(route));
  };
  for (const Route& route : routes_) add(route.method, route.pattern);
  for (const UploadRoute& route : uploads_) add(route.method, route.pattern);
  return out;
}

const UploadHandler* Router::FindUpload(http::verb method, const boost::urls::url_view& url,
                                        std::vector<std::string>* params,
                                        std::string_view* pattern) const {
  std::vector<boost::urls::pct_string_view> segments;
  for (auto segment : url.encoded_segments()) segments.push_back(segment);
  for (const UploadRoute& route : uploads_) {
    if (route.method != method || route.segments.size() != segments.size()) continue;
    bool same_path = true;
    for (size_t i = 0; i < segments.size() && same_path; ++i) {
      same_path = IsCapture(route.segments[i]) ? !segments[i].empty()
                                               : route.segments[i] == std::string_view(segments[i]);
    }
    if (!same_path) continue;
    params->clear();
    for (size_t i = 0; i < segments.size(); ++i) {
      if (IsCapture(route.segments[i])) params->push_back(segments[i].decode());
    }
    if (pattern) *pattern = route.pattern;
    return &route.handler;
  }
  return nullptr;
}

Router::Match Router::Find(http::verb method, const boost::urls::url_view& url) const {
  // Routes are at most a handful of segments deep; a longer path matches none.
  constexpr size_t kMaxSegments = 8;
  std::array<boost::urls::pct_string_view, kMaxSegments> segments;
  size_t count = 0;
  for (auto segment : url.encoded_segments()) {
    if (count == kMaxSegments) return {};
    segments[count++] = segment;
  }

  Match match;
  for (const Route& route : routes_) {
    if (route.segments.size() != count) continue;
    bool same_path = true;
    for (size_t i = 0; i < count && same_path; ++i) {
      const std::string& want = route.segments[i];
      // An empty segment (a trailing slash) never fills a capture.
      if (IsCapture(want))
        same_path = !segments[i].empty();
      else
        same_path = want == std::string_view(segments[i]);
    }
    if (!same_path) continue;
    if (route.method != method) {
      if (match.pattern.empty()) match.pattern = route.pattern;
      if (!match.allow.empty()) match.allow += ", ";
      match.allow += std::string_view(http::to_string(route.method));
      continue;
    }
    match.handler = &route.handler;
    match.allow.clear();
    match.pattern = route.pattern;
    for (size_t i = 0; i < count; ++i) {
      if (IsCapture(route.segments[i])) match.params.push_back(segments[i].decode());
    }
    return match;
  }
  return match;
}

}  // namespace taskmill::api
