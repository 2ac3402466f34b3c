// csv/csv_scan.h — finding CSV's special bytes fast; internal to src/csv/.
//
// FindFirstOf<'a', 'b', ...>(p, end) returns the first position in [p, end) holding
// one of the given bytes, or end. With SSE2 (every x86-64 CPU) it tests 16 bytes per
// step; elsewhere it falls back to a 256-entry table. It never reads outside
// [p, end). Pure functions: safe from any thread.
#pragma once

#include <array>
#include <cstddef>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace taskmill::csv::internal {

template <char... kBytes>
inline constexpr std::array<bool, 256> kByteTable = [] {
  std::array<bool, 256> table{};
  ((table[static_cast<unsigned char>(kBytes)] = true), ...);
  return table;
}();

#if defined(__SSE2__)
// 0xFF in each lane of `block` that equals one of the bytes, 0 elsewhere.
template <char kFirst, char... kRest>
inline __m128i MatchAny(__m128i block) {
  __m128i hits = _mm_cmpeq_epi8(block, _mm_set1_epi8(kFirst));
  if constexpr (sizeof...(kRest) > 0) hits = _mm_or_si128(hits, MatchAny<kRest...>(block));
  return hits;
}
#endif

template <char... kBytes>
inline const char* FindFirstOf(const char* p, const char* end) {
#if defined(__SSE2__)
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int mask = _mm_movemask_epi8(MatchAny<kBytes...>(block));
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  const auto& table = kByteTable<kBytes...>;
  while (p != end && !table[static_cast<unsigned char>(*p)]) ++p;
  return p;
}

// Bytes that end or break an unquoted field.
inline const char* FindUnquotedSpecial(const char* p, const char* end) {
  return FindFirstOf<',', '"', '\n', '\r'>(p, end);
}

// Bytes that matter inside a quoted field: the quote, and line breaks (for counting).
inline const char* FindQuotedSpecial(const char* p, const char* end) {
  return FindFirstOf<'"', '\n', '\r'>(p, end);
}

}  // namespace taskmill::csv::internal
