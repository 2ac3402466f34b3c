#include "cli/demo_functions.h"

#include <taskmill/flow.h>

#include <boost/json.hpp>
#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace taskmill::cli {
namespace {
double FirstNumberArg(const RunContext& ctx, double fallback) {
  const auto& args = ctx.args();
  if (args.is_array() && !args.get_array().empty() && args.get_array()[0].is_number()) {
    return args.get_array()[0].to_number<double>();
  }
  return fallback;
}

// args[0] as seconds. Out of range (negative, beyond kMaxUserSeconds, or not finite)
// the attempt fails naming the field and the range: a huge value must not overflow
// into "slept at once".
double SecondsArg(const RunContext& ctx, double fallback) {
  double seconds = FirstNumberArg(ctx, fallback);
  if (!(seconds >= 0 && seconds <= kMaxUserSeconds)) {
    char text[64];
    std::snprintf(text, sizeof text, "%g", seconds);
    throw std::invalid_argument("args[0]: expected seconds from 0 to " +
                                std::to_string(static_cast<int64_t>(kMaxUserSeconds)) + ", got " +
                                text);
  }
  return seconds;
}

Duration SecondsToDuration(double s) {
  return Duration{static_cast<int64_t>(std::llround(s * 1e6))};
}
}  // namespace

void RegisterDemoFunctions(FunctionRegistry& registry) {
  (void)registry.Register("demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); },
                          {.description = "Returns its arguments as the result",
                           .doc = "A run of demo.echo completes at once with result = args."});
  (void)registry.Register(
      "demo.fail",
      [](RunContext& ctx) {
        throw std::runtime_error("demo.fail always fails (attempt " +
                                 std::to_string(ctx.attempt()) + ")");
      },
      {.description = "Always fails, to show retries",
       .doc = "Try: taskmill create demo.fail --max-attempts 3 --delay 1 --delay-factor 2 --wait"});
  (void)registry.Register("demo.sleep",
                          [](RunContext& ctx) {
                            double seconds = SecondsArg(ctx, 1.0);
                            if (!ctx.SleepFor(SecondsToDuration(seconds))) return;  // cancelled
                            ctx.SetResult(boost::json::object{{"slept_seconds", seconds}});
                          },
                          {.description = "Sleeps args[0] seconds (0 to 1000000000, default 1)",
                           .doc = "Stops early when the run is cancelled or times out."});
  (void)registry.Register(
      "demo.consume",
      [](RunContext& ctx) {
        double seconds = SecondsArg(ctx, 5.0);
        int64_t steps = 0;
        for (double done = 0; done < seconds; done += 0.1) {
          if (!ctx.SleepFor(SecondsToDuration(0.1))) break;
          ++steps;
        }
        ctx.SetResult(boost::json::object{{"steps", steps}});
      },
      {.description = "A feed consumer for continuous tasks",
       .doc = "Consumes in 100 ms steps for args[0] seconds (default 5), then ends; a "
              "continuous task restarts it after pause_sec."});
  // A flow step with children, so that a configured flow can fan out without a C++
  // function of its own (docs/flows.md): the flow's args say how many.
  (void)registry.Register(
      "demo.split",
      [](RunContext& ctx) {
        int64_t count = 3;
        const boost::json::object* input = ctx.args().if_object();
        const boost::json::value* flow_args = input ? input->if_contains("args") : nullptr;
        const boost::json::value* wanted = flow_args && flow_args->is_object()
                                               ? flow_args->as_object().if_contains("children")
                                               : nullptr;
        if (wanted != nullptr) {
          if (!wanted->is_int64() || wanted->as_int64() < 0 || wanted->as_int64() > 1000) {
            throw std::invalid_argument("args.children: expected a count from 0 to 1000, got " +
                                        boost::json::serialize(*wanted));
          }
          count = wanted->as_int64();
        }
        for (int64_t k = 0; k < count; ++k) flow::AddChild(ctx, std::to_string(k), k);
        flow::SetState(ctx, "children", count);
      },
      {.description = "A flow step that adds children (the flow's args.children, default 3)",
       .doc = "Adds children numbered from 0, each run by the step's child_func; sets the "
              "flow's state children = the count."});
}

}  // namespace taskmill::cli
