// csv/csv_writer.h — a streaming RFC 4180 CSV writer.
//
// A Writer formats records into an internal buffer and hands the bytes to a sink in
// large pieces (when the buffer passes WriterOptions::buffer_size at the end of a
// record, and on Flush()). A field is quoted only when it must be: when it holds ',',
// '"', CR or LF (and, as an option, when it begins or ends with a space or tab);
// quotes inside are doubled. Records end with LF (CRLF as an option).
//
// What cannot be told apart in the output:
//   - an "undefined" cell and the empty string are both written as nothing (`a,,b`),
//     so both read back as undefined;
//   - a record whose only field is empty is written as `""`, not as a blank line, so
//     that readers that drop blank lines (Python's DictReader, pandas) keep the row; it
//     reads back as one empty-string field;
//   - a record with no fields is written as a blank line, which reads back as one
//     undefined field.
// The first field of the output is quoted when it begins with a UTF-8 byte order mark,
// so the Reader does not take the mark for one.
//
// Errors: the sink reports failures by throwing; the exception propagates out of the
// call that invoked the sink (EndRecord, WriteRecord or Flush). The destructor flushes
// and swallows sink exceptions, so call Flush() yourself when failures matter.
//
// Thread safety: a Writer is not thread-safe; use one per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <type_traits>

#include "csv/csv_reader.h"

namespace taskmill::csv {

enum class LineEnding : uint8_t { kLf, kCrLf };

struct WriterOptions {
  // What ends each record. Default: LF.
  LineEnding line_ending = LineEnding::kLf;

  // Also quote fields that begin or end with a space or a tab, for readers that trim
  // unquoted fields. Default: false.
  bool quote_edge_spaces = false;

  // Bytes collected before they are handed to the sink (checked at the end of each
  // record, so one piece can be larger by one record). Default: 64 KiB.
  size_t buffer_size = size_t{64} << 10;
};

class Writer {
 public:
  // Receives the formatted bytes, in order. May throw to report a failure.
  using Sink = std::function<void(std::string_view)>;

  explicit Writer(Sink sink, WriterOptions options = {});
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;
  ~Writer();  // flushes; exceptions from the sink are swallowed

  // Appends one field to the current record.
  void WriteField(std::string_view value);

  // Ends the current record; hands the buffer to the sink when it is full.
  void EndRecord();

  // Writes a whole record: any range whose elements convert to std::string_view
  // (std::vector<std::string>, std::span<const std::string_view>, ...) or are Fields.
  template <typename Range>
  void WriteRecord(const Range& fields) {
    for (const auto& field : fields) {
      if constexpr (std::is_same_v<std::decay_t<decltype(field)>, Field>) {
        WriteField(field.value);
      } else {
        WriteField(std::string_view(field));
      }
    }
    EndRecord();
  }
  void WriteRecord(std::initializer_list<std::string_view> fields) {
    WriteRecord<std::initializer_list<std::string_view>>(fields);
  }

  // Hands everything buffered to the sink, including a record not yet ended.
  void Flush();

  // Records ended so far.
  int64_t records_written() const { return records_written_; }

 private:
  void Reserve(size_t extra);  // makes room for `extra` more bytes in the buffer
  void Append(std::string_view bytes) {
    if (bytes.empty()) return;  // data() may be null, which memcpy does not allow
    Reserve(bytes.size());
    std::memcpy(buffer_.get() + size_, bytes.data(), bytes.size());
    size_ += bytes.size();
  }
  void AppendQuoted(std::string_view value);

  Sink sink_;
  WriterOptions options_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t size_ = 0;
  size_t fields_in_record_ = 0;
  bool last_field_empty_ = false;
  int64_t records_written_ = 0;
};

}  // namespace taskmill::csv
