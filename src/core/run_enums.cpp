#include <taskmill/run_enums.h>

namespace taskmill {
namespace {

// The value of `T` whose string form is `text`, trying each up to `last`.
template <typename T>
std::optional<T> ParseEnum(std::string_view text, T last) {
  for (int i = 0; i <= static_cast<int>(last); ++i) {
    if (ToString(static_cast<T>(i)) == text) return static_cast<T>(i);
  }
  return std::nullopt;
}

}  // namespace

std::optional<ErrorKind> ParseErrorKind(std::string_view text) {
  return ParseEnum(text, ErrorKind::kInternal);
}

std::optional<Misfire> ParseMisfire(std::string_view text) {
  return ParseEnum(text, Misfire::kRunAll);
}

std::optional<Overlap> ParseOverlap(std::string_view text) {
  return ParseEnum(text, Overlap::kAllow);
}

}  // namespace taskmill
