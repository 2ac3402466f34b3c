// memory_filter.cpp — AN EXAMPLE, NOT FOR PRODUCTION: which runs a listing's filter
// passes (Storage::RunList), for the in-memory backend.
#include "memory_filter.h"

#include <algorithm>
#include <boost/json/serialize.hpp>
#include <cctype>

namespace taskmill::example {

// Whether a run passes every field of a listing's filter; `seq` is its insertion
// number and `last_seq` the newest one (a search looks at the newest text_window).
bool MatchesFilter(const RunFilter& f, const Run& r, int64_t seq, int64_t last_seq) {
  auto contains = [&](const std::string& hay) {  // ASCII letters in any case
    auto lower = [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    };
    return std::search(hay.begin(), hay.end(), f.text.begin(), f.text.end(),
                       [&](char a, char b) { return lower(a) == lower(b); }) != hay.end();
  };
  return (f.id.empty() || r.id == f.id) && (!f.status || r.status == *f.status) &&
         (f.task.empty() || r.task == f.task) && (f.function.empty() || r.function == f.function) &&
         (f.queue.empty() || r.queue == f.queue) &&
         (f.account_id.empty() || r.account_id == f.account_id) &&
         (f.parent_id.empty() || r.parent_id == f.parent_id) &&
         (f.flow_id.empty() || r.flow_id == f.flow_id) &&
         (!f.created_after || r.created_at >= *f.created_after) &&
         (!f.created_before || r.created_at < *f.created_before) &&
         (!f.run_at_after || r.run_at > *f.run_at_after) &&
         (!f.run_at_not_after || r.run_at <= *f.run_at_not_after) &&
         (!f.attempted || (r.attempt > 0) == *f.attempted) &&
         (f.text.empty() || (seq > last_seq - f.text_window &&
                             (contains(boost::json::serialize(r.args)) ||
                              contains(boost::json::serialize(r.data)) || contains(r.error))));
}

}  // namespace taskmill::example
