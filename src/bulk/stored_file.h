// bulk/stored_file.h — reading files that live in storage as chunks, one chunk in
// memory at a time: as a csv::Reader source (the bulk attempt and the validation of
// an upload read inputs this way), and as BulkFileStream (downloads).
//
// The output of a bulk run is stored with a fixed, full-width header; its file meta
// records which columns never got a value ({"columns": N, "drop": [i, ...]}), and
// BulkFileStream leaves those out when the output is read. Not thread-safe: one
// reader per thread.
#pragma once

#include <taskmill/bulk.h>
#include <taskmill/storage.h>

#include <boost/json/value.hpp>
#include <stdexcept>
#include <string>
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

  // Copies up to `cap` bytes into `buf`; 0 at the end. Throws StorageReadError.
  size_t Read(char* buf, size_t cap);

 private:
  Storage& storage_;
  std::string file_id_;
  int64_t chunks_;
  int64_t next_chunk_ = 0;
  std::string chunk_;  // the current chunk
  size_t offset_ = 0;  // bytes of chunk_ already returned
};

// The meta of a bulk output file: its width and the columns to leave out on reading.
boost::json::value OutputMeta(size_t columns, const std::string& seen, int64_t data_rows);

}  // namespace taskmill::bulk
