// json_text.h — stored JSON text read back into values, by every backend.
#pragma once

#include <boost/json.hpp>
#include <string_view>

namespace taskmill::storage {

// Parses stored JSON; `fallback` when the text is empty or not JSON. The most common
// args and data, [] and {}, without the parser.
boost::json::value ParseJsonOr(std::string_view text, boost::json::value fallback);

}  // namespace taskmill::storage
