// demo_functions.h — the example functions `taskmill serve` registers (demo.*), used
// by the quick start, the docs and the tests.
#pragma once

#include <taskmill/function.h>

namespace taskmill::cli {

// demo.echo   result = the run's args
// demo.fail   always throws (to show retries)
// demo.sleep  sleeps args[0] seconds (default 1), stops early when cancelled
// demo.consume a continuous consumer: works in short cancellable steps for args[0]
//             seconds (default 5), then ends so that the scheduler restarts it
// demo.split  a flow step that adds children: the flow's args.children (default 3)
void RegisterDemoFunctions(FunctionRegistry& registry);

}  // namespace taskmill::cli
