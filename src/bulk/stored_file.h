// bulk/stored_file.h — reading files that live in storage as chunks, one chunk in
// memory at a time: as a csv::Reader source (the bulk attempt and the validation of
// an upload read inputs this way), and as BulkFileStream (downloads).
//
// The output of a bulk run is stored with a fixed, full-width header; its file meta
// records the added `error` column when it never got a value ({"columns": N, "drop":
// [i]}), and BulkFileStream leaves it out when the output is read. Not thread-safe: one
// reader per thread.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/storage.h>

#include <boost/json/value.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace taskmill::bulk {

// Thrown by StoredFileSource when storage fails mid-file; carries the Status.
class StorageReadError : public std::runtime_error {
 public:
  explicit StorageReadError(Status status)
      : std::runtime_error(status.message()), status_(std::move(status)) {}
  const Status& status() const { return status_; }

 private:
  Status status_;
};

// Chunks 0..chunks-1 of a stored file, as a byte stream.
class StoredFileSource {
 public:
  StoredFileSource(Storage& storage, std::string file_id, int64_t chunks)
      : storage_(storage), file_id_(std::move(file_id)), chunks_(chunks) {}

  // Copies up to `cap` bytes into `buf`; 0 at the end. Throws StorageReadError. When
  // the next chunk fits in `cap` it is read straight into `buf` (give a csv::Reader a
  // read_size of twice the chunk size for that), else through a buffer of its own.
  size_t Read(char* buf, size_t cap);

 private:
  Storage& storage_;
  std::string file_id_;
  int64_t chunks_;
  int64_t next_chunk_ = 0;
  std::string chunk_;     // the current chunk, when it did not fit the caller's buffer
  size_t offset_ = 0;     // bytes of chunk_ already returned
  size_t last_size_ = 0;  // size of the last chunk read: a direct read is tried when
                          // the caller's room is at least as large
};

// The same stream, read ahead by a thread of its own (up to `depth` chunks), so that
// the storage reads of the next chunk overlap the parsing of this one. Stops and
// joins its thread on destruction.
class PrefetchingSource {
 public:
  PrefetchingSource(Storage& storage, std::string file_id, int64_t chunks, size_t depth = 2);
  ~PrefetchingSource();
  PrefetchingSource(const PrefetchingSource&) = delete;
  PrefetchingSource& operator=(const PrefetchingSource&) = delete;

  // As StoredFileSource::Read.
  size_t Read(char* buf, size_t cap);

 private:
  void Loop();

  Storage& storage_;
  const std::string file_id_;
  const int64_t chunks_;
  const size_t depth_;
  std::string current_;  // the chunk being consumed (reader's thread)
  size_t offset_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::string> ready_;   // read ahead; guarded by mu_
  std::vector<std::string> spare_;  // consumed buffers to reuse; guarded by mu_
  Status error_;                    // guarded by mu_
  bool done_ = false;               // every chunk was read; guarded by mu_
  bool stopping_ = false;           // guarded by mu_
  std::thread thread_;              // last: starts once the rest is set up
};

// The meta of a bulk output file: its width and the columns to leave out on reading:
// `optional_column` (the `error` column taskmill adds to a header that lacks one) when
// no row set it. Declared columns are always kept.
boost::json::value OutputMeta(size_t columns, const std::string& seen, int64_t data_rows,
                              std::optional<size_t> optional_column);

}  // namespace taskmill::bulk
