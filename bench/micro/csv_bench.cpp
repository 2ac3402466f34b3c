// bench/micro/csv_bench.cpp — throughput of the CSV reader and writer.
//
// Rows are short and 5 columns wide, as in a bulk run's input ("id,name,email,status,
// amount"); a second data set quotes fields with commas, doubled quotes and line
// breaks. Items are rows. Run with, e.g.:
//   taskmill_micro_bench --benchmark_filter=Csv --benchmark_repetitions=5
//       --benchmark_report_aggregates_only=true
// The medians are recorded in docs/csv.md ("Performance").
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "csv/csv_reader.h"
#include "csv/csv_writer.h"

namespace taskmill::csv {
namespace {

constexpr int kRows = 100000;

// "100042,Alice Smith,alice42@example.com,active,1234.56\n" and the like.
const std::string& ShortRows() {
  static const std::string text = [] {
    static const char* const kNames[] = {"Alice Smith", "Bob Jones", "Carol White", "Dan Brown"};
    static const char* const kStatuses[] = {"active", "suspended", "new"};
    std::string out;
    for (int i = 0; i < kRows; ++i) {
      out += std::to_string(100000 + i) + ',' + kNames[i % 4] + ",user" + std::to_string(i) +
             "@example.com," + kStatuses[i % 3] + ',' + std::to_string(i % 10000) + "." +
             std::to_string(10 + i % 90) + '\n';
    }
    return out;
  }();
  return text;
}

// Every other field quoted; some hold commas, doubled quotes or a line break.
const std::string& QuotedRows() {
  static const std::string text = [] {
    std::string out;
    for (int i = 0; i < kRows; ++i) {
      out += std::to_string(i) + ",\"Smith, Alice\"," + "\"said \"\"hi\"\"\"," +
             (i % 10 == 0 ? "\"two\nlines\"" : "plain") + ",\"" + std::to_string(i % 977) +
             "\"\r\n";
    }
    return out;
  }();
  return text;
}

// Reads every record of `reader`, touching each field; returns the number of records.
int64_t Drain(Reader& reader) {
  int64_t records = 0;
  size_t bytes = 0;
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok() || !*more) break;
    for (const Field& field : reader.record().fields) bytes += field.value.size();
    ++records;
  }
  benchmark::DoNotOptimize(bytes);
  return records;
}

void ReadFromString(benchmark::State& state, const std::string& text) {
  int64_t rows = 0;
  for (auto _ : state) {
    Reader reader = Reader::FromString(text);
    rows += Drain(reader);
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}

void BM_CsvReadShortRowsFromString(benchmark::State& state) { ReadFromString(state, ShortRows()); }
BENCHMARK(BM_CsvReadShortRowsFromString)->Unit(benchmark::kMillisecond);

void BM_CsvReadQuotedRowsFromString(benchmark::State& state) {
  ReadFromString(state, QuotedRows());
}
BENCHMARK(BM_CsvReadQuotedRowsFromString)->Unit(benchmark::kMillisecond);

// Through a Source that copies 64 KiB pieces, as a file or socket would deliver them.
void BM_CsvReadShortRowsFromSource(benchmark::State& state) {
  const std::string& text = ShortRows();
  int64_t rows = 0;
  for (auto _ : state) {
    size_t offset = 0;
    Reader reader([&](char* buf, size_t cap) {
      const size_t size = std::min({cap, size_t{64} << 10, text.size() - offset});
      std::memcpy(buf, text.data() + offset, size);
      offset += size;
      return size;
    });
    rows += Drain(reader);
  }
  state.SetItemsProcessed(rows);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CsvReadShortRowsFromSource)->Unit(benchmark::kMillisecond);

// The fields of the short rows, ready to write.
std::vector<std::vector<std::string>> Table(const std::string& text) {
  std::vector<std::vector<std::string>> table;
  Reader reader = Reader::FromString(text);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok() || !*more) break;
    auto& row = table.emplace_back();
    for (const Field& field : reader.record().fields) row.emplace_back(field.value);
  }
  return table;
}

void Write(benchmark::State& state, const std::string& text) {
  const auto table = Table(text);
  size_t bytes = 0;
  for (auto _ : state) {
    Writer writer([&bytes](std::string_view piece) { bytes += piece.size(); });
    for (const auto& row : table) writer.WriteRecord(row);
    writer.Flush();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * table.size()));
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

void BM_CsvWriteShortRows(benchmark::State& state) { Write(state, ShortRows()); }
BENCHMARK(BM_CsvWriteShortRows)->Unit(benchmark::kMillisecond);

void BM_CsvWriteQuotedRows(benchmark::State& state) { Write(state, QuotedRows()); }
BENCHMARK(BM_CsvWriteQuotedRows)->Unit(benchmark::kMillisecond);

// Read each record and write it straight back out: the CSV part of a bulk run.
void BM_CsvReadWriteShortRows(benchmark::State& state) {
  const std::string& text = ShortRows();
  int64_t rows = 0;
  size_t bytes = 0;
  for (auto _ : state) {
    Reader reader = Reader::FromString(text);
    Writer writer([&bytes](std::string_view piece) { bytes += piece.size(); });
    for (;;) {
      Result<bool> more = reader.Next();
      if (!more.ok() || !*more) break;
      writer.WriteRecord(reader.record().fields);
      ++rows;
    }
    writer.Flush();
  }
  benchmark::DoNotOptimize(bytes);
  state.SetItemsProcessed(rows);
}
BENCHMARK(BM_CsvReadWriteShortRows)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace taskmill::csv
