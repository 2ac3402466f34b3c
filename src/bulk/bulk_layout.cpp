#include "bulk/bulk_layout.h"

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>

namespace taskmill {
namespace json = boost::json;

BulkLayout::BulkLayout(std::vector<std::string> header, const std::vector<std::string>& optional)
    : header_(std::move(header)) {
  for (const auto& column : optional) {
    if (std::find(header_.begin(), header_.end(), column) == header_.end()) {
      absent_optional_.push_back(column);
    }
  }
}

// Headers are short (a handful of columns), so a linear scan that compares lengths
// first beats hashing, and it needs no allocation per lookup.
int BulkLayout::Find(std::string_view column) const {
  for (size_t i = 0; i < header_.size(); ++i) {
    if (header_[i].size() == column.size() && header_[i] == column) return static_cast<int>(i);
  }
  return -1;
}

std::optional<std::string_view> BulkRow::Get(std::string_view column) const {
  int i = layout_->Find(column);
  if (i < 0 || static_cast<size_t>(i) >= cells_.size() || !cells_[i].defined) return std::nullopt;
  return cells_[i].value;
}

std::string_view BulkRow::GetOr(std::string_view column, std::string_view fallback) const {
  auto value = Get(column);
  return value ? *value : fallback;
}

std::string_view BulkRow::name(size_t i) const { return layout_->header()[i]; }

json::object BulkRow::ToJson() const {
  json::object out;
  out.reserve(cells_.size() + layout_->absent_optional().size());
  for (size_t i = 0; i < cells_.size() && i < layout_->size(); ++i) {
    if (cells_[i].defined) {
      out[layout_->header()[i]] = json::string(cells_[i].value);
    } else {
      out[layout_->header()[i]] = nullptr;
    }
  }
  for (const auto& column : layout_->absent_optional()) out[column] = nullptr;
  return out;
}

BulkResult BulkResult::Error(std::string message) {
  BulkResult r(Kind::kError);
  r.text_ = std::move(message);
  return r;
}

BulkResult BulkResult::WriteRow(Row row) {
  BulkResult r(Kind::kRows);
  r.rows_.push_back(std::move(row));
  return r;
}

BulkResult BulkResult::WriteRows(std::vector<Row> rows) {
  BulkResult r(Kind::kRows);
  r.rows_ = std::move(rows);
  return r;
}

BulkResult BulkResult::Merge(std::vector<std::pair<std::string, std::string>> columns) {
  BulkResult r(Kind::kMerge);
  r.columns_ = std::move(columns);
  return r;
}

BulkResult BulkResult::File(std::string path) {
  BulkResult r(Kind::kFile);
  r.text_ = std::move(path);
  return r;
}

BulkResult BulkResult::Retry(std::string message) {
  BulkResult r(Kind::kRetry);
  r.text_ = std::move(message);
  return r;
}

BulkResult& BulkResult::WithState(json::value state) & {
  state_ = std::move(state);
  return *this;
}

BulkResult&& BulkResult::WithState(json::value state) && {
  state_ = std::move(state);
  return std::move(*this);
}

namespace bulk {

std::vector<std::string> OutputHeader(const std::vector<std::string>& input,
                                      const std::vector<std::string>& extras,
                                      const std::vector<std::string>& replacement) {
  std::vector<std::string> out;
  if (!replacement.empty()) {
    out = replacement;
  } else {
    out = input;
    for (const auto& extra : extras) {
      if (std::find(out.begin(), out.end(), extra) == out.end()) out.push_back(extra);
    }
  }
  // Failed rows must be able to say why, whatever header the function chose.
  if (std::find(out.begin(), out.end(), "error") == out.end()) out.emplace_back("error");
  return out;
}

bool ScalarText(const json::value& value, std::string* out) {
  switch (value.kind()) {
    case json::kind::string:
      *out = value.get_string();
      return true;
    case json::kind::int64:
      *out = std::to_string(value.get_int64());
      return true;
    case json::kind::uint64:
      *out = std::to_string(value.get_uint64());
      return true;
    case json::kind::double_: {
      char buffer[32];
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, value.get_double());
      out->assign(buffer, ec == std::errc() ? end : buffer);
      return true;
    }
    case json::kind::bool_:
      *out = value.get_bool() ? "true" : "false";
      return true;
    case json::kind::null:
      out->clear();
      return true;
    default:
      return false;
  }
}

std::string JoinNames(const std::vector<std::string>& names, std::string_view separator) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += separator;
    out += name;
  }
  return out;
}

}  // namespace bulk
}  // namespace taskmill
