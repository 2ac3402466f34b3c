// csv/csv_reader.cpp — see csv_reader.h.
//
// How it works: input sits in one buffer (or in the caller's string) and is never
// modified. Next() runs a three-state machine (field start, unquoted, quoted) over it,
// jumping between special bytes with FindUnquotedSpecial / FindQuotedSpecial. Fields
// are views into the buffer; the few quoted fields that hold doubled quotes are
// unescaped into a side string once the record is complete. When the buffer runs out
// in the middle of a record, the state is kept in members, the record is moved to the
// front of the buffer (field views are rebased), more input is read behind it, and
// parsing resumes where it stopped: every byte is scanned once, whatever the chunk
// sizes, and the result does not depend on how the source splits its input.
//
// Record-size rule, identical for every chunking: a record is too long as soon as it
// has a byte at index max_record_size or beyond; a format error at such a byte is
// reported as the size error, because the size limit is reached first.
#include "csv/csv_reader.h"

#include <algorithm>
#include <cstring>
#include <istream>

#include "csv/csv_scan.h"

namespace taskmill::csv {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";
constexpr std::string_view kQuoteInUnquoted =
    "quote in unquoted field at column {}; a field containing quotes must be quoted as a "
    "whole, with each quote doubled";

// "'x'" for a printable ASCII byte, "byte 0x0C" otherwise.
std::string DescribeByte(char c) {
  const auto byte = static_cast<unsigned char>(c);
  if (byte >= 0x20 && byte < 0x7F) return std::string("'") + c + "'";
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xF];
}

}  // namespace

Reader::Reader(Source source, ReaderOptions options)
    : options_(options), source_(std::move(source)) {
  options_.read_size = std::max<size_t>(options_.read_size, 1);
  capacity_ = options_.read_size;
  owned_ = std::make_unique<char[]>(capacity_);
  data_ = owned_.get();
}

Reader::Reader(std::istream& in, ReaderOptions options)
    : Reader(
          [&in](char* buf, size_t cap) -> size_t {
            in.read(buf, static_cast<std::streamsize>(cap));
            return static_cast<size_t>(in.gcount());
          },
          options) {
  stream_ = &in;
}

Reader::Reader(std::string_view text, ReaderOptions options) : options_(options) {
  data_ = text.data() != nullptr ? text.data() : "";
  end_ = text.size();
  eof_ = true;
}

Reader Reader::FromString(std::string_view text, ReaderOptions options) {
  return Reader(text, options);
}

Reader::Reader(Reader&&) noexcept = default;
Reader& Reader::operator=(Reader&&) noexcept = default;
Reader::~Reader() = default;

Result<bool> Reader::Next() {
  if (Advance()) return true;
  if (!status_.ok()) return status_;
  return false;
}

bool Reader::Advance() {
  if (!status_.ok()) return false;
  record_.fields.clear();
  escaped_fields_.clear();

  // Between records: skip the byte order mark and the LF of a CRLF split by a read.
  for (;;) {
    if (!bom_checked_) {
      if (end_ - pos_ < kBom.size() && !eof_) {
        if (!Refill()) return false;
        continue;
      }
      if (std::string_view(data_ + pos_, end_ - pos_).starts_with(kBom)) pos_ += kBom.size();
      bom_checked_ = true;
    }
    if (pos_ == end_) {
      if (eof_) return false;  // an empty last line is not a record
      if (!Refill()) return false;
      continue;
    }
    if (skip_lf_) {
      skip_lf_ = false;
      if (data_[pos_] == '\n') ++pos_;
      continue;
    }
    break;
  }

  record_start_ = pos_;
  record_.line = line_;
  record_.any_quoted = false;
  state_ = State::kFieldStart;
  in_record_ = true;
  for (;;) {
    switch (Parse()) {
      case Step::kDone:
        in_record_ = false;
        FinishRecord();
        return true;
      case Step::kError:
        in_record_ = false;
        return false;
      case Step::kNeedInput:
        if (!Refill()) return false;
        break;
    }
  }
}

Reader::Step Reader::Parse() {
  const char* const base = data_;
  const char* const end = base + end_;
  const char* p = base + pos_;
  const char* const record_begin = base + record_start_;
  const size_t max_size = options_.max_record_size;
  auto& fields = record_.fields;

  // Ends the record at the line break `at` (or at end of input when at == end).
  auto finish_at = [&](const char* at) -> Step {
    if (static_cast<size_t>(at - record_begin) > max_size) return FailTooLong();
    record_.text = std::string_view(record_begin, static_cast<size_t>(at - record_begin));
    if (at != end) {
      ++line_;
      if (*at == '\r') {
        if (at + 1 != end) {
          if (at[1] == '\n') ++at;
        } else if (!eof_) {
          skip_lf_ = true;
        }
      }
      ++at;
    }
    pos_ = static_cast<size_t>(at - base);
    return Step::kDone;
  };
  auto need_input = [&](const char* resume_at) -> Step {
    if (static_cast<size_t>(resume_at - record_begin) > max_size) return FailTooLong();
    pos_ = static_cast<size_t>(resume_at - base);
    return Step::kNeedInput;
  };

  State state = state_;
  for (;;) {
    if (state == State::kFieldStart) {
      // Unquoted fields, by far the most common, in a loop of their own that keeps no
      // state in members. A field that reaches the end of the buffer is left to the
      // general path below (more input, or the end of the input).
      while (p != end && *p != '"') {
        const char* special = internal::FindUnquotedSpecial(p, end);
        if (special == end) break;
        fields.push_back(Field{std::string_view(p, static_cast<size_t>(special - p)), false});
        if (*special != ',') {
          if (*special == '"') {
            return Fail(static_cast<size_t>(special - base), kQuoteInUnquoted,
                        static_cast<size_t>(special - base));
          }
          return finish_at(special);  // CR or LF
        }
        p = special + 1;
      }
      if (p == end && !eof_) {  // the next byte decides whether the field is quoted
        state_ = state;
        return need_input(p);
      }
      if (p != end && *p == '"') {
        ++p;
        field_start_ = static_cast<size_t>(p - base);
        field_escaped_ = false;
        state = State::kQuoted;
      } else {
        field_start_ = static_cast<size_t>(p - base);
        state = State::kUnquoted;
      }
    }

    if (state == State::kUnquoted) {
      const char* special = internal::FindUnquotedSpecial(p, end);
      if (special == end && !eof_) {
        state_ = state;
        return need_input(end);
      }
      const char* begin = base + field_start_;
      fields.push_back(Field{std::string_view(begin, static_cast<size_t>(special - begin)), false});
      if (special == end) return finish_at(end);
      if (*special == ',') {
        p = special + 1;
        state = State::kFieldStart;
        continue;
      }
      if (*special == '"') {
        return Fail(static_cast<size_t>(special - base), kQuoteInUnquoted,
                    static_cast<size_t>(special - base));
      }
      return finish_at(special);  // CR or LF
    }

    // kQuoted: p is inside the field's text.
    for (;;) {
      const char* special = internal::FindQuotedSpecial(p, end);
      if (special == end) {
        if (!eof_) {
          state_ = state;
          return need_input(end);
        }
        return Fail(static_cast<size_t>(end - base) - 1,  // the last byte of the record
                    "unterminated quoted field starting at column {}", field_start_ - 1);
      }
      if (*special != '"') {
        // A line break inside the field; CRLF counts once (special[-1] is in the field).
        if (*special == '\r' || special[-1] != '\r') ++line_;
        p = special + 1;
        continue;
      }
      if (special + 1 == end && !eof_) {  // need the byte after the quote to know its role
        state_ = state;
        return need_input(special);
      }
      if (special + 1 != end && special[1] == '"') {  // a doubled quote
        field_escaped_ = true;
        p = special + 2;
        continue;
      }
      // The closing quote.
      const char* begin = base + field_start_;
      if (field_escaped_) escaped_fields_.push_back(fields.size());
      fields.push_back(Field{std::string_view(begin, static_cast<size_t>(special - begin)), true});
      record_.any_quoted = true;
      const char* after = special + 1;
      if (after == end) return finish_at(end);
      if (*after == ',') {
        p = after + 1;
        state = State::kFieldStart;
        break;
      }
      if (*after == '\n' || *after == '\r') return finish_at(after);
      return Fail(static_cast<size_t>(after - base),
                  "unexpected " + DescribeByte(*after) +
                      " after closing quote at column {}; expected ',' or end of line",
                  static_cast<size_t>(after - base));
    }
  }
}

bool Reader::Refill() {
  if (owned_ == nullptr) {  // parsing a caller's string: everything is there already
    eof_ = true;
    return true;
  }
  // Keep the current record, or between records only what is not consumed yet.
  const size_t keep_from = in_record_ ? record_start_ : pos_;
  const size_t kept = end_ - keep_from;
  char* const old_base = owned_.get();
  char* new_base = old_base;
  std::unique_ptr<char[]> grown;
  if (kept > capacity_ / 2) {
    const size_t new_capacity = capacity_ * 2;
    grown = std::make_unique<char[]>(new_capacity);
    new_base = grown.get();
    capacity_ = new_capacity;
  }
  if (kept > 0 && (new_base != old_base || keep_from > 0)) {
    std::memmove(new_base, old_base + keep_from, kept);
  }
  for (Field& field : record_.fields) {  // rebase the views of the fields read so far
    const auto offset = static_cast<size_t>(field.value.data() - old_base) - keep_from;
    field.value = std::string_view(new_base + offset, field.value.size());
  }
  if (grown != nullptr) owned_ = std::move(grown);
  data_ = owned_.get();
  end_ = kept;
  pos_ -= keep_from;
  record_start_ -= std::min(record_start_, keep_from);
  field_start_ -= std::min(field_start_, keep_from);

  const size_t room = capacity_ - end_;
  const size_t got = source_(owned_.get() + end_, room);
  if (got > room) {
    status_ = Status::Internal("CSV source returned " + std::to_string(got) +
                               " bytes for a buffer of " + std::to_string(room));
    return false;
  }
  if (got == 0) {
    eof_ = true;
    if (stream_ != nullptr && stream_->bad()) {
      status_ = Status::Internal("reading the CSV input stream failed near line " +
                                 std::to_string(line_));
      return false;
    }
  }
  end_ += got;
  return true;
}

void Reader::FinishRecord() {
  if (escaped_fields_.empty()) return;
  size_t total = 0;
  for (size_t index : escaped_fields_) total += record_.fields[index].value.size();
  unescaped_.clear();
  unescaped_.reserve(total);  // no reallocation below, so earlier views stay valid
  for (size_t index : escaped_fields_) {
    std::string_view raw = record_.fields[index].value;
    const size_t start = unescaped_.size();
    while (!raw.empty()) {
      const size_t quote = raw.find('"');
      if (quote == std::string_view::npos) {
        unescaped_.append(raw);
        break;
      }
      unescaped_.append(raw.substr(0, quote + 1));
      raw.remove_prefix(quote + 2);  // skip the second quote of the pair
    }
    record_.fields[index].value =
        std::string_view(unescaped_.data() + start, unescaped_.size() - start);
  }
}

void Reader::Locate(size_t offset, int64_t* line, int64_t* column) const {
  int64_t at_line = record_.line;
  size_t line_start = record_start_;
  for (size_t i = record_start_; i < offset; ++i) {
    const char c = data_[i];
    if (c == '\r' || (c == '\n' && (i == record_start_ || data_[i - 1] != '\r'))) ++at_line;
    if (c == '\r' || c == '\n') line_start = i + 1;
  }
  int64_t chars = 0;
  for (size_t i = line_start; i < offset; ++i) {
    if ((static_cast<unsigned char>(data_[i]) & 0xC0) != 0x80) ++chars;  // not a continuation
  }
  *line = at_line;
  *column = chars + 1;
}

Reader::Step Reader::Fail(size_t at, std::string_view what, size_t column_at) {
  if (at - record_start_ >= options_.max_record_size) return FailTooLong();
  int64_t line = 0;
  int64_t column = 0;
  Locate(column_at, &line, &column);
  std::string message = "line " + std::to_string(line) + ": ";
  const size_t hole = what.find("{}");
  message.append(what.substr(0, hole));
  message.append(std::to_string(column));
  message.append(what.substr(hole + 2));
  status_ = Status::InvalidArgument(std::move(message),
                                    boost::json::object{{"line", line}, {"column", column}});
  return Step::kError;
}

Reader::Step Reader::FailTooLong() {
  status_ = Status::InvalidArgument(
      "line " + std::to_string(record_.line) + ": record longer than the maximum of " +
          std::to_string(options_.max_record_size) + " bytes (max_record_size)",
      boost::json::object{{"line", record_.line}, {"max_record_size", options_.max_record_size}});
  return Step::kError;
}

}  // namespace taskmill::csv
