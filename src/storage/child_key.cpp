// The key of a flow's child run (storage.h ChildKeyOf, child_key.h).
#include "storage/child_key.h"

#include <taskmill/storage.h>

#include <boost/json.hpp>

namespace taskmill {
namespace json = boost::json;
namespace {

// The rule, once: `child_id` (null when there is none) to the key.
std::string KeyOf(const json::value& child_id, std::string_view run_id) {
  if (child_id.is_null()) return std::string(run_id);
  if (const json::string* text = child_id.if_string()) return std::string(*text);
  return json::serialize(child_id);
}

}  // namespace

std::string ChildKeyOf(const json::value& args, std::string_view run_id) {
  const json::object* fields = args.if_object();
  const json::value* child_id = fields ? fields->if_contains("child_id") : nullptr;
  if (child_id == nullptr) return std::string(run_id);
  return KeyOf(*child_id, run_id);
}

namespace storage {

std::string ChildKeyFromArgsText(std::string_view args_json, std::string_view run_id) {
  // A child's args hold more than its id (its definition, the flow's state and
  // args); most fit the buffer, and a larger one takes more from the heap.
  unsigned char buffer[4096];
  json::monotonic_resource arena(buffer, sizeof buffer);
  boost::system::error_code ec;
  json::value args = json::parse(args_json, ec, &arena);
  if (ec) return std::string(run_id);
  return ChildKeyOf(args, run_id);
}

std::string ChildKeyFromJsonText(std::optional<std::string_view> child_id_json,
                                 std::string_view run_id) {
  if (!child_id_json) return std::string(run_id);
  std::string_view text = *child_id_json;
  // A step's ids are mostly plain strings ("0", "part-7"): no parser for those.
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"' &&
      text.find('\\') == std::string_view::npos) {
    return std::string(text.substr(1, text.size() - 2));
  }
  boost::system::error_code ec;
  json::value child_id = json::parse(text, ec);
  if (ec) return std::string(run_id);
  return KeyOf(child_id, run_id);
}

}  // namespace storage
}  // namespace taskmill
