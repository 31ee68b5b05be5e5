/* s2pt: a plain C11 interface to the stage-2 table core, for hypervisors written in C.
 *
 * The caller owns all memory: a table lives in an s2pt_table object the caller places anywhere
 * (static, stack, inside its VM structure); table pages come from the caller's mm callbacks and
 * every TLB, barrier and cache maintenance instruction goes through its arch callbacks. The
 * library allocates nothing and needs no C library beyond what the compiler provides.
 *
 * Concurrency: operations on one table are exclusive. The caller serialises them (one writer at
 * a time, e.g. under a per-VM lock); hardware walkers may run throughout, and every operation
 * has completed its TLB maintenance when it returns. See docs/embedding.md and docs/api.md. */
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
  S2PT_ERR_UNSUPPORTED = 10,        /* feature, strategy or geometry not supported; or destroyed */
  S2PT_ERR_BAD_GEOMETRY = 11,       /* impossible granule / IPA / PA / VMID combination */
  S2PT_ERR_NOT_MAPPED = 12,         /* lookup: no translation */
  S2PT_ERR_INVALID_ARGUMENT = 100,  /* C interface only: a NULL pointer, or not a created table */
  S2PT_STATUS_MAX_ENUM = 0x7FFFFFFF /* not a status: keeps the enum 32 bits wide */
} s2pt_status;

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
  /* Detach whole subtrees, one invalidation, then (without FWB) one cleaning pass. */
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
} s2pt_features;

/* The stage-2 TLBI operations the library issues, all inner shareable. */
typedef enum s2pt_tlbi_op {
  S2PT_TLBI_IPAS2E1IS = 0,
  S2PT_TLBI_IPAS2LE1IS = 1,
  S2PT_TLBI_RIPAS2E1IS = 2,
  S2PT_TLBI_RIPAS2LE1IS = 3,
  S2PT_TLBI_VMALLE1IS = 4,
  S2PT_TLBI_VMALLS12E1IS = 5,
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
} s2pt_arch_ops;

/* The table's shape and identity. Zero means "the default" where noted. */
typedef struct s2pt_config {
  s2pt_granule granule;
  uint8_t ipa_bits;  /* 32..48, at most pa_bits */
  uint8_t pa_bits;   /* 32, 36, 40, 42, 44 or 48 */
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
} s2pt_config;

/* Storage for one table. Opaque: use only through the functions below. Any placement works;
 * the object must not be copied or moved while the table is live. */
#define S2PT_TABLE_WORDS 256 /* 2 KiB; the library uses s2pt_table_storage_size() of it */
typedef struct s2pt_table {
  uint64_t opaque[S2PT_TABLE_WORDS];
} s2pt_table;

/* Bytes of s2pt_table the library actually uses (at most sizeof(s2pt_table)). */
size_t s2pt_table_storage_size(void);

/* Creates a table in *table: allocates and links the (possibly concatenated) root. The callback
 * structs are copied; their ctx pointers must stay valid until s2pt_table_destroy. *table may be
 * uninitialised or hold a destroyed table, but not a live one (its pages would leak). On failure
 * *table holds no table and nothing was allocated. */
s2pt_status s2pt_table_create(s2pt_table* table, const s2pt_config* config, const s2pt_mm_ops* mm,
                              const s2pt_arch_ops* arch);

/* Invalidates the whole VMID and frees every table page before returning (without FWB, cleaning
 * the memory that was mapped to PoC first, and telling the leaf observer). For a large VM, tear
 * it down in bounded steps with s2pt_destroy_range first. Afterwards every operation returns
 * S2PT_ERR_UNSUPPORTED (lookups S2PT_ERR_NOT_MAPPED; s2pt_get_stats still works) until the
 * storage is created again. Idempotent. */
void s2pt_table_destroy(s2pt_table* table);

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
 * work were done (at least one chunk). S2PT_ERR_AGAIN with *bytes_done when it stopped early:
 * yield, then call again with the rest. */
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
 * swapped in with one break-before-make. Stops with S2PT_ERR_AGAIN and *bytes_done before a
 * block whose new subtree would take more than `page_budget` table pages in this call. */
s2pt_status s2pt_split(s2pt_table* table, uint64_t ipa, uint64_t size, int level,
                       uint64_t page_budget, uint64_t* bytes_done);
/* Replaces every table in the range whose leaves map one contiguous, aligned range with the same
 * attributes by one block. */
s2pt_status s2pt_collapse(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done);

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
  uint64_t dsb_ishst;
  uint64_t dsb_ish;
  uint64_t isb;
  uint64_t dc_civac_calls;
  uint64_t dc_civac_bytes;
  uint64_t ic_ivau_calls;
  uint64_t ic_ivau_bytes;
} s2pt_stats;
s2pt_status s2pt_get_stats(const s2pt_table* table, s2pt_stats* out);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* S2PT_S2PT_H */
