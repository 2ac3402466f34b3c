// Fuzzes the JSON request bodies: any bytes are parsed as POST /api/v1/runs,
// POST /api/v1/runs:batch items and POST /api/v1/tasks/{name}/start parse them; each
// is a request or an error naming the field, never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/json_body.h"
#include "api/run_request.h"

namespace api = taskmill::api;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto body = api::ParseJsonText(text);
  if (!body.ok()) return 0;
  api::RunBodyOptions create;
  (void)api::ParseRunBody(*body, create);
  api::RunBodyOptions item{.kind = api::RunBodyKind::kCreate, .field_prefix = "runs[0]."};
  (void)api::ParseRunBody(*body, item);
  api::RunBodyOptions start{
      .kind = api::RunBodyKind::kTaskStart,
      .path_task = "nightly",
      .task_retry = [](const std::string&) -> taskmill::Result<taskmill::RetryPolicy> {
        return taskmill::RetryPolicy{};
      }};
  (void)api::ParseRunBody(*body, start);
  if (body->is_object()) {
    if (const auto* conflict = body->get_object().if_contains("conflict")) {
      (void)api::ParseConflictField(*conflict, "conflict");
    }
  }
  return 0;
}
