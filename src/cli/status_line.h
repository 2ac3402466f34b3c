// cli/status_line.h — the one-line progress display of the CLI on stderr.
//
// Uploading a file, waiting for a bulk run and waiting for any run show their progress
// as one line that each update overwrites; it is drawn only when stderr is a terminal,
// so scripts and pipes see nothing of it. Not thread-safe; one per command.
#pragma once

#include <string>

namespace taskmill::cli {

class StatusLine {
 public:
  StatusLine();
  ~StatusLine() { Clear(); }
  StatusLine(const StatusLine&) = delete;
  StatusLine& operator=(const StatusLine&) = delete;

  // Whether stderr is a terminal: when false, Show and Clear do nothing.
  bool enabled() const { return enabled_; }
  // Replaces the line on screen with `line`.
  void Show(const std::string& line);
  // Erases the line, if one is shown (before other output, or at the end).
  void Clear();

 private:
  bool enabled_;
  bool shown_ = false;
};

}  // namespace taskmill::cli
