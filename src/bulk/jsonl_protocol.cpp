#include "bulk/jsonl_protocol.h"

#include <boost/json.hpp>

#include "bulk/bulk_layout.h"
#include "runner/subprocess.h"

namespace taskmill::bulk {
namespace json = boost::json;

namespace {

// JSON string escaping by hand: a request per row is the co-process path's hot loop,
// and building a json::object per row would cost more than the escaping itself.
// Bytes that are not UTF-8 become U+FFFD so that any JSON parser accepts the line.
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  bool ascii = true;
  for (unsigned char c : s) {
    if (c >= 0x80) {
      ascii = false;
      break;
    }
  }
  std::string sanitized;
  if (!ascii) {
    AppendSanitizedUtf8(s, s.size() * 3, /*input_may_continue=*/false, sanitized);
    s = sanitized;
  }
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendState(std::string& out, const json::value* state) {
  if (!state) return;
  out += ",\"state\":";
  out += json::serialize(*state);
}

Status Protocol(std::string message) { return Status::InvalidArgument(std::move(message)); }

bool CellText(const json::value& v, std::string* out) { return ScalarText(v, out); }

Result<BulkResult::Row> RowOf(const json::value& v, std::string_view key) {
  if (!v.is_array()) return Protocol("\"" + std::string(key) + "\" must be an array of cells");
  BulkResult::Row row;
  row.reserve(v.get_array().size());
  for (const auto& cell : v.get_array()) {
    std::string text;
    if (!CellText(cell, &text)) {
      return Protocol("a cell of \"" + std::string(key) +
                      "\" is an object or array; cells are strings, numbers, booleans or null");
    }
    row.push_back(std::move(text));
  }
  return row;
}

}  // namespace

void AppendRowRequest(std::string& out, const BulkRow& row, const json::value* state) {
  out += "{\"row\":{";
  for (size_t i = 0; i < row.size(); ++i) {
    if (i) out.push_back(',');
    AppendJsonString(out, row.name(i));
    out.push_back(':');
    if (row.cell(i).defined) {
      AppendJsonString(out, row.cell(i).value);
    } else {
      out += "null";
    }
  }
  out += "},\"line\":";
  out += std::to_string(row.line());
  AppendState(out, state);
  out += "}\n";
}

void AppendIterateRequest(std::string& out, const json::value* state) {
  out += "{\"row\":null";
  AppendState(out, state);
  out += "}\n";
}

void AppendFinishRequest(std::string& out, const Progress& progress, const json::value* state) {
  out += "{\"finish\":true,\"progress\":{\"total\":" + std::to_string(progress.total) +
         ",\"succeeded\":" + std::to_string(progress.succeeded) +
         ",\"failed\":" + std::to_string(progress.failed) + "}";
  AppendState(out, state);
  out += "}\n";
}

Result<BulkResult> ParseAnswer(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  boost::system::error_code ec;
  json::value v = json::parse(line, ec);
  if (ec) return Protocol("the answer is not JSON (" + ec.message() + ")");
  if (v.is_string()) {
    if (v.get_string() == "ok") return BulkResult::Ok();
    if (v.get_string() == "stop") return BulkResult::Stop();
    return Protocol("a string answer must be \"ok\" or \"stop\"");
  }
  if (!v.is_object()) return Protocol("the answer must be an object, \"ok\" or \"stop\"");
  const json::object& o = v.get_object();
  std::optional<BulkResult> result;
  std::string action;
  for (const auto& kv : o) {
    std::string_view key = kv.key();
    if (key == "state") continue;
    if (key != "ok" && key != "stop" && key != "error" && key != "row" && key != "rows" &&
        key != "merge" && key != "file") {
      return Protocol("unknown key \"" + std::string(key) +
                      "\"; an answer has one of ok, stop, error, row, rows, merge, file, and "
                      "optionally state");
    }
    if (!action.empty()) {
      return Protocol("the answer has both \"" + action + "\" and \"" + std::string(key) +
                      "\"; give one");
    }
    action = key;
    const json::value& value = kv.value();
    if (key == "ok" || key == "stop") {
      if (!value.is_bool() || !value.get_bool()) {
        return Protocol("\"" + action + "\" must be true");
      }
      result = key == "ok" ? BulkResult::Ok() : BulkResult::Stop();
    } else if (key == "error" || key == "file") {
      if (!value.is_string() || value.get_string().empty()) {
        return Protocol("\"" + action + "\" must be a non-empty string");
      }
      std::string text(value.get_string());
      result =
          key == "error" ? BulkResult::Error(std::move(text)) : BulkResult::File(std::move(text));
    } else if (key == "row") {
      auto row = RowOf(value, "row");
      if (!row.ok()) return row.status();
      result = BulkResult::WriteRow(std::move(*row));
    } else if (key == "rows") {
      if (!value.is_array()) return Protocol("\"rows\" must be an array of rows");
      std::vector<BulkResult::Row> rows;
      for (const auto& item : value.get_array()) {
        auto row = RowOf(item, "rows");
        if (!row.ok()) return row.status();
        rows.push_back(std::move(*row));
      }
      result = BulkResult::WriteRows(std::move(rows));
    } else {  // merge
      if (!value.is_object()) return Protocol("\"merge\" must be an object of columns");
      std::vector<std::pair<std::string, std::string>> columns;
      for (const auto& column : value.get_object()) {
        std::string text;
        if (!CellText(column.value(), &text)) {
          return Protocol("\"merge\"." + std::string(column.key()) +
                          " is an object or array; values are strings, numbers, booleans or "
                          "null");
        }
        columns.emplace_back(column.key(), std::move(text));
      }
      result = BulkResult::Merge(std::move(columns));
    }
  }
  if (!result) result = BulkResult::Ok();  // {"state": ...} alone
  if (auto* state = o.if_contains("state")) result->WithState(*state);
  return std::move(*result);
}

}  // namespace taskmill::bulk
