/* The C interface, exercised from C11 with its own mm and arch callbacks: a static page arena
 * with a fake physical address range, and an arch that records what it is asked to do. */
#include "test_arena.h"

#define CHECK_STATUS(expr, want)                                                              \
  do {                                                                                        \
    s2pt_status got_ = (expr);                                                                \
    if (got_ != (want)) {                                                                     \
      fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d\n", __FILE__, __LINE__, #expr, \
              (int)got_, s2pt_status_string(got_), (int)(want));                              \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

/* ---- arch: records the sequence ---- */
enum op_kind {
  OP_TLBI,
  OP_DSB_ISHST,
  OP_DSB_ISH,
  OP_ISB,
  OP_DC,
  OP_IC,
  OP_DSB_NSHST,
  OP_DSB_NSH,
  OP_IC_ALL,
  OP_ENTER,
  OP_LEAVE
};
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
static void arch_dsb_nshst(void* ctx) {
  push(ctx, (struct op){OP_DSB_NSHST, 0, 0, 0});
}
static void arch_dsb_nsh(void* ctx) {
  push(ctx, (struct op){OP_DSB_NSH, 0, 0, 0});
}
static void arch_ic_all(void* ctx) {
  push(ctx, (struct op){OP_IC_ALL, 0, 0, 0});
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
static void arch_enter(void* ctx, uint64_t vttbr) {
  push(ctx, (struct op){OP_ENTER, 0, 0, vttbr});
}
static void arch_leave(void* ctx) {
  push(ctx, (struct op){OP_LEAVE, 0, 0, 0});
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

/* What a call that must change nothing could have changed: pages held, table pages and
 * maintenance issued, arch calls, pages in the cache. */
struct snapshot {
  uint64_t in_use;
  s2pt_stats stats;
  size_t ops;
  unsigned cached;
};
static struct snapshot take_snapshot(const s2pt_table* table, const s2pt_page_cache* cache) {
  struct snapshot s;
  memset(&s, 0, sizeof s);
  s.in_use = arena_in_use();
  CHECK_STATUS(s2pt_get_stats(table, &s.stats), S2PT_OK);
  s.ops = rec.count;
  s.cached = s2pt_page_cache_count(cache);
  return s;
}
static bool unchanged(const struct snapshot* before, const s2pt_table* table,
                      const s2pt_page_cache* cache) {
  const struct snapshot now = take_snapshot(table, cache);
  return now.in_use == before->in_use && now.ops == before->ops && now.cached == before->cached &&
         memcmp(&now.stats, &before->stats, sizeof now.stats) == 0;
}

/* Whether the last TLBI recorded was completed by a DSB ISH after it. */
static bool last_tlbi_completed(void) {
  bool pending = false;
  for (size_t i = 0; i < rec.count && i < 4096; ++i) {
    if (rec.ops[i].kind == OP_TLBI) pending = true;
    if (rec.ops[i].kind == OP_DSB_ISH) pending = false;
  }
  return !pending;
}

static const s2pt_table never_created; /* zeroed storage: no table was created in it */

/* The shared fault path, one call at a time: page caches, each fault outcome, refusals. */
/* A permission fault invalidates on this CPU only: DSB NSHST, TLBI IPAS2E1, DSB NSH, TLBI VMALLE1,
 * DSB NSH, ISB. Arch ops without the non-shareable barriers get the inner-shareable forms. */
static void test_local_invalidation(const s2pt_mm_ops* mm, s2pt_arch_ops arch) {
  for (int local = 0; local < 2; ++local) {
    arch.dsb_nshst = local ? arch_dsb_nshst : NULL;
    arch.dsb_nsh = local ? arch_dsb_nsh : NULL;
    s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 8};
    s2pt_table table;
    CHECK_STATUS(s2pt_table_create(&table, &config, mm, &arch), S2PT_OK);
    const s2pt_attrs r = {.perm = S2PT_PERM_R, .mem = S2PT_MEM_NORMAL_WB, .sh = S2PT_SH_INNER};
    CHECK_STATUS(s2pt_map(&table, 0x40000000, PAGE, 0x100000000, &r, 0, NULL), S2PT_OK);
    s2pt_page_cache cache;
    CHECK_STATUS(s2pt_page_cache_init(&cache, &table, 0), S2PT_OK);
    CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, s2pt_fault_pages_needed(&table)), S2PT_OK);
    s2pt_fault_request fault = {
        .ipa = 0x40000000, .pa = 0x100000000, .leaf_bytes = PAGE, .attrs = r};
    fault.attrs.perm = S2PT_PERM_R | S2PT_PERM_W;
    rec.count = 0;
    s2pt_fault_outcome outcome = S2PT_FAULT_MAX_ENUM;
    CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
    CHECK(outcome == S2PT_FAULT_RELAXED);
    const enum op_kind want[] = {local ? OP_DSB_NSHST : OP_DSB_ISHST, OP_TLBI,
                                 local ? OP_DSB_NSH : OP_DSB_ISH,     OP_TLBI,
                                 local ? OP_DSB_NSH : OP_DSB_ISH,     OP_ISB};
    CHECK(rec.count == 6);
    for (size_t i = 0; i < 6 && i < rec.count; ++i)
      CHECK(rec.ops[i].kind == want[i]);
    CHECK(rec.ops[1].tlbi == (local ? S2PT_TLBI_IPAS2E1 : S2PT_TLBI_IPAS2E1IS));
    CHECK(rec.ops[3].tlbi == (local ? S2PT_TLBI_VMALLE1 : S2PT_TLBI_VMALLE1IS));
    s2pt_stats stats;
    CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
    CHECK(stats.tlbi_local == 2 && stats.dsb_nsh == 2 && stats.dsb_nshst == 1);
    CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK);
    s2pt_table_destroy(&table);
  }
}

/* With enter_context/leave_context, every invalidation sequence is bracketed once, with the
 * table's whole VTTBR_EL2 (root and VMID); the cache maintenance is not. Setting one without the
 * other is refused. */
static void test_guest_context(const s2pt_mm_ops* mm, s2pt_arch_ops arch) {
  s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 9};
  s2pt_table table;
  arch.enter_context = arch_enter;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &arch), S2PT_ERR_INVALID_ARGUMENT);
  arch.enter_context = NULL;
  arch.leave_context = arch_leave;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &arch), S2PT_ERR_INVALID_ARGUMENT);
  arch.enter_context = arch_enter;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &arch), S2PT_OK);
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  CHECK_STATUS(s2pt_map(&table, 0x40000000, 4 * PAGE, 0x100000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  rec.count = 0;
  CHECK_STATUS(s2pt_unmap(&table, 0x40000000, 4 * PAGE, S2PT_UNMAP_DEFERRED, NULL), S2PT_OK);
  /* Without FWB each page is cleaned after its own invalidation completed: every TLBI and
   * barrier sequence sits inside one enter/leave pair, every DC CIVAC outside. */
  CHECK(rec.count > 2 && rec.ops[0].kind == OP_ENTER);
  int inside = 0;
  for (size_t i = 0; i < rec.count; ++i) {
    const enum op_kind k = rec.ops[i].kind;
    if (k == OP_ENTER) {
      CHECK(!inside && rec.ops[i].operand == s2pt_vttbr(&table));
      inside = 1;
    } else if (k == OP_LEAVE) {
      CHECK(inside);
      inside = 0;
    } else if (k == OP_TLBI || k == OP_DSB_ISHST) {
      CHECK(inside);
    } else if (k == OP_DC) {
      CHECK(!inside);
    }
  }
  CHECK(!inside);
  /* One per page, then the emptied tables'. */
  CHECK(count_kind(OP_ENTER) >= 5 && count_kind(OP_ENTER) == count_kind(OP_LEAVE));
  CHECK(count_kind(OP_DC) == 4);
  s2pt_table_destroy(&table);
}

/* Dirty logging from C: a logged write fault sets its bit, s2pt_clear_dirty takes it and
 * write-protects the page under one invalidation sequence, bad input is refused. */
/* 52-bit addresses: refused without the CPU's FEAT_LPA2; with it, a 4K table from a level -1
 * root maps the last page of the 52-bit space; LPA2 has no shareability field. */
static void test_fifty_two_bit(const s2pt_mm_ops* mm, const s2pt_arch_ops* arch) {
  s2pt_config config = {
      .granule = S2PT_GRANULE_4K, .ipa_bits = 52, .pa_bits = 52, .vmid = 11, .max_root_pages = 1};
  s2pt_table table;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, arch), S2PT_ERR_MISSING_FEATURE);
  s2pt_arch_ops lpa2_arch = *arch;
  lpa2_arch.features.lpa2 = true;
  config.max_root_pages = 3;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &lpa2_arch), S2PT_ERR_BAD_GEOMETRY);
  config.max_root_pages = 1;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &lpa2_arch), S2PT_OK);
  CHECK((s2pt_vtcr(&table) >> 32) == 3); /* DS and SL2 */
  const uint64_t top = (UINT64_C(1) << 52) - PAGE;
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  const s2pt_attrs outer = {
      .perm = S2PT_PERM_R, .mem = S2PT_MEM_NORMAL_WB, .sh = S2PT_SH_OUTER};
  CHECK_STATUS(s2pt_map(&table, top, PAGE, UINT64_C(0xF000000001000), &outer, 0, NULL),
               S2PT_ERR_BAD_ATTRIBUTES);
  CHECK_STATUS(s2pt_map(&table, top, PAGE, UINT64_C(0xF000000001000), &rw, 0, NULL), S2PT_OK);
  s2pt_translation t;
  CHECK_STATUS(s2pt_lookup(&table, top + 8, &t), S2PT_OK);
  CHECK(t.pa == UINT64_C(0xF000000001008));
  CHECK_STATUS(s2pt_unmap(&table, top, PAGE, S2PT_UNMAP_PER_ENTRY, NULL), S2PT_OK);
  s2pt_table_destroy(&table);
}

static void test_dirty_log(const s2pt_mm_ops* mm, const s2pt_arch_ops* arch) {
  s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 10};
  s2pt_table table;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, arch), S2PT_OK);
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  CHECK_STATUS(s2pt_map(&table, 0x40000000, 64 * PAGE, 0x100000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  uint64_t dirty_words[1] = {0};
  const s2pt_dirty_bitmap dirty = {dirty_words, 64};
  const s2pt_dirty_bitmap small = {dirty_words, 63};
  const s2pt_dirty_log_options bad_mode = {.blocks = (s2pt_block_splitting)5};
  const s2pt_dirty_log_options hardware = {.tracking = S2PT_TRACK_HARDWARE,
                                           .blocks = S2PT_SPLIT_EAGER};
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, NULL, NULL),
               S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &small, NULL),
               S2PT_ERR_BITMAP_TOO_SMALL);
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &dirty, &bad_mode),
               S2PT_ERR_BAD_FLAGS);
  /* No hw_dirty in the arch's features (nor in the config): no hardware tracking. */
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &dirty, &hardware),
               S2PT_ERR_MISSING_FEATURE);
  CHECK(s2pt_vtcr(&table) == (s2pt_vtcr(&table) & ~(UINT64_C(3) << 21)));
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &dirty, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, PAGE, &dirty, NULL),
               S2PT_ERR_ALREADY_LOGGING);
  CHECK_STATUS(s2pt_sync_dirty(&table, 0x80000000, PAGE), S2PT_ERR_NOT_LOGGING);

  s2pt_page_cache cache;
  CHECK_STATUS(s2pt_page_cache_init(&cache, &table, 0), S2PT_OK);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, s2pt_fault_pages_needed(&table)), S2PT_OK);
  s2pt_fault_request fault = {.ipa = 0x40000000 + 9 * PAGE,
                              .pa = 0x100000000 + 9 * PAGE,
                              .leaf_bytes = PAGE,
                              .attrs = rw};
  s2pt_fault_outcome outcome = S2PT_FAULT_MAX_ENUM;
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_RELAXED);
  CHECK(dirty_words[0] == (UINT64_C(1) << 9));

  uint64_t mask_words[1] = {~UINT64_C(0)};
  uint64_t cleared_words[1] = {0};
  const s2pt_dirty_bitmap mask = {mask_words, 64};
  const s2pt_dirty_bitmap cleared = {cleared_words, 64};
  CHECK_STATUS(s2pt_clear_dirty(&table, 0x40000000, 64 * PAGE, NULL, &cleared),
               S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_clear_dirty(&table, 0x80000000, PAGE, &mask, &cleared), S2PT_ERR_NOT_LOGGING);
  s2pt_stats before;
  CHECK_STATUS(s2pt_get_stats(&table, &before), S2PT_OK);
  CHECK_STATUS(s2pt_clear_dirty(&table, 0x40000000, 64 * PAGE, &mask, &cleared), S2PT_OK);
  s2pt_stats after;
  CHECK_STATUS(s2pt_get_stats(&table, &after), S2PT_OK);
  CHECK(cleared_words[0] == (UINT64_C(1) << 9) && dirty_words[0] == 0);
  CHECK(after.dsb_ishst - before.dsb_ishst == 1);
  s2pt_translation t;
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000 + 9 * PAGE, &t), S2PT_OK);
  CHECK(t.attrs.perm == S2PT_PERM_R);

  CHECK_STATUS(s2pt_disable_dirty_log(&table, 0x40000000, PAGE, false), S2PT_ERR_NOT_LOGGING);
  CHECK_STATUS(s2pt_disable_dirty_log(&table, 0x40000000, 64 * PAGE, false), S2PT_OK);
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK);
  s2pt_table_destroy(&table);

  /* With FEAT_HAFDBS and the configuration's consent: VTCR_EL2.HA and HD, hardware tracking. */
  s2pt_arch_ops hw_arch = *arch;
  hw_arch.features.hw_dirty = true;
  config.hw_dirty = true;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, &hw_arch), S2PT_OK);
  CHECK(((s2pt_vtcr(&table) >> 21) & 3) == 3);
  CHECK_STATUS(s2pt_map(&table, 0x40000000, 64 * PAGE, 0x100000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  const s2pt_dirty_log_options lazy_hardware = {.tracking = S2PT_TRACK_HARDWARE};
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &dirty, &lazy_hardware),
               S2PT_ERR_BAD_FLAGS);
  CHECK_STATUS(s2pt_enable_dirty_log(&table, 0x40000000, 64 * PAGE, &dirty, &hardware), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.perm == S2PT_PERM_R); /* writable-clean: read-only until the hardware dirties it */
  CHECK_STATUS(s2pt_sync_dirty(&table, 0x40000000, 64 * PAGE), S2PT_OK);
  CHECK_STATUS(s2pt_disable_dirty_log(&table, 0x40000000, 64 * PAGE, false), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_W));
  s2pt_table_destroy(&table);
}

static void test_fault_path(const s2pt_mm_ops* mm, const s2pt_arch_ops* arch) {
  s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 6};
  s2pt_table table;
  CHECK_STATUS(s2pt_table_create(&table, &config, mm, arch), S2PT_OK);
  const uint64_t root_bytes = arena_in_use();
  const unsigned needed = s2pt_fault_pages_needed(&table);
  CHECK(needed == 2); /* levels 1 to 3: a level-2 and a level-3 table at most */
  CHECK(s2pt_fault_pages_needed(NULL) == 0);
  CHECK(s2pt_fault_pages_needed(&never_created) == 0);

  /* Refused initialisations leave the storage alone. */
  s2pt_page_cache cache;
  memset(&cache, 0x5A, sizeof cache);
  s2pt_page_cache untouched = cache;
  CHECK_STATUS(s2pt_page_cache_init(NULL, &table, 0), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_init(&cache, NULL, 0), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_init(&cache, (s2pt_table*)&never_created, 0),
               S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_init(&cache, &table, S2PT_MAX_CPUS), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(memcmp(&cache, &untouched, sizeof cache) == 0);
  /* A cache that was never initialised is refused by every call. */
  CHECK(s2pt_page_cache_count(&cache) == 0);
  CHECK(s2pt_page_cache_count(NULL) == 0);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, 1), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(arena_in_use() == root_bytes);

  CHECK_STATUS(s2pt_page_cache_init(&cache, &table, S2PT_MAX_CPUS - 1), S2PT_OK);
  CHECK(s2pt_page_cache_count(&cache) == 0);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, S2PT_PAGE_CACHE_CAPACITY + 1),
               S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_topup(NULL, &table, 1), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, NULL, 1), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_drain(NULL, &table), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_page_cache_drain(&cache, NULL), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(s2pt_page_cache_count(&cache) == 0 && arena_in_use() == root_bytes);

  /* The allocator runs dry during a top-up: the cache stays usable with what it got. */
  arena.fail_after = 1;
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, needed), S2PT_ERR_NO_MEMORY);
  arena.fail_after = -1;
  CHECK(s2pt_page_cache_count(&cache) == 1);
  CHECK(arena_in_use() == root_bytes + PAGE);

  /* Too few pages in the cache: no_memory, nothing changed. */
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  s2pt_fault_request fault = {
      .ipa = 0x40000123, .pa = 0x100000000, .leaf_bytes = PAGE, .attrs = rw};
  s2pt_fault_outcome outcome = S2PT_FAULT_MAX_ENUM;
  s2pt_translation t;
  rec.count = 0;
  struct snapshot before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_ERR_NO_MEMORY);
  CHECK(unchanged(&before, &table, &cache));
  CHECK(outcome == S2PT_FAULT_MAX_ENUM);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_ERR_NOT_MAPPED);

  /* A fault on an unmapped page (the faulting address anywhere in it) maps it, with the tables
   * above it from the cache. */
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, needed), S2PT_OK);
  CHECK(s2pt_page_cache_count(&cache) == needed);
  rec.count = 0;
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_MAPPED);
  CHECK(s2pt_page_cache_count(&cache) == 0);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.level == 3 && t.base == 0x40000000 && t.pa == 0x100000000);
  CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_W) && !t.attrs.clear_af);
  CHECK_STATUS(s2pt_lookup(&table, 0x40001000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK(count_kind(OP_DC) == 1);   /* no FWB: cleaned to PoC before it became reachable */
  CHECK(count_kind(OP_TLBI) == 0); /* nothing was valid before: nothing to invalidate */
  s2pt_stats stats;
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages * PAGE == root_bytes + 2 * PAGE);
  CHECK(arena_in_use() == root_bytes + 2 * PAGE); /* the cache's pages became table pages */

  /* The same fault again (another CPU got there first): already resolved, the table and the
   * cache unchanged; only this CPU's TLB is invalidated (it may hold what faulted). */
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, needed), S2PT_OK);
  rec.count = 0;
  before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_ALREADY_RESOLVED);
  CHECK(arena_in_use() == before.in_use && s2pt_page_cache_count(&cache) == before.cached);
  CHECK(count_kind(OP_TLBI) == 2 && last_tlbi_completed());

  /* A permission fault: the leaf gains X, and the old permissions are invalidated (and the
   * invalidation completed) before the call returns. */
  fault.attrs.perm = S2PT_PERM_R | S2PT_PERM_W | S2PT_PERM_X;
  rec.count = 0;
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_RELAXED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.perm == (S2PT_PERM_R | S2PT_PERM_W | S2PT_PERM_X) && t.pa == 0x100000000);
  CHECK(count_kind(OP_TLBI) >= 1 && last_tlbi_completed());
  CHECK(s2pt_page_cache_count(&cache) == needed);

  /* An access-flag fault: AF set, no invalidation (a translation with AF clear is not cached). */
  CHECK_STATUS(s2pt_mkold(&table, 0x40000000, PAGE, NULL), S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.attrs.clear_af);
  rec.count = 0;
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_MADE_YOUNG);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(!t.attrs.clear_af);
  CHECK(count_kind(OP_TLBI) == 0);

  /* A 2 MiB block, faulted in the middle: the level-2 table is there, no page taken. */
  const s2pt_fault_request block = {
      .ipa = 0x40400000 + 0x12345, .pa = 0x100400000, .leaf_bytes = 2 * MiB, .attrs = rw};
  CHECK_STATUS(s2pt_handle_fault(&table, &block, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_MAPPED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40400000 + 0x1FF000, &t), S2PT_OK);
  CHECK(t.level == 2 && t.base == 0x40400000 && t.pa == 0x100400000 + 0x1FF000);
  CHECK(s2pt_page_cache_count(&cache) == needed);

  /* Mapped to other memory: exists, nothing changed. */
  s2pt_fault_request elsewhere = fault;
  elsewhere.pa = 0x200000000;
  outcome = S2PT_FAULT_MAX_ENUM;
  before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_handle_fault(&table, &elsewhere, &cache, &outcome), S2PT_ERR_EXISTS);
  CHECK(unchanged(&before, &table, &cache) && outcome == S2PT_FAULT_MAX_ENUM);
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_OK);
  CHECK(t.pa == 0x100000000);

  /* Bad requests: each gets its own status and changes nothing. */
  const s2pt_fault_request good = {
      .ipa = 0x50000000, .pa = 0x300000000, .leaf_bytes = PAGE, .attrs = rw};
  struct {
    s2pt_fault_request request;
    s2pt_status want;
  } bad[13];
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i)
    bad[i].request = good;
  bad[0].request.leaf_bytes = 3 * PAGE, bad[0].want = S2PT_ERR_UNSUPPORTED; /* not a leaf size */
  bad[1].request.leaf_bytes = 0, bad[1].want = S2PT_ERR_UNSUPPORTED;
  bad[2].request.leaf_bytes = 4 * MiB, bad[2].want = S2PT_ERR_UNSUPPORTED;
  bad[3].request.pa = 0x300000800, bad[3].want = S2PT_ERR_UNALIGNED;
  bad[4].request.leaf_bytes = 2 * MiB, bad[4].want = S2PT_ERR_UNALIGNED; /* pa not 2M-aligned */
  bad[4].request.pa = 0x300001000;
  bad[5].request.pa = (uint64_t)1 << 40, bad[5].want = S2PT_ERR_PA_OUT_OF_RANGE;
  bad[6].request.ipa = (uint64_t)1 << 40, bad[6].want = S2PT_ERR_IPA_OUT_OF_RANGE;
  bad[7].request.attrs.perm = 8, bad[7].want = S2PT_ERR_BAD_ATTRIBUTES;
  bad[8].request.attrs.mem = 9, bad[8].want = S2PT_ERR_BAD_ATTRIBUTES;
  bad[9].request.attrs.sh = 7, bad[9].want = S2PT_ERR_BAD_ATTRIBUTES;
  bad[10].request.attrs.sw = 16, bad[10].want = S2PT_ERR_BAD_ATTRIBUTES;
  bad[11].request.pa = UINT64_MAX - PAGE + 1, bad[11].want = S2PT_ERR_WRAPS;
  bad[12].request.attrs.mem = S2PT_MEM_DEVICE_NGNRE, bad[12].want = S2PT_ERR_EXEC_ON_DEVICE;
  bad[12].request.attrs.perm = S2PT_PERM_R | S2PT_PERM_X;
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    outcome = S2PT_FAULT_MAX_ENUM;
    before = take_snapshot(&table, &cache);
    const s2pt_status got = s2pt_handle_fault(&table, &bad[i].request, &cache, &outcome);
    if (got != bad[i].want) {
      fprintf(stderr, "bad fault request %zu: got %d (%s), expected %d\n", i, (int)got,
              s2pt_status_string(got), (int)bad[i].want);
      ++failures;
    }
    CHECK(unchanged(&before, &table, &cache) && outcome == S2PT_FAULT_MAX_ENUM);
    CHECK_STATUS(s2pt_lookup(&table, 0x50000000, &t), S2PT_ERR_NOT_MAPPED);
  }
  before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_handle_fault(NULL, &good, &cache, &outcome), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_handle_fault((s2pt_table*)&never_created, &good, &cache, &outcome),
               S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_handle_fault(&table, NULL, &cache, &outcome), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_handle_fault(&table, &good, NULL, &outcome), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_handle_fault(&table, &good, &cache, NULL), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_handle_fault(&table, &good, &untouched, &outcome), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(unchanged(&before, &table, &cache) && outcome == S2PT_FAULT_MAX_ENUM);

  /* A cache bound to another table, of the same granule or another, is refused by every call:
   * its pages belong to that table's allocator. */
  s2pt_table other;
  CHECK_STATUS(s2pt_table_create(&other, &config, mm, arch), S2PT_OK);
  s2pt_config config_16k = {.granule = S2PT_GRANULE_16K, .ipa_bits = 40, .pa_bits = 40, .vmid = 7};
  s2pt_table other_16k;
  CHECK_STATUS(s2pt_table_create(&other_16k, &config_16k, mm, arch), S2PT_OK);
  s2pt_page_cache foreign[2];
  CHECK_STATUS(s2pt_page_cache_init(&foreign[0], &other, 0), S2PT_OK);
  CHECK_STATUS(s2pt_page_cache_init(&foreign[1], &other_16k, 0), S2PT_OK);
  CHECK(s2pt_fault_pages_needed(&other_16k) == 1); /* 16 concatenated root pages, then level 3 */
  for (int i = 0; i < 2; ++i) {
    CHECK_STATUS(s2pt_page_cache_topup(&foreign[i], i == 0 ? &other : &other_16k, 2), S2PT_OK);
    before = take_snapshot(&table, &foreign[i]);
    CHECK_STATUS(s2pt_handle_fault(&table, &good, &foreign[i], &outcome), S2PT_ERR_FOREIGN_CACHE);
    CHECK_STATUS(s2pt_page_cache_topup(&foreign[i], &table, 4), S2PT_ERR_FOREIGN_CACHE);
    CHECK_STATUS(s2pt_page_cache_drain(&foreign[i], &table), S2PT_ERR_FOREIGN_CACHE);
    CHECK(unchanged(&before, &table, &foreign[i]) && outcome == S2PT_FAULT_MAX_ENUM);
    CHECK_STATUS(s2pt_lookup(&table, 0x50000000, &t), S2PT_ERR_NOT_MAPPED);
  }
  CHECK_STATUS(s2pt_page_cache_drain(&foreign[0], &other), S2PT_OK);
  CHECK_STATUS(s2pt_page_cache_drain(&foreign[1], &other_16k), S2PT_OK);
  CHECK(s2pt_page_cache_count(&foreign[0]) == 0 && s2pt_page_cache_count(&foreign[1]) == 0);
  s2pt_table_destroy(&other);
  s2pt_table_destroy(&other_16k);
  CHECK(arena_in_use() == root_bytes + 2 * PAGE + needed * PAGE);
  CHECK(!arena.freed_live);

  /* Drain gives every cached page back. */
  const uint64_t with_cache = arena_in_use();
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK);
  CHECK(s2pt_page_cache_count(&cache) == 0);
  CHECK(arena_in_use() == with_cache - needed * PAGE);
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK); /* empty: nothing to do */
  CHECK(arena_in_use() == with_cache - needed * PAGE);

  /* A fast unmap hands the tables it detached to the reclaimer: they are freed by s2pt_reclaim,
   * after the call, not inside it. The call takes one page to note them in, given back with
   * them. */
  const uint64_t before_unmap = arena_in_use();
  CHECK_STATUS(s2pt_unmap(&table, 0x40000000, 1024 * MiB, S2PT_UNMAP_FAST, NULL), S2PT_OK);
  CHECK(arena_in_use() == before_unmap + PAGE);
  CHECK(s2pt_reclaim_pending(&table));
  uint64_t freed = 0;
  CHECK_STATUS(s2pt_reclaim(&table, 1u << 20, &freed), S2PT_OK);
  CHECK(freed * PAGE == before_unmap - root_bytes);
  CHECK(arena_in_use() == root_bytes);
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages * PAGE == root_bytes);
  CHECK(!s2pt_reclaim_pending(&table));
  CHECK_STATUS(s2pt_reclaim(&table, 100, &freed), S2PT_OK);
  CHECK(freed == 0);

  /* A destroyed table refuses faults; its caches can still be drained. */
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, needed), S2PT_OK);
  s2pt_table_destroy(&table);
  before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_ERR_DESTROYED);
  CHECK(unchanged(&before, &table, &cache));
  CHECK(arena_in_use() == needed * PAGE);
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK);
  CHECK(arena_in_use() == 0);

  /* The storage holds a new table of another granule: the old cache is refused until it is
   * initialised again. */
  s2pt_config config_64k = {.granule = S2PT_GRANULE_64K, .ipa_bits = 40, .pa_bits = 40, .vmid = 6};
  CHECK_STATUS(s2pt_table_create(&table, &config_64k, mm, arch), S2PT_OK);
  const uint64_t root_64k = arena_in_use();
  before = take_snapshot(&table, &cache);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, 1), S2PT_ERR_MISMATCHED_CACHE);
  fault.pa = 0x100000000;
  fault.leaf_bytes = 64 * 1024;
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_ERR_MISMATCHED_CACHE);
  CHECK(unchanged(&before, &table, &cache));
  CHECK_STATUS(s2pt_page_cache_init(&cache, &table, 0), S2PT_OK);
  CHECK_STATUS(s2pt_page_cache_topup(&cache, &table, s2pt_fault_pages_needed(&table)), S2PT_OK);
  CHECK_STATUS(s2pt_handle_fault(&table, &fault, &cache, &outcome), S2PT_OK);
  CHECK(outcome == S2PT_FAULT_MAPPED);
  CHECK_STATUS(s2pt_lookup(&table, fault.ipa, &t), S2PT_OK);
  CHECK(t.size == 64 * 1024 && t.pa == 0x100000000 + (fault.ipa & 0xFFFF));
  CHECK_STATUS(s2pt_page_cache_drain(&cache, &table), S2PT_OK);
  CHECK(arena_in_use() > root_64k);
  s2pt_table_destroy(&table);
  CHECK(arena_in_use() == 0);
}

/* A teardown that does not wait (s2pt_table_retire), its pages freed by s2pt_reclaim in steps. */
static void test_retire_and_reclaim(const s2pt_mm_ops* mm, const s2pt_arch_ops* arch) {
  s2pt_config config = {.granule = S2PT_GRANULE_4K, .ipa_bits = 40, .pa_bits = 40, .vmid = 8};
  s2pt_table table;

  /* Refusals. */
  uint64_t freed = 99;
  CHECK_STATUS(s2pt_reclaim(NULL, 10, &freed), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(freed == 0);
  freed = 99;
  CHECK_STATUS(s2pt_reclaim((s2pt_table*)&never_created, 10, &freed), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(freed == 0);
  CHECK_STATUS(s2pt_reclaim_all(NULL), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_reclaim_all((s2pt_table*)&never_created), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(!s2pt_reclaim_pending(NULL));
  CHECK(!s2pt_reclaim_pending((s2pt_table*)&never_created));
  CHECK_STATUS(s2pt_table_retire(NULL), S2PT_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(s2pt_table_retire((s2pt_table*)&never_created), S2PT_ERR_INVALID_ARGUMENT);

  CHECK_STATUS(s2pt_table_create(&table, &config, mm, arch), S2PT_OK);
  const s2pt_attrs rw = {.perm = S2PT_PERM_R | S2PT_PERM_W, .mem = S2PT_MEM_NORMAL_WB};
  /* 4 MiB of pages (a level-2 and two level-3 tables) and a 2 MiB block (a level-2 table). */
  CHECK_STATUS(s2pt_map(&table, 0x40000000, 4 * MiB, 0x100000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
               S2PT_OK);
  CHECK_STATUS(s2pt_map(&table, 0x80000000, 2 * MiB, 0x200000000, &rw, 0, NULL), S2PT_OK);
  s2pt_stats stats;
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages == 2 + 3 + 1);
  const uint64_t mapped_bytes = arena_in_use();
  CHECK(mapped_bytes == stats.table_pages * PAGE);
  CHECK(!s2pt_reclaim_pending(&table));
  CHECK_STATUS(s2pt_reclaim(&table, 100, &freed), S2PT_OK);
  CHECK(freed == 0 && arena_in_use() == mapped_bytes);

  struct observed seen = {0, 0, false};
  CHECK_STATUS(s2pt_set_leaf_observer(&table, observe, &seen), S2PT_OK);
  const uint64_t vmid_tlbis = stats.tlbi_vmid;
  rec.count = 0;
  CHECK_STATUS(s2pt_table_retire(&table), S2PT_OK);
  /* The VMID is invalidated, the table gone, but nothing is freed yet. */
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.tlbi_vmid == vmid_tlbis + 1);
  CHECK(arena_in_use() == mapped_bytes);
  CHECK(s2pt_reclaim_pending(&table));
  CHECK(seen.leaves == 0);
  CHECK(count_kind(OP_DC) == 0);
  s2pt_translation t;
  CHECK_STATUS(s2pt_lookup(&table, 0x40000000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_map(&table, 0xC0000000, PAGE, 0, &rw, 0, NULL), S2PT_ERR_DESTROYED);
  CHECK(s2pt_vttbr(&table) == 0);
  CHECK_STATUS(s2pt_table_retire(&table), S2PT_OK); /* idempotent */
  CHECK(stats.tlbi_vmid == vmid_tlbis + 1);

  /* Budget 0 frees nothing; budget 1 one page at a time; the root (two pages) last. */
  CHECK_STATUS(s2pt_reclaim(&table, 0, &freed), S2PT_OK);
  CHECK(freed == 0 && arena_in_use() == mapped_bytes);
  CHECK_STATUS(s2pt_reclaim(&table, 1, &freed), S2PT_OK);
  CHECK(freed == 1 && arena_in_use() == mapped_bytes - PAGE);
  uint64_t total = freed;
  int calls = 1;
  while (s2pt_reclaim_pending(&table) && calls < 100) {
    CHECK_STATUS(s2pt_reclaim(&table, 1, &freed), S2PT_OK);
    CHECK(freed >= 1);
    total += freed;
    ++calls;
  }
  CHECK(total * PAGE == mapped_bytes);
  CHECK(calls == 5); /* four table pages, then the concatenated root in one go */
  CHECK(arena_in_use() == 0 && !arena.freed_live);
  /* Without FWB the memory that was mapped is cleaned once its translations are gone, and the
   * observer is told about every leaf after the VMID's invalidation completed. */
  CHECK(seen.leaves == 1024 + 1 && seen.bytes == 6 * MiB);
  CHECK(!seen.reported_before_invalidation);
  CHECK(count_kind(OP_DC) > 0);
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages == 0);
  CHECK_STATUS(s2pt_reclaim(&table, 100, &freed), S2PT_OK);
  CHECK(freed == 0);
  s2pt_table_destroy(&table); /* nothing left to free */
  CHECK(arena_in_use() == 0 && !arena.freed_live);

  /* Retire, then free everything at once; s2pt_table_destroy after a retire does the same. */
  for (int finish_with_destroy = 0; finish_with_destroy < 2; ++finish_with_destroy) {
    CHECK_STATUS(s2pt_table_create(&table, &config, mm, arch), S2PT_OK);
    CHECK_STATUS(s2pt_map(&table, 0x40000000, 2 * MiB, 0x100000000, &rw, S2PT_MAP_NO_BLOCKS, NULL),
                 S2PT_OK);
    CHECK_STATUS(s2pt_table_retire(&table), S2PT_OK);
    CHECK(arena_in_use() == 4 * PAGE && s2pt_reclaim_pending(&table));
    if (finish_with_destroy) {
      s2pt_table_destroy(&table);
    } else {
      CHECK_STATUS(s2pt_reclaim_all(&table), S2PT_OK);
    }
    CHECK(!s2pt_reclaim_pending(&table));
    CHECK(arena_in_use() == 0 && !arena.freed_live);
    s2pt_table_destroy(&table);
  }
}

int main(void) {
  CHECK(s2pt_table_storage_size() <= sizeof(s2pt_table));
  CHECK(strstr(s2pt_status_string(S2PT_ERR_EXISTS), "exists") != NULL);
  CHECK(strcmp(s2pt_status_string(S2PT_ERR_INVALID_ARGUMENT), "invalid argument") == 0);
  CHECK(strstr(s2pt_status_string(S2PT_ERR_FOREIGN_CACHE), "another table") != NULL);
  CHECK(strstr(s2pt_status_string(S2PT_ERR_BUDGET_EXHAUSTED), "budget") != NULL);
  CHECK(strstr(s2pt_status_string(S2PT_ERR_DESTROYED), "destroyed") != NULL);
  CHECK(strstr(s2pt_status_string(S2PT_ERR_MISMATCHED_CACHE), "page cache") != NULL);
  CHECK(strstr(s2pt_status_string(S2PT_ERR_BAD_FLAGS), "flags") != NULL);

  arena.fail_after = -1;
  const s2pt_mm_ops mm = arena_mm;
  const s2pt_arch_ops arch = {.features = {.fwb = false, .tlbi_range = true, .ttl = true},
                              .tlbi = arch_tlbi,
                              .dsb_ishst = arch_dsb_ishst,
                              .dsb_ish = arch_dsb_ish,
                              .isb = arch_isb,
                              .dc_civac = arch_dc,
                              .ic_ivau = arch_ic,
                              .ctx = &rec,
                              .ic_ialluis = arch_ic_all};
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
  CHECK(arena_in_use() == 0);
  /* A table that was never created is refused, not used. */
  uint64_t done = 99;
  CHECK_STATUS(s2pt_write_protect(&table, 0, PAGE, &done), S2PT_ERR_INVALID_ARGUMENT);
  CHECK(done == 0);

  CHECK_STATUS(s2pt_table_create(&table, &config, &mm, &arch), S2PT_OK);
  CHECK(arena_in_use() == 2 * PAGE); /* 40-bit IPA, 4K: two concatenated root pages */
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
  CHECK_STATUS(s2pt_map(&table, 0x50000000, PAGE, 0, &rw, 0x100, NULL), S2PT_ERR_BAD_FLAGS);
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
  CHECK_STATUS(s2pt_split(&table, 0xC0000000, 2 * MiB, 3, 0, &done), S2PT_ERR_BUDGET_EXHAUSTED);
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
  CHECK_STATUS(s2pt_destroy_range(&table, 0x100000000, 2048 * MiB, 1, &done),
               S2PT_ERR_BUDGET_EXHAUSTED);
  CHECK(done == 1024 * MiB);
  CHECK_STATUS(s2pt_lookup(&table, 0x100000000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_lookup(&table, 0x140000000, &t), S2PT_OK);
  CHECK_STATUS(s2pt_destroy_range(&table, 0x100000000 + done, 2048 * MiB - done, 1, &done),
               S2PT_OK);
  CHECK_STATUS(s2pt_lookup(&table, 0x140000000, &t), S2PT_ERR_NOT_MAPPED);

  s2pt_stats stats;
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages * PAGE == arena_in_use());
  CHECK(stats.tlbi_ipa + stats.tlbi_range > 0 && stats.dsb_ish > 0);

  /* Destroy frees every page; afterwards the table is gone but the handle still answers. */
  s2pt_table_destroy(&table);
  CHECK(arena_in_use() == 0);
  CHECK(!arena.freed_live);
  s2pt_table_destroy(&table);
  CHECK_STATUS(s2pt_map(&table, 0x40000000, PAGE, 0, &rw, 0, NULL), S2PT_ERR_DESTROYED);
  CHECK_STATUS(s2pt_lookup(&table, 0x40100000, &t), S2PT_ERR_NOT_MAPPED);
  CHECK_STATUS(s2pt_get_stats(&table, &stats), S2PT_OK);
  CHECK(stats.table_pages == 0 && stats.tlbi_vmid >= 1);

  /* The storage can hold a new table. */
  CHECK_STATUS(s2pt_table_create(&table, &config, &mm, &arch), S2PT_OK);
  CHECK_STATUS(s2pt_map(&table, 0, PAGE, 0x1000, &rw, 0, NULL), S2PT_OK);
  s2pt_table_destroy(&table);
  CHECK(arena_in_use() == 0);

  test_fault_path(&mm, &arch);
  test_local_invalidation(&mm, arch);
  test_guest_context(&mm, arch);
  test_dirty_log(&mm, &arch);
  test_fifty_two_bit(&mm, &arch);
  test_retire_and_reclaim(&mm, &arch);
  /* Nothing leaked, nothing freed twice. */
  CHECK(arena_in_use() == 0);
  CHECK(!arena.freed_live);

  if (failures != 0) {
    fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  printf("C API: all checks passed\n");
  return 0;
}
