// Stored JSON text read back into values (json_text.h), and a claimed run's JSON,
// parsed where its claimer chooses (RunTakeParams::json_as_text, taskmill/storage.h).
#include "storage/json_text.h"

#include <taskmill/storage.h>

namespace taskmill {
namespace json = boost::json;

namespace storage {

json::value ParseJsonOr(std::string_view text, json::value fallback) {
  if (text.empty()) return fallback;
  if (text == "[]") return json::array();
  if (text == "{}") return json::object();
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  // Two returns, each moved: `ec ? fallback : v` copied the parsed value whole.
  if (ec) return fallback;
  return v;
}

}  // namespace storage

void ParseRunJsonText(Run& run) {
  using storage::ParseJsonOr;
  if (const json::string* text = run.args.if_string()) run.args = ParseJsonOr(*text, json::array());
  if (const json::string* text = run.data.if_string())
    run.data = ParseJsonOr(*text, json::object());
}

}  // namespace taskmill
