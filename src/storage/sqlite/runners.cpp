// The runners of the cluster (Storage::RunnerBeat, RunnerList): one row per runner,
// replaced by each beat. A beat is a write every few seconds per runner, not per run.
#include <chrono>

#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

namespace {

// Beats older than this before a new beat are deleted by it (storage.h).
constexpr auto kForgetBeatsAfter = std::chrono::hours(1);

std::string InfoJson(const RunnerInfo& runner) {
  json::array queues;
  for (const auto& queue : runner.queues) queues.emplace_back(queue);
  return json::serialize(json::object{{"kind", runner.kind},
                                      {"host", runner.host},
                                      {"pid", runner.pid},
                                      {"queues", std::move(queues)},
                                      {"capacity", runner.capacity},
                                      {"running", runner.running}});
}

// The beat as stored; a field that does not parse is left at its default rather than
// hiding the runner (rows are written by this file only).
RunnerInfo ParseInfo(std::string id, std::string_view text, TimePoint last_seen) {
  RunnerInfo runner;
  runner.id = std::move(id);
  runner.last_seen = last_seen;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec || !v.is_object()) return runner;
  const json::object& o = v.get_object();
  if (auto* kind = o.if_contains("kind"); kind && kind->is_string()) {
    runner.kind = std::string(kind->get_string());
  }
  if (auto* host = o.if_contains("host"); host && host->is_string()) {
    runner.host = std::string(host->get_string());
  }
  if (auto* pid = o.if_contains("pid"); pid && pid->is_int64()) runner.pid = pid->get_int64();
  if (auto* queues = o.if_contains("queues"); queues && queues->is_array()) {
    for (const auto& queue : queues->get_array()) {
      if (queue.is_string()) runner.queues.emplace_back(queue.get_string());
    }
  }
  if (auto* n = o.if_contains("capacity"); n && n->is_int64()) {
    runner.capacity = static_cast<int>(n->get_int64());
  }
  if (auto* n = o.if_contains("running"); n && n->is_int64()) {
    runner.running = static_cast<int>(n->get_int64());
  }
  return runner;
}

}  // namespace

Status SqliteStorage::RunnerBeat(const RunnerInfo& runner) {
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(
        Exec(tx.db,
             "INSERT INTO runners(id, info, last_seen) VALUES (?1, ?2, ?3) "
             "ON CONFLICT(id) DO UPDATE SET info = excluded.info, last_seen = excluded.last_seen",
             runner.id, InfoJson(runner), Micros(runner.last_seen)));
    return Exec(tx.db, "DELETE FROM runners WHERE last_seen < ?1",
                Micros(runner.last_seen - kForgetBeatsAfter));
  });
}

Result<std::vector<RunnerInfo>> SqliteStorage::RunnerList(TimePoint now, Duration forget_after) {
  return WithReader([&](Connection& db) -> Result<std::vector<RunnerInfo>> {
    auto stmt =
        db.Prepare("SELECT id, info, last_seen FROM runners WHERE last_seen >= ?1 ORDER BY id");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, Micros(now - forget_after));
    std::vector<RunnerInfo> runners;
    while (true) {
      auto row = (*stmt)->Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      runners.push_back(
          ParseInfo(std::string((*stmt)->Text(0)), (*stmt)->Text(1), FromMicros((*stmt)->Int(2))));
    }
    return runners;
  });
}

}  // namespace taskmill::sqlite
