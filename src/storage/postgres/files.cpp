// files.cpp — files (bulk CSV inputs and outputs) as bytea chunks, and bulk
// checkpoints. Stored in PostgreSQL so that any node serves them; an owned file goes
// with its run (DeleteRun, RunPrune).
#include <boost/json.hpp>

#include "storage/postgres/storage_impl.h"

namespace taskmill::postgres {
namespace json = boost::json;

Status PgStorage::FileCreate(const FileCreateParams& p) {
  if (p.id.empty()) return Status::InvalidArgument("file id must not be empty");
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    return c
        .Exec("INSERT INTO files(id, name, content_type, created_at) VALUES ($1, $2, $3, $4)",
              Params().Add(p.id).Add(p.name).Add(p.content_type).Add(Micros(p.now)))
        .status();
  });
  if (st.IsConflict()) return Status::Conflict("file '" + p.id + "' already exists");
  return st;
}

Result<FileInfo> PgStorage::FileOn(Connection& c, const std::string& id) {
  auto rows = c.Exec(
      "SELECT id, name, content_type, size, chunks, run_id, run_queue, meta, created_at "
      "FROM files WHERE id = $1 FOR UPDATE",
      Params().Add(id));
  if (!rows.ok()) return rows.status();
  if (rows->size() == 0) return Status::NotFound("no file with id '" + id + "'");
  FileInfo f;
  f.id = rows->Text(0, 0);
  f.name = rows->Text(0, 1);
  f.content_type = rows->Text(0, 2);
  f.size = rows->Int(0, 3);
  f.chunks = rows->Int(0, 4);
  f.run_id = rows->Text(0, 5);
  f.run_queue = rows->Text(0, 6);
  boost::system::error_code ec;
  f.meta = json::parse(rows->Text(0, 7), ec);
  if (ec) f.meta = json::object();
  f.created_at = FromMicros(rows->Int(0, 8));
  return f;
}

Status PgStorage::AppendChunks(Connection& c, const std::string& id, int64_t have, int64_t first,
                               const std::vector<std::string_view>& chunks,
                               const std::optional<json::value>& meta) {
  if (first != have) {
    return Status::FailedPrecondition("file '" + id + "' has " + std::to_string(have) +
                                      " chunks; cannot write chunk " + std::to_string(first));
  }
  int64_t bytes = 0;
  int64_t seq = first;
  for (std::string_view chunk : chunks) {
    TASKMILL_RETURN_IF_ERROR(
        c.Exec("INSERT INTO file_chunks(file_id, seq, data) VALUES ($1, $2, $3)",
               Params().Add(id).Add(seq++).AddBytes(chunk)));
    bytes += static_cast<int64_t>(chunk.size());
  }
  Params params;
  params.Add(static_cast<int64_t>(chunks.size())).Add(bytes);
  if (meta) {
    params.Add(json::serialize(*meta));
  } else {
    params.AddNull();
  }
  params.Add(id);
  return c
      .Exec(
          "UPDATE files SET chunks = chunks + $1, size = size + $2, "
          "meta = coalesce($3::text, meta) WHERE id = $4",
          params)
      .status();
}

Status PgStorage::FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto info = FileOn(c, id);
    if (!info.ok()) return info.status();
    if (!info->run_id.empty()) {
      return Status::FailedPrecondition("file '" + id + "' belongs to run '" + info->run_id +
                                        "' and can no longer be appended to");
    }
    return AppendChunks(c, id, info->chunks, chunk, {bytes}, std::nullopt);
  });
}

Result<FileInfo> PgStorage::FileGet(const std::string& id) {
  Result<FileInfo> out = Status::NotFound("no file with id '" + id + "'");
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    out = FileOn(c, id);
    return out.ok() ? Status::Ok() : out.status();
  });
  if (!st.ok()) return st;
  return out;
}

Status PgStorage::FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("SELECT data FROM file_chunks WHERE file_id = $1 AND seq = $2",
                       Params().Add(id).Add(chunk), /*binary_results=*/true);
    if (!rows.ok()) return rows.status();
    if (rows->size() == 0) {
      return Status::NotFound("file '" + id + "' has no chunk " + std::to_string(chunk));
    }
    out->assign(rows->Text(0, 0));
    return Status::Ok();
  });
}

Status PgStorage::FileRemove(const std::string& id) {
  return pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("DELETE FROM files WHERE id = $1", Params().Add(id));
    if (!rows.ok()) return rows.status();
    if (rows->Affected() == 0) return Status::NotFound("no file with id '" + id + "'");
    return Status::Ok();
  });
}

Result<int64_t> PgStorage::FilePruneStaged(TimePoint created_before) {
  int64_t removed = 0;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec("DELETE FROM files WHERE run_id = '' AND created_at < $1",
                       Params().Add(Micros(created_before)));
    if (!rows.ok()) return rows.status();
    removed = rows->Affected();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return removed;
}

Status PgStorage::RunCheckpointSave(const RunCheckpoint& cp) {
  return pool_.Transaction([&](Connection& c) -> Status {
    // The fence: the attempt still runs, or an operator stopped the run during this very
    // attempt (then the run is in history, its last attempt this one, stopped).
    Params fence;
    fence.Add(cp.progress.total).Add(cp.progress.succeeded).Add(cp.progress.failed);
    fence.Add(cp.output_file).Add(cp.id).Add(cp.queue).Add(cp.attempt);
    const std::string set =
        " SET progress_total = $1, progress_succeeded = $2, progress_failed = $3, "
        "output_file = CASE WHEN $4 = '' THEN output_file ELSE $4 END "
        "WHERE id = $5 AND queue = $6 AND attempt = $7";
    // (status || '': a seek by id, not a walk of the partial index of running runs.)
    auto hot = c.Exec("UPDATE runs" + set + " AND status || '' = 'running'", fence);
    if (!hot.ok()) return hot.status();
    if (hot->Affected() != 1) {
      auto stopped =
          c.Exec("UPDATE runs_history" + set +
                     " AND status = 'stopped' AND (attempts -> -1 ->> 'number')::int = $7 "
                     "AND attempts -> -1 ->> 'outcome' = 'stopped'",
                 fence);
      if (!stopped.ok()) return stopped.status();
      if (stopped->Affected() != 1) {
        return Status::FailedPrecondition("attempt " + std::to_string(cp.attempt) + " of run '" +
                                          cp.id + "' is no longer current");
      }
    }
    for (const auto& file : cp.remove_files) {
      TASKMILL_RETURN_IF_ERROR(
          c.Exec("DELETE FROM files WHERE id = $1 AND run_id = $2 AND run_queue = $3",
                 Params().Add(file).Add(cp.id).Add(cp.queue)));
    }
    if (!cp.output_file.empty()) {
      TASKMILL_RETURN_IF_ERROR(
          c.Exec("INSERT INTO files(id, name, content_type, run_id, run_queue, created_at) "
                 "VALUES ($1, $2, 'text/csv', $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                 Params()
                     .Add(cp.output_file)
                     .Add(cp.output_name)
                     .Add(cp.id)
                     .Add(cp.queue)
                     .Add(Micros(cp.now))));
      auto info = FileOn(c, cp.output_file);
      if (!info.ok()) return info.status();
      if (info->run_id != cp.id || info->run_queue != cp.queue) {
        return Status::FailedPrecondition("file '" + cp.output_file + "' does not belong to run '" +
                                          cp.id + "'");
      }
      std::vector<std::string_view> chunks(cp.output_chunks.begin(), cp.output_chunks.end());
      TASKMILL_RETURN_IF_ERROR(AppendChunks(c, cp.output_file, info->chunks, cp.output_first_chunk,
                                            chunks, cp.output_meta));
    } else if (!cp.output_chunks.empty()) {
      return Status::InvalidArgument("checkpoint: output chunks without an output file");
    }
    return c
        .Exec(
            "INSERT INTO run_checkpoints(run_id, queue, attempt, state, saved_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (run_id, queue) DO UPDATE SET "
            "attempt = excluded.attempt, state = excluded.state, saved_at = excluded.saved_at",
            Params().Add(cp.id).Add(cp.queue).Add(cp.attempt).Add(cp.state).Add(Micros(cp.now)))
        .status();
  });
}

Result<std::optional<StoredCheckpoint>> PgStorage::RunCheckpointGet(const std::string& id,
                                                                    const std::string& queue) {
  std::optional<StoredCheckpoint> out;
  Status st = pool_.Transaction([&](Connection& c) -> Status {
    auto rows = c.Exec(
        "SELECT attempt, state, saved_at FROM run_checkpoints WHERE run_id = $1 AND queue = $2",
        Params().Add(id).Add(queue));
    if (!rows.ok()) return rows.status();
    if (rows->size() > 0) {
      out = StoredCheckpoint{static_cast<int>(rows->Int(0, 0)), std::string(rows->Text(0, 1)),
                             FromMicros(rows->Int(0, 2))};
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace taskmill::postgres
