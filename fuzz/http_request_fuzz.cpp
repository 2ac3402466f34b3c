// Fuzzes the HTTP request parser and the router: any bytes are fed to the parser with
// the server's limits (16 KiB of header, 1 MiB of body); a request that parses has its
// target parsed as the server does and is routed among every route of the OpenAPI
// document. Never a crash, and a match's captures are always the pattern's.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "api/openapi.h"
#include "api/router.h"

namespace http = boost::beast::http;
namespace api = taskmill::api;

namespace {

// Every route the OpenAPI document lists, each with a handler that answers nothing.
const api::Router& Routes() {
  static const api::Router* router = [] {
    auto* r = new api::Router();
    auto doc = boost::json::parse(api::OpenApiDocument());
    for (const auto& path : doc.at("paths").as_object()) {
      for (const auto& op : path.value().as_object()) {
        std::string method(op.key());
        for (char& c : method) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        http::verb verb = http::string_to_verb(method);
        if (verb == http::verb::unknown) continue;
        r->Add(verb, std::string(path.key()),
               [](api::Exchange&) { return api::Reply::Deferred(); });
      }
    }
    return r;
  }();
  return *router;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const api::Router& router = Routes();
  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(1 << 20);
  parser.eager(true);
  boost::system::error_code ec;
  // Fed in two pieces, as a request arriving over TCP would be.
  size_t half = size / 2;
  size_t used = parser.put(boost::asio::buffer(data, half), ec);
  if (ec == http::error::need_more) ec = {};
  if (!ec) {
    parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) parser.put_eof(ec);
  }
  if (!parser.is_header_done()) return 0;
  const auto& request = parser.get();
  auto url = boost::urls::parse_origin_form(request.target());
  if (!url) return 0;
  auto match = router.Find(request.method(), *url);
  if (match.handler && match.pattern.empty()) __builtin_trap();
  return 0;
}
