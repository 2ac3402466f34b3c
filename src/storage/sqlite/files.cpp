#include "storage/sqlite/storage_impl.h"

namespace taskmill::sqlite {

// ---- files --------------------------------------------------------------------
Status SqliteStorage::FileCreate(const FileCreateParams& p) {
  if (p.id.empty()) return Status::InvalidArgument("file id must not be empty");
  return Write([&](Tx& tx) -> Status {
    Status st =
        Exec(tx.db, "INSERT INTO files(id, name, content_type, created_at) VALUES (?1, ?2, ?3, ?4)",
             p.id, p.name, p.content_type, Micros(p.now));
    if (st.IsConflict()) return Status::Conflict("file '" + p.id + "' already exists");
    return st;
  });
}

// Staged bytes need no fsync of their own: the commit that makes a run own them is
// durable, and in WAL mode its sync covers every earlier frame.
Status SqliteStorage::FileAppend(const std::string& id, int64_t chunk, std::string_view bytes) {
  return Write(
      [&](Tx& tx) -> Status {
        auto info = FileOn(tx.db, id);
        if (!info.ok()) return info.status();
        if (!info->run_id.empty()) {
          return Status::FailedPrecondition("file '" + id + "' belongs to run '" + info->run_id +
                                            "' and can no longer be appended to");
        }
        return AppendChunks(tx.db, id, info->chunks, chunk, {bytes}, std::nullopt);
      },
      /*durable=*/false);
}

Result<FileInfo> SqliteStorage::FileGet(const std::string& id) {
  return WithReader([&](Connection& db) { return FileOn(db, id); });
}

// Both read with ReadChunk (below).
Status SqliteStorage::FileReadChunkInto(const std::string& id, int64_t chunk, std::string* out) {
  return ReadChunk(id, chunk, [&](size_t size) {
    out->resize(size);
    return out->data();
  });
}

Status SqliteStorage::FileReadChunkTo(const std::string& id, int64_t chunk, char* buf, size_t cap,
                                      size_t* size) {
  return ReadChunk(id, chunk, [&](size_t bytes) {
    *size = bytes;
    return bytes <= cap ? buf : nullptr;
  });
}

Status SqliteStorage::FileRemove(const std::string& id) {
  return Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db, "DELETE FROM files WHERE id = ?1", id));
    if (tx.db.Changes() == 0) return Status::NotFound("no file with id '" + id + "'");
    return Status::Ok();
  });
}

Result<int64_t> SqliteStorage::FilePruneStaged(TimePoint created_before) {
  int64_t removed = 0;
  Status st = Write([&](Tx& tx) -> Status {
    TASKMILL_RETURN_IF_ERROR(Exec(tx.db, "DELETE FROM files WHERE run_id = '' AND created_at < ?1",
                                  Micros(created_before)));
    removed = tx.db.Changes();
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return removed;
}

// ---- bulk checkpoints -------------------------------------------------------------
// Not durable on its own (like a heartbeat): a checkpoint lost to a power cut only
// means that the rows after the previous one are processed again, which the bulk
// layer's at-least-once contract allows; the finish that follows is durable.
Status SqliteStorage::RunCheckpointSave(const RunCheckpoint& c) {
  return Write(
      [&](Tx& tx) -> Status {
        // An operator's cancel ends the attempt in storage first; the attempt still
        // saves what it wrote up to the stop, as long as nothing happened since.
        auto fence = tx.db.Prepare(
            "UPDATE runs SET progress_total = ?1, progress_succeeded = ?2, "
            "progress_failed = ?3, output_file = CASE WHEN ?4 = '' THEN output_file ELSE ?4 "
            "END WHERE id = ?5 AND queue = ?6 AND attempt = ?7 AND (status = 'running' OR "
            "(status = 'stopped' AND attempts ->> '$[#-1].number' = ?7 AND "
            "attempts ->> '$[#-1].outcome' = 'stopped'))");
        if (!fence.ok()) return fence.status();
        {
          ScopedReset reset(**fence);
          (*fence)->Bind(1, c.progress.total);
          (*fence)->Bind(2, c.progress.succeeded);
          (*fence)->Bind(3, c.progress.failed);
          (*fence)->Bind(4, c.output_file);
          (*fence)->Bind(5, c.id);
          (*fence)->Bind(6, c.queue);
          (*fence)->Bind(7, c.attempt);
          TASKMILL_RETURN_IF_ERROR((*fence)->Exec());
          if (tx.db.Changes() != 1) {
            return Status::FailedPrecondition("attempt " + std::to_string(c.attempt) + " of run '" +
                                              c.id + "' is no longer current");
          }
        }
        if (!c.remove_files.empty()) {
          auto del =
              tx.db.Prepare("DELETE FROM files WHERE id = ?1 AND run_id = ?2 AND run_queue = ?3");
          if (!del.ok()) return del.status();
          for (const auto& file : c.remove_files) {
            ScopedReset reset(**del);
            (*del)->Bind(1, file);
            (*del)->Bind(2, c.id);
            (*del)->Bind(3, c.queue);
            TASKMILL_RETURN_IF_ERROR((*del)->Exec());
          }
        }
        if (!c.output_file.empty()) {
          auto create = tx.db.Prepare(
              "INSERT INTO files(id, name, content_type, run_id, run_queue, created_at) "
              "VALUES (?1, ?2, 'text/csv', ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING");
          if (!create.ok()) return create.status();
          {
            ScopedReset reset(**create);
            (*create)->Bind(1, c.output_file);
            (*create)->Bind(2, c.output_name);
            (*create)->Bind(3, c.id);
            (*create)->Bind(4, c.queue);
            (*create)->Bind(5, Micros(c.now));
            TASKMILL_RETURN_IF_ERROR((*create)->Exec());
          }
          auto info = FileOn(tx.db, c.output_file);
          if (!info.ok()) return info.status();
          if (info->run_id != c.id || info->run_queue != c.queue) {
            return Status::FailedPrecondition("file '" + c.output_file +
                                              "' does not belong to run '" + c.id + "'");
          }
          std::vector<std::string_view> chunks(c.output_chunks.begin(), c.output_chunks.end());
          TASKMILL_RETURN_IF_ERROR(AppendChunks(tx.db, c.output_file, info->chunks,
                                                c.output_first_chunk, chunks, c.output_meta));
        } else if (!c.output_chunks.empty()) {
          return Status::InvalidArgument("checkpoint: output chunks without an output file");
        }
        return Exec(
            tx.db,
            "INSERT INTO run_checkpoints(run_id, queue, attempt, state, saved_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(run_id, queue) DO UPDATE SET "
            "attempt = excluded.attempt, state = excluded.state, saved_at = excluded.saved_at",
            c.id, c.queue, c.attempt, c.state, Micros(c.now));
      },
      /*durable=*/false);
}

Result<std::optional<StoredCheckpoint>> SqliteStorage::RunCheckpointGet(const std::string& id,
                                                                        const std::string& queue) {
  std::optional<StoredCheckpoint> out;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare(
        "SELECT attempt, state, saved_at FROM run_checkpoints WHERE run_id = ?1 AND queue = ?2");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, id);
    (*stmt)->Bind(2, queue);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (*row) {
      out = StoredCheckpoint{static_cast<int>((*stmt)->Int(0)), std::string((*stmt)->Text(1)),
                             FromMicros((*stmt)->Int(2))};
    }
    return Status::Ok();
  });
  if (!st.ok()) return st;
  return out;
}

Result<FileInfo> SqliteStorage::FileOn(Connection& db, const std::string& id) {
  auto stmt = db.Prepare(
      "SELECT id, name, content_type, size, chunks, run_id, run_queue, meta, created_at "
      "FROM files WHERE id = ?1");
  if (!stmt.ok()) return stmt.status();
  Statement& s = **stmt;
  ScopedReset reset(s);
  s.Bind(1, id);
  auto row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) return Status::NotFound("no file with id '" + id + "'");
  FileInfo f;
  f.id = s.Text(0);
  f.name = s.Text(1);
  f.content_type = s.Text(2);
  f.size = s.Int(3);
  f.chunks = s.Int(4);
  f.run_id = s.Text(5);
  f.run_queue = s.Text(6);
  f.meta = ParseJsonOr(s.Text(7), json::object());
  f.created_at = FromMicros(s.Int(8));
  return f;
}

// Reads chunk `chunk` of file `id` where `place(size)` says (nowhere when it returns
// nullptr), with SQLite's incremental blob I/O: a column value would be read into a
// buffer SQLite allocates (fresh pages, faulted in for every 256 KiB chunk) and then
// copied. The rowid lookup and the blob read share one read transaction, so they
// see the same snapshot.
template <typename Place>
Status SqliteStorage::ReadChunk(const std::string& id, int64_t chunk, Place place) {
  bool found = false;
  Status st = WithReader([&](Connection& db) -> Status {
    auto stmt = db.Prepare("SELECT rowid FROM file_chunks WHERE file_id = ?1 AND seq = ?2");
    if (!stmt.ok()) return stmt.status();
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, id);
    (*stmt)->Bind(2, chunk);
    auto row = (*stmt)->Step();
    if (!row.ok()) return row.status();
    if (!*row) return Status::Ok();
    found = true;
    return ReadBlob(db, (*stmt)->Int(0), place);
  });
  if (!st.ok()) return st;
  if (!found) return Status::NotFound("file '" + id + "' has no chunk " + std::to_string(chunk));
  return Status::Ok();
}

// The data of file_chunks row `rowid`, into `place(size)` unless that is nullptr.
template <typename Place>
Status SqliteStorage::ReadBlob(Connection& db, int64_t rowid, Place& place) {
  sqlite3_blob* blob = nullptr;
  int rc = sqlite3_blob_open(db.raw(), "main", "file_chunks", "data", rowid, 0, &blob);
  if (rc != SQLITE_OK) {
    Status st = ErrorFrom(db.raw(), rc, "opening a file chunk");
    sqlite3_blob_close(blob);
    return st;
  }
  const int size = sqlite3_blob_bytes(blob);
  char* to = place(static_cast<size_t>(size));
  rc = size > 0 && to != nullptr ? sqlite3_blob_read(blob, to, size, 0) : SQLITE_OK;
  Status st = rc == SQLITE_OK ? Status::Ok() : ErrorFrom(db.raw(), rc, "reading a file chunk");
  sqlite3_blob_close(blob);
  return st;
}

// Appends chunks numbered from `first` to a file that has `have` chunks; `first`
// must equal `have`, so that a repeated call cannot store a chunk twice.
Status SqliteStorage::AppendChunks(Connection& db, const std::string& id, int64_t have,
                                   int64_t first, const std::vector<std::string_view>& chunks,
                                   const std::optional<json::value>& meta) {
  if (first != have) {
    return Status::FailedPrecondition("file '" + id + "' has " + std::to_string(have) +
                                      " chunks; cannot write chunk " + std::to_string(first));
  }
  // Each chunk is inserted as a zeroblob and its bytes written into the row's pages
  // with incremental blob I/O: binding the bytes instead makes SQLite build the whole
  // record in a buffer it allocates (fresh pages, faulted in for every chunk) and copy
  // it once more before it reaches the pages.
  auto insert =
      db.Prepare("INSERT INTO file_chunks(file_id, seq, data) VALUES (?1, ?2, zeroblob(?3))");
  if (!insert.ok()) return insert.status();
  sqlite3_blob* blob = nullptr;
  struct CloseBlob {
    sqlite3_blob*& blob;
    ~CloseBlob() { sqlite3_blob_close(blob); }  // a no-op on nullptr
  } close_blob{blob};
  int64_t bytes = 0;
  int64_t seq = first;
  for (std::string_view chunk : chunks) {
    {
      ScopedReset reset(**insert);
      (*insert)->Bind(1, id);
      (*insert)->Bind(2, seq++);
      (*insert)->Bind(3, static_cast<int64_t>(chunk.size()));
      TASKMILL_RETURN_IF_ERROR((*insert)->Exec());
    }
    if (!chunk.empty()) {
      const sqlite3_int64 rowid = sqlite3_last_insert_rowid(db.raw());
      // One handle for the call, moved from row to row (reopening skips compiling
      // the blob's statement again).
      int rc = blob ? sqlite3_blob_reopen(blob, rowid)
                    : sqlite3_blob_open(db.raw(), "main", "file_chunks", "data", rowid, 1, &blob);
      if (rc == SQLITE_OK) {
        rc = sqlite3_blob_write(blob, chunk.data(), static_cast<int>(chunk.size()), 0);
      }
      if (rc != SQLITE_OK) return ErrorFrom(db.raw(), rc, "writing a file chunk");
    }
    bytes += static_cast<int64_t>(chunk.size());
  }
  sqlite3_blob_close(blob);
  blob = nullptr;
  auto update = db.Prepare(
      "UPDATE files SET chunks = chunks + ?1, size = size + ?2, meta = coalesce(?3, meta) "
      "WHERE id = ?4");
  if (!update.ok()) return update.status();
  ScopedReset reset(**update);
  (*update)->Bind(1, static_cast<int64_t>(chunks.size()));
  (*update)->Bind(2, bytes);
  if (meta)
    (*update)->Bind(3, json::serialize(*meta));
  else
    (*update)->BindNull(3);
  (*update)->Bind(4, id);
  return (*update)->Exec();
}

// Hands staged files to the runs of a RunPut that name them (see RunPutParams).
// `requested` are the runs of the call, `stored` what RunPut answers (the inserted
// runs were moved there; a duplicate that kIgnore kept is the stored one).
Status SqliteStorage::CommitFiles(Connection& db, const std::vector<Run>& requested,
                                  const std::vector<Run>& stored, const std::vector<bool>& inserted,
                                  const std::vector<std::string>& files) {
  if (files.empty()) return Status::Ok();
  auto stmt =
      db.Prepare("UPDATE files SET run_id = ?1, run_queue = ?2 WHERE id = ?3 AND run_id = ''");
  if (!stmt.ok()) return stmt.status();
  for (const auto& file : files) {
    const Run* named = nullptr;
    bool taken = false;
    for (size_t i = 0; i < inserted.size() && !named; ++i) {
      const Run& run = inserted[i] ? stored[i] : requested[i];
      if (run.input_file == file || run.output_file == file) {
        named = &run;
        taken = inserted[i];
      }
    }
    if (!named) {
      return Status::FailedPrecondition("file '" + file + "' is not named by any run stored");
    }
    // A duplicate that kIgnore kept stored does not take the upload; the caller
    // removes the staged file.
    if (!taken) continue;
    ScopedReset reset(**stmt);
    (*stmt)->Bind(1, named->id);
    (*stmt)->Bind(2, named->queue);
    (*stmt)->Bind(3, file);
    TASKMILL_RETURN_IF_ERROR((*stmt)->Exec());
    if (db.Changes() != 1) {
      return Status::FailedPrecondition("file '" + file + "' is not a staged file");
    }
  }
  return Status::Ok();
}

}  // namespace taskmill::sqlite
