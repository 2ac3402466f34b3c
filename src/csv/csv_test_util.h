// csv/csv_test_util.h — helpers shared by the CSV reader and writer tests.
//
// Render() turns everything a Reader yields into strings that tests compare: one
// string per record, "L:" (its line) then its fields joined by '|', where an undefined
// field is "~", a quoted field is shown in quotes ("x" or "" for the empty string) and
// an unquoted one as is; a final "error: <message>" entry holds the error, if any.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "csv/csv_reader.h"

namespace taskmill::csv::testing {

inline std::string RenderRecord(const Record& record) {
  std::string out = std::to_string(record.line) + ":";
  for (size_t i = 0; i < record.fields.size(); ++i) {
    const Field& field = record.fields[i];
    if (i > 0) out += '|';
    if (field.undefined()) {
      out += '~';
    } else if (field.quoted) {
      out += '"';
      out += field.value;
      out += '"';
    } else {
      out += field.value;
    }
  }
  return out;
}

inline std::vector<std::string> Render(Reader& reader) {
  std::vector<std::string> out;
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      out.push_back("error: " + more.status().message());
      return out;
    }
    if (!*more) return out;
    out.push_back(RenderRecord(reader.record()));
  }
}

// Parses all of `text` at once (FromString).
inline std::vector<std::string> ParseWhole(std::string_view text, ReaderOptions options = {}) {
  Reader reader = Reader::FromString(text, options);
  return Render(reader);
}

// A source that serves `text` in pieces whose sizes come from `next_size` (clamped to
// what the reader asks for and what is left).
inline Reader::Source ChunkedSource(std::string_view text, std::function<size_t()> next_size) {
  return
      [text, next_size = std::move(next_size), offset = size_t{0}](char* buf, size_t cap) mutable {
        const size_t size = std::min({next_size(), cap, text.size() - offset});
        std::copy_n(text.data() + offset, size, buf);
        offset += size;
        return size;
      };
}

// Parses `text` fed `chunk` bytes at a time into a reader with the given options.
inline std::vector<std::string> ParseChunked(std::string_view text, size_t chunk,
                                             ReaderOptions options = {}) {
  Reader reader(ChunkedSource(text, [chunk] { return chunk; }), options);
  return Render(reader);
}

// Parses `text` fed in random pieces of 1..max_chunk bytes.
inline std::vector<std::string> ParseRandomChunks(std::string_view text, size_t max_chunk,
                                                  uint32_t seed, ReaderOptions options = {}) {
  auto size_of = [rng = std::mt19937(seed), max_chunk]() mutable {
    return std::uniform_int_distribution<size_t>(1, max_chunk)(rng);
  };
  Reader reader(ChunkedSource(text, size_of), options);
  return Render(reader);
}

}  // namespace taskmill::csv::testing
