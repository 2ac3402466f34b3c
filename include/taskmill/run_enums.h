// taskmill/run_enums.h — the words of a run's record and a task's definition that
// come from a fixed set: the kind of a failure (Run::error_kind, HandlerOutcome::
// error_kind), and a periodical task's misfire and overlap policies (TaskDef::misfire,
// TaskDef::overlap).
//
// They are stored and travel in JSON as their string forms, which never change:
// ToString gives that form (a constant, free to compare with), Parse reads it back
// (nullopt for a word not of the set). An error_kind is open-ended — a remote runner
// may report its own word — so code compares against these forms rather than
// requiring the enum. Pure; thread-safe.
#pragma once

#include <optional>
#include <string_view>

namespace taskmill {

enum class ErrorKind {
  kUser,         // the function failed (a failure with no kind is the function's own)
  kTimeout,      // the attempt ran past the run's timeout
  kInterrupted,  // the runner shut down under the attempt: handed back, not charged
  kStopped,      // an operator stopped the run
  kLost,         // the attempt's lease ended (its runner died or stopped heartbeating)
  kUnknownTask,  // no runner has the function
  kRows,         // a bulk run failed because its rows failed: retrying would not help
  kInternal,     // taskmill itself failed to run the attempt
};

enum class Misfire { kSkip, kRunOnce, kRunAll };
enum class Overlap { kSkip, kAllow };

constexpr std::string_view ToString(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kUser:
      return "user";
    case ErrorKind::kTimeout:
      return "timeout";
    case ErrorKind::kInterrupted:
      return "interrupted";
    case ErrorKind::kStopped:
      return "stopped";
    case ErrorKind::kLost:
      return "lost";
    case ErrorKind::kUnknownTask:
      return "unknown_task";
    case ErrorKind::kRows:
      return "rows";
    case ErrorKind::kInternal:
      return "internal";
  }
  return "";
}

constexpr std::string_view ToString(Misfire misfire) {
  switch (misfire) {
    case Misfire::kSkip:
      return "skip";
    case Misfire::kRunOnce:
      return "run_once";
    case Misfire::kRunAll:
      return "run_all";
  }
  return "";
}

constexpr std::string_view ToString(Overlap overlap) {
  switch (overlap) {
    case Overlap::kSkip:
      return "skip";
    case Overlap::kAllow:
      return "allow";
  }
  return "";
}

std::optional<ErrorKind> ParseErrorKind(std::string_view text);
std::optional<Misfire> ParseMisfire(std::string_view text);
std::optional<Overlap> ParseOverlap(std::string_view text);

}  // namespace taskmill
