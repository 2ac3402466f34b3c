// csv/csv_writer.cpp — see csv_writer.h.
#include "csv/csv_writer.h"

#include <algorithm>
#include <utility>

#include "csv/csv_scan.h"

namespace taskmill::csv {
namespace {

constexpr std::string_view kBom = "\xEF\xBB\xBF";

bool IsEdgeSpace(char c) { return c == ' ' || c == '\t'; }

}  // namespace

Writer::Writer(Sink sink, WriterOptions options) : sink_(std::move(sink)), options_(options) {
  capacity_ = std::max<size_t>(options_.buffer_size, 1) + 256;  // room for the record that fills it
  buffer_ = std::make_unique<char[]>(capacity_);
}

Writer::~Writer() {
  try {
    Flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): documented; call Flush() to see failures
  }
}

void Writer::WriteField(std::string_view value) {
  if (fields_in_record_ > 0) {
    Reserve(1);
    buffer_[size_++] = ',';
  }
  ++fields_in_record_;
  last_field_empty_ = value.empty();
  const char* end = value.data() + value.size();
  bool quote = internal::FindUnquotedSpecial(value.data(), end) != end;
  if (!quote && options_.quote_edge_spaces && !value.empty()) {
    quote = IsEdgeSpace(value.front()) || IsEdgeSpace(value.back());
  }
  if (!quote && records_written_ == 0 && fields_in_record_ == 1) {
    quote = value.starts_with(kBom);  // else a reader would skip it as a byte order mark
  }
  if (quote) {
    AppendQuoted(value);
  } else {
    Append(value);
  }
}

void Writer::EndRecord() {
  if (fields_in_record_ == 1 && last_field_empty_) Append("\"\"");  // not a blank line
  if (options_.line_ending == LineEnding::kCrLf) {
    Append("\r\n");
  } else {
    Reserve(1);
    buffer_[size_++] = '\n';
  }
  fields_in_record_ = 0;
  ++records_written_;
  if (size_ >= options_.buffer_size) Flush();
}

void Writer::Flush() {
  if (size_ == 0) return;
  const size_t size = size_;
  size_ = 0;  // handed over: a sink that throws has lost these bytes, not the next ones
  sink_(std::string_view(buffer_.get(), size));
}

void Writer::Reserve(size_t extra) {
  if (capacity_ - size_ >= extra) return;
  const size_t new_capacity = std::max(capacity_ * 2, size_ + extra);
  auto grown = std::make_unique<char[]>(new_capacity);
  std::memcpy(grown.get(), buffer_.get(), size_);
  buffer_ = std::move(grown);
  capacity_ = new_capacity;
}

void Writer::AppendQuoted(std::string_view value) {
  Reserve(value.size() * 2 + 2);  // every byte a quote, at worst
  char* out = buffer_.get() + size_;
  *out++ = '"';
  while (!value.empty()) {
    const size_t quote = value.find('"');
    const size_t take = quote == std::string_view::npos ? value.size() : quote + 1;
    std::memcpy(out, value.data(), take);
    out += take;
    if (quote != std::string_view::npos) *out++ = '"';  // double it
    value.remove_prefix(take);
  }
  *out++ = '"';
  size_ = static_cast<size_t>(out - buffer_.get());
}

}  // namespace taskmill::csv
