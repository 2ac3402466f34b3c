// AN EXAMPLE, NOT FOR PRODUCTION (memory_cluster.h).
#include "memory_cluster.h"

namespace taskmill::example {

bool LeaseElect(MemoryDatabase& db, const std::string& name, const std::string& holder,
                TimePoint now, Duration ttl) {
  std::lock_guard lock(db.mu);
  auto it = db.leases.find(name);
  if (it == db.leases.end()) {
    db.leases[name] = LeaderLease{holder, now + ttl, 1};
    return true;
  }
  LeaderLease& lease = it->second;
  // A resigned lease (no holder) and an expired one are free.
  if (lease.holder != holder && !lease.holder.empty() && lease.until >= now) return false;
  if (lease.holder != holder) ++lease.term;
  lease.holder = holder;
  lease.until = now + ttl;
  return true;
}

Status LeaseResign(MemoryDatabase& db, const std::string& name, const std::string& holder) {
  std::lock_guard lock(db.mu);
  auto it = db.leases.find(name);
  if (it == db.leases.end() || it->second.holder != holder) return Status::Ok();
  it->second.holder.clear();
  it->second.until = TimePoint{};
  return Status::Ok();
}

namespace {
std::optional<LeaderLease> HeldLease(const MemoryDatabase& db, const std::string& name) {
  auto it = db.leases.find(name);
  if (it == db.leases.end() || it->second.holder.empty()) return std::nullopt;
  return it->second;
}
}  // namespace

std::optional<LeaderLease> LeaseGet(MemoryDatabase& db, const std::string& name) {
  std::lock_guard lock(db.mu);
  return HeldLease(db, name);
}

Status LeaseCheckFence(MemoryDatabase& db, const LeaderFence& fence) {
  std::optional<LeaderLease> lease = HeldLease(db, fence.lease);
  int64_t term = lease ? lease->term : 0;
  if (lease && term == fence.term) return Status::Ok();
  return Status::FailedPrecondition("lease '" + fence.lease + "' is at term " +
                                    std::to_string(term) + ", not " + std::to_string(fence.term) +
                                    ": a stale leader's launches are refused");
}

Status RunnerStoreBeat(MemoryDatabase& db, const RunnerInfo& runner) {
  std::lock_guard lock(db.mu);
  db.runners[runner.id] = runner;
  std::erase_if(db.runners, [&](const auto& entry) {
    return entry.second.last_seen < runner.last_seen - std::chrono::hours(1);
  });
  return Status::Ok();
}

std::vector<RunnerInfo> RunnersSeen(MemoryDatabase& db, TimePoint now, Duration forget_after) {
  std::lock_guard lock(db.mu);
  std::vector<RunnerInfo> seen;
  for (const auto& [id, runner] : db.runners) {
    if (runner.last_seen >= now - forget_after) seen.push_back(runner);
  }
  return seen;
}

Status TokenStore(MemoryDatabase& db, const ApiToken& token) {
  if (token.name.empty() || token.hash.empty()) {
    return Status::InvalidArgument("a token needs a name and a hash");
  }
  std::lock_guard lock(db.mu);
  for (const auto& [name, t] : db.tokens) {
    if (name == token.name || t.hash == token.hash) {
      return Status::Conflict("a token named '" + token.name + "' or with its hash exists");
    }
  }
  db.tokens[token.name] = token;
  return Status::Ok();
}

std::vector<ApiToken> TokensByName(MemoryDatabase& db) {
  std::lock_guard lock(db.mu);
  std::vector<ApiToken> out;
  for (const auto& [name, t] : db.tokens) out.push_back(t);
  return out;
}

Status TokenDelete(MemoryDatabase& db, const std::string& name) {
  std::lock_guard lock(db.mu);
  if (db.tokens.erase(name) == 0) return Status::NotFound("no token named '" + name + "'");
  return Status::Ok();
}

}  // namespace taskmill::example
