/* The shared fault path through the C interface from several threads at once: each thread has its
 * own page cache and faults the same pages under the read side of a pthread rwlock, while a
 * writer write-protects them under the write side. Every page must end up installed exactly once,
 * at the right address, with no table page linked twice or leaked. Run under ThreadSanitizer by
 * the tsan preset. */
#define _POSIX_C_SOURCE 200809L /* pthread rwlocks and barriers under -std=c11 */
#include <sched.h>

#include "test_arena.h"

enum { THREADS = 4, GUEST_PAGES = 256, ROUNDS = 64 };
static const uint64_t kGuestIpa = 0x40000000u;
static const uint64_t kGuestPa = 0x100000000u;

/* ---- arch: the instructions have nothing to act on here ---- */
static void arch_tlbi(void* ctx, uint16_t vmid, s2pt_tlbi_op op, uint64_t operand) {
  (void)ctx, (void)vmid, (void)op, (void)operand;
}
static void arch_barrier(void* ctx) {
  (void)ctx;
}
static void arch_cache(void* ctx, uint64_t pa, uint64_t bytes) {
  (void)ctx, (void)pa, (void)bytes;
}

static s2pt_table table;
static pthread_rwlock_t mmu_lock = PTHREAD_RWLOCK_INITIALIZER;
static s2pt_page_cache caches[THREADS];
static pthread_barrier_t start; /* the faulting threads and the writer begin together */

struct fault_thread {
  unsigned cpu;
  unsigned long outcomes[4]; /* by s2pt_fault_outcome */
  unsigned long again;
  unsigned long errors;
};

static void* fault_loop(void* arg) {
  struct fault_thread* self = arg;
  s2pt_page_cache* cache = &caches[self->cpu];
  const unsigned needed = s2pt_fault_pages_needed(&table);
  pthread_barrier_wait(&start);
  for (unsigned round = 0; round < ROUNDS; ++round) {
    for (unsigned i = 0; i < GUEST_PAGES; ++i) {
      /* Each thread walks the pages in its own order, so that they meet on every one. */
      const uint64_t page = (i * (2 * self->cpu + 1) + round) % GUEST_PAGES;
      const s2pt_fault_request fault = {
          .ipa = kGuestIpa + page * PAGE + 8 * self->cpu,
          .pa = kGuestPa + page * PAGE,
          .leaf_bytes = PAGE,
          .attrs = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB}};
      if (s2pt_page_cache_topup(cache, &table, needed) != S2PT_OK) {
        ++self->errors;
        continue;
      }
      s2pt_status st;
      s2pt_fault_outcome outcome = S2PT_FAULT_MAX_ENUM;
      do {
        pthread_rwlock_rdlock(&mmu_lock);
        st = s2pt_handle_fault(&table, &fault, cache, &outcome);
        pthread_rwlock_unlock(&mmu_lock);
        if (st == S2PT_ERR_AGAIN) ++self->again;
      } while (st == S2PT_ERR_AGAIN);
      if (st == S2PT_OK && outcome <= S2PT_FAULT_ALREADY_RESOLVED) {
        ++self->outcomes[outcome];
      } else {
        ++self->errors;
      }
    }
  }
  return NULL;
}

static void* write_protect_loop(void* arg) {
  unsigned long* errors = arg;
  pthread_barrier_wait(&start);
  for (unsigned round = 0; round < ROUNDS; ++round) {
    pthread_rwlock_wrlock(&mmu_lock);
    if (s2pt_write_protect(&table, kGuestIpa, GUEST_PAGES * PAGE, NULL) != S2PT_OK) ++*errors;
    pthread_rwlock_unlock(&mmu_lock);
    sched_yield();
  }
  return NULL;
}

int main(void) {
  const s2pt_mm_ops mm = arena_mm;
  const s2pt_arch_ops arch = {.features = {.fwb = true, .tlbi_range = true, .ttl = true},
                              .tlbi = arch_tlbi,
                              .dsb_ishst = arch_barrier,
                              .dsb_ish = arch_barrier,
                              .isb = arch_barrier,
                              .dc_civac = arch_cache,
                              .ic_ivau = arch_cache,
                              .ctx = NULL,
                              .ic_ialluis = arch_barrier};
  /* 39-bit IPA, 4K: a one-page root at level 1, then levels 2 and 3. */
  const s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 39, .pa_bits = 40, .vmid = 3};
  if (s2pt_table_create(&table, &config, &mm, &arch) != S2PT_OK) {
    fprintf(stderr, "table creation failed\n");
    return 1;
  }
  for (unsigned cpu = 0; cpu < THREADS; ++cpu)
    CHECK(s2pt_page_cache_init(&caches[cpu], &table, cpu) == S2PT_OK);

  CHECK(pthread_barrier_init(&start, NULL, THREADS + 1) == 0);
  struct fault_thread faulters[THREADS];
  pthread_t threads[THREADS + 1];
  unsigned long writer_errors = 0;
  for (unsigned cpu = 0; cpu < THREADS; ++cpu) {
    memset(&faulters[cpu], 0, sizeof faulters[cpu]);
    faulters[cpu].cpu = cpu;
    CHECK(pthread_create(&threads[cpu], NULL, fault_loop, &faulters[cpu]) == 0);
  }
  CHECK(pthread_create(&threads[THREADS], NULL, write_protect_loop, &writer_errors) == 0);
  for (unsigned i = 0; i <= THREADS; ++i)
    pthread_join(threads[i], NULL);

  unsigned long mapped = 0, errors = writer_errors;
  for (unsigned cpu = 0; cpu < THREADS; ++cpu) {
    mapped += faulters[cpu].outcomes[S2PT_FAULT_MAPPED];
    errors += faulters[cpu].errors;
  }
  CHECK(errors == 0);
  CHECK(mapped == GUEST_PAGES); /* every page installed once, however many CPUs raced for it */

  /* Every page translates to its memory; a last fault gives back what a write-protect took. */
  const unsigned needed = s2pt_fault_pages_needed(&table);
  for (uint64_t page = 0; page < GUEST_PAGES; ++page) {
    s2pt_translation t;
    CHECK(s2pt_lookup(&table, kGuestIpa + page * PAGE, &t) == S2PT_OK);
    CHECK(t.level == 3 && t.pa == kGuestPa + page * PAGE);
    const s2pt_fault_request fault = {
        .ipa = kGuestIpa + page * PAGE,
        .pa = kGuestPa + page * PAGE,
        .leaf_bytes = PAGE,
        .attrs = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB}};
    s2pt_fault_outcome outcome;
    CHECK(s2pt_page_cache_topup(&caches[0], &table, needed) == S2PT_OK);
    CHECK(s2pt_handle_fault(&table, &fault, &caches[0], &outcome) == S2PT_OK);
    CHECK(outcome == S2PT_FAULT_RELAXED || outcome == S2PT_FAULT_ALREADY_RESOLVED);
    CHECK(s2pt_lookup(&table, kGuestIpa + page * PAGE, &t) == S2PT_OK);
    CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_W));
  }

  /* One level-2 and one level-3 table were linked: a page that lost the race to be linked went
   * back to its cache, none was leaked or linked twice. */
  s2pt_stats stats;
  CHECK(s2pt_get_stats(&table, &stats) == S2PT_OK);
  CHECK(stats.table_pages == 1 + 2);
  unsigned cached = 0;
  for (unsigned cpu = 0; cpu < THREADS; ++cpu)
    cached += s2pt_page_cache_count(&caches[cpu]);
  CHECK(arena_in_use() == (stats.table_pages + cached) * PAGE);

  for (unsigned cpu = 0; cpu < THREADS; ++cpu)
    CHECK(s2pt_page_cache_drain(&caches[cpu], &table) == S2PT_OK);
  s2pt_table_destroy(&table);
  CHECK(arena_in_use() == 0);
  CHECK(!arena.freed_live);

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  pthread_barrier_destroy(&start);
  /* How the installs were shared out says how much the threads overlapped (not checked: it
   * depends on the scheduler). */
  printf("C API, concurrent faults: all checks passed; installed/relaxed per thread:");
  for (unsigned cpu = 0; cpu < THREADS; ++cpu) {
    printf(" %lu/%lu", faulters[cpu].outcomes[S2PT_FAULT_MAPPED],
           faulters[cpu].outcomes[S2PT_FAULT_RELAXED]);
  }
  printf("\n");
  return 0;
}
