// Fuzzes the configuration loader: any YAML document is either a configuration or an
// error naming where; never a crash, an abort or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto loaded = taskmill::config::LoadString(text, "fuzz.yaml");
  if (loaded.ok()) {
    (void)taskmill::config::CheckRemoteQueues(*loaded);
    (void)taskmill::config::ToEngineOptions(*loaded);
  }
  return 0;
}
