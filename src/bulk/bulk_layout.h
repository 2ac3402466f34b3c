// bulk/bulk_layout.h — the column layouts of a bulk attempt: the input (header names
// plus the declared optional columns the file lacks) and the output header, each with
// name lookup. Built once per attempt, read-only afterwards, so rows of any thread may
// share one.
#pragma once

#include <taskmill/bulk.h>

#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace taskmill {

class BulkLayout {
 public:
  BulkLayout() = default;
  // `header`: the file's columns in order; `optional`: the function's optional
  // columns (those missing from `header` are kept as absent_optional()).
  BulkLayout(std::vector<std::string> header, const std::vector<std::string>& optional);

  const std::vector<std::string>& header() const { return header_; }
  const std::vector<std::string>& absent_optional() const { return absent_optional_; }
  size_t size() const { return header_.size(); }
  // Position of `column` in the header; -1 when it is not there.
  int Find(std::string_view column) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::string> absent_optional_;
};

namespace bulk {

// The output header of a function for an input header (empty for no-input
// functions): `replacement` if given, else input + extras; plus "error" when absent.
std::vector<std::string> OutputHeader(const std::vector<std::string>& input,
                                      const std::vector<std::string>& extras,
                                      const std::vector<std::string>& replacement);

// "a, b and c" style lists used in messages: "e164, state".
std::string JoinNames(const std::vector<std::string>& names, std::string_view separator = ", ");

// The text of a JSON scalar as a CSV cell: strings as they are, integers in decimal,
// other numbers in their shortest round-trip form ("2.5", as JavaScript and Python
// print them, not Boost.JSON's "2.5E0"), booleans as true/false, null as "".
// False for objects and arrays.
bool ScalarText(const boost::json::value& value, std::string* out);

}  // namespace bulk
}  // namespace taskmill
