// api/utf8_text.h — keeping every answer valid UTF-8.
//
// Ids, names and query values arrive percent-decoded and may hold any byte; the API
// refuses those that are not UTF-8 (CheckRequestText) and replaces invalid bytes with
// U+FFFD wherever input is quoted back (ValidUtf8), so that a JSON answer or a header
// never carries raw bytes that are not text.
//
// Pure functions; thread-safe.
#pragma once

#include <taskmill/status.h>

#include <boost/json/value.hpp>
#include <boost/url/url_view.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::api {

// True when `text` is well-formed UTF-8 (no overlong forms, surrogates or values
// beyond U+10FFFF). NUL counts as valid here.
bool IsValidUtf8(std::string_view text);

// `text` with each byte that is not part of a well-formed sequence (and NUL) replaced
// by U+FFFD.
std::string ValidUtf8(std::string_view text);

// Every string of `value` (keys too) passed through ValidUtf8, in place.
void MakeValidUtf8(boost::json::value& value);

// kInvalidArgument (400, details {"parameter"}) naming the first path capture
// (`pattern`'s {name}) or query parameter whose decoded text is not UTF-8.
Status CheckRequestText(std::string_view pattern, const std::vector<std::string>& path_params,
                        const boost::urls::url_view& url);

}  // namespace taskmill::api
