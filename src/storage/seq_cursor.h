// seq_cursor.h — the cursor of the backends' listings: the seq of the last run of the
// page before, as decimal text. One parser, so that every listing refuses alike a
// cursor it did not give.
#pragma once

#include <taskmill/status.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace taskmill::storage {

// The seq after which the page starts: 0 for no cursor (the first page),
// kInvalidArgument for text that no listing gave.
inline Result<int64_t> ParseSeqCursor(const std::string& cursor) {
  if (cursor.empty()) return int64_t{0};
  char* end = nullptr;
  long long seq = std::strtoll(cursor.c_str(), &end, 10);
  if (end == nullptr || *end != '\0' || seq <= 0) {
    return Status::InvalidArgument("cursor: '" + cursor + "' is not a cursor from a listing");
  }
  return static_cast<int64_t>(seq);
}

}  // namespace taskmill::storage
