#include "cli/demo_functions.h"

#include <boost/json.hpp>

#include <stdexcept>

namespace taskmill::cli {
namespace {
double FirstNumberArg(const RunContext& ctx, double fallback) {
  const auto& args = ctx.args();
  if (args.is_array() && !args.get_array().empty() && args.get_array()[0].is_number()) {
    return args.get_array()[0].to_number<double>();
  }
  return fallback;
}

Duration SecondsToDuration(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}
}  // namespace

void RegisterDemoFunctions(FunctionRegistry& registry) {
  (void)registry.Register(
      "demo.echo", [](RunContext& ctx) { ctx.SetResult(ctx.args()); },
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
  (void)registry.Register(
      "demo.sleep",
      [](RunContext& ctx) {
        double seconds = FirstNumberArg(ctx, 1.0);
        if (!ctx.SleepFor(SecondsToDuration(seconds))) return;  // cancelled
        ctx.SetResult(boost::json::object{{"slept_seconds", seconds}});
      },
      {.description = "Sleeps args[0] seconds (default 1)",
       .doc = "Stops early when the run is cancelled or times out."});
  (void)registry.Register(
      "demo.consume",
      [](RunContext& ctx) {
        double seconds = FirstNumberArg(ctx, 5.0);
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
}

}  // namespace taskmill::cli
