// bulk/row_appender.h — appends CSV records straight into a byte buffer, with the
// rules of csv::Writer (csv/csv_writer.h): a field is quoted only when it holds ',',
// '"', CR or LF, quotes inside are doubled, records end with LF, a record made of one
// empty field is written as `""`, and the first field of the output is quoted when it
// begins with a UTF-8 byte order mark. row_appender_test.cpp checks that the bytes are
// those csv::Writer writes.
//
// Why not csv::Writer: the bulk row loop writes every output record into the chunk
// that goes to storage; the Writer's own buffer, per-field reserve calls and sink
// would copy every byte once more and cost a fifth of the loop. Not thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill::bulk {

class RowAppender {
 public:
  // Appends one record of `cells`, where plain[i] says that cells[i] is known to need
  // no quotes: a cell that was unquoted in a CSV read by csv::Reader cannot hold ',',
  // '"', CR or LF. Skipping the scan for those is most of the row loop's output cost.
  void Append(std::string& out, const std::vector<std::string_view>& cells,
              const std::vector<char>& plain) {
    for (size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out.push_back(',');
      if (plain[i] && !first_field_) {
        out.append(cells[i]);
      } else {
        AppendField(out, cells[i]);
      }
    }
    if (cells.size() == 1 && cells[0].empty()) out += "\"\"";
    out.push_back('\n');
  }

  // True until the first field is appended (it is quoted when it starts with a byte
  // order mark).
  bool at_start() const { return first_field_; }

  // Appends one record of `fields` (any range of string_view-convertible values).
  template <typename Range>
  void Append(std::string& out, const Range& fields) {
    size_t count = 0;
    bool last_empty = false;
    for (const auto& field : fields) {
      std::string_view value(field);
      if (count++ > 0) out.push_back(',');
      AppendField(out, value);
      last_empty = value.empty();
    }
    // A lone empty field would be a blank line, which readers drop.
    if (count == 1 && last_empty) out += "\"\"";
    out.push_back('\n');
  }

 private:
  static bool NeedsQuotes(std::string_view value) {
    static constexpr std::array<bool, 256> kSpecial = [] {
      std::array<bool, 256> t{};
      t[static_cast<unsigned char>(',')] = true;
      t[static_cast<unsigned char>('"')] = true;
      t[static_cast<unsigned char>('\r')] = true;
      t[static_cast<unsigned char>('\n')] = true;
      return t;
    }();
    for (unsigned char c : value) {
      if (kSpecial[c]) return true;
    }
    return false;
  }

  void AppendField(std::string& out, std::string_view value) {
    bool quote = NeedsQuotes(value);
    if (first_field_) {
      first_field_ = false;
      quote = quote || value.starts_with("\xEF\xBB\xBF");
    }
    if (!quote) {
      out.append(value);
      return;
    }
    out.push_back('"');
    for (char c : value) {
      if (c == '"') out.push_back('"');
      out.push_back(c);
    }
    out.push_back('"');
  }

  bool first_field_ = true;  // the next field is the first of the output
};

}  // namespace taskmill::bulk
