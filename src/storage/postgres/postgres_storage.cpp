// postgres_storage.cpp — opening the PostgreSQL backend: its URL, its migration at
// open, and the history partitions it makes on demand.
#include "storage/postgres/postgres_storage.h"

#include <libpq-fe.h>

#include <charconv>
#include <set>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace {

// The keywords libpq accepts in a URL's query (sslmode, connect_timeout, ...).
bool IsLibpqKeyword(std::string_view key) {
  static const std::set<std::string, std::less<>> keywords = [] {
    std::set<std::string, std::less<>> out;
    PQconninfoOption* options = PQconndefaults();
    for (PQconninfoOption* o = options; o && o->keyword; ++o) out.insert(o->keyword);
    PQconninfoFree(options);
    return out;
  }();
  return keywords.contains(key);
}

bool ParseInt(std::string_view text, int* out) {
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  return ec == std::errc() && end == text.data() + text.size();
}

}  // namespace

Result<PostgresOptions> PostgresOptionsFromUrl(std::string_view url) {
  const std::string whole(url);
  PostgresOptions options;
  const size_t q = url.find('?');
  std::string base(url.substr(0, q));
  std::string_view query = q == std::string_view::npos ? "" : url.substr(q + 1);
  std::string kept;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : pair.substr(eq + 1);
    if (key == "pool") {
      if (!ParseInt(value, &options.pool_size) || options.pool_size < 1 ||
          options.pool_size > 100) {
        return Status::InvalidArgument("storage: pool in '" + whole +
                                       "': expected a number of connections from 1 to 100");
      }
    } else if (key == "statement_timeout") {
      if (!ParseInt(value, &options.statement_timeout_ms) || options.statement_timeout_ms < 1) {
        return Status::InvalidArgument("storage: statement_timeout in '" + whole +
                                       "': expected milliseconds, at least 1");
      }
    } else if (key == "listen") {
      if (value != "true" && value != "false") {
        return Status::InvalidArgument("storage: listen in '" + whole +
                                       "': expected true or false");
      }
      options.listen = value == "true";
    } else if (IsLibpqKeyword(key)) {
      kept += (kept.empty() ? "" : "&") + std::string(pair);
    } else {
      return Status::InvalidArgument(
          "storage: unknown PostgreSQL parameter '" + std::string(key) + "' in '" + whole +
          "'; expected pool, statement_timeout, listen or a libpq connection parameter");
    }
  }
  options.conninfo = kept.empty() ? base : base + "?" + kept;
  return options;
}

Status PgStorage::Init() {
  auto migrated = ApplyMigrations();
  if (!migrated.ok()) return migrated.status();
  opened_migration_ = std::move(*migrated);
  // Rows staged by attempts that ended with no finish or stop to delete them (a crash
  // came first): no finish releases them any more (staged_runs.cpp).
  return SweepStaged();
}

StorageCapabilities PgStorage::Capabilities() const {
  // LISTEN/NOTIFY tells of other processes' commits unless it is turned off for a
  // transaction pooler; nothing tells that a process on another machine has ended, so
  // leases alone decide.
  return {.commit_notifications = options_.listen, .holder_liveness = false, .staged_runs = true};
}

Result<SchemaMigration> PgStorage::Migrate() {
  auto now = ApplyMigrations();
  if (!now.ok()) return now.status();
  SchemaMigration out = opened_migration_;
  out.after = now->after;
  out.applied.insert(out.applied.end(), now->applied.begin(), now->applied.end());
  return out;
}

Status PgStorage::EnsureMonths(const std::vector<int64_t>& part_ats) {
  std::vector<int64_t> missing;
  {
    std::lock_guard lock(months_mu_);
    for (int64_t at : part_ats) {
      int64_t month = MonthOf(at).first;
      if (!months_.contains(month) &&
          std::find(missing.begin(), missing.end(), at) == missing.end()) {
        missing.push_back(at);
      }
    }
  }
  if (missing.empty()) return Status::Ok();
  auto conn = pool_.Acquire();
  if (!conn.ok()) return conn.status();
  Status st = EnsurePartitions(**conn, missing);
  pool_.Release(std::move(*conn));
  if (!st.ok()) return st;
  std::lock_guard lock(months_mu_);
  for (int64_t at : missing) months_.insert(MonthOf(at).first);
  return Status::Ok();
}

Result<std::unique_ptr<Storage>> OpenPostgresStorage(const PostgresOptions& options) {
  auto storage = std::make_unique<PgStorage>(options);
  TASKMILL_RETURN_IF_ERROR(storage->Init());
  return std::unique_ptr<Storage>(std::move(storage));
}

}  // namespace taskmill::postgres
