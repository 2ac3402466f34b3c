// api/auth.h — bearer tokens of the HTTP API and who a request acts for.
//
// A token is "tm_" followed by 43 characters of base64url: 256 random bits from
// OpenSSL. Storage keeps only its SHA-256 (ApiToken::hash), so a copy of the database
// does not give access. A request presents `Authorization: Bearer <token>`; the
// Authenticator hashes it, finds the token by hash and compares the hashes in constant
// time. Tokens are never logged.
//
// Authentication is on as soon as one token exists (or when the server is told to
// require it); until then every request acts as an anonymous admin, which the server
// allows on a loopback address only (see ApiServer::Start).
//
// Account isolation: an account token sees and acts on the runs of its own account
// only (others answer 404 as if absent); an admin token acts for any account.
//
// Thread-safe. The known tokens are cached and re-read from storage when a token was
// made or revoked in this process (CreateToken, RevokeToken), when a presented token is
// unknown, or when the cache is older than one second, so that a token made or revoked
// by `taskmill token` in another process takes effect within a second.
#pragma once

#include <taskmill/status.h>
#include <taskmill/storage.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace taskmill::api {

// Who a request acts for.
struct Principal {
  std::string token_name;  // empty: anonymous (no tokens configured)
  std::string account_id;  // the token's account; may be empty for an admin
  bool admin = false;

  // Whether this principal may see a run owned by `account_id`.
  bool CanSee(std::string_view run_account) const { return admin || run_account == account_id; }

  static const Principal& Anonymous();  // an admin without account or token
};

// A new random token secret, "tm_" + base64url(32 random bytes).
Result<std::string> NewTokenSecret();
// Lower-case hex SHA-256 of `secret`, as stored in ApiToken::hash.
std::string HashTokenSecret(std::string_view secret);

// Creates a token: a new secret, stored hashed under `name` (generated from the account
// when empty). Returns the stored token and, in `secret`, the only copy of the secret.
Result<ApiToken> CreateToken(Storage& storage, std::string name, std::string account_id, bool admin,
                             TimePoint now, std::string* secret);

// Deletes the token `name`. kNotFound when there is none.
Status RevokeToken(Storage& storage, const std::string& name);

class Authenticator {
 public:
  explicit Authenticator(Storage& storage);

  // Authenticate even while no token exists (every request is then refused), as a
  // server on a public address must. Call before serving.
  void Require() { required_ = true; }

  // Reads the tokens once. Fails when storage cannot be read.
  Status Load();
  // True when at least one token exists (as of the last read).
  bool has_tokens() const { return has_tokens_.load(std::memory_order_acquire); }
  // True when requests must present a token.
  bool enabled() const { return required_ || has_tokens_.load(std::memory_order_acquire); }

  // The principal for an `Authorization` header value ("" when absent). 401-class
  // errors (code "unauthorized") say what is wrong without echoing the token.
  Result<Principal> Authenticate(std::string_view authorization);

  // Re-reads the tokens now (after this process made or removed one).
  Status Reload();

 private:
  using Clock = std::chrono::steady_clock;
  struct Snapshot {
    std::unordered_map<std::string, Principal> by_hash;
    Clock::time_point loaded_at;
    uint64_t generation = 0;  // of the process's token changes, when loaded
  };
  std::shared_ptr<const Snapshot> Current() const;

  Storage& storage_;
  bool required_ = false;
  std::atomic<bool> has_tokens_{false};
  // When and at which generation the tokens were last read (Clock ticks; 0: never),
  // for Authenticate's lock-free path while there are no tokens.
  std::atomic<int64_t> loaded_at_{0};
  std::atomic<uint64_t> loaded_generation_{0};
  mutable std::mutex mu_;  // guards snapshot_ (the pointer, not its contents)
  std::shared_ptr<const Snapshot> snapshot_;
  std::mutex reload_mu_;  // one reload at a time
};

}  // namespace taskmill::api
