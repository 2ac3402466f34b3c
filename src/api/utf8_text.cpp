#include "api/utf8_text.h"

#include <boost/json.hpp>

#include "api/api_error.h"
#include "runner/subprocess.h"

namespace taskmill::api {
namespace json = boost::json;

bool IsValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    auto byte = [&](size_t k) { return static_cast<unsigned char>(text[i + k]); };
    unsigned char lead = byte(0);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    if (lead < 0xC2 || lead > 0xF4) return false;
    size_t need = lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    if (i + need > text.size()) return false;
    // The second byte's range excludes overlong forms, surrogates and > U+10FFFF.
    unsigned char low = lead == 0xE0 ? 0xA0 : lead == 0xF0 ? 0x90 : 0x80;
    unsigned char high = lead == 0xED ? 0x9F : lead == 0xF4 ? 0x8F : 0xBF;
    if (byte(1) < low || byte(1) > high) return false;
    for (size_t k = 2; k < need; ++k) {
      if (byte(k) < 0x80 || byte(k) > 0xBF) return false;
    }
    i += need;
  }
  return true;
}

std::string ValidUtf8(std::string_view text) {
  std::string out;
  AppendSanitizedUtf8(text, text.size() * 3, /*input_may_continue=*/false, out);
  return out;
}

void MakeValidUtf8(json::value& value) {
  switch (value.kind()) {
    case json::kind::string: {
      std::string_view text(value.get_string().data(), value.get_string().size());
      if (!IsValidUtf8(text) || text.find('\0') != std::string_view::npos) {
        value = ValidUtf8(text);
      }
      break;
    }
    case json::kind::array:
      for (auto& item : value.get_array()) MakeValidUtf8(item);
      break;
    case json::kind::object: {
      json::object& object = value.get_object();
      bool bad_key = false;
      for (auto& kv : object) {
        MakeValidUtf8(kv.value());
        bad_key = bad_key || !IsValidUtf8(std::string_view(kv.key().data(), kv.key().size()));
      }
      if (bad_key) {
        json::object fixed;
        for (auto& kv : object) {
          fixed[ValidUtf8(std::string_view(kv.key().data(), kv.key().size()))] =
              std::move(kv.value());
        }
        object = std::move(fixed);
      }
      break;
    }
    default:
      break;
  }
}

Status CheckRequestText(std::string_view pattern, const std::vector<std::string>& path_params,
                        const boost::urls::url_view& url) {
  size_t capture = 0;
  size_t pos = 0;
  while ((pos = pattern.find('{', pos)) != std::string_view::npos && capture < path_params.size()) {
    size_t end = pattern.find('}', pos);
    if (end == std::string_view::npos) break;
    if (!IsValidUtf8(path_params[capture])) {
      std::string name(pattern.substr(pos + 1, end - pos - 1));
      json::object details;
      details["parameter"] = name;
      return Status::InvalidArgument(
          "path parameter '" + name + "': not valid UTF-8 text; percent-encode UTF-8 bytes only",
          std::move(details));
    }
    ++capture;
    pos = end + 1;
  }
  for (auto param : url.encoded_params()) {
    std::string key = param.key.decode();
    if (!IsValidUtf8(key)) {
      return ParameterError(ValidUtf8(key), "the parameter name is not valid UTF-8 text");
    }
    if (param.has_value && !IsValidUtf8(param.value.decode())) {
      return ParameterError(key, "not valid UTF-8 text; percent-encode UTF-8 bytes only");
    }
  }
  return Status::Ok();
}

}  // namespace taskmill::api
