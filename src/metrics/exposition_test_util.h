// metrics/exposition_test_util.h — a strict parser of the Prometheus text exposition
// format (0.0.4), for tests of whatever renders it (metrics_test.cpp, the API test of
// GET /metrics).
//
// Stricter than Prometheus on purpose, so that sloppy output fails a test before a
// scraper meets it: every line is `# HELP name text`, `# TYPE name
// counter|gauge|histogram` or `name{label="value",...} value` (no other comments, no
// blank lines, no timestamps, no trailing comma); names and label names are valid;
// label values and help text use only the escapes the format defines; a family's TYPE
// comes before its samples, which are contiguous and not repeated; counters are not
// negative; and every histogram series has `le` buckets in increasing order with
// non-decreasing counts ending in le="+Inf", whose count equals `_count`, and a
// `_sum`.
#pragma once

#include <charconv>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/metrics.h"

namespace taskmill::metrics::testing {

using LabelSet = std::map<std::string, std::string>;

struct ParsedSample {
  std::string name;  // as written: histograms have _bucket, _sum and _count
  LabelSet labels;
  double value = 0;
};

struct ParsedFamily {
  std::string name;
  std::string help;
  std::string type;  // counter, gauge or histogram
  std::vector<ParsedSample> samples;
};

struct Exposition {
  std::map<std::string, ParsedFamily> families;  // by name

  // The value of the sample `name` with exactly these labels, if present.
  std::optional<double> Value(const std::string& name, const LabelSet& labels = {}) const {
    for (const auto& [family_name, family] : families) {
      if (!name.starts_with(family_name)) continue;
      for (const ParsedSample& sample : family.samples) {
        if (sample.name == name && sample.labels == labels) return sample.value;
      }
    }
    return std::nullopt;
  }
  // Every sample named `name` (any labels).
  std::vector<ParsedSample> Samples(const std::string& name) const {
    std::vector<ParsedSample> out;
    for (const auto& [family_name, family] : families) {
      for (const ParsedSample& sample : family.samples) {
        if (sample.name == name) out.push_back(sample);
      }
    }
    return out;
  }
};

namespace internal {

inline bool ParseValue(std::string_view text, double* out) {
  if (text == "+Inf") {
    *out = std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "-Inf") {
    *out = -std::numeric_limits<double>::infinity();
    return true;
  }
  if (text == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
    return true;
  }
  if (text.empty()) return false;
  // from_chars also reads "inf" and "nan", which the format does not allow.
  for (char c : text) {
    bool ok = (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '+' || c == 'e' || c == 'E';
    if (!ok) return false;
  }
  std::string_view digits = text.front() == '+' ? text.substr(1) : text;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), *out);
  return ec == std::errc() && end == digits.data() + digits.size();
}

// Reads a label value after its opening quote, up to and including the closing quote.
inline bool ParseQuoted(std::string_view line, size_t* pos, std::string* out) {
  while (*pos < line.size()) {
    char c = line[(*pos)++];
    if (c == '"') return true;
    if (c == '\n') return false;
    if (c != '\\') {
      *out += c;
      continue;
    }
    if (*pos >= line.size()) return false;
    char e = line[(*pos)++];
    if (e == '\\') {
      *out += '\\';
    } else if (e == '"') {
      *out += '"';
    } else if (e == 'n') {
      *out += '\n';
    } else {
      return false;
    }
  }
  return false;
}

inline bool ParseHelp(std::string_view text, std::string* out) {
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      *out += text[i];
      continue;
    }
    if (++i >= text.size()) return false;
    if (text[i] == '\\') {
      *out += '\\';
    } else if (text[i] == 'n') {
      *out += '\n';
    } else {
      return false;
    }
  }
  return true;
}

inline size_t NameEnd(std::string_view line, size_t start) {
  size_t i = start;
  while (i < line.size()) {
    char c = line[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':';
    if (!ok) break;
    ++i;
  }
  return i;
}

inline std::string CheckHistogram(const ParsedFamily& family) {
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // (le, count) in order
    std::optional<double> sum;
    std::optional<double> count;
  };
  std::map<LabelSet, Series> series;
  for (const ParsedSample& sample : family.samples) {
    LabelSet labels = sample.labels;
    if (sample.name == family.name + "_bucket") {
      auto le = labels.find("le");
      if (le == labels.end()) return family.name + "_bucket without le";
      double bound = 0;
      if (!ParseValue(le->second, &bound) || std::isnan(bound)) {
        return family.name + ": bad le \"" + le->second + "\"";
      }
      labels.erase(le);
      series[labels].buckets.emplace_back(bound, sample.value);
    } else if (sample.name == family.name + "_sum") {
      if (labels.count("le")) return family.name + "_sum with le";
      series[labels].sum = sample.value;
    } else {
      if (labels.count("le")) return family.name + "_count with le";
      series[labels].count = sample.value;
    }
  }
  for (const auto& [labels, s] : series) {
    if (s.buckets.empty()) return family.name + ": a series without buckets";
    for (size_t i = 1; i < s.buckets.size(); ++i) {
      if (!(s.buckets[i].first > s.buckets[i - 1].first)) {
        return family.name + ": le bounds not increasing";
      }
      if (s.buckets[i].second < s.buckets[i - 1].second) {
        return family.name + ": cumulative bucket counts decrease";
      }
    }
    if (!std::isinf(s.buckets.back().first) || s.buckets.back().first < 0) {
      return family.name + ": the last bucket is not le=\"+Inf\"";
    }
    if (!s.sum) return family.name + ": a series without _sum";
    if (!s.count) return family.name + ": a series without _count";
    if (*s.count != s.buckets.back().second) {
      return family.name + ": le=\"+Inf\" bucket differs from _count";
    }
  }
  return "";
}

}  // namespace internal

// Parses `text` into *out. Returns an empty string, or what is wrong and where.
inline std::string ParseExposition(std::string_view text, Exposition* out) {
  using namespace internal;
  *out = Exposition{};
  if (text.empty()) return "empty exposition";
  if (text.back() != '\n') return "the last line has no line feed";
  std::string current;             // the family whose TYPE came last
  std::set<std::string> finished;  // families whose samples are over
  std::set<std::pair<std::string, LabelSet>> seen;
  size_t line_no = 0;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    std::string_view line = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    auto error = [&](const std::string& what) {
      return "line " + std::to_string(line_no) + ": " + what + ": " + std::string(line);
    };
    if (line.empty()) return error("blank line");
    if (line.front() == '#') {
      bool help = line.starts_with("# HELP ");
      bool type = line.starts_with("# TYPE ");
      if (!help && !type) return error("a comment that is neither HELP nor TYPE");
      size_t name_end = NameEnd(line, 7);
      std::string name(line.substr(7, name_end - 7));
      if (!ValidMetricName(name)) return error("invalid metric name");
      if (name_end >= line.size() || line[name_end] != ' ') return error("no text after the name");
      std::string_view rest = line.substr(name_end + 1);
      if (finished.count(name)) return error("family declared again after its samples");
      if (name != current && !current.empty()) finished.insert(current);
      ParsedFamily& family = out->families[name];
      if (!family.samples.empty()) return error("HELP or TYPE after samples");
      family.name = name;
      if (help) {
        if (!family.help.empty()) return error("second HELP");
        if (!ParseHelp(rest, &family.help)) return error("bad escape in HELP");
      } else {
        if (!family.type.empty()) return error("second TYPE");
        if (rest != "counter" && rest != "gauge" && rest != "histogram") {
          return error("unknown type");
        }
        family.type = rest;
      }
      current = name;
      continue;
    }
    ParsedSample sample;
    size_t pos = NameEnd(line, 0);
    sample.name = line.substr(0, pos);
    if (!ValidMetricName(sample.name)) return error("invalid metric name");
    if (pos < line.size() && line[pos] == '{') {
      ++pos;
      if (pos < line.size() && line[pos] == '}') return error("empty label braces");
      for (;;) {
        size_t label_end = NameEnd(line, pos);
        std::string label(line.substr(pos, label_end - pos));
        if (!ValidLabelName(label)) return error("invalid label name");
        pos = label_end;
        if (line.substr(pos, 2) != "=\"") return error("expected =\" after a label name");
        pos += 2;
        std::string value;
        if (!ParseQuoted(line, &pos, &value)) return error("bad label value");
        if (!sample.labels.emplace(label, value).second) return error("label twice");
        if (pos < line.size() && line[pos] == ',') {
          ++pos;
          continue;
        }
        if (pos < line.size() && line[pos] == '}') {
          ++pos;
          break;
        }
        return error("expected , or } after a label");
      }
    }
    if (pos >= line.size() || line[pos] != ' ') return error("expected a space before the value");
    std::string_view value = line.substr(pos + 1);
    if (value.find(' ') != std::string_view::npos) return error("a timestamp or trailing text");
    if (!ParseValue(value, &sample.value)) return error("bad value");

    if (current.empty()) return error("a sample before any TYPE");
    ParsedFamily& family = out->families[current];
    if (family.type.empty()) return error("a sample of a family without TYPE");
    bool belongs = family.type == "histogram"
                       ? (sample.name == current + "_bucket" || sample.name == current + "_sum" ||
                          sample.name == current + "_count")
                       : sample.name == current;
    if (!belongs) return error("a sample that is not of family " + current);
    if (family.type != "histogram" && sample.labels.count("le")) {
      return error("le label outside a histogram");
    }
    if (family.type == "counter" && !(sample.value >= 0)) return error("negative counter");
    if (!seen.emplace(sample.name, sample.labels).second) return error("series repeated");
    family.samples.push_back(std::move(sample));
  }
  for (const auto& [name, family] : out->families) {
    if (family.type.empty()) return name + ": HELP without TYPE";
    if (family.type == "histogram") {
      if (std::string e = CheckHistogram(family); !e.empty()) return e;
    }
  }
  return "";
}

}  // namespace taskmill::metrics::testing
