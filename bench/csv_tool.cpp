// bench/csv_tool.cpp — a small command around the CSV reader and writer, used by
// tests/csv_differential.py (comparison with Python's csv module) and for timing.
//
//   csv_tool [dump] [--lines] [--max-record-size N] [--read-size N]  < in.csv > out.json
//       Writes the records as a JSON array of arrays; an undefined (unquoted empty)
//       field is null, every other field a string. With --lines each record is an
//       object {"line": L, "fields": [...]}.
//   csv_tool rewrite [--crlf] [--quote-edge-spaces] [...]            < in.csv > out.csv
//       Reads the records and writes them again with the Writer.
//
// Exit status: 0 on success; 1 when the input is not valid CSV (the error, naming line
// and column, goes to stderr) or on an I/O error; 2 on bad usage. JSON strings carry
// the field's bytes as they are, so the JSON is valid when the input is UTF-8.
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "csv/csv_reader.h"
#include "csv/csv_writer.h"

namespace {

using taskmill::Result;
using taskmill::csv::Field;
using taskmill::csv::LineEnding;
using taskmill::csv::Reader;
using taskmill::csv::ReaderOptions;
using taskmill::csv::Writer;
using taskmill::csv::WriterOptions;

[[noreturn]] void Die(int code, std::string_view message) {
  std::fprintf(stderr, "csv_tool: %.*s\n", static_cast<int>(message.size()), message.data());
  std::exit(code);
}

size_t ReadStdin(char* buf, size_t cap) {
  for (;;) {
    const ssize_t got = ::read(STDIN_FILENO, buf, cap);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) Die(1, std::string("reading stdin: ") + std::strerror(errno));
  }
}

void WriteStdout(std::string_view bytes) {
  if (std::fwrite(bytes.data(), 1, bytes.size(), stdout) != bytes.size()) {
    Die(1, "writing stdout failed");
  }
}

void AppendJsonString(std::string_view value, std::string& out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  for (const char c : value) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (byte < 0x20) {
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

// Calls `on_record` for every record; exits with status 1 on a CSV error.
template <typename OnRecord>
void ForEachRecord(const ReaderOptions& options, OnRecord on_record) {
  Reader reader(ReadStdin, options);
  for (;;) {
    Result<bool> more = reader.Next();
    if (!more.ok()) {
      std::fflush(stdout);
      Die(1, more.status().message());
    }
    if (!*more) return;
    on_record(reader.record());
  }
}

void Dump(const ReaderOptions& options, bool with_lines) {
  std::string out = "[";
  bool first_record = true;
  ForEachRecord(options, [&](const taskmill::csv::Record& record) {
    out += first_record ? "\n" : ",\n";
    first_record = false;
    if (with_lines) out += "{\"line\": " + std::to_string(record.line) + ", \"fields\": ";
    out += '[';
    for (size_t i = 0; i < record.fields.size(); ++i) {
      const Field& field = record.fields[i];
      if (i > 0) out += ", ";
      if (field.undefined()) {
        out += "null";
      } else {
        AppendJsonString(field.value, out);
      }
    }
    out += ']';
    if (with_lines) out += '}';
    if (out.size() >= (64 << 10)) {
      WriteStdout(out);
      out.clear();
    }
  });
  out += "\n]\n";
  WriteStdout(out);
}

void Rewrite(const ReaderOptions& reader_options, const WriterOptions& writer_options) {
  Writer writer(WriteStdout, writer_options);
  ForEachRecord(reader_options, [&writer](const taskmill::csv::Record& record) {
    writer.WriteRecord(record.fields);
  });
  writer.Flush();
}

size_t ParseSize(const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long value = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0') Die(2, std::string("not a size: ") + text);
  return static_cast<size_t>(value);
}

}  // namespace

int main(int argc, char** argv) {
  std::string_view mode = "dump";
  bool with_lines = false;
  ReaderOptions reader_options;
  WriterOptions writer_options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "dump" || arg == "rewrite") {
      mode = arg;
    } else if (arg == "--lines") {
      with_lines = true;
    } else if (arg == "--crlf") {
      writer_options.line_ending = LineEnding::kCrLf;
    } else if (arg == "--quote-edge-spaces") {
      writer_options.quote_edge_spaces = true;
    } else if (arg == "--max-record-size" && i + 1 < argc) {
      reader_options.max_record_size = ParseSize(argv[++i]);
    } else if (arg == "--read-size" && i + 1 < argc) {
      reader_options.read_size = ParseSize(argv[++i]);
    } else {
      Die(2,
          "usage: csv_tool [dump [--lines] | rewrite [--crlf] [--quote-edge-spaces]] "
          "[--max-record-size N] [--read-size N] < input.csv");
    }
  }
  if (mode == "dump") {
    Dump(reader_options, with_lines);
  } else {
    Rewrite(reader_options, writer_options);
  }
  if (std::fflush(stdout) != 0) Die(1, "writing stdout failed");
  return 0;
}
