// bulk/bulk_handler.h — the Handler registered for a bulk function (C++ or
// co-process). The API and the upload code find a function's bulk spec and runtime
// through it (AsBulkHandler). Immutable after construction; Execute may run in many
// threads at once, one attempt each.
#pragma once

#include <taskmill/bulk.h>

#include <memory>

#include "bulk/row_processor.h"

namespace taskmill::bulk {

class BulkHandler final : public Handler {
 public:
  BulkHandler(std::shared_ptr<BulkRuntime> runtime, BulkSpec spec, ProcessorFactory factory)
      : runtime_(std::move(runtime)), spec_(std::move(spec)), factory_(std::move(factory)) {}

  HandlerOutcome Execute(RunContext& context) override;

  const BulkSpec& spec() const { return spec_; }
  const BulkRuntime& runtime() const { return *runtime_; }

 private:
  std::shared_ptr<BulkRuntime> runtime_;
  BulkSpec spec_;
  ProcessorFactory factory_;
};

// The bulk handler behind `handler`, or nullptr when it is another kind.
const BulkHandler* AsBulkHandler(const Handler* handler);

}  // namespace taskmill::bulk
