#include <spdlog/spdlog.h>

#include <chrono>
#include <filesystem>

#include "storage/sqlite/commit_bell.h"
#include "storage/sqlite/migrate.h"
#include "storage/sqlite/setup_lock.h"
#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

Status SqliteStorage::Init() {
  std::error_code ec;
  auto parent = std::filesystem::path(options_.path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) {
    return Status::Internal("cannot create data directory " + parent.string() + ": " +
                            ec.message());
  }
  if (options_.synchronous != "full" && options_.synchronous != "normal") {
    return Status::InvalidArgument("synchronous: expected full or normal, got '" +
                                   options_.synchronous + "'");
  }
  // Processes started together on one data directory set the database up one at a
  // time (setup_lock.h): creating the file and switching it to WAL mode take locks
  // that SQLite's busy wait does not cover, and each migration is re-checked under
  // the lock.
  auto setup = SetupLock::Acquire(options_.path, std::chrono::seconds(60));
  if (!setup.ok()) return setup.status();
  auto conn = Connection::Open(options_.path, false);
  if (!conn.ok()) return conn.status();
  writer_db_ = std::move(*conn);
  // page_size applies to a database this call creates (an existing file keeps its
  // own; WAL mode cannot change it). SQLite reads and writes one page per system
  // call (and two per WAL frame), and files are stored as chunk blobs spread over
  // overflow pages: at 16 KiB a bulk run makes a quarter of the calls it made at the
  // default 4 KiB, which on the virtual machines measured is most of storage's CPU
  // time (docs/BENCHMARKS.md, "Bulk CSV runs"); small rows still fit a page.
  // secure_delete=OFF is SQLite's own default, which some distributions' builds
  // turn on: zeroing every deleted index entry and row cost 7-13% of the writer's
  // work (a claim and a finish delete index entries). Deleted runs may then linger
  // in free pages of the file until reused or vacuumed (docs/storage.md).
  // synchronous=NORMAL even for "full": the fsync that makes a commit durable is the
  // syncer thread's (OpenLogForSync), not the commit's.
  // journal_size_limit: see SqliteOptions::log_size_limit.
  TASKMILL_RETURN_IF_ERROR(writer_db_->ExecScript(
      "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
      " PRAGMA temp_store=MEMORY; PRAGMA cache_size=-16384; PRAGMA secure_delete=OFF;"));
  TASKMILL_RETURN_IF_ERROR(writer_db_->ExecScript(
      ("PRAGMA journal_size_limit=" + std::to_string(options_.log_size_limit)).c_str()));
  auto migrated = sqlite::Migrate(*writer_db_, options_.path);
  if (!migrated.ok()) return migrated.status();
  opened_migration_ = std::move(*migrated);
  // Releases a crash cut short: their steps' finishes committed, so their runs are
  // due (staged_runs.cpp). Before the sweep below, which would take their rows.
  {
    TASKMILL_RETURN_IF_ERROR(writer_db_->Exec("BEGIN IMMEDIATE"));
    TallyDeltas total;
    Tx tx{*writer_db_, {}, &total};
    Status released = ReleaseAllOf(tx, "");
    if (released.ok()) released = ApplyTallies(*writer_db_, tx.deltas);
    if (released.ok()) released = writer_db_->Exec("COMMIT");
    if (!released.ok()) {
      (void)writer_db_->Exec("ROLLBACK");
      return released;
    }
  }
  // Rows staged by attempts that are over and were not swept (a crash came first): no
  // finish releases them any more (staged_runs.cpp). A thousand per commit, so that
  // none grows with the number of rows left behind.
  for (const char* table : {"staged_children", "staged_templates"}) {
    const std::string sweep = std::string("DELETE FROM ") + table +
                              " WHERE (parent_id, parent_attempt, seq) IN (SELECT parent_id, "
                              "parent_attempt, seq FROM " +
                              table +
                              " AS s WHERE NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = "
                              "s.parent_id AND runs.status = 'running' AND runs.attempt = "
                              "s.parent_attempt) LIMIT 1000)";
    for (;;) {
      TASKMILL_RETURN_IF_ERROR(writer_db_->ExecScript(sweep.c_str()));
      if (writer_db_->Changes() < 1000) break;
    }
  }
  if (options_.synchronous == "full") {
    TASKMILL_RETURN_IF_ERROR(OpenLogForSync());
    if (log_fd_ >= 0) syncer_ = std::thread([this] { SyncLoop(); });
  }
  {
    auto page_size = writer_db_->Prepare("PRAGMA page_size");
    if (!page_size.ok()) return page_size.status();
    ScopedReset reset(**page_size);
    auto row = (*page_size)->Step();
    if (!row.ok()) return row.status();
    const int64_t page_bytes = (*page_size)->Int(0);
    log_space_ = std::make_unique<LogSpace>(options_.path, page_bytes, options_.log_size_limit,
                                            options_.checkpoint_pages * page_bytes);
  }
  {
    // Without it the storage works all the same; the runners of other processes
    // then find its runs at their poll.
    auto bell = CommitBell::Open(options_.path);
    if (bell.ok()) {
      bell_ = std::move(*bell);
    } else {
      spdlog::warn("storage: {}; other processes find this one's runs by polling",
                   bell.status().ToString());
    }
  }
  // Replaces SQLite's automatic checkpoint, which runs inside the commit that
  // crosses its threshold (see SqliteOptions::checkpoint_pages).
  sqlite3_wal_hook(writer_db_->raw(), &SqliteStorage::AfterWalCommit, this);
  checkpointer_ = std::thread([this] { CheckpointLoop(); });
  writer_ = std::thread([this] { WriterLoop(); });
  return Status::Ok();
}

std::unique_ptr<CommitWatch> SqliteStorage::WatchCommits(std::function<void()> on_commit) {
  auto watcher = CommitWatcher::Start(options_.path, std::move(on_commit));
  if (!watcher.ok()) {
    spdlog::warn("storage: {}; runs of other processes are found by polling",
                 watcher.status().ToString());
    return nullptr;
  }
  return std::move(*watcher);
}

StorageCapabilities SqliteStorage::Capabilities() const {
  // The commit bell (commit_bell.h); OS locks on files beside the database.
  return {.commit_notifications = true, .holder_liveness = true, .staged_runs = true};
}

// Opening migrated already (Init); this applies what another process's newer build
// may have added since, which is nothing unless the schema moved meanwhile. On a
// connection of its own under the setup lock: the writer's connection belongs to the
// writer thread, whose transactions hold no migration.
Result<SchemaMigration> SqliteStorage::Migrate() {
  auto setup = SetupLock::Acquire(options_.path, std::chrono::seconds(60));
  if (!setup.ok()) return setup.status();
  auto conn = Connection::Open(options_.path, false);
  if (!conn.ok()) return conn.status();
  auto now = sqlite::Migrate(**conn, options_.path);
  if (!now.ok()) return now.status();
  SchemaMigration out = opened_migration_;
  out.after = now->after;
  out.applied.insert(out.applied.end(), now->applied.begin(), now->applied.end());
  return out;
}

Result<SqliteOptions> SqliteOptionsFromUrl(std::string_view url) {
  const std::string whole(url);
  if (url.starts_with("sqlite://")) url.remove_prefix(9);
  SqliteOptions options;
  // Parameters follow the last '?' when what follows is key=value pairs; otherwise the
  // '?' belongs to the path.
  std::string_view query;
  if (size_t q = url.rfind('?');
      q != std::string_view::npos && url.find('=', q) != std::string_view::npos) {
    query = url.substr(q + 1);
    url = url.substr(0, q);
  }
  options.path = std::string(url);
  if (options.path.empty()) {
    return Status::InvalidArgument("storage: empty database path");
  }
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (key == "synchronous") {
      options.synchronous = std::string(value);
    } else {
      return Status::InvalidArgument("storage: unknown SQLite parameter '" + std::string(key) +
                                     "' in '" + whole + "'; expected synchronous");
    }
  }
  return options;
}

Result<std::unique_ptr<Storage>> OpenSqliteStorage(const SqliteOptions& options) {
  auto storage = std::make_unique<SqliteStorage>(options);
  TASKMILL_RETURN_IF_ERROR(storage->Init());
  return std::unique_ptr<Storage>(std::move(storage));
}

}  // namespace taskmill::sqlite
