// sqlite_allocator.h — the memory allocator taskmill gives SQLite: per-thread free
// lists of small blocks in front of malloc.
//
// Why: Debian's SQLite is built without its lookaside allocator, so every text value a
// statement reads into a register is a malloc, freed when the statement is reset. A
// claim of one run made about 40 of each, all freed at once, and glibc's per-thread
// cache keeps only 7 blocks of a size: most took malloc's slow path, a fifth of the
// writer's work. SQLite offers no packaged alternative (lookaside is compiled out), so
// this is written by hand.
#pragma once

#include <sqlite3.h>

namespace taskmill::sqlite {

// The allocator's methods, for sqlite3_config(SQLITE_CONFIG_MALLOC, ...) and tests.
const sqlite3_mem_methods& CachingAllocator();

// Blocks of at most this many bytes are cached; larger ones go to malloc directly.
inline constexpr int kCachedBlockMax = 1024;

}  // namespace taskmill::sqlite
