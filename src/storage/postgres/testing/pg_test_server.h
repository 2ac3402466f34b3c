// pg_test_server.h — a private PostgreSQL 15 server for tests and benchmarks.
//
// PgTestServer::Start() runs Debian's initdb in a fresh temporary directory (owned by
// the postgres user when the caller is root, since PostgreSQL refuses to run as root)
// and starts the server on 127.0.0.1 on a free port, with its unix socket inside that
// directory, fsync and synchronous_commit on (the durability users get). The
// destructor stops the server and removes the directory. Every wait is a deadline in
// seconds.
//
// When the environment variable TASKMILL_TEST_POSTGRES_URL is set (a server URL such
// as postgresql://postgres@db.example:5432/postgres), that server is used instead and
// nothing is started; StopFast and StartAgain then answer kFailedPrecondition.
//
// Not thread-safe: one thread owns the object. Movable, not copyable.
#pragma once

#include <taskmill/status.h>

#include <string>

namespace taskmill::postgres::testing {

class PgTestServer {
 public:
  // Starts a private server (or adopts TASKMILL_TEST_POSTGRES_URL). kInternal with the
  // server's log when it does not start within 60 s.
  static Result<PgTestServer> Start();
  // One server shared by every caller of this process, started on first use and
  // stopped when the process exits (static destruction). Thread-safe.
  static Result<PgTestServer*> Shared();

  PgTestServer(PgTestServer&& other) noexcept;
  PgTestServer& operator=(PgTestServer&& other) noexcept;
  PgTestServer(const PgTestServer&) = delete;
  PgTestServer& operator=(const PgTestServer&) = delete;
  ~PgTestServer();  // stops the server (fast shutdown) and removes its directory

  // postgresql://postgres@127.0.0.1:PORT/DB (the superuser, trust authentication).
  std::string Url(const std::string& db = "postgres") const;
  // Creates an empty database `name` (letters, digits and _), dropping one of that
  // name first; returns its URL.
  Result<std::string> CreateDatabase(const std::string& name);
  // Creates schema `schema` (letters, digits and _) in database `db` (which must
  // exist) and returns a URL of `db` whose sessions use that schema alone
  // (options=-csearch_path=...): a scratch store far cheaper than a database, which
  // costs a copy of the template to make and a checkpoint to drop.
  Result<std::string> CreateSchema(const std::string& db, const std::string& schema);
  // Runs `sql` (one or more statements) in database `db`.
  Status Execute(const std::string& db, const std::string& sql);
  // Drops database `name`, disconnecting its sessions; a missing one is fine.
  Status DropDatabase(const std::string& name);
  // A database name no other call of this process returned: prefix_<pid>_<n>.
  static std::string UniqueName(const std::string& prefix);

  // Stops the server as `pg_ctl stop -m fast` does (sessions are disconnected, the
  // data is checkpointed), waiting up to 60 s.
  Status StopFast();
  // Starts the stopped server again on the same port and data directory.
  Status StartAgain();

  int port() const { return port_; }
  // The server's directory (data/, the socket and server.log); empty for an external
  // server.
  const std::string& dir() const { return dir_; }
  bool external() const { return !external_url_.empty(); }

 private:
  PgTestServer() = default;
  Status Launch();
  Status WaitReady(double seconds);
  void Shutdown();

  std::string dir_;           // owned temporary directory; empty when moved from
  std::string external_url_;  // TASKMILL_TEST_POSTGRES_URL, when set
  int port_ = 0;
  bool running_ = false;
};

}  // namespace taskmill::postgres::testing
