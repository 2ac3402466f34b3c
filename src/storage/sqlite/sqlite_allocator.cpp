#include "storage/sqlite/sqlite_allocator.h"

#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace taskmill::sqlite {
namespace {

// Size classes of 32, 64, ..., 1024 bytes. A block is an 8-byte header holding its
// usable size, then the bytes SQLite gets (8-byte aligned, as SQLite requires).
constexpr int kMinShift = 5;
constexpr int kClasses = 6;
static_assert((1 << (kMinShift + kClasses - 1)) == kCachedBlockMax);
// Blocks kept per class and thread: a statement's registers for a batch of claims
// reuse the same few dozen, and the bound caps what an idle thread holds (under
// 256 KiB).
constexpr int kCachedPerClass = 128;
constexpr size_t kHeader = sizeof(int64_t);

struct FreeBlock {
  FreeBlock* next;
};

// Trivially destructible, so it stays usable while other thread-local destructors
// (a connection closed at thread exit) free memory; `closed` then sends every block
// to free().
struct ThreadCache {
  FreeBlock* head[kClasses];
  int count[kClasses];
  bool closed;
};
thread_local ThreadCache t_cache;

void FreeRaw(void* user) { std::free(static_cast<char*>(user) - kHeader); }

struct ThreadCacheFlusher {
  ~ThreadCacheFlusher() {
    t_cache.closed = true;
    for (int c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = t_cache.head[c]) {
        t_cache.head[c] = b->next;
        FreeRaw(b);
      }
      t_cache.count[c] = 0;
    }
  }
};
thread_local ThreadCacheFlusher t_flusher;

ThreadCache& Cache() {
  // The first use in a thread registers the flusher's destructor for its exit.
  static_cast<void>(&t_flusher);
  return t_cache;
}

int ClassOf(int n) {
  int c = 0;
  while ((1 << (kMinShift + c)) < n) ++c;
  return c;
}

int RoundUp(int n) {
  if (n <= kCachedBlockMax) return 1 << (kMinShift + ClassOf(n));
  return (n + 7) & ~7;
}

int64_t& SizeOf(void* user) {
  return *reinterpret_cast<int64_t*>(static_cast<char*>(user) - kHeader);
}

void* AllocateRaw(int size) {
  auto* raw = static_cast<char*>(std::malloc(kHeader + static_cast<size_t>(size)));
  if (!raw) return nullptr;
  *reinterpret_cast<int64_t*>(raw) = size;
  return raw + kHeader;
}

void* Malloc(int n) {
  int size = RoundUp(n);
  if (size <= kCachedBlockMax) {
    ThreadCache& cache = Cache();
    int c = ClassOf(size);
    if (FreeBlock* b = cache.head[c]) {
      cache.head[c] = b->next;
      --cache.count[c];
      return b;  // its header still holds its size
    }
  }
  return AllocateRaw(size);
}

void Free(void* p) {
  if (!p) return;
  int64_t size = SizeOf(p);
  if (size <= kCachedBlockMax) {
    ThreadCache& cache = Cache();
    int c = ClassOf(static_cast<int>(size));
    if (!cache.closed && cache.count[c] < kCachedPerClass) {
      auto* b = static_cast<FreeBlock*>(p);
      b->next = cache.head[c];
      cache.head[c] = b;
      ++cache.count[c];
      return;
    }
  }
  FreeRaw(p);
}

void* Realloc(void* p, int n) {
  int64_t size = SizeOf(p);
  if (n <= size) return p;
  int new_size = RoundUp(n);
  if (size > kCachedBlockMax) {
    auto* raw = static_cast<char*>(
        std::realloc(static_cast<char*>(p) - kHeader, kHeader + static_cast<size_t>(new_size)));
    if (!raw) return nullptr;
    *reinterpret_cast<int64_t*>(raw) = new_size;
    return raw + kHeader;
  }
  void* q = Malloc(new_size);
  if (!q) return nullptr;
  std::memcpy(q, p, static_cast<size_t>(size));
  Free(p);
  return q;
}

int Size(void* p) { return p ? static_cast<int>(SizeOf(p)) : 0; }
int Init(void*) { return SQLITE_OK; }
void Shutdown(void*) {}

constexpr sqlite3_mem_methods kMethods = {Malloc,  Free, Realloc,  Size,
                                          RoundUp, Init, Shutdown, nullptr};

}  // namespace

const sqlite3_mem_methods& CachingAllocator() { return kMethods; }

}  // namespace taskmill::sqlite
