#include "api/json_body.h"

#include <boost/beast/http/field.hpp>
#include <boost/json.hpp>
#include <boost/json/basic_parser_impl.hpp>
#include <cctype>
#include <cmath>
#include <unordered_set>
#include <vector>

#include "api/api_error.h"

namespace taskmill::api {
namespace json = boost::json;
namespace http = boost::beast::http;

namespace {

// Builds the value as boost::json's own parser does (value_stack), and refuses what
// that parser lets through: a key given twice in one object (which would silently
// keep the last) and a number beyond a double's range (which would become infinity,
// serialized as something that is not JSON). Keeps the path to the current value so
// that an error names the field ("args[0]", "retry.delay").
class StrictHandler {
 public:
  static constexpr size_t max_object_size = json::object::max_size();
  static constexpr size_t max_array_size = json::array::max_size();
  static constexpr size_t max_key_size = json::string::max_size();
  static constexpr size_t max_string_size = json::string::max_size();

  json::value_stack st;
  JsonProblem problem;  // set when a handler call refused the input

  bool on_document_begin(boost::system::error_code&) { return true; }
  bool on_document_end(boost::system::error_code&) { return true; }
  bool on_object_begin(boost::system::error_code&) {
    frames_.push_back(Frame{.object = true});
    return true;
  }
  bool on_object_end(size_t n, boost::system::error_code&) {
    frames_.pop_back();
    st.push_object(n);
    ValueDone();
    return true;
  }
  bool on_array_begin(boost::system::error_code&) {
    frames_.push_back(Frame{.object = false});
    return true;
  }
  bool on_array_end(size_t n, boost::system::error_code&) {
    frames_.pop_back();
    st.push_array(n);
    ValueDone();
    return true;
  }
  bool on_key_part(json::string_view s, size_t, boost::system::error_code&) {
    key_.append(s.data(), s.size());
    return true;
  }
  bool on_key(json::string_view s, size_t, boost::system::error_code& ec) {
    key_.append(s.data(), s.size());
    Frame& frame = frames_.back();
    if (!frame.Insert(key_)) {
      frame.key = key_;
      problem.kind = JsonProblem::Kind::kDuplicateKey;
      problem.field = Path();
      problem.message = "duplicate key \"" + key_ + "\"; give each key once";
      ec = json::make_error_code(json::error::syntax);
      return false;
    }
    frame.key = key_;
    st.push_key(key_);
    key_.clear();
    return true;
  }
  bool on_string_part(json::string_view s, size_t, boost::system::error_code&) {
    st.push_chars(s);
    return true;
  }
  bool on_string(json::string_view s, size_t, boost::system::error_code&) {
    st.push_string(s);
    ValueDone();
    return true;
  }
  bool on_number_part(json::string_view s, boost::system::error_code&) {
    number_.append(s.data(), s.size());
    return true;
  }
  bool on_int64(int64_t i, json::string_view, boost::system::error_code&) {
    number_.clear();
    st.push_int64(i);
    ValueDone();
    return true;
  }
  bool on_uint64(uint64_t u, json::string_view, boost::system::error_code&) {
    number_.clear();
    st.push_uint64(u);
    ValueDone();
    return true;
  }
  bool on_double(double d, json::string_view s, boost::system::error_code& ec) {
    number_.append(s.data(), s.size());
    if (!std::isfinite(d)) {
      if (number_.size() > 40) number_ = number_.substr(0, 37) + "...";
      problem.kind = JsonProblem::Kind::kNumberOutOfRange;
      problem.field = Path();
      problem.message = "the number " + number_ +
                        " is out of range: numbers must be within ±1.7976931348623157e308";
      ec = json::make_error_code(json::error::syntax);
      return false;
    }
    number_.clear();
    st.push_double(d);
    ValueDone();
    return true;
  }
  bool on_bool(bool b, boost::system::error_code&) {
    st.push_bool(b);
    ValueDone();
    return true;
  }
  bool on_null(boost::system::error_code&) {
    st.push_null();
    ValueDone();
    return true;
  }
  bool on_comment_part(json::string_view, boost::system::error_code&) { return true; }
  bool on_comment(json::string_view, boost::system::error_code&) { return true; }

 private:
  struct Frame {
    bool object = false;
    size_t index = 0;  // arrays: of the current element
    std::string key;   // objects: of the current member
    // Keys seen so far: a short list scanned in place, a set once the object is big.
    std::vector<std::string> few;
    std::unordered_set<std::string> many;

    bool Insert(const std::string& k) {
      constexpr size_t kFew = 16;
      if (many.empty()) {
        for (const auto& seen : few) {
          if (seen == k) return false;
        }
        if (few.size() < kFew) {
          few.push_back(k);
          return true;
        }
        many.insert(few.begin(), few.end());
        few.clear();
      }
      return many.insert(k).second;
    }
  };

  void ValueDone() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().index;
  }

  std::string Path() const {
    std::string path;
    for (const Frame& frame : frames_) {
      if (frame.object) {
        if (!path.empty()) path += '.';
        path += frame.key;
      } else {
        path += "[" + std::to_string(frame.index) + "]";
      }
    }
    return path;
  }

  std::vector<Frame> frames_;
  std::string key_;
  std::string number_;
};

void LineAndColumn(std::string_view text, size_t offset, JsonProblem* problem) {
  problem->offset = offset;
  problem->line = 1;
  problem->column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++problem->line;
      problem->column = 1;
    } else {
      ++problem->column;
    }
  }
}

}  // namespace

bool IsJsonContentType(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  constexpr std::string_view kJson = "application/json";
  if (type.size() != kJson.size()) return false;
  for (size_t i = 0; i < type.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(type[i])) != kJson[i]) return false;
  }
  return true;
}

std::optional<json::value> ParseStrictJson(std::string_view text, JsonProblem* problem) {
  json::basic_parser<StrictHandler> parser{json::parse_options{}};
  parser.handler().st.reset();
  boost::system::error_code ec;
  size_t consumed = parser.write_some(false, text.data(), text.size(), ec);
  if (!ec && consumed < text.size()) {
    // One JSON value followed by more text: point at the extra text.
    ec = json::make_error_code(json::error::extra_data);
  }
  if (ec) {
    *problem = parser.handler().problem;
    if (problem->kind == JsonProblem::Kind::kSyntax) problem->message = ec.message();
    LineAndColumn(text, consumed, problem);
    return std::nullopt;
  }
  return parser.handler().st.release();
}

Result<json::value> ParseJsonText(std::string_view text) {
  JsonProblem problem;
  auto value = ParseStrictJson(text, &problem);
  if (value) return std::move(*value);
  json::object details;
  details["offset"] = static_cast<int64_t>(problem.offset);
  details["line"] = static_cast<int64_t>(problem.line);
  details["column"] = static_cast<int64_t>(problem.column);
  std::string where =
      " at line " + std::to_string(problem.line) + ", column " + std::to_string(problem.column);
  switch (problem.kind) {
    case JsonProblem::Kind::kSyntax:
      return ApiStatus(StatusCode::kInvalidArgument, "malformed_json",
                       "request body is not valid JSON: " + problem.message + where,
                       std::move(details));
    case JsonProblem::Kind::kDuplicateKey:
      details["field"] = problem.field;
      return ApiStatus(StatusCode::kInvalidArgument, "duplicate_key",
                       problem.field + ": " + problem.message + where, std::move(details));
    case JsonProblem::Kind::kNumberOutOfRange:
      // A well-formed body with a value the API cannot hold: 422 naming the field.
      details["field"] = problem.field;
      return Status::InvalidArgument(problem.field + ": " + problem.message + where,
                                     std::move(details));
  }
  return Status::Internal("unreachable");
}

Result<std::optional<json::value>> ParseJsonBody(const Request& request, bool optional) {
  const std::string& body = request.body();
  auto content_type = request[http::field::content_type];
  if (body.empty()) {
    if (optional) return std::optional<json::value>();
    json::object details;
    details["offset"] = 0;
    details["line"] = 1;
    details["column"] = 1;
    return ApiStatus(StatusCode::kInvalidArgument, "malformed_json",
                     "the request body is empty; this route takes a JSON object "
                     "(Content-Type: application/json)",
                     std::move(details));
  }
  if (!IsJsonContentType(std::string_view(content_type.data(), content_type.size()))) {
    json::object details;
    details["content_type"] = std::string_view(content_type.data(), content_type.size());
    details["accepted"] = "application/json";
    std::string got = content_type.empty() ? std::string("no Content-Type")
                                           : "Content-Type '" + std::string(content_type) + "'";
    return ApiStatus(StatusCode::kInvalidArgument, "unsupported_media_type",
                     "this route takes a JSON body (Content-Type: application/json), got " + got,
                     std::move(details));
  }
  auto parsed = ParseJsonText(body);
  if (!parsed.ok()) return parsed.status();
  return std::optional<json::value>(std::move(*parsed));
}

}  // namespace taskmill::api
