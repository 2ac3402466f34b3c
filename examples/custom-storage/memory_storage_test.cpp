// The example backend passes the whole storage conformance suite: this one line (and
// a factory) is all a backend of your own needs too.
#include "memory_storage.h"

#include <taskmill/testing/storage_conformance.h>

namespace {

using taskmill::Result;
using taskmill::Status;
using taskmill::Storage;
using taskmill::conformance::StorageFactory;
using taskmill::conformance::StorageFixture;

// Each test gets a new memory database. Reopening drops the Storage object and opens
// another over the same database, which is what surviving a restart means for memory.
class MemoryFixture final : public StorageFixture {
 public:
  MemoryFixture()
      : database_(taskmill::example::NewMemoryDatabase()),
        storage_(taskmill::example::OpenMemoryStorage(database_)) {}
  Storage& storage() override { return *storage_; }
  Status Reopen() override {
    storage_.reset();
    storage_ = taskmill::example::OpenMemoryStorage(database_);
    return Status::Ok();
  }

 private:
  std::shared_ptr<taskmill::example::MemoryDatabase> database_;
  std::shared_ptr<Storage> storage_;
};

StorageFactory MemoryFactory() {
  return {"memory", []() -> Result<std::unique_ptr<StorageFixture>> {
            return std::unique_ptr<StorageFixture>(std::make_unique<MemoryFixture>());
          }};
}

}  // namespace

TASKMILL_STORAGE_CONFORMANCE(Memory, MemoryFactory());
