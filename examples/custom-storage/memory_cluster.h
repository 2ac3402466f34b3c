// memory_cluster.h — AN EXAMPLE, NOT FOR PRODUCTION: what the nodes of a cluster
// share in the in-memory backend: the leader leases (Storage::LeaderAttemptElect,
// LeaderResign, LeaderGet), the fence of a leader's writes (RunPutScheduled) and the
// runners' beats (RunnerBeat, RunnerList), and the API tokens (TokenCreate, TokenList,
// TokenRemove). Each function takes db.mu, but
// LeaseCheckFence, whose caller holds it for the write the fence guards.
#pragma once

#include <taskmill/storage.h>

#include <optional>
#include <string>
#include <vector>

#include "memory_database.h"

namespace taskmill::example {

// Takes or renews the lease; true when `holder` leads after the call. A change of
// holder starts the next term; a renewal keeps it.
bool LeaseElect(MemoryDatabase& db, const std::string& name, const std::string& holder,
                TimePoint now, Duration ttl);
// Clears the holder and keeps the term, so that the next holder's follows on.
Status LeaseResign(MemoryDatabase& db, const std::string& name, const std::string& holder);
// The lease as stored; nullopt when never taken or resigned.
std::optional<LeaderLease> LeaseGet(MemoryDatabase& db, const std::string& name);
// Ok when the lease `fence.lease` is held at term `fence.term`, else kFailedPrecondition.
Status LeaseCheckFence(MemoryDatabase& db, const LeaderFence& fence);

// Replaces the runner's beat; forgets beats an hour older than it.
Status RunnerStoreBeat(MemoryDatabase& db, const RunnerInfo& runner);
// The runners seen within `forget_after` of `now`, by id.
std::vector<RunnerInfo> RunnersSeen(MemoryDatabase& db, TimePoint now, Duration forget_after);

// Stores a token; kConflict when its name or hash exists.
Status TokenStore(MemoryDatabase& db, const ApiToken& token);
// Every token, by name.
std::vector<ApiToken> TokensByName(MemoryDatabase& db);
// kNotFound when no token has that name.
Status TokenDelete(MemoryDatabase& db, const std::string& name);

}  // namespace taskmill::example
