// csv/csv_reader.h — a streaming RFC 4180 CSV reader.
//
// A Reader pulls bytes from a source (a function, an std::istream, or a whole string)
// and yields one record at a time. A record is a list of fields; each field is a view
// of its unescaped text plus whether it was written in quotes, which is how an
// unquoted empty cell ("undefined", `a,,b`) differs from a quoted empty one (the
// empty string, `a,"",b`). Every record knows the physical line it starts on, so
// errors and validation messages can name it even after multi-line quoted fields.
//
// Format rules (the user-facing version is docs/csv.md):
//   - fields are separated by ','; records end with CRLF, LF or a lone CR;
//   - a field that starts with '"' is quoted: it ends at the next lone '"', may hold
//     ',', line breaks (kept verbatim) and doubled quotes ("" stands for ");
//   - a '"' inside an unquoted field, or anything but ',' or a line end after a closing
//     quote, is an error; so is a quoted field still open at the end of the input;
//   - a UTF-8 byte order mark at the very start is skipped;
//   - the last record may lack its line break; an empty last line is not a record;
//   - a blank line in between is a record with one undefined field (the bulk layer
//     rejects it as a ragged row when the header has more than one column);
//   - no trimming: spaces are part of the field.
//
// Memory: the reader keeps one buffer that holds at least the current record; a record
// longer than ReaderOptions::max_record_size is an error, so memory stays bounded
// whatever the input. Parsing is iterative (no recursion) and never reads outside its
// buffer: any input yields records or a clean InvalidArgument error.
//
// Why hand-written: none of the CSV libraries packaged for Debian combines what the
// bulk runs need: pulling from a stream with memory bounded per record, the starting
// line of every record, the quoted/unquoted distinction, and ~10M short rows per
// second (libcsv pushes through callbacks and knows no lines; fast-cpp-csv-parser
// needs the column count at compile time and no line breaks inside quotes).
//
// Thread safety: a Reader is not thread-safe; use one per thread. The views in
// record() stay valid until the next call to Next() or until the Reader is moved or
// destroyed (for FromString(), views of fields without doubled quotes point into the
// caller's text).
#pragma once

#include <taskmill/status.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::csv {

// One cell of a record.
struct Field {
  std::string_view value;  // the text, with quotes removed and "" turned into "
  bool quoted = false;     // the cell was written in quotes

  // An unquoted empty cell: no value at all (as opposed to the empty string `""`).
  bool undefined() const { return !quoted && value.empty(); }
};

// One record (row). Reused by the Reader from one record to the next.
struct Record {
  int64_t line = 0;           // 1-based physical line of the record's first byte
  std::vector<Field> fields;  // at least one field; views valid until the next Next()
  // The record's bytes as they are in the input, without the line break that ends it
  // (valid until the next Next()). When no field is quoted they are exactly the
  // fields joined by ',', which lets a caller copy an unchanged record in one piece.
  std::string_view text;
  bool any_quoted = false;  // some field of the record was written in quotes
};

struct ReaderOptions {
  // Longest record accepted, in bytes of input: quotes, separators and line breaks
  // inside quoted fields count, the line break that ends the record does not. A longer
  // record is an InvalidArgument error naming its line.
  // Default: 1 MiB.
  size_t max_record_size = size_t{1} << 20;

  // Initial buffer size (0 counts as 1); the buffer doubles while one record fills more
  // than half of it. Default: 64 KiB.
  size_t read_size = size_t{64} << 10;
};

class Reader {
 public:
  // Fills buf with up to cap bytes (cap > 0) and returns how many; 0 means end of
  // input. May block. Exceptions thrown by a source propagate out of Next().
  using Source = std::function<size_t(char* buf, size_t cap)>;

  explicit Reader(Source source, ReaderOptions options = {});

  // Reads from `in`, which must outlive the Reader. A stream that goes bad (not merely
  // reaching end of file) makes Next() return an Internal error.
  explicit Reader(std::istream& in, ReaderOptions options = {});

  // Parses `text` in place, without copying it; `text` must outlive the Reader.
  static Reader FromString(std::string_view text, ReaderOptions options = {});

  Reader(Reader&&) noexcept;
  Reader& operator=(Reader&&) noexcept;
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;
  ~Reader();

  // Reads the next record into record(). Returns true when a record was read, false
  // at the end of the input, or an InvalidArgument error whose message names the line
  // and column ("line 7: unterminated quoted field starting at column 3") and whose
  // details hold {"line": L, "column": C} (column counts UTF-8 characters from 1).
  // Errors are final: every later call returns the same error.
  Result<bool> Next();

  // The same without building a Result per record (for loops over millions of rows):
  // true when a record was read; false at the end of the input or on an error, which
  // status() then holds (OK at the end).
  bool Advance();
  const Status& status() const { return status_; }

  // The record read by the last successful Next() that returned true.
  const Record& record() const { return record_; }

 private:
  Reader(std::string_view text, ReaderOptions options);

  enum class State : uint8_t { kFieldStart, kUnquoted, kQuoted };

  // Continues the current record from pos_. Returns kDone when the record is complete,
  // kNeedInput when it has consumed all buffered bytes, kError when status_ was set.
  enum class Step : uint8_t { kDone, kNeedInput, kError };
  Step Parse();
  // Reads more input behind the unconsumed bytes, moving the current record to the
  // front of the buffer (and growing it) as needed. Sets eof_ at the end of input.
  // Returns false when status_ was set.
  bool Refill();
  // Unescapes the quoted fields that contain doubled quotes into unescaped_.
  void FinishRecord();
  // Sets status_ to "line L: <what>" with the "{}" in `what` replaced by the column of
  // offset `column_at`, unless the byte at offset `at` lies beyond max_record_size, in
  // which case the record-size error wins. Returns kError.
  Step Fail(size_t at, std::string_view what, size_t column_at);
  Step FailTooLong();
  // The line and column (UTF-8 characters, from 1) of buffer offset `offset` inside the
  // current record.
  void Locate(size_t offset, int64_t* line, int64_t* column) const;

  ReaderOptions options_;
  Source source_;
  std::istream* stream_ = nullptr;  // set when reading an std::istream (to check bad())

  std::unique_ptr<char[]> owned_;  // the buffer, unless parsing a caller's string
  size_t capacity_ = 0;            // size of owned_
  const char* data_ = nullptr;     // owned_.get() or the caller's string
  size_t end_ = 0;                 // bytes of data_ that hold input
  bool eof_ = false;               // the source reported the end of input
  bool bom_checked_ = false;

  // Parser position; offsets into data_.
  size_t pos_ = 0;           // next byte to look at
  size_t record_start_ = 0;  // first byte of the current record
  size_t field_start_ = 0;   // first byte of the current field's text
  State state_ = State::kFieldStart;
  bool in_record_ = false;      // a record has started and is not finished
  bool skip_lf_ = false;        // the last record ended with CR: a following LF belongs to it
  bool field_escaped_ = false;  // the current quoted field holds a doubled quote
  int64_t line_ = 1;            // physical line of data_[pos_]

  Record record_;
  std::vector<size_t> escaped_fields_;  // indexes of fields holding doubled quotes
  std::string unescaped_;               // their unescaped text
  Status status_;
};

}  // namespace taskmill::csv
