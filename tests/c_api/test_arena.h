/* What the C tests share: CHECK, which counts failures, and the page arena behind their
 * s2pt_mm_ops callbacks. The arena hands out size-aligned runs of 4 KiB pages from 512 pages at
 * the fake physical address 0x8000_0000, counts the bytes in use, fails allocations on demand,
 * notes a free of pages that were not allocated, and poisons freed pages so that a stale read of
 * a freed table page sees garbage. A mutex makes it usable from several threads.
 *
 * It asks for POSIX (pthreads under -std=c11) unless the test did, before any other header. */
#ifndef S2PT_TESTS_C_API_TEST_ARENA_H
#define S2PT_TESTS_C_API_TEST_ARENA_H

#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "s2pt/s2pt.h"

static int failures;
#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) {                                                             \
      fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

enum { PAGE = 4096, ARENA_PAGES = 512 };
static const uint64_t kArenaPa = 0x80000000u;

struct arena {
  pthread_mutex_t lock;
  _Alignas(PAGE) unsigned char bytes[ARENA_PAGES][PAGE];
  bool used[ARENA_PAGES];
  uint32_t refcounts[ARENA_PAGES];
  uint64_t in_use; /* bytes allocated and not freed */
  long fail_after; /* allocations left before failures start; negative: never fail */
  bool freed_live; /* free() of a block that was not allocated */
};
static struct arena arena = {.lock = PTHREAD_MUTEX_INITIALIZER, .fail_after = -1};

static bool mm_alloc(void* ctx, uint64_t bytes, uint64_t* pa) {
  struct arena* a = ctx;
  const size_t n = (size_t)(bytes / PAGE);
  pthread_mutex_lock(&a->lock);
  bool found = false;
  const bool allowed = a->fail_after != 0;
  if (a->fail_after > 0) --a->fail_after;
  for (size_t first = 0; allowed && !found && first + n <= ARENA_PAGES; first += n) {
    bool free_run = true;
    for (size_t i = first; i < first + n; ++i)
      free_run = free_run && !a->used[i];
    if (!free_run) continue;
    for (size_t i = first; i < first + n; ++i)
      a->used[i] = true;
    memset(a->bytes[first], 0, n * PAGE);
    a->in_use += bytes;
    *pa = kArenaPa + first * PAGE;
    found = true;
  }
  pthread_mutex_unlock(&a->lock);
  return found;
}

static void mm_free(void* ctx, uint64_t pa, uint64_t bytes) {
  struct arena* a = ctx;
  pthread_mutex_lock(&a->lock);
  const size_t first = (size_t)((pa - kArenaPa) / PAGE);
  for (size_t i = first; i < first + bytes / PAGE; ++i) {
    if (!a->used[i]) a->freed_live = true;
    a->used[i] = false;
    memset(a->bytes[i], 0xA5, PAGE);
  }
  a->in_use -= bytes;
  pthread_mutex_unlock(&a->lock);
}

static void* mm_virt(void* ctx, uint64_t pa) {
  struct arena* a = ctx;
  return a->bytes[(pa - kArenaPa) / PAGE] + (pa - kArenaPa) % PAGE;
}

static uint32_t* mm_refcount(void* ctx, uint64_t pa) {
  struct arena* a = ctx;
  return &a->refcounts[(pa - kArenaPa) / PAGE];
}

static uint64_t arena_in_use(void) {
  pthread_mutex_lock(&arena.lock);
  const uint64_t bytes = arena.in_use;
  pthread_mutex_unlock(&arena.lock);
  return bytes;
}

static const s2pt_mm_ops arena_mm = {mm_alloc, mm_free, mm_virt, mm_refcount, &arena};

#endif
