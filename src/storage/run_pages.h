// run_pages.h — every run a filter matches, page after page (RunList's keyset
// cursor), handed one at a time: a caller that counts or collects ids never holds
// more than a page.
#pragma once

#include <taskmill/storage.h>

#include <utility>
#include <vector>

namespace taskmill {

// Calls `visit(Run&)` for each run `filter` matches, in the listing's order; stops at
// the first failed read.
template <typename Visit>
Status ForEachRun(Storage& storage, RunFilter filter, Visit&& visit) {
  filter.limit = 1000;
  filter.cursor.clear();
  for (;;) {
    auto page = storage.RunList(filter);
    if (!page.ok()) return page.status();
    for (Run& run : page->runs) visit(run);
    if (page->next_cursor.empty()) return Status::Ok();
    filter.cursor = std::move(page->next_cursor);
  }
}

// Every run `filter` matches.
inline Result<std::vector<Run>> ListAllRuns(Storage& storage, RunFilter filter) {
  std::vector<Run> out;
  Status st =
      ForEachRun(storage, std::move(filter), [&out](Run& run) { out.push_back(std::move(run)); });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill
