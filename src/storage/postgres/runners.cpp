// runners.cpp — the runners of the cluster (Storage::RunnerBeat, RunnerList): one row
// per runner, replaced by each beat. A beat is a write every few seconds per runner,
// not per run, so the table is small and its churn slight.
#include <boost/json.hpp>
#include <chrono>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

namespace json = boost::json;

// Beats older than this before a new beat are deleted by it (storage.h).
constexpr auto kForgetBeatsAfter = std::chrono::hours(1);

std::string QueuesJson(const std::vector<std::string>& queues) {
  json::array out;
  for (const auto& queue : queues) out.emplace_back(queue);
  return json::serialize(out);
}

// The queues as stored; a value that does not parse lists no queue rather than hiding
// the runner (rows are written by this file only).
std::vector<std::string> ParseQueues(std::string_view text) {
  std::vector<std::string> queues;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_array()) return queues;
  for (const auto& queue : v.get_array()) {
    if (queue.is_string()) queues.emplace_back(queue.get_string());
  }
  return queues;
}

}  // namespace

Status PgStorage::RunnerBeat(const RunnerInfo& runner) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto upsert = c.Exec(
        "INSERT INTO runners(id, kind, host, pid, queues, capacity, running, last_seen) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO UPDATE SET "
        "kind = excluded.kind, host = excluded.host, pid = excluded.pid, "
        "queues = excluded.queues, capacity = excluded.capacity, running = excluded.running, "
        "last_seen = excluded.last_seen",
        Params()
            .Add(runner.id)
            .Add(runner.kind)
            .Add(runner.host)
            .Add(runner.pid)
            .Add(QueuesJson(runner.queues))
            .Add(runner.capacity)
            .Add(runner.running)
            .Add(Micros(runner.last_seen)));
    if (!upsert.ok()) return upsert.status();
    return c
        .Exec("DELETE FROM runners WHERE last_seen < $1",
              Params().Add(Micros(runner.last_seen - kForgetBeatsAfter)))
        .status();
  });
}

Result<std::vector<RunnerInfo>> PgStorage::RunnerList(TimePoint now, Duration forget_after) {
  std::vector<RunnerInfo> runners;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    runners.clear();
    auto rows = c.Exec(
        "SELECT id, kind, host, pid, queues, capacity, running, last_seen FROM runners "
        "WHERE last_seen >= $1 ORDER BY id COLLATE \"C\"",
        Params().Add(Micros(now - forget_after)));
    if (!rows.ok()) return rows.status();
    for (int i = 0; i < rows->size(); ++i) {
      RunnerInfo runner;
      runner.id = std::string(rows->Text(i, 0));
      runner.kind = std::string(rows->Text(i, 1));
      runner.host = std::string(rows->Text(i, 2));
      runner.pid = rows->Int(i, 3);
      runner.queues = ParseQueues(rows->Text(i, 4));
      runner.capacity = static_cast<int>(rows->Int(i, 5));
      runner.running = static_cast<int>(rows->Int(i, 6));
      runner.last_seen = FromMicros(rows->Int(i, 7));
      runners.push_back(std::move(runner));
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return runners;
}

}  // namespace taskmill::postgres
