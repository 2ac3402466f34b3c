// conformance_pgtest.cpp — the storage conformance suite against the PostgreSQL
// backend: each test gets a fresh schema on the private test server
// (testing/pg_test_server.h), dropped afterwards.
#include <taskmill/testing/storage_conformance.h>

#include "storage/postgres/postgres_storage.h"
#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres {
namespace {

using conformance::StorageFactory;
using conformance::StorageFixture;
using testing::PgTestServer;

// One database for the suite, a fresh schema in it for each test: a database costs a
// copy of the template to make and a checkpoint to drop, a schema only our tables.
constexpr const char* kDatabase = "taskmill_conformance";

class PgFixture final : public StorageFixture {
 public:
  PgFixture(PgTestServer* server, std::string schema, std::string url)
      : server_(server), schema_(std::move(schema)), url_(std::move(url)) {}
  ~PgFixture() override {
    storage_.reset();
    (void)server_->Execute(kDatabase, "DROP SCHEMA \"" + schema_ + "\" CASCADE");
  }
  Status Open() {
    storage_.reset();
    auto opened = OpenStorage(StorageOptions{url_});
    if (!opened.ok()) return opened.status();
    storage_ = std::move(*opened);
    return Status::Ok();
  }
  Storage& storage() override { return *storage_; }
  Status Reopen() override { return Open(); }

 private:
  PgTestServer* server_;
  std::string schema_;
  std::string url_;
  std::unique_ptr<Storage> storage_;
};

StorageFactory PostgresFactory() {
  return StorageFactory{"postgres", []() -> Result<std::unique_ptr<StorageFixture>> {
                          auto server = PgTestServer::Shared();
                          if (!server.ok()) return server.status();
                          static const Status database =
                              (*server)->CreateDatabase(kDatabase).status();
                          if (!database.ok()) return database;
                          std::string schema = PgTestServer::UniqueName("conformance");
                          auto url = (*server)->CreateSchema(kDatabase, schema);
                          if (!url.ok()) return url.status();
                          auto fixture = std::make_unique<PgFixture>(*server, schema, *url);
                          TASKMILL_RETURN_IF_ERROR(fixture->Open());
                          return std::unique_ptr<StorageFixture>(std::move(fixture));
                        }};
}

}  // namespace

TASKMILL_STORAGE_CONFORMANCE(Postgres, PostgresFactory());

}  // namespace taskmill::postgres
