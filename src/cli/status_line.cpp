#include "cli/status_line.h"

#include <unistd.h>

#include <iostream>

namespace taskmill::cli {

// "\r" goes back to the start of the line, "\033[K" erases to its end.
constexpr const char* kEraseLine = "\r\033[K";

StatusLine::StatusLine() : enabled_(isatty(STDERR_FILENO) == 1) {}

void StatusLine::Show(const std::string& line) {
  if (!enabled_) return;
  std::cerr << kEraseLine << line << std::flush;
  shown_ = true;
}

void StatusLine::Clear() {
  if (shown_) std::cerr << kEraseLine << std::flush;
  shown_ = false;
}

}  // namespace taskmill::cli
