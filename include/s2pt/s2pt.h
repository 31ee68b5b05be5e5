/* s2pt: a plain C11 interface to the stage-2 table core, for hypervisors written in C.
 *
 * The caller owns all memory: a table lives in an s2pt_table object the caller places anywhere
 * (static, stack, inside its VM structure); table pages come from the caller's mm callbacks and
 * every TLB, barrier and cache maintenance instruction goes through its arch callbacks. The
 * library allocates nothing and needs no C library beyond what the compiler provides.
 *
 * Concurrency (docs/concurrency.md), with one reader-writer lock per table as Linux's mmu_lock:
 *  - s2pt_handle_fault is SHARED: any number of calls may run at once, on any CPUs, under the
 *    read side of the lock. It is the only call that may run concurrently with itself.
 *  - Every other call on a table is EXCLUSIVE: one at a time, under the write side, never while
 *    an s2pt_handle_fault runs. (s2pt_reclaim, s2pt_reclaim_all and s2pt_reclaim_pending may
 *    also run outside exclusive calls, alongside faults, but never with each other.)
 *  - The page cache calls touch only the cache and the mm callbacks: one CPU uses a cache at a
 *    time, outside the lock.
 *  - Hardware walkers may run throughout, and every call has completed its TLB maintenance when
 *    it returns. See docs/embedding.md and docs/api.md. */
#ifndef S2PT_S2PT_H
#define S2PT_S2PT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every enum below ends in a *_MAX_ENUM value that is never used: it makes the enum 32 bits wide
 * in C and C++ alike, so that any value a caller passes is representable (and refused). */

/* Error codes: the values of s2pt::Status, plus one for misuse of the C interface. */
typedef enum s2pt_status {
  S2PT_OK = 0,
  S2PT_ERR_UNALIGNED = 1,           /* address or size not a multiple of the granule */
  S2PT_ERR_EMPTY_RANGE = 2,         /* size 0 */
  S2PT_ERR_WRAPS = 3,               /* start + size overflows */
  S2PT_ERR_IPA_OUT_OF_RANGE = 4,    /* beyond the table's IPA size */
  S2PT_ERR_PA_OUT_OF_RANGE = 5,     /* output address beyond the PA size */
  S2PT_ERR_BAD_ATTRIBUTES = 6,      /* unknown permission, memory type, shareability or sw bits */
  S2PT_ERR_EXISTS = 7,              /* something is mapped (or annotated) there already */
  S2PT_ERR_NO_MEMORY = 8,           /* the mm callbacks ran out of table pages */
  S2PT_ERR_AGAIN = 9,               /* a concurrent walker holds an entry; retry */
  S2PT_ERR_UNSUPPORTED = 10,        /* feature, strategy or geometry not supported */
  S2PT_ERR_BAD_GEOMETRY = 11,       /* impossible granule / IPA / PA / VMID combination */
  S2PT_ERR_NOT_MAPPED = 12,         /* lookup: no translation */
  S2PT_ERR_BUDGET_EXHAUSTED = 13,   /* the call's budget ran out: call again with the rest */
  S2PT_ERR_DESTROYED = 14,          /* the table was destroyed (s2pt_table_destroy/retire) */
  S2PT_ERR_MISMATCHED_CACHE = 15,   /* a page cache set up for another granule */
  S2PT_ERR_BAD_FLAGS = 16,          /* unknown map flags */
  S2PT_ERR_EXEC_ON_DEVICE = 17,     /* execute permission asked for Device memory */
  /* 18 to 21: reserved for 52-bit addresses and dirty logging; not returned yet. */
  S2PT_ERR_MISSING_FEATURE = 18,    /* needs a CPU feature the table was not given */
  S2PT_ERR_BITMAP_TOO_SMALL = 19,   /* dirty bitmap smaller than the range */
  S2PT_ERR_NOT_LOGGING = 20,        /* dirty logging not enabled there */
  S2PT_ERR_ALREADY_LOGGING = 21,    /* dirty logging already enabled there */
  S2PT_ERR_TOO_MANY_LOGGED_RANGES = 22, /* S2PT_MAX_LOGGED_RANGES ranges are logged already */
  S2PT_ERR_INVALID_ARGUMENT = 100,  /* C interface only: misuse, see below */
  S2PT_ERR_FOREIGN_CACHE = 101,     /* C interface only: the page cache is another table's */
  S2PT_STATUS_MAX_ENUM = 0x7FFFFFFF /* not a status: keeps the enum 32 bits wide */
} s2pt_status;
/* S2PT_ERR_INVALID_ARGUMENT: a NULL pointer, a table never created, a page cache never
 * initialised, a CPU number from S2PT_MAX_CPUS on, or a top-up above S2PT_PAGE_CACHE_CAPACITY. */

/* A short English description of a status ("a mapping already exists"). Never NULL. */
const char* s2pt_status_string(s2pt_status status);

typedef enum s2pt_granule {
  S2PT_GRANULE_4K = 12,
  S2PT_GRANULE_16K = 14,
  S2PT_GRANULE_64K = 16,
  S2PT_GRANULE_MAX_ENUM = 0x7FFFFFFF /* not a granule: keeps the enum 32 bits wide */
} s2pt_granule;

/* Permission bits of a mapping. */
enum { S2PT_PERM_R = 1, S2PT_PERM_W = 2, S2PT_PERM_X = 4 };

typedef enum s2pt_memtype {
  S2PT_MEM_NORMAL_WB = 0, /* Normal, write-back cacheable (guest RAM) */
  S2PT_MEM_NORMAL_NC = 1, /* Normal, non-cacheable */
  S2PT_MEM_DEVICE_NGNRE = 2,
  S2PT_MEM_DEVICE_NGNRNE = 3,
  S2PT_MEM_MAX_ENUM = 0x7FFFFFFF /* not a memory type: keeps the enum 32 bits wide */
} s2pt_memtype;

typedef enum s2pt_shareability {
  S2PT_SH_INNER = 0, /* the default */
  S2PT_SH_OUTER = 1,
  S2PT_SH_NON = 2,
  S2PT_SH_MAX_ENUM = 0x7FFFFFFF /* not a shareability: keeps the enum 32 bits wide */
} s2pt_shareability;

/* Attributes of a mapping. A zeroed struct is "no access, Normal-WB, inner shareable, AF set". */
typedef struct s2pt_attrs {
  uint8_t perm;  /* S2PT_PERM_* bits */
  uint8_t mem;   /* s2pt_memtype */
  uint8_t sh;    /* s2pt_shareability */
  bool clear_af; /* map with the access flag clear (old) */
  uint8_t sw;    /* the four software bits, 0..15 */
} s2pt_attrs;

/* Map flags. */
enum {
  S2PT_MAP_REPLACE = 1,  /* replace existing mappings and annotations (break-before-make) */
  S2PT_MAP_NO_BLOCKS = 2 /* last-level pages only */
};

/* Unmap strategies: the values of s2pt::UnmapStrategy. A value the library does not know is
 * refused with S2PT_ERR_UNSUPPORTED. */
typedef enum s2pt_unmap_strategy {
  /* Clear, invalidate and (without FWB) clean each leaf in turn (Linux before 6.6). */
  S2PT_UNMAP_PER_ENTRY = 0,
  /* With FWB and TLBI range: clear the leaves, one range invalidation at the end (Linux 6.6+);
   * otherwise as per_entry. */
  S2PT_UNMAP_DEFERRED = 1,
  /* Detach whole subtrees, one invalidation, then (without FWB) one cleaning pass; the detached
   * table pages are left to s2pt_reclaim, so the call does not grow with what it frees. */
  S2PT_UNMAP_FAST = 2,
  S2PT_UNMAP_AUTO = 3,             /* the best for the CPU's features */
  S2PT_UNMAP_MAX_ENUM = 0x7FFFFFFF /* not a strategy: keeps the enum 32 bits wide */
} s2pt_unmap_strategy;

/* Where table pages come from. Every pointer must be set; ctx is passed back unchanged. */
typedef struct s2pt_mm_ops {
  /* A zeroed block of `bytes` (one granule, or up to 16 for a concatenated root), aligned to its
   * size. Return true and store its physical address in *pa, or false when out of memory. */
  bool (*alloc_zeroed)(void* ctx, uint64_t bytes, uint64_t* pa);
  /* Give back a block from alloc_zeroed; called only once no walker can reach it any more. */
  void (*free)(void* ctx, uint64_t pa, uint64_t bytes);
  /* Where the library reads and writes the page at `pa` (concatenated roots contiguous). */
  void* (*phys_to_virt)(void* ctx, uint64_t pa);
  /* Storage for the reference count of the table page at `pa`, used with atomic operations. */
  uint32_t* (*refcount)(void* ctx, uint64_t pa);
  void* ctx;
} s2pt_mm_ops;

/* CPU features the library may rely on. */
typedef struct s2pt_features {
  bool fwb;          /* FEAT_S2FWB and HCR_EL2.FWB = 1 */
  bool tlbi_range;   /* FEAT_TLBIRANGE */
  bool ttl;          /* FEAT_TTL */
  bool dic;          /* CTR_EL0.DIC: no IC IVAU needed */
  uint8_t bbm_level; /* FEAT_BBM level: recorded, never relied on */
  bool aliasing_icache; /* CTR_EL0.L1Ip = VIPT: the library uses IC IALLUIS, never IC IVAU */
  bool hw_dirty;        /* FEAT_HAFDBS dirty state: hardware dirty logging (VTCR_EL2.HD) */
  bool lpa2; /* FEAT_LPA2 at stage 2: 52-bit addresses with the 4K and 16K granules (DS) */
  bool lpa;  /* FEAT_LPA: 52-bit physical addresses with the 64K granule */
} s2pt_features;

/* The stage-2 TLBI operations the library issues: inner shareable, and the two non-shareable ones
 * of the fault path's permission relax (only if the arch ops have dsb_nshst and dsb_nsh; without
 * them the library issues IPAS2E1IS, VMALLE1IS and inner-shareable barriers instead). */
typedef enum s2pt_tlbi_op {
  S2PT_TLBI_IPAS2E1IS = 0,
  S2PT_TLBI_IPAS2LE1IS = 1,
  S2PT_TLBI_RIPAS2E1IS = 2,
  S2PT_TLBI_RIPAS2LE1IS = 3,
  S2PT_TLBI_VMALLE1IS = 4,
  S2PT_TLBI_VMALLS12E1IS = 5,
  S2PT_TLBI_IPAS2E1 = 6, /* this CPU only */
  S2PT_TLBI_VMALLE1 = 7, /* this CPU only */
  S2PT_TLBI_MAX_ENUM = 0x7FFFFFFF /* not an operation: keeps the enum 32 bits wide */
} s2pt_tlbi_op;

/* How the library reaches the hardware. Each callback acts on the calling CPU, as the instruction
 * of its name would: `tlbi` runs TLBI <op>, <operand> with `vmid` as the current VMID
 * (VTTBR_EL2.VMID), the operand already encoded as the architecture defines Xt. */
typedef struct s2pt_arch_ops {
  s2pt_features features;
  void (*tlbi)(void* ctx, uint16_t vmid, s2pt_tlbi_op op, uint64_t operand);
  void (*dsb_ishst)(void* ctx);
  void (*dsb_ish)(void* ctx);
  void (*isb)(void* ctx);
  void (*dc_civac)(void* ctx, uint64_t pa, uint64_t bytes); /* clean+invalidate to PoC */
  void (*ic_ivau)(void* ctx, uint64_t pa, uint64_t bytes);  /* invalidate I-cache to PoU */
  void* ctx;
  /* Optional (NULL: the library uses the inner-shareable forms): DSB NSHST and DSB NSH. When both
   * are set, `tlbi` also receives S2PT_TLBI_IPAS2E1 and S2PT_TLBI_VMALLE1. */
  void (*dsb_nshst)(void* ctx);
  void (*dsb_nsh)(void* ctx);
  /* IC IALLUIS: all instruction caches of the inner shareable domain, to PoU. Required. */
  void (*ic_ialluis)(void* ctx);
  /* Optional, both or neither: called before the first and after the last instruction of each
   * invalidation sequence (a few TLBIs and their barriers). enter_context receives the table's
   * VTTBR_EL2 value (root and VMID): load it, and on a VHE host (HCR_EL2.E2H = 1) clear
   * HCR_EL2.TGE, or VMALLE1IS acts on the host's EL2&0 regime instead of the guest's; then ISB.
   * leave_context restores what was there. Without them, `tlbi` must make `vmid` current itself. */
  void (*enter_context)(void* ctx, uint64_t vttbr);
  void (*leave_context)(void* ctx);
} s2pt_arch_ops;

/* The table's shape and identity. Zero means "the default" where noted. */
typedef struct s2pt_config {
  s2pt_granule granule;
  uint8_t ipa_bits; /* 32..52, at most pa_bits */
  /* 32, 36, 40, 42, 44, 48 or 52; 52 needs the arch's lpa2 (4K, 16K) or lpa (64K), else
   * S2PT_ERR_MISSING_FEATURE. With LPA2 every mapping is inner shareable. */
  uint8_t pa_bits;
  uint8_t vmid_bits; /* 8 or 16; 0 = 16 */
  uint16_t vmid;
  /* Pretend the CPU lacks a feature it has (for comparisons, or a hypervisor running with
   * HCR_EL2.FWB = 0). */
  bool no_fwb;
  bool no_tlbi_range;
  bool no_ttl;
  /* TLBI planner: above this many operations, invalidate the whole VMID. 0 = the default. */
  uint32_t max_ipa_ops;
  uint32_t max_range_ops;
  /* Hardware dirty logging where the arch reports hw_dirty: s2pt_vtcr() then sets VTCR_EL2.HA
   * and HD (the walker also sets access flags itself: access-flag faults stop). */
  bool hw_dirty;
  /* Root tables concatenated where that saves a level: 1, 2, 4, 8 or 16; 0 = 16. With 1, a 4K
   * table of more than 48 IPA bits starts at level -1. */
  uint8_t max_root_pages;
} s2pt_config;

/* Storage for one table. Opaque: use only through the functions below. Any placement works;
 * the object must not be copied or moved while the table is live. */
#define S2PT_TABLE_WORDS 1024 /* 8 KiB; the library uses s2pt_table_storage_size() of it */
typedef struct s2pt_table {
  uint64_t opaque[S2PT_TABLE_WORDS];
} s2pt_table;

/* Bytes of s2pt_table the library actually uses (at most sizeof(s2pt_table)). */
size_t s2pt_table_storage_size(void);

/* Creates a table in *table: allocates and links the (possibly concatenated) root. The callback
 * structs are copied; their ctx pointers must stay valid until s2pt_table_destroy (the mm's also
 * until the table's page caches were drained). *table may be uninitialised or hold a destroyed
 * table, but not a live one (its pages would leak). On failure *table holds no table and nothing
 * was allocated. */
s2pt_status s2pt_table_create(s2pt_table* table, const s2pt_config* config, const s2pt_mm_ops* mm,
                              const s2pt_arch_ops* arch);

/* Invalidates the whole VMID and frees every table page before returning (without FWB, cleaning
 * the memory that was mapped to PoC first, and telling the leaf observer): s2pt_table_retire,
 * then s2pt_reclaim_all. For a large VM, tear it down in bounded steps with s2pt_destroy_range
 * first, or retire it and reclaim in steps. Afterwards every operation returns
 * S2PT_ERR_DESTROYED (lookups S2PT_ERR_NOT_MAPPED; s2pt_get_stats still works) until the
 * storage is created again. Page caches keep their pages: drain them (before or after).
 * Idempotent. */
void s2pt_table_destroy(s2pt_table* table);

/* Starts a teardown without waiting for it, as the C++ Table::destroy: invalidates the whole
 * VMID once and hands every table page to the reclaimer, in a time that depends on the geometry,
 * not on how much is mapped. The pages are freed (without FWB, the memory that was mapped cleaned
 * to PoC first; the leaf observer told) by s2pt_reclaim at your quiescent points, or
 * s2pt_reclaim_all; the guest memory may be reused once s2pt_reclaim_pending is false. The table
 * is destroyed from here on (see s2pt_table_destroy, which finishes the freeing if any is left).
 * The storage holds pages until then: do not create a new table in it before. Idempotent. */
s2pt_status s2pt_table_retire(s2pt_table* table);

/* Frees up to about `budget` retired table pages whose grace period is over (no s2pt_handle_fault
 * can still hold them), and stores how many in *pages_freed (when not NULL; always written). A
 * concatenated root counts as its pages and is freed whole. s2pt_table_retire and s2pt_unmap with
 * S2PT_UNMAP_FAST or S2PT_UNMAP_AUTO leave pages here (what they detached; its leaves were handled
 * before they returned); every other call frees the table pages it removes before returning. A
 * table destroyed before reclaiming leaks nothing: s2pt_table_destroy frees them. These three
 * calls may run alongside s2pt_handle_fault but not with
 * an exclusive call nor with each other (one reclaimer per table). */
s2pt_status s2pt_reclaim(s2pt_table* table, uint64_t budget, uint64_t* pages_freed);
/* Frees everything retired, waiting for faults still inside the table to leave. */
s2pt_status s2pt_reclaim_all(s2pt_table* table);
/* Whether retired pages wait to be freed; false for NULL or a table never created. */
bool s2pt_reclaim_pending(s2pt_table* table);

/* Ranged operations: `ipa` and `size` granule-aligned. On failure nothing changed unless
 * *bytes_done (when bytes_done is not NULL) says so: then exactly [ipa, ipa + *bytes_done) was
 * processed and the table is valid. */

/* Maps [ipa, ipa + size) to [pa, pa + size) with the largest aligned blocks (unless
 * S2PT_MAP_NO_BLOCKS). Fails with S2PT_ERR_EXISTS, changing nothing, if anything in the range
 * is mapped or annotated and S2PT_MAP_REPLACE is not given. */
s2pt_status s2pt_map(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t pa,
                     const s2pt_attrs* attrs, uint32_t flags, uint64_t* bytes_done);

/* Removes every translation in the range; blocks straddling its ends are split first. */
s2pt_status s2pt_unmap(s2pt_table* table, uint64_t ipa, uint64_t size, s2pt_unmap_strategy strategy,
                       uint64_t* bytes_done);

/* Unmaps the range like S2PT_UNMAP_FAST, in chunks, stopping once about `budget` table pages of
 * work were done (at least one chunk). S2PT_ERR_BUDGET_EXHAUSTED with *bytes_done when it stopped
 * early: yield, then call again with the rest. */
s2pt_status s2pt_destroy_range(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t budget,
                               uint64_t* bytes_done);

/* A leaf an unmap or destroy removed, reported once its TLB invalidation has completed (the
 * page may be reused from inside the callback). */
typedef struct s2pt_unmapped_leaf {
  uint64_t ipa; /* start of the leaf's region */
  uint64_t pa;  /* its output address */
  uint64_t size;
  int level;
  s2pt_attrs attrs;
} s2pt_unmapped_leaf;
typedef void (*s2pt_leaf_observer)(void* ctx, const s2pt_unmapped_leaf* leaf);
/* Sets (or, with NULL, clears) the observer told about every leaf an unmap or destroy removes.
 * S2PT_UNMAP_DEFERRED behaves as S2PT_UNMAP_PER_ENTRY while one is set. */
s2pt_status s2pt_set_leaf_observer(s2pt_table* table, s2pt_leaf_observer observer, void* ctx);

/* Splits every block in the range into leaves of `level` (2 or 3), each block rebuilt unlinked and
 * swapped in with one break-before-make. Stops with S2PT_ERR_BUDGET_EXHAUSTED and *bytes_done
 * before a block whose new subtree would take more than `page_budget` table pages in this call. */
s2pt_status s2pt_split(s2pt_table* table, uint64_t ipa, uint64_t size, int level,
                       uint64_t page_budget, uint64_t* bytes_done);
/* Replaces every table in the range whose leaves map one contiguous, aligned range with the same
 * attributes by one block. */
s2pt_status s2pt_collapse(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done);

/* ---- Dirty logging (live migration) ----
 * A bitmap the caller owns: bit i of words[i / 64] is page i of the range it describes (granule
 * pages); `bits` is how many bits the words hold. */
typedef struct s2pt_dirty_bitmap {
  uint64_t* words;
  uint64_t bits;
} s2pt_dirty_bitmap;

#define S2PT_MAX_LOGGED_RANGES 16

typedef enum s2pt_dirty_tracking {
  S2PT_TRACK_WRITE_PROTECT = 0, /* first writes fault, s2pt_handle_fault logs them */
  S2PT_TRACK_HARDWARE = 1,      /* FEAT_HAFDBS: writable-clean pages, no faults (needs EAGER) */
  S2PT_TRACK_MAX_ENUM = 0x7FFFFFFF /* not a mechanism: keeps the enum 32 bits wide */
} s2pt_dirty_tracking;

typedef enum s2pt_block_splitting {
  S2PT_SPLIT_LAZY = 0,  /* a block is split into read-only pages by its first write fault */
  S2PT_SPLIT_EAGER = 1, /* every block of the range is split to pages when logging starts */
  S2PT_SPLIT_MAX_ENUM = 0x7FFFFFFF /* not a mode: keeps the enum 32 bits wide */
} s2pt_block_splitting;

/* Write-protects every mapping of the range (eagerly: after splitting its blocks to pages, at most
 * `split_page_budget` table pages per call) and logs writes into *bitmap (bit i: page ipa + i *
 * granule), which must stay valid until logging is disabled. From then on s2pt_handle_fault with
 * write permission on a logged page makes the page writable and sets its bit (a block is split
 * into read-only pages first); ask for write permission only on a write fault. With
 * S2PT_TRACK_HARDWARE (and s2pt_config.hw_dirty) the pages become writable-clean instead and the
 * hardware records writes without faults (S2PT_ERR_MISSING_FEATURE without it). Logging starts
 * only on S2PT_OK: S2PT_ERR_BITMAP_TOO_SMALL, S2PT_ERR_ALREADY_LOGGING (overlap),
 * S2PT_ERR_TOO_MANY_LOGGED_RANGES, S2PT_ERR_BAD_FLAGS (unknown mode) change nothing;
 * S2PT_ERR_BUDGET_EXHAUSTED: call again. */
typedef struct s2pt_dirty_log_options {
  s2pt_dirty_tracking tracking;
  s2pt_block_splitting blocks;
  uint64_t split_page_budget; /* eager splitting: table pages per call; 0 = no limit */
} s2pt_dirty_log_options;
s2pt_status s2pt_enable_dirty_log(s2pt_table* table, uint64_t ipa, uint64_t size,
                                  const s2pt_dirty_bitmap* bitmap,
                                  const s2pt_dirty_log_options* options /* NULL: defaults */);
/* Stops logging exactly a range given to s2pt_enable_dirty_log (S2PT_ERR_NOT_LOGGING otherwise);
 * with `collapse`, tables whose pages are alike again become blocks. */
s2pt_status s2pt_disable_dirty_log(s2pt_table* table, uint64_t ipa, uint64_t size, bool collapse);
/* KVM_CLEAR_DIRTY_LOG: for every page i of the range (inside one logged range) set in *mask and
 * dirty, clears its dirty bit, write-protects it again and sets bit i of *cleared (its first
 * ceil(pages / 64) words are written); one invalidation for the whole call. */
s2pt_status s2pt_clear_dirty(s2pt_table* table, uint64_t ipa, uint64_t size,
                             const s2pt_dirty_bitmap* mask, const s2pt_dirty_bitmap* cleared);
/* S2PT_TRACK_HARDWARE: sets the bitmap's bit of every page the hardware made dirty, without
 * arming it again (KVM_GET_DIRTY_LOG without clearing). */
s2pt_status s2pt_sync_dirty(s2pt_table* table, uint64_t ipa, uint64_t size);

/* Removes write permission from every mapping in the range. */
s2pt_status s2pt_write_protect(s2pt_table* table, uint64_t ipa, uint64_t size,
                               uint64_t* bytes_done);
/* Adds the S2PT_PERM_* bits in `perm` to every mapping in the range. */
s2pt_status s2pt_relax(s2pt_table* table, uint64_t ipa, uint64_t size, uint32_t perm,
                       uint64_t* bytes_done);

/* Access-flag aging; a leaf that intersects the range is aged as a whole. */
s2pt_status s2pt_mkyoung(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done);
s2pt_status s2pt_mkold(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done);
s2pt_status s2pt_test_and_clear_young(s2pt_table* table, uint64_t ipa, uint64_t size,
                                      bool* was_young);

/* Marks the unmapped range as owned by `owner` (0 removes the mark). S2PT_ERR_EXISTS if
 * anything in it is mapped. */
s2pt_status s2pt_annotate(s2pt_table* table, uint64_t ipa, uint64_t size, uint8_t owner,
                          uint64_t* bytes_done);
/* The owner recorded for an unmapped IPA, 0 if none. */
uint8_t s2pt_owner(const s2pt_table* table, uint64_t ipa);

/* Cleans and invalidates to PoC the cacheable memory mapped in the range (nothing with FWB). */
s2pt_status s2pt_flush_dcache(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done);

/* What translates one IPA. */
typedef struct s2pt_translation {
  uint64_t base; /* start of the block or page */
  uint64_t size; /* its size */
  uint64_t pa;   /* the output address of `ipa` itself (block address + offset) */
  int level;     /* 1, 2 or 3 */
  s2pt_attrs attrs;
} s2pt_translation;

/* S2PT_OK and *out filled, or S2PT_ERR_NOT_MAPPED, or S2PT_ERR_IPA_OUT_OF_RANGE. */
s2pt_status s2pt_lookup(const s2pt_table* table, uint64_t ipa, s2pt_translation* out);

/* ---- The shared fault path ----
 *
 * A vCPU's stage-2 fault, resolved under the read side of the table's lock, concurrently with
 * the faults of other CPUs. It never allocates: table pages come from a per-CPU page cache that
 * the caller tops up beforehand, outside the lock (as Linux's kvm_mmu_memory_cache). */

/* CPU numbers of page caches are below this (one reclaimer slot each). */
#define S2PT_MAX_CPUS 32
/* The most pages a cache holds: enough for one fault on any geometry. */
#define S2PT_PAGE_CACHE_CAPACITY 8

/* Storage for one page cache, bound to one table and one CPU. Opaque; not copied or moved
 * while it holds pages. */
#define S2PT_PAGE_CACHE_WORDS 16
typedef struct s2pt_page_cache {
  uint64_t opaque[S2PT_PAGE_CACHE_WORDS];
} s2pt_page_cache;

/* Makes *cache an empty cache for `table`, used by CPU `cpu` (< S2PT_MAX_CPUS). At any time, each
 * CPU number belongs to at most one CPU faulting on the table. *cache may be uninitialised or
 * drained, but must not hold pages (they would leak). On failure *cache is not written. A table
 * created again in the same storage needs its caches drained and initialised again (a cache of
 * another granule gets S2PT_ERR_MISMATCHED_CACHE). */
s2pt_status s2pt_page_cache_init(s2pt_page_cache* cache, s2pt_table* table, unsigned cpu);
/* Fills the cache from the table's mm callbacks until it holds `count` pages (at most
 * S2PT_PAGE_CACHE_CAPACITY; s2pt_fault_pages_needed is enough for one fault). On
 * S2PT_ERR_NO_MEMORY the cache is valid and keeps the pages obtained so far. */
s2pt_status s2pt_page_cache_topup(s2pt_page_cache* cache, s2pt_table* table, unsigned count);
/* Gives every cached page back to the table's mm callbacks. Also after the table was destroyed
 * (the mm ctx must still be valid): drain every cache of a table before dropping its mm. */
s2pt_status s2pt_page_cache_drain(s2pt_page_cache* cache, s2pt_table* table);
/* Pages in the cache; 0 for NULL or a cache never initialised. They are not table pages (not in
 * s2pt_stats.table_pages) until a fault links them. */
unsigned s2pt_page_cache_count(const s2pt_page_cache* cache);
/* Pages a cache must hold for s2pt_handle_fault to proceed: one per level below the root
 * (0 for NULL or a table never created). */
unsigned s2pt_fault_pages_needed(const s2pt_table* table);

/* A fault to resolve. */
typedef struct s2pt_fault_request {
  uint64_t ipa;        /* the faulting IPA: any address in the faulting page */
  uint64_t pa;         /* host memory backing the leaf holding `ipa`, aligned to leaf_bytes */
  uint64_t leaf_bytes; /* what to map: the granule, or a block size the backing memory allows */
  s2pt_attrs attrs;    /* what the mapping grants */
} s2pt_fault_request;

typedef enum s2pt_fault_outcome {
  S2PT_FAULT_MAPPED = 0,           /* a new leaf was installed */
  S2PT_FAULT_RELAXED = 1,          /* the leaf gained permissions (the old ones invalidated) */
  S2PT_FAULT_MADE_YOUNG = 2,       /* the leaf's access flag was set */
  S2PT_FAULT_ALREADY_RESOLVED = 3, /* another CPU resolved it first: let the guest retry */
  S2PT_FAULT_MAX_ENUM = 0x7FFFFFFF /* not an outcome: keeps the enum 32 bits wide */
} s2pt_fault_outcome;

/* Resolves one stage-2 fault. SHARED: call it under the read side of the lock whose write side
 * every other table call takes; any number may run at once, each with its own cache.
 *  - IPA unmapped: installs the requested leaf (only the faulting page when a table already sits
 *    where the requested block would go), taking table pages from `cache`. Needs
 *    s2pt_fault_pages_needed pages in the cache, whatever the fault turns out to need:
 *    S2PT_ERR_NO_MEMORY, nothing changed, with fewer.
 *  - IPA mapped to the same memory (and memory type): adds attrs.perm, invalidating the old
 *    permissions before returning, and sets the access flag.
 *  - IPA mapped elsewhere, or annotated: S2PT_ERR_EXISTS. An entry another CPU holds:
 *    S2PT_ERR_AGAIN (let the guest retry).
 * Bad input changes nothing: S2PT_ERR_UNSUPPORTED for a leaf_bytes that is no leaf size of the
 * table (S2PT_ERR_DESTROYED for a destroyed table), S2PT_ERR_UNALIGNED for a pa not aligned to
 * leaf_bytes, and the other range and attribute errors as s2pt_map. *out is written only on
 * S2PT_OK. */
s2pt_status s2pt_handle_fault(s2pt_table* table, const s2pt_fault_request* fault,
                              s2pt_page_cache* cache, s2pt_fault_outcome* out);

/* Register values for the hardware: VTTBR_EL2 (root address and VMID) and VTCR_EL2. */
uint64_t s2pt_vttbr(const s2pt_table* table);
uint64_t s2pt_vtcr(const s2pt_table* table);

/* Table pages in use and the maintenance issued since creation. */
typedef struct s2pt_stats {
  uint64_t table_pages;
  uint64_t tlbi_ipa;
  uint64_t tlbi_range;
  uint64_t tlbi_vmid;
  uint64_t tlbi_s1;
  uint64_t tlbi_local; /* IPAS2E1, VMALLE1 */
  uint64_t dsb_ishst;
  uint64_t dsb_ish;
  uint64_t dsb_nshst;
  uint64_t dsb_nsh;
  uint64_t isb;
  uint64_t dc_civac_calls;
  uint64_t dc_civac_bytes;
  uint64_t ic_ivau_calls;
  uint64_t ic_ivau_bytes;
  uint64_t ic_ialluis;
} s2pt_stats;
s2pt_status s2pt_get_stats(const s2pt_table* table, s2pt_stats* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* S2PT_S2PT_H */
