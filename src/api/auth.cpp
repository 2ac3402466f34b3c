#include "api/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <strings.h>

#include <array>

#include "api/api_error.h"

namespace taskmill::api {

namespace {

constexpr std::string_view kTokenPrefix = "tm_";
constexpr auto kMaxCacheAge = std::chrono::seconds(1);

// Counts token changes made by this process, so that every Authenticator re-reads the
// tokens at its next request instead of waiting for its cache to age.
std::atomic<uint64_t> token_generation{0};

std::string Base64Url(const unsigned char* data, size_t size) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  out.reserve((size * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= size; i += 3) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8) | data[i + 2];
    for (int shift = 18; shift >= 0; shift -= 6) out += kAlphabet[(v >> shift) & 63];
  }
  if (size - i == 1) {
    uint32_t v = uint32_t{data[i]} << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (size - i == 2) {
    uint32_t v = (uint32_t{data[i]} << 16) | (uint32_t{data[i + 1]} << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

Status Unauthorized(std::string message) {
  return ApiStatus(StatusCode::kUnauthenticated, "unauthorized", std::move(message));
}

}  // namespace

const Principal& Principal::Anonymous() {
  static const Principal anonymous{.admin = true};
  return anonymous;
}

const Principal& AnonymousPrincipal() { return Principal::Anonymous(); }

Result<std::string> NewTokenSecret() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    return Status::Internal("the system random generator failed");
  }
  return std::string(kTokenPrefix) + Base64Url(bytes.data(), bytes.size());
}

std::string HashTokenSecret(std::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_Digest(secret.data(), secret.size(), digest.data(), &length, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

Result<ApiToken> CreateToken(Storage& storage, std::string name, std::string account_id, bool admin,
                             TimePoint now, std::string* secret) {
  if (!admin && account_id.empty()) {
    return FieldError("account", "a token needs an account (--account NAME) or --admin");
  }
  auto made = NewTokenSecret();
  if (!made.ok()) return made.status();
  if (name.empty()) {
    // Readable and unique enough: the account (or "admin") and a piece of the hash,
    // which says nothing about the secret.
    name = (account_id.empty() ? std::string("admin") : account_id) + "-" +
           HashTokenSecret(*made).substr(0, 8);
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok || name.size() > 100) {
      return FieldError("name",
                        "token name '" + name + "' must be 1-100 characters of [A-Za-z0-9_.-]");
    }
  }
  ApiToken token{.name = std::move(name),
                 .account_id = std::move(account_id),
                 .admin = admin,
                 .hash = HashTokenSecret(*made),
                 .created_at = now};
  TASKMILL_RETURN_IF_ERROR(storage.TokenCreate(token));
  token_generation.fetch_add(1, std::memory_order_acq_rel);
  *secret = std::move(*made);
  return token;
}

Status RevokeToken(Storage& storage, const std::string& name) {
  TASKMILL_RETURN_IF_ERROR(storage.TokenRemove(name));
  token_generation.fetch_add(1, std::memory_order_acq_rel);
  return Status::Ok();
}

Authenticator::Authenticator(Storage& storage) : storage_(storage) {}

Status Authenticator::Load() { return Reload(); }

std::shared_ptr<const Authenticator::Snapshot> Authenticator::Current() const {
  std::lock_guard lock(mu_);
  return snapshot_;
}

Status Authenticator::Reload() {
  std::lock_guard reload(reload_mu_);
  uint64_t generation = token_generation.load(std::memory_order_acquire);
  auto tokens = storage_.TokenList();
  if (!tokens.ok()) return tokens.status();
  auto next = std::make_shared<Snapshot>();
  for (ApiToken& token : *tokens) {
    next->by_hash.emplace(std::move(token.hash),
                          Principal{.token_name = std::move(token.name),
                                    .account_id = std::move(token.account_id),
                                    .admin = token.admin});
  }
  next->loaded_at = Clock::now();
  next->generation = generation;
  has_tokens_.store(!next->by_hash.empty(), std::memory_order_release);
  loaded_generation_.store(generation, std::memory_order_release);
  loaded_at_.store(next->loaded_at.time_since_epoch().count(), std::memory_order_release);
  std::lock_guard lock(mu_);
  snapshot_ = std::move(next);
  return Status::Ok();
}

Result<Principal> Authenticator::Authenticate(std::string_view authorization) {
  // Without tokens every request is the anonymous admin: decided from atomics while the
  // cache is fresh, so that requests on different threads do not meet on mu_.
  if (!enabled()) {
    int64_t loaded = loaded_at_.load(std::memory_order_acquire);
    bool fresh = loaded != 0 &&
                 Clock::now().time_since_epoch().count() - loaded <=
                     std::chrono::duration_cast<Clock::duration>(kMaxCacheAge).count() &&
                 loaded_generation_.load(std::memory_order_acquire) ==
                     token_generation.load(std::memory_order_acquire);
    if (fresh) return Principal::Anonymous();
  }
  auto snapshot = Current();
  if (!snapshot || Clock::now() - snapshot->loaded_at > kMaxCacheAge ||
      snapshot->generation != token_generation.load(std::memory_order_acquire)) {
    TASKMILL_RETURN_IF_ERROR(Reload());
    snapshot = Current();
  }
  if (!enabled()) return Principal::Anonymous();
  if (authorization.empty()) {
    return Unauthorized(
        "this server requires a token: send `Authorization: Bearer <token>` (make one with "
        "`taskmill token create`)");
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() <= kScheme.size() ||
      strncasecmp(authorization.data(), kScheme.data(), kScheme.size()) != 0) {
    return Unauthorized("the Authorization header must be `Bearer <token>`");
  }
  std::string_view secret = authorization.substr(kScheme.size());
  std::string hash = HashTokenSecret(secret);
  auto it = snapshot->by_hash.find(hash);
  if (it == snapshot->by_hash.end()) {
    // Perhaps made a moment ago by another process.
    TASKMILL_RETURN_IF_ERROR(Reload());
    snapshot = Current();
    it = snapshot->by_hash.find(hash);
  }
  // The map lookup found the entry by hash; comparing the full hashes in constant time
  // as well keeps the check itself free of timing differences.
  if (it == snapshot->by_hash.end() ||
      CRYPTO_memcmp(it->first.data(), hash.data(), hash.size()) != 0) {
    return Unauthorized("the token is not valid (revoked, or mistyped)");
  }
  return it->second;
}

}  // namespace taskmill::api
