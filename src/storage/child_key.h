// child_key.h — a child's key (ChildOutcome::child_key, ChildKeyOf) from what a
// backend reads: the stored args as text (SQLite), or their child_id alone, extracted
// in SQL (PostgreSQL: the args are then not sent).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace taskmill::storage {

// ChildKeyOf of the stored args `args_json` (`run_id` when they are not JSON). The
// args are parsed into a buffer on the stack, for child_id alone: no heap, and
// nothing else of them is kept.
std::string ChildKeyFromArgsText(std::string_view args_json, std::string_view run_id);

// ChildKeyOf's rule, from `child_id_json`, the child_id of the args as JSON text
// (nullopt when absent): a string as it is, any other value serialized, and `run_id`
// for none (absent, null, or text that is not JSON).
std::string ChildKeyFromJsonText(std::optional<std::string_view> child_id_json,
                                 std::string_view run_id);

}  // namespace taskmill::storage
