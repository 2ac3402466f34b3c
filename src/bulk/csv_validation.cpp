#include "bulk/csv_validation.h"

#include <algorithm>
#include <boost/json.hpp>
#include <map>

#include "bulk/bulk_layout.h"

namespace taskmill::bulk {
namespace json = boost::json;

namespace {

class Collector {
 public:
  Collector(CsvCheck& check, size_t max) : check_(check), max_(max) {}
  void Add(int64_t line, std::optional<int64_t> column, std::string message) {
    ++check_.problem_count;
    if (check_.problems.size() < max_) {
      check_.problems.push_back({line, column, std::move(message)});
    }
  }
  void RecordTooLarge(const Status& status) { check_.record_too_large = status; }

 private:
  CsvCheck& check_;
  size_t max_;
};

// "line 7: unterminated ..." → "unterminated ...": the line is reported separately.
std::string WithoutLinePrefix(const std::string& message) {
  if (message.starts_with("line ")) {
    auto colon = message.find(": ");
    if (colon != std::string::npos) return message.substr(colon + 2);
  }
  return message;
}

void AddReaderError(Collector& out, const Status& status) {
  int64_t line = 0;
  std::optional<int64_t> column;
  if (status.details().is_object()) {
    const auto& d = status.details().get_object();
    if (auto* l = d.if_contains("line"); l && l->is_int64()) line = l->get_int64();
    if (auto* c = d.if_contains("column"); c && c->is_int64()) column = c->get_int64();
    if (d.contains("max_record_size")) out.RecordTooLarge(status);
  }
  out.Add(line, column, WithoutLinePrefix(status.message()));
}

std::string ColumnsHint(const std::vector<std::string>& mandatory,
                        const std::vector<std::string>& optional) {
  std::string hint = "mandatory: " + (mandatory.empty() ? "none" : JoinNames(mandatory));
  if (!optional.empty()) hint += "; optional: " + JoinNames(optional);
  return hint;
}

}  // namespace

CsvCheck CheckCsv(csv::Reader& reader, const std::vector<std::string>& mandatory,
                  const std::vector<std::string>& optional, size_t max_problems) {
  CsvCheck check;
  Collector out(check, max_problems);

  auto first = reader.Next();
  if (!first.ok()) {
    AddReaderError(out, first.status());
    return check;
  }
  if (!*first) {
    out.Add(1, std::nullopt,
            "the file is empty; expected a header line naming the columns (" +
                ColumnsHint(mandatory, optional) + ")");
    return check;
  }

  // ---- header
  const csv::Record& header_record = reader.record();
  const int64_t header_line = header_record.line;
  std::map<std::string, size_t, std::less<>> first_cell;  // name → 1-based cell
  for (size_t i = 0; i < header_record.fields.size(); ++i) {
    std::string name(header_record.fields[i].value);
    check.header.push_back(name);
    auto cell = static_cast<int64_t>(i + 1);
    if (name.empty()) {
      out.Add(header_line, cell,
              "header cell " + std::to_string(cell) + " is empty; every column needs a name");
      continue;
    }
    auto [it, inserted] = first_cell.emplace(name, i + 1);
    if (!inserted) {
      out.Add(header_line, cell,
              "column '" + name + "' appears twice in the header (cells " +
                  std::to_string(it->second) + " and " + std::to_string(cell) + ")");
    }
  }
  std::vector<std::string> missing;
  std::vector<size_t> mandatory_at;  // 0-based cells of the mandatory columns present
  std::vector<std::string> mandatory_names;
  for (const auto& column : mandatory) {
    auto it = first_cell.find(column);
    if (it == first_cell.end()) {
      missing.push_back(column);
    } else {
      mandatory_at.push_back(it->second - 1);
      mandatory_names.push_back(column);
    }
  }
  if (!missing.empty()) {
    out.Add(header_line, std::nullopt,
            "the header lacks the mandatory column" + std::string(missing.size() > 1 ? "s " : " ") +
                JoinNames(missing) + " (" + ColumnsHint(mandatory, optional) + ")");
  }

  // ---- rows
  const size_t width = check.header.size();
  std::vector<std::string> empty;
  for (;;) {
    auto more = reader.Next();
    if (!more.ok()) {
      AddReaderError(out, more.status());
      return check;
    }
    if (!*more) break;
    ++check.rows;
    const csv::Record& record = reader.record();
    if (record.fields.size() != width) {
      out.Add(record.line, std::nullopt,
              "the row has " + std::to_string(record.fields.size()) + " cell" +
                  (record.fields.size() == 1 ? "" : "s") + "; the header has " +
                  std::to_string(width));
      continue;
    }
    empty.clear();
    std::optional<int64_t> first_empty;
    for (size_t k = 0; k < mandatory_at.size(); ++k) {
      if (record.fields[mandatory_at[k]].value.empty()) {
        empty.push_back(mandatory_names[k]);
        if (!first_empty) first_empty = static_cast<int64_t>(mandatory_at[k] + 1);
      }
    }
    if (!empty.empty()) {
      out.Add(record.line, first_empty,
              "no value in the mandatory column" + std::string(empty.size() > 1 ? "s " : " ") +
                  JoinNames(empty));
    }
  }
  if (check.rows == 0) {
    out.Add(header_line, std::nullopt,
            "the file has a header but no rows; at least one row is required");
  }
  return check;
}

Status CheckStatus(const CsvCheck& check, const std::string& what, const std::string& function) {
  std::string message = what + " is not a valid input for " + function + ":";
  json::array errors;
  for (const auto& p : check.problems) {
    message += "\nline " + std::to_string(p.line) + ": " + p.message;
    json::object e;
    e["line"] = p.line;
    if (p.column) e["column"] = *p.column;
    e["message"] = p.message;
    errors.push_back(std::move(e));
  }
  auto unlisted = check.problem_count - static_cast<int64_t>(check.problems.size());
  if (unlisted > 0) message += "\n... and " + std::to_string(unlisted) + " more problems";
  json::object details;
  if (!check.record_too_large) details["code"] = "invalid_csv";
  details["errors"] = std::move(errors);
  details["error_count"] = check.problem_count;
  if (check.record_too_large) {
    // A size limit, answered as every size limit is (413 too_large), not as a format
    // problem; the other problems found before it are listed all the same.
    if (const auto* d = check.record_too_large->details().if_object()) {
      if (const auto* max = d->if_contains("max_record_size")) details["max_record_size"] = *max;
    }
    return Status(StatusCode::kTooLarge, std::move(message), std::move(details));
  }
  return Status::InvalidArgument(std::move(message), std::move(details));
}

}  // namespace taskmill::bulk
