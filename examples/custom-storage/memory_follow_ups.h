// memory_follow_ups.h — AN EXAMPLE, NOT FOR PRODUCTION: what an accepted finish brings
// into its commit in the in-memory backend (RunFollowUp, RunSettle in taskmill/storage.h).
#pragma once

#include <taskmill/storage.h>

#include "memory_database.h"

namespace taskmill::example {

// Releases or drops the runs the finished run staged (RunFinish::staged), stores the
// finish's follow-ups whose conditions hold and applies its settle. The
// caller holds db.mu, which makes the whole finish one commit.
// Answers whether the settle ended its run.
bool ApplyFollowUps(MemoryDatabase& db, const RunFinish& f);

}  // namespace taskmill::example
