/* The C interface, exercised from C11 with its own mm and arch callbacks: a static page arena
 * with a fake physical address range, and an arch that records what it is asked to do. */
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
#define CHECK_STATUS(expr, want)                                                              \
  do {                                                                                        \
    s2pt_status got_ = (expr);                                                                \
    if (got_ != (want)) {                                                                     \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #expr, \
              (int)got_, s2pt_status_string(got_), (int)(want));                              \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

/* ---- mm: 512 pages of 4 KiB at fake physical address 0x8000_0000 ---- */
enum { PAGE = 4096, PAGES = 512 };
static const uint64_t kArenaPa = 0x80000000u;

struct arena {
  _Alignas(PAGE) unsigned char bytes[PAGES][PAGE];
  bool used[PAGES];
  uint32_t refcounts[PAGES];
  uint64_t in_use; /* bytes allocated and not freed */
  long fail_after; /* allocations left before failures start; negative: never fail */
  bool freed_live; /* free() of a block that was not allocated */
};
static struct arena arena;

static bool mm_alloc(void* ctx, uint64_t bytes, uint64_t* pa) {
  struct arena* a = ctx;
  if (a->fail_after == 0) return false;
  if (a->fail_after > 0) --a->fail_after;
  const size_t n = (size_t)(bytes / PAGE);
  for (size_t first = 0; first + n <= PAGES; first += n) { /* size-aligned runs only */
    bool free_run = true;
    for (size_t i = first; i < first + n; ++i)
      free_run = free_run && !a->used[i];
    if (!free_run) continue;
    for (size_t i = first; i < first + n; ++i)
      a->used[i] = true;
    memset(a->bytes[first], 0, n * PAGE);
    a->in_use += bytes;
    *pa = kArenaPa + first * PAGE;
    return true;
  }
  return false;
}
static void mm_free(void* ctx, uint64_t pa, uint64_t bytes) {
  struct arena* a = ctx;
  const size_t first = (size_t)((pa - kArenaPa) / PAGE);
  for (size_t i = first; i < first + bytes / PAGE; ++i) {
    if (!a->used[i]) a->freed_live = true;
    a->used[i] = false;
    memset(a->bytes[i], 0xA5, PAGE); /* a stale read of a freed table page sees garbage */
  }
  a->in_use -= bytes;
}
static void* mm_virt(void* ctx, uint64_t pa) {
  struct arena* a = ctx;
  return a->bytes[(pa - kArenaPa) / PAGE] + (pa - kArenaPa) % PAGE;
}
static uint32_t* mm_refcount(void* ctx, uint64_t pa) {
  struct arena* a = ctx;
  return &a->refcounts[(pa - kArenaPa) / PAGE];
}

/* ---- arch: records the sequence ---- */
enum op_kind { OP_TLBI, OP_DSB_ISHST, OP_DSB_ISH, OP_ISB, OP_DC, OP_IC };
struct op {
  enum op_kind kind;
  s2pt_tlbi_op tlbi;
  uint16_t vmid;
  uint64_t operand;
};
struct recorder {
  struct op ops[4096];
  size_t count;
};
static struct recorder rec;

static void push(struct recorder* r, struct op o) {
  if (r->count < sizeof r->ops / sizeof r->ops[0]) r->ops[r->count] = o;
  ++r->count;
}
static void arch_tlbi(void* ctx, uint16_t vmid, s2pt_tlbi_op op, uint64_t operand) {
  push(ctx, (struct op){OP_TLBI, op, vmid, operand});
}
static void arch_dsb_ishst(void* ctx) {
  push(ctx, (struct op){OP_DSB_ISHST, 0, 0, 0});
}
static void arch_dsb_ish(void* ctx) {
  push(ctx, (struct op){OP_DSB_ISH, 0, 0, 0});
}
static void arch_isb(void* ctx) {
  push(ctx, (struct op){OP_ISB, 0, 0, 0});
}
static void arch_dc(void* ctx, uint64_t pa, uint64_t bytes) {
  push(ctx, (struct op){OP_DC, 0, 0, pa + 0 * bytes});
}
static void arch_ic(void* ctx, uint64_t pa, uint64_t bytes) {
  push(ctx, (struct op){OP_IC, 0, 0, pa + 0 * bytes});
}

static size_t count_kind(enum op_kind kind) {
  size_t n = 0;
  for (size_t i = 0; i < rec.count && i < 4096; ++i)
    n += rec.ops[i].kind == kind;
  return n;
}

static const uint64_t MiB = 1024 * 1024;

/* The leaf observer: counts what it is told, and checks that each leaf's invalidation has
 * completed (a TLBI, then a DSB ISH) before it is reported. */
struct observed {
  size_t leaves;
  uint64_t bytes;
  bool reported_before_invalidation;
};
static void observe(void* ctx, const s2pt_unmapped_leaf* leaf) {
  struct observed* o = ctx;
  ++o->leaves;
  o->bytes += leaf->size;
  bool tlbi_seen = false;
  bool completed = false;
  for (size_t i = 0; i < rec.count && i < 4096; ++i) {
    if (rec.ops[i].kind == OP_TLBI) tlbi_seen = true, completed = false;
    if (rec.ops[i].kind == OP_DSB_ISH && tlbi_seen) completed = true;
  }
  if (!completed) o->reported_before_invalidation = true;
}

int main(void) {
  CHECK(s2pt_table_storage_size() <= sizeof(s2pt_table));
  CHECK(strstr(s2pt_status_string(S2PT_ERR_EXISTS), "exists") != NULL);
  CHECK(strcmp(s2pt_status_string(S2PT_ERR_INVALID_ARGUMENT), "invalid argument") == 0);

  arena.fail_after = -1;
  const s2pt_mm_ops mm = {mm_alloc, mm_free, mm_virt, mm_refcount, &arena};
  const s2pt_arch_ops arch = {.features = {.fwb = false, .tlbi_range = true, .ttl = true},
                              .tlbi = arch_tlbi,
                              .dsb_ishst = arch_dsb_ishst,
                              .dsb_ish = arch_dsb_ish,
                              .isb = arch_isb,
                              .dc_civac = arch_dc,
                              .ic_ivau = arch_ic,
                              .ctx = &rec};
  s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 5};
  s2pt_table table;

  /* Refused creations. */
  CHECK_STATUS(s2pt_table_create(NULL, &config, &mm, &arch), S2PT_ERR_INVALID_ARGUMENT);
  s2pt_mm_ops no_free = mm;
  no_free.free = NULL;
  CHECK_STATUS(s2pt_table_create(&table, &config, &no_free, &arch), S2PT_ERR_INVALID_ARGUMENT);
  s2pt_config bad = config;
  bad.granule = (s2pt_granule)13;
  CHECK_STATUS(s2pt_table_create(&table, &bad, &mm, &arch), S2PT_ERR_BAD_GEOMETRY);
  bad = config;
  bad.ipa_bits = 44; /* more than the PA size */
  CHECK_STATUS(s2pt_table_create(&table, &bad, &mm, &arch), S2PT_ERR_BAD_GEOMETRY);
  arena.fail_after = 0;
  CHECK_STATUS(s2pt_table_create(&table, &config, &mm, &arch), S2PT_ERR_NO_MEMORY);
  arena.fail_after = -1;
  CHECK(arena.in_use == 0);
  /* A table that was never created is refused, not used. */
  uint64_t done = 99;
  CHECK_STATUS(s2pt_write_protect(&table, 0, PAGE, &done), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(done == 0);

  CHECK_STATUS(s2pt_table_create(&table, &config, &mm, &arch), S2PT_OK);
  CHECK(arena.in_use == 2 * PAGE); /* 40-bit IPA, 4K: two concatenated root pages */
  const uint64_t vttbr = s2pt_vttbr(&table);
  CHECK((vttbr >> 48) == 5);
  CHECK((vttbr & 0xFFFFFFFFFFFFu) == kArenaPa); /* the first (8K-aligned) block of the arena */
  const uint64_t vtcr = s2pt_vtcr(&table);
  CHECK((vtcr & 0x3F) == 64 - 40); /* T0SZ */
  CHECK(((vtcr >> 6) & 3) == 1);   /* SL0: start at level 1 */
  CHECK(((vtcr >> 14) & 3) == 0);  /* TG0: 4K */
  CHECK(((vtcr >> 16) & 7) == 2);  /* PS: 40 bits */

  /* Map a 2 MiB block and a page; look them up. */
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  rec.count = 0;
  CHECK_STATUS(s2pt_map(&table, 0x40000000, 2 * MiB, 0x100000000, &rw, 0, &done), S2PT_OK);
  CHECK(done == 2 * MiB);
  CHECK(count_kind(OP_DC) == 1); /* no FWB: cleaned to PoC before it becomes reachable */
  CHECK(count_kind(OP_TLBI) == 0);
  s2pt_translation t;
  CHECK_STATUS(s2pt_lookup(&table, 0x40012345, &t), S2PT_OK);
  CHECK(t.level == 2 && t.size == 2 * MiB && t.base == 0x40000000);
  CHECK(t.pa == 0x100012345);
  CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_W) && t.attrs.mem == S2PT_MEM_NORMAL_WB);
  CHECK(t.attrs.sh == S2PT_SH_INNER && !t.attrs.clear_af);

  const s2pt_attrs dev = {.perm = S2PT_PERM_R, .mem = S2PT_MEM_DEVICE_NGNRE, .clear_af = true};
  CHECK_STATUS(s2pt_map(&table, 0x9000000, PAGE, 0x9000000, &dev, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x9000000, &t), S2PT_OK);
  CHECK(t.level == 3 && t.attrs.mem == S2PT_MEM_DEVICE_NGNRE && t.attrs.clear_af);

  /* Bad input: a specific error, nothing changed. */
  CHECK_STATUS(s2pt_map(&table, 0x40000000, PAGE, 0x200000000, &rw, 0, &done), S2PT_ERR_EXISTS);
  CHECK(done == 0);
  CHECK_STATUS(s2pt_map(&table, 0x50000800, PAGE, 0, &rw, 0, NULL), S2PT_ERR_UNALIGNED);
  CHECK_STATUS(s2pt_map(&table, 0x50000000, 0, 0, &rw, 0, NULL), S2PT_ERR_EMPTY_RANGE);
  CHECK_STATUS(s2pt_map(&table, (uint64_t)1 << 40, PAGE, 0, &rw, 0, NULL),
               S2PT_ERR_IPA_OUT_OF_RANGE);
  s2pt_attrs odd = rw;
  odd.mem = 9;
  CHECK_STATUS(s2pt_map(&table, 0x50000000, PAGE, 0, &odd, 0, NULL), S2PT_ERR_BAD_ATTRIBUTES);
  odd = rw;
  odd.sh = 7;
  CHECK_STATUS(s2pt_map(&table, 0x50000000, PAGE, 0, &odd, 0, NULL), S2PT_ERR_BAD_ATTRIBUTES);
  CHECK_STATUS(s2pt_map(&table, 0x50000000, PAGE, 0, NULL, 0, NULL), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_lookup(&table, 0x50000000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_unmap(&table, 0x40000000, PAGE, (s2pt_unmap_strategy)200, NULL),
               S2PT_ERR_UNSUPPORTED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);

  /* Write-protect: the change is invalidated before the call returns, in the architecture's
   * order: DSB ISHST, TLBI by IPA, DSB ISH, TLBI VMALLE1IS, DSB ISH, ISB. */
  rec.count = 0;
  CHECK_STATUS(s2pt_write_protect(&table, 0x40000000, 2 * MiB, NULL), S2PT_OK);
  CHECK(rec.count == 6);
  CHECK(rec.ops[0].kind == OP_DSB_ISHST);
  CHECK(rec.ops[1].kind == OP_TLBI && rec.ops[1].vmid == 5);
  CHECK(rec.ops[1].tlbi == S2PT_TLBI_IPAS2LE1IS || rec.ops[1].tlbi == S2PT_TLBI_RIPAS2LE1IS);
  CHECK(rec.ops[2].kind == OP_DSB_ISH);
  CHECK(rec.ops[3].kind == OP_TLBI && rec.ops[3].tlbi == S2PT_TLBI_VMALLE1IS);
  CHECK(rec.ops[4].kind == OP_DSB_ISH);
  CHECK(rec.ops[5].kind == OP_ISB);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.perm == S2PT_PERM_R);
  CHECK_STATUS(s2pt_relax(&table, 0x40000000, 2 * MiB, S2PT_PERM_X, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_X));
  CHECK_STATUS(s2pt_relax(&table, 0x40000000, 2 * MiB, 8, NULL), S2PT_ERR_BAD_ATTRIBUTES);

  /* Aging. */
  bool young = false;
  CHECK_STATUS(s2pt_test_and_clear_young(&table, 0x40000000, PAGE, &young), S2PT_OK);
  CHECK(young);
  CHECK_STATUS(s2pt_test_and_clear_young(&table, 0x40000000, PAGE, &young), S2PT_OK);
  CHECK(!young);
  CHECK_STATUS(s2pt_mkyoung(&table, 0x40000000, PAGE, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(!t.attrs.clear_af);
  CHECK_STATUS(s2pt_mkold(&table, 0x40000000, PAGE, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.clear_af);

  /* Annotations. */
  CHECK_STATUS(s2pt_annotate(&table, 0x60000000, 8 * PAGE, 7, NULL), S2PT_OK);
  CHECK(s2pt_owner(&table, 0x60003000) == 7);
  CHECK_STATUS(s2pt_annotate(&table, 0x40000000, PAGE, 7, NULL), S2PT_ERR_EXISTS);

  /* Out of table pages part-way: a valid table mapping exactly what was done. */
  arena.fail_after = 1;
  CHECK_STATUS(s2pt_map(&table, 0x7FE00000, 4 * MiB, 0x200000000, &rw, S2PT_MAP_NO_BLOCKS, &done),
               S2PT_ERR_NO_MEMORY);
  arena.fail_after = -1;
  CHECK(done == 2 * MiB); /* the first 2 MiB got their level-3 table, the second did not */
  CHECK_STATUS(s2pt_lookup(&table, 0x7FE00000 + done - PAGE, &t), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x7FE00000 + done, &t), S2PT_ERR_NOT_MAPPED);

  /* Unmap splits the block at the range's end, removes the rest, cleans after the TLBI. */
  rec.count = 0;
  CHECK_STATUS(s2pt_unmap(&table, 0x40000000, 1 * MiB, S2PT_UNMAP_PER_ENTRY, &done), S2PT_OK);
  CHECK(done == 1 * MiB);
  CHECK_STATUS(s2pt_lookup(&table, 0x400FF000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40100000, &t), S2PT_OK);
  CHECK(t.level == 3 && t.pa == 0x100100000);
  CHECK(count_kind(OP_DC) > 0);
  {
    /* Every DC CIVAC comes after a DSB ISH that completed a TLBI. */
    bool tlbi_pending = false;
    bool ordered = true;
    for (size_t i = 0; i < rec.count && i < 4096; ++i) {
      if (rec.ops[i].kind == OP_TLBI) tlbi_pending = true;
      if (rec.ops[i].kind == OP_DSB_ISH) tlbi_pending = false;
      if (rec.ops[i].kind == OP_DC && tlbi_pending) ordered = false;
    }
    CHECK(ordered);
  }

  /* The fast strategy, watched by a leaf observer. */
  struct observed seen = {0, 0, false};
  CHECK_STATUS(s2pt_set_leaf_observer(&table, observe, &seen), S2PT_OK);
  CHECK_STATUS(s2pt_map(&table, 0x80000000, 64 * PAGE, 0x300000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  rec.count = 0;
  CHECK_STATUS(s2pt_unmap(&table, 0x80000000, 64 * PAGE, S2PT_UNMAP_FAST, &done), S2PT_OK);
  CHECK(done == 64 * PAGE);
  CHECK(seen.leaves == 64 && seen.bytes == 64 * PAGE);
  CHECK(!seen.reported_before_invalidation);
  CHECK(count_kind(OP_TLBI) <= 2); /* one invalidation for the range, one VMALLE1IS */
  CHECK_STATUS(s2pt_lookup(&table, 0x80000000 + 63 * PAGE, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_set_leaf_observer(&table, NULL, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_unmap(&table, 0x80000000, PAGE, S2PT_UNMAP_DEFERRED, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_unmap(&table, 0x80000000, PAGE, S2PT_UNMAP_AUTO, NULL), S2PT_OK);

  /* Eager split of a 2 MiB block into pages, and collapse back. */
  CHECK_STATUS(s2pt_map(&table, 0xC0000000, 2 * MiB, 0x300000000, &rw, 0, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_split(&table, 0xC0000000, 2 * MiB, 3, 0, &done), S2PT_ERR_AGAIN);
  CHECK(done == 0);
  CHECK_STATUS(s2pt_split(&table, 0xC0000000, 2 * MiB, 3, 16, &done), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0xC0001000, &t), S2PT_OK);
  CHECK(t.level == 3 && t.pa == 0x300001000);
  CHECK_STATUS(s2pt_collapse(&table, 0xC0000000, 2 * MiB, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0xC0001000, &t), S2PT_OK);
  CHECK(t.level == 2 && t.pa == 0x300001000);
  CHECK_STATUS(s2pt_split(&table, 0xC0000000, 2 * MiB, 7, 16, NULL), S2PT_ERR_UNSUPPORTED);
  CHECK_STATUS(s2pt_unmap(&table, 0xC0000000, 2 * MiB, S2PT_UNMAP_FAST, NULL), S2PT_OK);

  /* Chunked teardown: a budget of one stops after each level-1 region. */
  CHECK_STATUS(s2pt_map(&table, 0x100000000, 2 * MiB, 0x300000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  CHECK_STATUS(s2pt_map(&table, 0x140000000, 2 * MiB, 0x300200000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  CHECK_STATUS(s2pt_destroy_range(&table, 0x100000000, 2048 * MiB, 1, &done), S2PT_ERR_AGAIN);
  CHECK(done == 1024 * MiB);
  CHECK_STATUS(s2pt_lookup(&table, 0x100000000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_lookup(&table, 0x140000000, &t), S2PT_OK);
  CHECK_STATUS(s2pt_destroy_range(&table, 0x100000000 + done, 2048 * MiB - done, 1, &done),
               S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x140000000, &t), S2PT_ERR_NOT_MAPPED);

  s2pt_stats stats;
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages * PAGE == arena.in_use);
  CHECK(stats.tlbi_ipa + stats.tlbi_range > 0 && stats.dsb_ish > 0);

  /* Destroy frees every page; afterwards the table is gone but the handle still answers. */
  s2pt_table_destroy(&table);
  CHECK(arena.in_use == 0);
  CHECK(!arena.freed_live);
  s2pt_table_destroy(&table);
  CHECK_STATUS(s2pt_map(&table, 0x40000000, PAGE, 0, &rw, 0, NULL), S2PT_ERR_UNSUPPORTED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40100000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages == 0 && stats.tlbi_vmid >= 1);

  /* The storage can hold a new table. */
  CHECK_STATUS(s2pt_table_create(&table, &config, &mm, &arch), S2PT_OK);
  CHECK_STATUS(s2pt_map(&table, 0, PAGE, 0x1000, &rw, 0, NULL), S2PT_OK);
  s2pt_table_destroy(&table);
  CHECK(arena.in_use == 0);

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed\n");
  return 0;
}
