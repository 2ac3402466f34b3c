// memory_filter.h — AN EXAMPLE, NOT FOR PRODUCTION: which runs a listing's filter
// passes (Storage::RunList), for the in-memory backend.
#pragma once

#include <taskmill/storage.h>

#include <cstdint>

namespace taskmill::example {

// Whether `run` passes every field of `filter`; `seq` is its insertion number and
// `last_seq` the newest one (a search looks at the newest text_window runs only).
bool MatchesFilter(const RunFilter& filter, const Run& run, int64_t seq, int64_t last_seq);

}  // namespace taskmill::example
