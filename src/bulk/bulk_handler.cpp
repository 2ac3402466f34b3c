#include "bulk/bulk_handler.h"

#include <taskmill/run_enums.h>

#include <algorithm>
#include <memory>
#include <new>
#include <set>

#include "bulk/bulk_attempt.h"

namespace taskmill::bulk {
namespace {

class FunctionProcessor final : public RowProcessor {
 public:
  FunctionProcessor(std::shared_ptr<const BulkFunction> function, const RunContext& context)
      : function_(std::move(function)), context_(context) {}

  void Process(std::span<const BulkRow> rows, const boost::json::value& state,
               std::vector<RowOutcome>& out) override {
    // window() is 1: the state a row sees is always the state after the row before.
    for (const BulkRow& row : rows) out.push_back(Call(&row, state));
  }

  // The result is constructed in place of the previous one (guaranteed copy elision of
  // the call's prvalue) rather than move-assigned and its temporary destroyed: two
  // strings, two vectors and an optional JSON value moved per row otherwise. Should
  // the call throw, no result was constructed: the handlers first put back one that
  // cannot fail to construct, so that `out` always holds a live result.
  bool ProcessOne(const BulkRow& row, const boost::json::value& state, RowOutcome& out) override {
    BulkResult* result = &out.result;
    std::destroy_at(result);
    try {
      ::new (static_cast<void*>(result))
          BulkResult(function_->call(BulkCall{&row, state, context_}));
      out.crashed = false;
    } catch (const std::exception& e) {
      ::new (static_cast<void*>(result)) BulkResult(BulkResult::Ok());  // allocates nothing
      out = Crashed(e.what());
    } catch (...) {
      ::new (static_cast<void*>(result)) BulkResult(BulkResult::Ok());
      out = Crashed("");
    }
    return true;
  }

  RowOutcome Iterate(const boost::json::value& state) override { return Call(nullptr, state); }

  std::optional<RowOutcome> Finish(const BulkEnd& end) override {
    if (!function_->finish) return std::nullopt;
    try {
      return RowOutcome{function_->finish(end), false};
    } catch (const std::exception& e) {
      return RowOutcome{BulkResult::Error(std::string("finish failed: ") + e.what()), true};
    } catch (...) {
      return RowOutcome{BulkResult::Error("finish failed: unknown exception"), true};
    }
  }

  void Cleanup(const BulkEnd& end) override {
    if (!function_->cleanup) return;
    try {
      function_->cleanup(end);
    } catch (...) {
      // The run has ended; a failing cleanup cannot change its outcome.
    }
  }

 private:
  RowOutcome Call(const BulkRow* row, const boost::json::value& state) {
    try {
      return {function_->call(BulkCall{row, state, context_}), false};
    } catch (const std::exception& e) {
      return Crashed(e.what());
    } catch (...) {
      return Crashed("");
    }
  }

  static RowOutcome Crashed(std::string what) {
    return {BulkResult::Error(what.empty() ? "the function threw an exception" : std::move(what)),
            true};
  }

  std::shared_ptr<const BulkFunction> function_;
  const RunContext& context_;
};

Status SpecError(const std::string& name, const std::string& message) {
  return Status::InvalidArgument("bulk function '" + name + "': " + message);
}

}  // namespace

std::unique_ptr<RowProcessor> MakeFunctionProcessor(std::shared_ptr<const BulkFunction> function,
                                                    const RunContext& context) {
  return std::make_unique<FunctionProcessor>(std::move(function), context);
}

Status ValidateSpec(const BulkSpec& spec) {
  const FunctionInfo& info = spec.info;
  TASKMILL_RETURN_IF_ERROR(ValidateFunctionName(info.name));
  if (info.input != "csv" && info.input != "none") {
    return SpecError(info.name, "input must be csv or none, got '" + info.input + "'");
  }
  std::set<std::string, std::less<>> columns;
  for (const auto* list : {&info.mandatory, &info.optional}) {
    for (const auto& column : *list) {
      if (column.empty()) return SpecError(info.name, "a column name is empty");
      if (!columns.insert(column).second) {
        return SpecError(info.name, "column '" + column + "' is declared twice");
      }
    }
  }
  if (info.input == "none") {
    if (!columns.empty()) {
      return SpecError(info.name, "a function without input has no mandatory or optional columns");
    }
    if (info.output_header.empty() && spec.header.empty()) {
      return SpecError(info.name,
                       "a function without input must name its output columns (output_header or "
                       "header)");
    }
  } else if (info.mandatory.empty() && info.optional.empty()) {
    return SpecError(info.name, "a CSV function needs at least one mandatory or optional column");
  }
  for (const auto& [column, verifier] : spec.verifiers) {
    if (!columns.count(column)) {
      return SpecError(info.name, "verifier for '" + column +
                                      "', which is neither a mandatory nor an optional column");
    }
  }
  for (const auto* list : {&info.output_header, &spec.header}) {
    std::set<std::string, std::less<>> seen;
    for (const auto& column : *list) {
      if (column.empty()) return SpecError(info.name, "an output column name is empty");
      if (!seen.insert(column).second) {
        return SpecError(info.name, "output column '" + column + "' is listed twice");
      }
    }
  }
  if (spec.progress_every && *spec.progress_every < 1) {
    return SpecError(info.name, "progress_every must be at least 1");
  }
  if (spec.wait_after_row && spec.wait_after_row->count() < 0) {
    return SpecError(info.name, "wait_after_row must not be negative");
  }
  return Status::Ok();
}

HandlerOutcome BulkHandler::Execute(RunContext& context) {
  Engine* engine = runtime_->engine();
  if (!engine) {
    HandlerOutcome out;
    out.status = RunStatus::kFailed;
    out.error = "bulk function '" + spec_.info.name +
                "' cannot run: its BulkRuntime was never attached to an engine";
    out.error_kind = ToString(ErrorKind::kInternal);
    return out;
  }
  auto processor = factory_(context);
  return RunBulkAttempt(*engine, runtime_->options(), spec_, *processor, context);
}

const BulkHandler* AsBulkHandler(const Handler* handler) {
  return dynamic_cast<const BulkHandler*>(handler);
}

}  // namespace taskmill::bulk

namespace taskmill {

Status BulkFunction::Validate() const {
  bulk::BulkSpec spec{info, header, verifiers, stop_on_error, progress_every, wait_after_row};
  TASKMILL_RETURN_IF_ERROR(bulk::ValidateSpec(spec));
  if (!call) return Status::InvalidArgument("bulk function '" + info.name + "': call is required");
  return Status::Ok();
}

Status BulkOptions::Validate() const {
  if (max_file_size < 1) return Status::InvalidArgument("bulk max_file_size must be positive");
  if (chunk_size < 1024 || chunk_size > (size_t{64} << 20)) {
    return Status::InvalidArgument("bulk chunk_size must be between 1 KiB and 64 MiB");
  }
  if (max_record_size < 1) return Status::InvalidArgument("bulk max_record_size must be positive");
  if (progress_every < 1) return Status::InvalidArgument("bulk progress_every must be at least 1");
  if (wait_after_row.count() < 0) {
    return Status::InvalidArgument("bulk wait_after_row must not be negative");
  }
  if (max_reported_errors < 1) {
    return Status::InvalidArgument("bulk max_reported_errors must be at least 1");
  }
  return Status::Ok();
}

Status RegisterBulkFunction(FunctionRegistry& registry, std::shared_ptr<BulkRuntime> runtime,
                            BulkFunction function) {
  if (!runtime) return Status::InvalidArgument("RegisterBulkFunction: runtime is null");
  TASKMILL_RETURN_IF_ERROR(runtime->options().Validate());
  TASKMILL_RETURN_IF_ERROR(function.Validate());
  function.info.handler_kind = "bulk";
  bulk::BulkSpec spec{function.info,          function.header,         function.verifiers,
                      function.stop_on_error, function.progress_every, function.wait_after_row};
  FunctionInfo info = function.info;
  auto shared = std::make_shared<const BulkFunction>(std::move(function));
  auto factory = [shared](const RunContext& context) {
    return bulk::MakeFunctionProcessor(shared, context);
  };
  return registry.Register(std::move(info), std::make_shared<bulk::BulkHandler>(
                                                std::move(runtime), std::move(spec), factory));
}

}  // namespace taskmill
