// memory_storage.h — AN EXAMPLE, NOT FOR PRODUCTION: a storage backend that keeps
// everything in the memory of one process.
//
// It shows what a backend of your own has to do: implement the taskmill::Storage
// contract (docs/storage.md explains it method by method) and pass the conformance
// suite with one line (memory_storage_test.cpp). Everything is lost when the process
// ends, one mutex serializes every call, and nothing is indexed: lookups walk every
// run. Use the SQLite backend (the default) for real work.
#pragma once

#include <taskmill/storage.h>

#include <memory>

namespace taskmill::example {

// The data of a memory database. Storage objects opened on the same MemoryDatabase
// see the same runs: dropping one Storage and opening another over the same database
// is this backend's "restart" (the conformance suite's durability test).
struct MemoryDatabase;

std::shared_ptr<MemoryDatabase> NewMemoryDatabase();

// A Storage over `database`.
std::shared_ptr<Storage> OpenMemoryStorage(std::shared_ptr<MemoryDatabase> database);

}  // namespace taskmill::example
