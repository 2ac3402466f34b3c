#include "bulk/stored_file.h"

#include <algorithm>
#include <boost/json.hpp>
#include <cstring>

#include "csv/csv_reader.h"
#include "csv/csv_writer.h"

namespace taskmill::bulk {
namespace json = boost::json;

size_t StoredFileSource::Read(char* buf, size_t cap) {
  while (offset_ == chunk_.size() && next_chunk_ < chunks_ && cap >= last_size_) {
    size_t size = 0;
    Status read = storage_.FileReadChunkTo(file_id_, next_chunk_, buf, cap, &size);
    if (!read.ok()) throw StorageReadError(read);
    last_size_ = size;
    if (size > cap) break;  // read below, through chunk_
    ++next_chunk_;
    if (size > 0) return size;  // an empty chunk is not the end: go on
  }
  while (offset_ == chunk_.size()) {
    if (next_chunk_ >= chunks_) return 0;
    Status read = storage_.FileReadChunkInto(file_id_, next_chunk_, &chunk_);
    if (!read.ok()) throw StorageReadError(read);
    offset_ = 0;
    ++next_chunk_;
  }
  size_t n = std::min(cap, chunk_.size() - offset_);
  std::memcpy(buf, chunk_.data() + offset_, n);
  offset_ += n;
  return n;
}

PrefetchingSource::PrefetchingSource(Storage& storage, std::string file_id, int64_t chunks,
                                     size_t depth)
    : storage_(storage),
      file_id_(std::move(file_id)),
      chunks_(chunks),
      depth_(std::max<size_t>(1, depth)),
      thread_([this] { Loop(); }) {}

PrefetchingSource::~PrefetchingSource() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void PrefetchingSource::Loop() {
  for (int64_t next = 0; next < chunks_; ++next) {
    std::string buffer;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || ready_.size() < depth_; });
      if (stopping_) return;
      if (!spare_.empty()) {
        buffer = std::move(spare_.back());
        spare_.pop_back();
      }
    }
    Status read = storage_.FileReadChunkInto(file_id_, next, &buffer);
    {
      std::lock_guard lock(mu_);
      if (!read.ok()) {
        error_ = std::move(read);
        cv_.notify_all();
        return;
      }
      ready_.push_back(std::move(buffer));
    }
    cv_.notify_all();
  }
  {
    std::lock_guard lock(mu_);
    done_ = true;
  }
  cv_.notify_all();
}

size_t PrefetchingSource::Read(char* buf, size_t cap) {
  while (offset_ == current_.size()) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !ready_.empty() || done_ || !error_.ok(); });
    if (ready_.empty()) {
      if (!error_.ok()) throw StorageReadError(error_);
      return 0;
    }
    if (current_.capacity() > 0) spare_.push_back(std::move(current_));
    current_ = std::move(ready_.front());
    ready_.pop_front();
    offset_ = 0;
    lock.unlock();
    cv_.notify_all();
  }
  size_t n = std::min(cap, current_.size() - offset_);
  std::memcpy(buf, current_.data() + offset_, n);
  offset_ += n;
  return n;
}

json::value OutputMeta(size_t columns, const std::string& seen, int64_t data_rows,
                       std::optional<size_t> optional_column) {
  json::array drop;
  // Only a column nobody declared may go: readers parse a declared header by position,
  // so it is written in full and in order even where no row set a value. An output
  // without rows keeps its whole header, saying what the run would have written.
  if (data_rows > 0 && optional_column && *optional_column < columns &&
      *optional_column < seen.size() && seen[*optional_column] != '1') {
    drop.push_back(static_cast<int64_t>(*optional_column));
  }
  return json::object{{"columns", static_cast<int64_t>(columns)}, {"drop", std::move(drop)}};
}

namespace {

constexpr size_t kPieceSize = 64 << 10;

// A file as stored, chunk by chunk.
class RawStream final : public BulkFileStream {
 public:
  RawStream(Storage& storage, FileInfo info, std::string name)
      : storage_(storage), info_(std::move(info)), name_(std::move(name)) {}

  Result<std::string> Next() override {
    if (next_ >= info_.chunks) return std::string();
    auto chunk = storage_.FileReadChunk(info_.id, next_++);
    if (!chunk.ok()) return chunk.status();
    // An empty chunk would read as the end of the file: skip it.
    if (chunk->empty()) return Next();
    return std::move(*chunk);
  }
  const std::string& name() const override { return name_; }

 private:
  Storage& storage_;
  FileInfo info_;
  std::string name_;
  int64_t next_ = 0;
};

// A bulk output without the columns its meta drops.
class DroppingStream final : public BulkFileStream {
 public:
  DroppingStream(Storage& storage, const FileInfo& info, std::string name, std::vector<bool> keep)
      : source_(storage, info.id, info.chunks),
        reader_([this](char* buf, size_t cap) { return source_.Read(buf, cap); }),
        writer_([this](std::string_view bytes) { piece_.append(bytes); }),
        name_(std::move(name)),
        keep_(std::move(keep)) {}

  Result<std::string> Next() override {
    piece_.clear();
    try {
      while (!done_ && piece_.size() < kPieceSize) {
        auto more = reader_.Next();
        if (!more.ok()) {
          return Status::Internal("stored output is not valid CSV: " + more.status().message());
        }
        if (!*more) {
          done_ = true;
          break;
        }
        const auto& fields = reader_.record().fields;
        for (size_t i = 0; i < fields.size(); ++i) {
          if (i >= keep_.size() || keep_[i]) writer_.WriteField(fields[i].value);
        }
        writer_.EndRecord();
      }
      writer_.Flush();
    } catch (const StorageReadError& e) {
      return e.status();
    }
    return std::move(piece_);
  }
  const std::string& name() const override { return name_; }

 private:
  StoredFileSource source_;
  csv::Reader reader_;
  csv::Writer writer_;
  std::string name_;
  std::vector<bool> keep_;
  std::string piece_;
  bool done_ = false;
};

}  // namespace

}  // namespace taskmill::bulk

namespace taskmill {
namespace json = boost::json;

Result<std::unique_ptr<BulkFileStream>> BulkFileStream::Open(Storage& storage, const Run& run,
                                                             Which which) {
  const std::string& id = which == Which::kInput ? run.input_file : run.output_file;
  if (id.empty()) {
    return Status::NotFound(which == Which::kInput
                                ? "run '" + run.id + "' has no input file (it is not a CSV run)"
                                : "run '" + run.id + "' has no output file yet");
  }
  auto info = storage.FileGet(id);
  if (!info.ok()) return info.status();
  std::string name = which == Which::kInput
                         ? (info->name.empty() ? std::string("input.csv") : info->name)
                         : (info->name.empty() ? std::string("output.csv") : info->name);
  const json::value* drop = nullptr;
  const json::value* columns = nullptr;
  if (which == Which::kOutput && info->meta.is_object()) {
    drop = info->meta.get_object().if_contains("drop");
    columns = info->meta.get_object().if_contains("columns");
  }
  if (drop && drop->is_array() && !drop->get_array().empty() && columns && columns->is_int64()) {
    std::vector<bool> keep(static_cast<size_t>(std::max<int64_t>(0, columns->get_int64())), true);
    for (const auto& i : drop->get_array()) {
      if (i.is_int64() && i.get_int64() >= 0 && static_cast<size_t>(i.get_int64()) < keep.size()) {
        keep[static_cast<size_t>(i.get_int64())] = false;
      }
    }
    return std::unique_ptr<BulkFileStream>(
        new bulk::DroppingStream(storage, *info, std::move(name), std::move(keep)));
  }
  return std::unique_ptr<BulkFileStream>(
      new bulk::RawStream(storage, std::move(*info), std::move(name)));
}

}  // namespace taskmill
