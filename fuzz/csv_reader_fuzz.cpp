// Fuzzes the CSV reader: any bytes either parse into records or fail with an error
// naming a line; never a crash, a hang or a read out of bounds. The input is read both
// in place and through a source that hands it over in small pieces, so the refill
// path (a field or record split across buffers) is exercised too.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "csv/csv_reader.h"

namespace {

size_t Drain(taskmill::csv::Reader& reader) {
  size_t cells = 0;
  while (reader.Advance()) cells += reader.record().fields.size();
  return cells;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto in_place = taskmill::csv::Reader::FromString(text);
  size_t a = Drain(in_place);

  size_t offset = 0;
  taskmill::csv::Reader pieces([&](char* buf, size_t cap) {
    size_t n = std::min({cap, size - offset, size_t{7}});
    std::memcpy(buf, text.data() + offset, n);
    offset += n;
    return n;
  });
  size_t b = Drain(pieces);
  // The same bytes are the same records and the same verdict, however they arrive.
  if (a != b || in_place.status().ok() != pieces.status().ok()) __builtin_trap();
  return 0;
}
