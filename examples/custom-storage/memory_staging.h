// memory_staging.h — AN EXAMPLE, NOT FOR PRODUCTION: staged runs in the in-memory
// backend (Storage::RunStage, RunFinish::staged, RunListChildOutcomes): a flow's step
// stages its children while it runs; its finish releases or drops them. Each
// function but StageRelease takes db.mu; StageRelease's caller holds it for the
// finish it is part of.
#pragma once

#include <taskmill/storage.h>

#include <string>
#include <vector>

#include "memory_database.h"

namespace taskmill::example {

// Stages `runs` under `parent_id` while its attempt `attempt` is current; a (queue,
// id) already staged is skipped, and what an earlier attempt staged goes.
Status StageRuns(MemoryDatabase& db, const std::string& parent_queue, const std::string& parent_id,
                 int attempt, const std::vector<Run>& runs);
// At the end of attempt `attempt` of `parent_id` (a finish, a cancel, a flow's stop):
// releases (stores those whose (queue, id) is free, in the order staged) the runs
// that attempt staged, or drops them; either way no staged run of the parent is left.
// The caller holds db.mu.
void StageRelease(MemoryDatabase& db, const std::string& parent_id, int attempt, StagedRuns what);
// Drops the runs staged by attempts that are over (their parent no longer running
// that attempt): at open, as a database would for attempts lost to a crash.
void SweepStaged(MemoryDatabase& db);
// The outcomes of the stored runs of `parent_id`, oldest first, after `cursor` (an
// insertion number).
Result<ChildOutcomePage> ChildOutcomesInOrder(MemoryDatabase& db, const std::string& parent_id,
                                              const std::string& cursor, int limit);

}  // namespace taskmill::example
