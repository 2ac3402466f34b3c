// A claimed run's JSON, parsed where its claimer chooses (RunTakeParams::json_as_text).
#include <taskmill/storage.h>

#include <boost/json.hpp>

namespace taskmill {
namespace {
namespace json = boost::json;

json::value ParseOr(std::string_view text, json::value fallback) {
  // Most runs' args and data, without the parser.
  if (text == "[]") return json::array();
  if (text == "{}") return json::object();
  if (text.empty()) return fallback;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  return ec ? fallback : v;
}

}  // namespace

void ParseRunJsonText(Run& run) {
  if (const json::string* text = run.args.if_string()) run.args = ParseOr(*text, json::array());
  if (const json::string* text = run.data.if_string()) run.data = ParseOr(*text, json::object());
}

}  // namespace taskmill
