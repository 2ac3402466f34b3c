// pg_test_server_pgtest.cpp — the private test server starts, serves fresh databases,
// and survives a fast restart on the same port.
#include <gtest/gtest.h>
#include <libpq-fe.h>

#include "storage/postgres/testing/pg_test_server.h"

namespace taskmill::postgres::testing {
namespace {

// The first column of the first row of `sql` on `url`, or the error.
std::string QueryOne(const std::string& url, const std::string& sql) {
  PGconn* conn = PQconnectdb(url.c_str());
  std::string answer;
  if (PQstatus(conn) != CONNECTION_OK) {
    answer = std::string("error: ") + PQerrorMessage(conn);
  } else {
    PGresult* result = PQexec(conn, sql.c_str());
    answer = PQresultStatus(result) == PGRES_TUPLES_OK && PQntuples(result) > 0
                 ? PQgetvalue(result, 0, 0)
                 : std::string("error: ") + PQerrorMessage(conn);
    PQclear(result);
  }
  PQfinish(conn);
  return answer;
}

TEST(PgTestServer, ServesFreshDatabasesWithDurableCommits) {
  auto server = PgTestServer::Shared();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  auto url = (*server)->CreateDatabase(PgTestServer::UniqueName("smoke"));
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(QueryOne(*url, "SHOW synchronous_commit"), "on");
  EXPECT_EQ(QueryOne(*url, "SHOW fsync"), "on");
  EXPECT_EQ(QueryOne(*url, "SELECT count(*) FROM pg_class WHERE relname = 'runs'"), "0");
}

TEST(PgTestServer, KeepsDataAcrossAFastRestart) {
  auto server = PgTestServer::Start();
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  if (server->external())
    GTEST_SKIP() << "an external server (TASKMILL_TEST_POSTGRES_URL) is not restarted";
  auto url = server->CreateDatabase("restart");
  ASSERT_TRUE(url.ok()) << url.status().ToString();
  EXPECT_EQ(QueryOne(*url, "CREATE TABLE kept AS SELECT 42 AS answer; SELECT answer FROM kept"),
            "42");
  int port = server->port();
  ASSERT_TRUE(server->StopFast().ok());
  EXPECT_NE(QueryOne(*url, "SELECT 1").rfind("error", 0), std::string::npos);
  auto started = server->StartAgain();
  ASSERT_TRUE(started.ok()) << started.ToString();
  EXPECT_EQ(server->port(), port);
  EXPECT_EQ(QueryOne(*url, "SELECT answer FROM kept"), "42");
}

}  // namespace
}  // namespace taskmill::postgres::testing
