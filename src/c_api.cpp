// The C interface (include/s2pt/s2pt.h): adapters from the C callback structs to the Mm and Arch
// hooks, and a Table constructed in caller-provided storage. Freestanding like the rest of the
// core: no heap, no exceptions.
#include <new>

#include "s2pt/s2pt.h"
#include "s2pt/table.hpp"

namespace s2pt {
namespace {

// The C enumerations are the core's values; these keep them from drifting apart.
static_assert(S2PT_OK == static_cast<int>(Status::ok));
static_assert(S2PT_ERR_UNALIGNED == static_cast<int>(Status::unaligned));
static_assert(S2PT_ERR_EMPTY_RANGE == static_cast<int>(Status::empty_range));
static_assert(S2PT_ERR_WRAPS == static_cast<int>(Status::wraps));
static_assert(S2PT_ERR_IPA_OUT_OF_RANGE == static_cast<int>(Status::ipa_out_of_range));
static_assert(S2PT_ERR_PA_OUT_OF_RANGE == static_cast<int>(Status::pa_out_of_range));
static_assert(S2PT_ERR_BAD_ATTRIBUTES == static_cast<int>(Status::bad_attributes));
static_assert(S2PT_ERR_EXISTS == static_cast<int>(Status::exists));
static_assert(S2PT_ERR_NO_MEMORY == static_cast<int>(Status::no_memory));
static_assert(S2PT_ERR_AGAIN == static_cast<int>(Status::again));
static_assert(S2PT_ERR_UNSUPPORTED == static_cast<int>(Status::unsupported));
static_assert(S2PT_ERR_BAD_GEOMETRY == static_cast<int>(Status::bad_geometry));
static_assert(S2PT_ERR_NOT_MAPPED == static_cast<int>(Status::not_mapped));
static_assert(S2PT_ERR_BUDGET_EXHAUSTED == static_cast<int>(Status::budget_exhausted));
static_assert(S2PT_ERR_DESTROYED == static_cast<int>(Status::destroyed));
static_assert(S2PT_ERR_MISMATCHED_CACHE == static_cast<int>(Status::mismatched_cache));
static_assert(S2PT_ERR_BAD_FLAGS == static_cast<int>(Status::bad_flags));
static_assert(S2PT_ERR_EXEC_ON_DEVICE == static_cast<int>(Status::exec_on_device));
static_assert(S2PT_ERR_MISSING_FEATURE == static_cast<int>(Status::missing_feature));
static_assert(S2PT_ERR_BITMAP_TOO_SMALL == static_cast<int>(Status::bitmap_too_small));
static_assert(S2PT_ERR_NOT_LOGGING == static_cast<int>(Status::not_logging));
static_assert(S2PT_ERR_ALREADY_LOGGING == static_cast<int>(Status::already_logging));
static_assert(S2PT_MAX_LOGGED_RANGES == kMaxLoggedRanges);
static_assert(S2PT_SPLIT_LAZY == static_cast<int>(BlockSplitting::lazy));
static_assert(S2PT_TRACK_WRITE_PROTECT == static_cast<int>(DirtyTracking::write_protect));
static_assert(S2PT_TRACK_HARDWARE == static_cast<int>(DirtyTracking::hardware));
static_assert(S2PT_SPLIT_EAGER == static_cast<int>(BlockSplitting::eager));
static_assert(S2PT_ERR_TOO_MANY_LOGGED_RANGES == static_cast<int>(Status::too_many_logged_ranges));
static_assert(S2PT_GRANULE_4K == static_cast<int>(Granule::k4));
static_assert(S2PT_GRANULE_16K == static_cast<int>(Granule::k16));
static_assert(S2PT_GRANULE_64K == static_cast<int>(Granule::k64));
static_assert(S2PT_PERM_R == static_cast<int>(Perm::read));
static_assert(S2PT_PERM_W == static_cast<int>(Perm::write));
static_assert(S2PT_PERM_X == static_cast<int>(Perm::exec));
static_assert(S2PT_MEM_NORMAL_WB == static_cast<int>(MemType::normal_wb));
static_assert(S2PT_MEM_NORMAL_NC == static_cast<int>(MemType::normal_nc));
static_assert(S2PT_MEM_DEVICE_NGNRE == static_cast<int>(MemType::device_ngnre));
static_assert(S2PT_MEM_DEVICE_NGNRNE == static_cast<int>(MemType::device_ngnrne));
static_assert(S2PT_MAP_REPLACE == static_cast<int>(MapFlags::replace));
static_assert(S2PT_MAP_NO_BLOCKS == static_cast<int>(MapFlags::no_blocks));
static_assert(S2PT_UNMAP_PER_ENTRY == static_cast<int>(UnmapStrategy::per_entry));
static_assert(S2PT_UNMAP_DEFERRED == static_cast<int>(UnmapStrategy::deferred));
static_assert(S2PT_UNMAP_FAST == static_cast<int>(UnmapStrategy::fast));
static_assert(S2PT_UNMAP_AUTO == static_cast<int>(UnmapStrategy::automatic));
static_assert(sizeof(kAllUnmapStrategies) / sizeof(kAllUnmapStrategies[0]) == 4,
              "a new UnmapStrategy: add its S2PT_UNMAP_* value to s2pt.h");
static_assert(S2PT_TLBI_IPAS2E1IS == static_cast<int>(TlbiOp::ipas2e1is));
static_assert(S2PT_TLBI_IPAS2LE1IS == static_cast<int>(TlbiOp::ipas2le1is));
static_assert(S2PT_TLBI_RIPAS2E1IS == static_cast<int>(TlbiOp::ripas2e1is));
static_assert(S2PT_TLBI_RIPAS2LE1IS == static_cast<int>(TlbiOp::ripas2le1is));
static_assert(S2PT_TLBI_VMALLE1IS == static_cast<int>(TlbiOp::vmalle1is));
static_assert(S2PT_TLBI_VMALLS12E1IS == static_cast<int>(TlbiOp::vmalls12e1is));
static_assert(S2PT_TLBI_IPAS2E1 == static_cast<int>(TlbiOp::ipas2e1));
static_assert(S2PT_TLBI_VMALLE1 == static_cast<int>(TlbiOp::vmalle1));
static_assert(S2PT_FAULT_MAPPED == static_cast<int>(FaultOutcome::mapped));
static_assert(S2PT_FAULT_RELAXED == static_cast<int>(FaultOutcome::relaxed));
static_assert(S2PT_FAULT_MADE_YOUNG == static_cast<int>(FaultOutcome::made_young));
static_assert(S2PT_FAULT_ALREADY_RESOLVED == static_cast<int>(FaultOutcome::already_resolved));
static_assert(S2PT_MAX_CPUS == Reclaimer::kWalkerSlots);
static_assert(S2PT_PAGE_CACHE_CAPACITY == PageCache::kCapacity);

class CMm final : public Mm {
 public:
  explicit CMm(const s2pt_mm_ops& ops) : ops_(ops) {}
  Result<Pa> alloc_zeroed(u64 bytes) override {
    uint64_t pa = 0;
    if (!ops_.alloc_zeroed(ops_.ctx, bytes, &pa)) return Status::no_memory;
    return Pa{pa};
  }
  void free(Pa pa, u64 bytes) override { ops_.free(ops_.ctx, pa.raw, bytes); }
  void* phys_to_virt(Pa pa) override { return ops_.phys_to_virt(ops_.ctx, pa.raw); }
  u32* refcount(Pa pa) override { return ops_.refcount(ops_.ctx, pa.raw); }

 private:
  s2pt_mm_ops ops_;
};

class CArch final : public SteppingArch {
 public:
  explicit CArch(const s2pt_arch_ops& ops) : ops_(ops) {}
  Features features() const override {
    return Features{.fwb = ops_.features.fwb,
                    .tlbi_range = ops_.features.tlbi_range,
                    .ttl = ops_.features.ttl,
                    .dic = ops_.features.dic,
                    .aliasing_icache = ops_.features.aliasing_icache,
                    .hw_dirty = ops_.features.hw_dirty,
                    .lpa2 = ops_.features.lpa2,
                    .lpa = ops_.features.lpa,
                    .bbm_level = ops_.features.bbm_level};
  }
  void invalidate(const InvalidationPlan& plan) override {
    const auto run_step = [&](const PlanStep& step) { run(plan.context(), step); };
    if (ops_.enter_context != nullptr) ops_.enter_context(ops_.ctx, plan.context().vttbr);
    plan.for_each_invalidation_step(run_step);
    if (ops_.leave_context != nullptr) ops_.leave_context(ops_.ctx);
    plan.for_each_cleaning_step(run_step);
  }
  void tlbi(const Stage2Context& context, TlbiOp op, u64 operand) override {
    if (!local_barriers()) {
      // A backend without the non-shareable barriers gets the broadcast forms, which are stronger.
      if (op == TlbiOp::ipas2e1) op = TlbiOp::ipas2e1is;
      if (op == TlbiOp::vmalle1) op = TlbiOp::vmalle1is;
    }
    ops_.tlbi(ops_.ctx, context.vmid().raw, static_cast<s2pt_tlbi_op>(op), operand);
  }
  void dsb_ishst() override { ops_.dsb_ishst(ops_.ctx); }
  void dsb_ish() override { ops_.dsb_ish(ops_.ctx); }
  void dsb_nshst() override { local_barriers() ? ops_.dsb_nshst(ops_.ctx) : dsb_ishst(); }
  void dsb_nsh() override { local_barriers() ? ops_.dsb_nsh(ops_.ctx) : dsb_ish(); }
  void isb() override { ops_.isb(ops_.ctx); }
  void dc_civac(Pa pa, u64 bytes) override { ops_.dc_civac(ops_.ctx, pa.raw, bytes); }
  void ic_ivau(Pa pa, u64 bytes) override { ops_.ic_ivau(ops_.ctx, pa.raw, bytes); }
  void ic_ialluis() override { ops_.ic_ialluis(ops_.ctx); }

 private:
  bool local_barriers() const { return ops_.dsb_nshst != nullptr && ops_.dsb_nsh != nullptr; }
  s2pt_arch_ops ops_;
};

// What lives in s2pt_table: the word opaque[0] says whether a table was created there; the
// handle follows it.
struct Handle {
  // table_bytes stays raw until the table is constructed in it.
  Handle(const s2pt_mm_ops& mm_ops, const s2pt_arch_ops& arch_ops)  // NOLINT(*-member-init)
      : mm(mm_ops), arch(arch_ops) {}
  Table& table() { return *std::launder(reinterpret_cast<Table*>(table_bytes)); }
  const Table& table() const { return *std::launder(reinterpret_cast<const Table*>(table_bytes)); }

  CMm mm;
  CArch arch;
  s2pt_leaf_observer observer = nullptr;
  void* observer_ctx = nullptr;
  // Constructed once Table::create succeeded; the table keeps references to mm and arch.
  alignas(Table) unsigned char table_bytes[sizeof(Table)];
};

constexpr u64 kLiveMagic = 0x7332'7074'6c69'7665;  // "s2ptlive"
constexpr std::size_t kHandleOffset = sizeof(uint64_t);
static_assert(alignof(Handle) <= alignof(uint64_t), "s2pt_table only guarantees 8-byte alignment");
static_assert(kHandleOffset + sizeof(Handle) <= sizeof(s2pt_table),
              "grow S2PT_TABLE_WORDS: the handle no longer fits");

// The object of type T that lives in a C storage struct after its first word, if that word is
// `magic` (the object was constructed there and not yet destroyed).
template <class T, class Storage>
T* object_in(Storage* storage, u64 magic) {
  if (storage == nullptr || storage->opaque[0] != magic) return nullptr;
  return std::launder(
      reinterpret_cast<T*>(reinterpret_cast<unsigned char*>(storage) + kHandleOffset));
}

Handle* handle(s2pt_table* t) {
  return object_in<Handle>(t, kLiveMagic);
}
const Handle* handle(const s2pt_table* t) {
  return handle(const_cast<s2pt_table*>(t));
}

// What lives in s2pt_page_cache: opaque[0] says whether a cache was initialised there; the
// handle follows it. A cache is bound to the table it was initialised for: its pages come from
// that table's mm and go back there.
struct CacheHandle {
  CacheHandle(const s2pt_table* owner, u64 page_bytes, unsigned cpu)
      : table(owner), cache(page_bytes, cpu) {}
  const s2pt_table* table;
  PageCache cache;
};

constexpr u64 kCacheMagic = 0x7332'7074'6361'6368;  // "s2ptcach"
static_assert(alignof(CacheHandle) <= alignof(uint64_t),
              "s2pt_page_cache only guarantees 8-byte alignment");
static_assert(kHandleOffset + sizeof(CacheHandle) <= sizeof(s2pt_page_cache),
              "grow S2PT_PAGE_CACHE_WORDS: the cache no longer fits");

CacheHandle* cache_handle(s2pt_page_cache* c) {
  return object_in<CacheHandle>(c, kCacheMagic);
}
const CacheHandle* cache_handle(const s2pt_page_cache* c) {
  return cache_handle(const_cast<s2pt_page_cache*>(c));
}

// The table's and the cache's handles, when both exist and the cache is the table's.
struct Bound {
  Handle* table = nullptr;
  CacheHandle* cache = nullptr;
};
s2pt_status bind(s2pt_table* table, s2pt_page_cache* cache, Bound& out) {
  Handle* h = handle(table);
  CacheHandle* c = cache_handle(cache);
  if (h == nullptr || c == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  if (c->table != table) return S2PT_ERR_FOREIGN_CACHE;
  out = Bound{h, c};
  return S2PT_OK;
}

s2pt_status to_c(Status s) {
  return static_cast<s2pt_status>(s);
}

s2pt_status finish(Progress p, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = p.bytes_done;
  return to_c(p.status);
}

bool to_attrs(const s2pt_attrs& in, Attrs& out) {
  if ((in.perm & ~kPermMask) != 0 || in.mem >= kMemTypeCount) return false;
  Shareability sh = Shareability::inner;
  switch (in.sh) {
    case S2PT_SH_INNER:
      sh = Shareability::inner;
      break;
    case S2PT_SH_OUTER:
      sh = Shareability::outer;
      break;
    case S2PT_SH_NON:
      sh = Shareability::non;
      break;
    default:
      return false;
  }
  out = Attrs{.perm = Perm(in.perm),
              .mem = MemType(in.mem),
              .sh = sh,
              .af = !in.clear_af,
              .contiguous = false,
              .sw = in.sw};
  return true;
}

s2pt_attrs to_c(const Attrs& a) {
  uint8_t sh = S2PT_SH_INNER;
  if (a.sh == Shareability::outer) sh = S2PT_SH_OUTER;
  if (a.sh == Shareability::non) sh = S2PT_SH_NON;
  return s2pt_attrs{.perm = static_cast<uint8_t>(a.perm),
                    .mem = static_cast<uint8_t>(a.mem),
                    .sh = sh,
                    .clear_af = !a.af,
                    .sw = a.sw};
}

void report_leaf(void* context, const UnmappedLeaf& leaf) {
  const Handle* h = static_cast<const Handle*>(context);
  const s2pt_unmapped_leaf c_leaf{.ipa = leaf.ipa.raw,
                                  .pa = leaf.pa.raw,
                                  .size = leaf.size,
                                  .level = leaf.level.value(),
                                  .attrs = to_c(leaf.attrs)};
  h->observer(h->observer_ctx, &c_leaf);
}

constexpr bool known_strategy(unsigned value) {
  for (UnmapStrategy s : kAllUnmapStrategies) {
    if (static_cast<unsigned>(s) == value) return true;
  }
  return false;
}

}  // namespace
}  // namespace s2pt

using namespace s2pt;

extern "C" {

const char* s2pt_status_string(s2pt_status status) {
  if (status == S2PT_ERR_INVALID_ARGUMENT) return "invalid argument";
  if (status == S2PT_ERR_FOREIGN_CACHE) return "the page cache belongs to another table";
  return describe(static_cast<Status>(status));
}

size_t s2pt_table_storage_size(void) {
  return kHandleOffset + sizeof(Handle);
}

s2pt_status s2pt_table_create(s2pt_table* table, const s2pt_config* config, const s2pt_mm_ops* mm,
                              const s2pt_arch_ops* arch) {
  if (table == nullptr || config == nullptr || mm == nullptr || arch == nullptr) {
    return S2PT_ERR_INVALID_ARGUMENT;
  }
  table->opaque[0] = 0;
  if (!mm->alloc_zeroed || !mm->free || !mm->phys_to_virt || !mm->refcount || !arch->tlbi ||
      !arch->dsb_ishst || !arch->dsb_ish || !arch->isb || !arch->dc_civac || !arch->ic_ivau ||
      !arch->ic_ialluis || (arch->enter_context == nullptr) != (arch->leave_context == nullptr)) {
    return S2PT_ERR_INVALID_ARGUMENT;
  }
  const unsigned granule = config->granule;
  if (granule != S2PT_GRANULE_4K && granule != S2PT_GRANULE_16K && granule != S2PT_GRANULE_64K) {
    return S2PT_ERR_BAD_GEOMETRY;
  }
  const Result<Geometry> geometry =
      Geometry::make(Granule(granule), config->ipa_bits, config->pa_bits,
                     config->vmid_bits == 0 ? 16u : config->vmid_bits,
                     config->max_root_pages == 0 ? 16u : config->max_root_pages);
  if (!geometry.ok()) return to_c(geometry.status());
  PlannerLimits limits;
  if (config->max_ipa_ops != 0) limits.max_ipa_ops = config->max_ipa_ops;
  if (config->max_range_ops != 0) limits.max_range_ops = config->max_range_ops;
  const TableConfig table_config{.geometry = geometry.value(),
                                 .vmid = Vmid{config->vmid},
                                 .use_fwb = !config->no_fwb,
                                 .use_tlbi_range = !config->no_tlbi_range,
                                 .use_ttl = !config->no_ttl,
                                 .use_hw_dirty = config->hw_dirty,
                                 .limits = limits};

  Handle* h = new (reinterpret_cast<unsigned char*>(table) + kHandleOffset) Handle(*mm, *arch);
  Result<Table> created = Table::create(table_config, h->mm, h->arch);
  if (!created.ok()) return to_c(created.status());
  new (h->table_bytes) Table(static_cast<Result<Table>&&>(created).value());
  table->opaque[0] = kLiveMagic;
  return S2PT_OK;
}

void s2pt_table_destroy(s2pt_table* table) {
  // The handle stays: later calls see a destroyed table, as in C++, and stats stay readable.
  if (Handle* h = handle(table)) {
    h->table().destroy();
    h->table().reclaim_all();
  }
}

s2pt_status s2pt_table_retire(s2pt_table* table) {
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  h->table().destroy();
  return S2PT_OK;
}

s2pt_status s2pt_reclaim(s2pt_table* table, uint64_t budget, uint64_t* pages_freed) {
  if (pages_freed != nullptr) *pages_freed = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  const u64 freed = h->table().reclaim(budget);
  if (pages_freed != nullptr) *pages_freed = freed;
  return S2PT_OK;
}

s2pt_status s2pt_reclaim_all(s2pt_table* table) {
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  h->table().reclaim_all();
  return S2PT_OK;
}

bool s2pt_reclaim_pending(s2pt_table* table) {
  Handle* h = handle(table);
  return h != nullptr && h->table().reclaim_pending();
}

s2pt_status s2pt_page_cache_init(s2pt_page_cache* cache, s2pt_table* table, unsigned cpu) {
  const Handle* h = handle(table);
  if (cache == nullptr || h == nullptr || cpu >= S2PT_MAX_CPUS) return S2PT_ERR_INVALID_ARGUMENT;
  new (reinterpret_cast<unsigned char*>(cache) + kHandleOffset)
      CacheHandle(table, h->table().geometry().page_bytes(), cpu);
  cache->opaque[0] = kCacheMagic;
  return S2PT_OK;
}

s2pt_status s2pt_page_cache_topup(s2pt_page_cache* cache, s2pt_table* table, unsigned count) {
  Bound b;
  if (s2pt_status s = bind(table, cache, b); s != S2PT_OK) return s;
  if (count > S2PT_PAGE_CACHE_CAPACITY) return S2PT_ERR_INVALID_ARGUMENT;
  // Initialised for an earlier table in the same storage, with another granule.
  if (b.cache->cache.page_bytes() != b.table->table().geometry().page_bytes()) {
    return S2PT_ERR_MISMATCHED_CACHE;
  }
  // Only the mm callbacks and the cache: no table state, so no lock needed.
  return to_c(b.cache->cache.topup(b.table->mm, count));
}

s2pt_status s2pt_page_cache_drain(s2pt_page_cache* cache, s2pt_table* table) {
  Bound b;
  if (s2pt_status s = bind(table, cache, b); s != S2PT_OK) return s;
  b.cache->cache.drain(b.table->mm);
  return S2PT_OK;
}

unsigned s2pt_page_cache_count(const s2pt_page_cache* cache) {
  const CacheHandle* c = cache_handle(cache);
  return c == nullptr ? 0 : c->cache.size();
}

unsigned s2pt_fault_pages_needed(const s2pt_table* table) {
  const Handle* h = handle(table);
  return h == nullptr ? 0 : h->table().geometry().levels() - 1;
}

s2pt_status s2pt_handle_fault(s2pt_table* table, const s2pt_fault_request* fault,
                              s2pt_page_cache* cache, s2pt_fault_outcome* out) {
  Bound b;
  if (s2pt_status s = bind(table, cache, b); s != S2PT_OK) return s;
  if (fault == nullptr || out == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  Attrs attrs;
  if (!to_attrs(fault->attrs, attrs)) return S2PT_ERR_BAD_ATTRIBUTES;
  const Result<FaultOutcome> r =
      b.table->table().handle_fault(FaultRequest{.ipa = Ipa{fault->ipa},
                                                 .pa = Pa{fault->pa},
                                                 .leaf_bytes = fault->leaf_bytes,
                                                 .attrs = attrs},
                                    b.cache->cache);
  if (!r.ok()) return to_c(r.status());
  *out = static_cast<s2pt_fault_outcome>(r.value());
  return S2PT_OK;
}

s2pt_status s2pt_destroy_range(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t budget,
                               uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().destroy_range(IpaRange{Ipa{ipa}, size}, budget), bytes_done);
}

s2pt_status s2pt_set_leaf_observer(s2pt_table* table, s2pt_leaf_observer observer, void* ctx) {
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  h->observer = observer;
  h->observer_ctx = ctx;
  h->table().set_leaf_observer(observer == nullptr ? LeafObserver{}
                                                   : LeafObserver{&report_leaf, h});
  return S2PT_OK;
}

s2pt_status s2pt_map(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t pa,
                     const s2pt_attrs* attrs, uint32_t flags, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr || attrs == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  Attrs a;
  if (!to_attrs(*attrs, a)) return S2PT_ERR_BAD_ATTRIBUTES;
  if (flags > 0xFF) return S2PT_ERR_BAD_FLAGS;
  return finish(h->table().map(IpaRange{Ipa{ipa}, size}, Pa{pa}, a, MapFlags(flags)), bytes_done);
}

s2pt_status s2pt_unmap(s2pt_table* table, uint64_t ipa, uint64_t size, s2pt_unmap_strategy strategy,
                       uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  const unsigned value = static_cast<unsigned>(strategy);
  if (value > 0xFF || !known_strategy(value)) return S2PT_ERR_UNSUPPORTED;
  return finish(h->table().unmap(IpaRange{Ipa{ipa}, size}, UnmapStrategy(value)), bytes_done);
}

s2pt_status s2pt_split(s2pt_table* table, uint64_t ipa, uint64_t size, int level,
                       uint64_t page_budget, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  if (level < 0 || level > Level::kLast) return S2PT_ERR_UNSUPPORTED;
  return finish(h->table().split(IpaRange{Ipa{ipa}, size}, Level{level}, page_budget), bytes_done);
}

s2pt_status s2pt_collapse(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().collapse(IpaRange{Ipa{ipa}, size}), bytes_done);
}

s2pt_status s2pt_enable_dirty_log(s2pt_table* table, uint64_t ipa, uint64_t size,
                                  const s2pt_dirty_bitmap* bitmap,
                                  const s2pt_dirty_log_options* c_options) {
  Handle* h = handle(table);
  if (h == nullptr || bitmap == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  DirtyLogOptions options;
  if (c_options != nullptr) {
    options.tracking = static_cast<DirtyTracking>(c_options->tracking);
    options.blocks = static_cast<BlockSplitting>(c_options->blocks);
    if (c_options->split_page_budget != 0) options.split_page_budget = c_options->split_page_budget;
  }
  return to_c(h->table()
                  .enable_dirty_log(IpaRange{Ipa{ipa}, size},
                                    DirtyBitmap{bitmap->words, bitmap->bits}, options)
                  .status);
}

s2pt_status s2pt_sync_dirty(s2pt_table* table, uint64_t ipa, uint64_t size) {
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return to_c(h->table().sync_dirty(IpaRange{Ipa{ipa}, size}).status);
}

s2pt_status s2pt_disable_dirty_log(s2pt_table* table, uint64_t ipa, uint64_t size, bool collapse) {
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return to_c(h->table().disable_dirty_log(IpaRange{Ipa{ipa}, size}, collapse).status);
}

s2pt_status s2pt_clear_dirty(s2pt_table* table, uint64_t ipa, uint64_t size,
                             const s2pt_dirty_bitmap* mask, const s2pt_dirty_bitmap* cleared) {
  Handle* h = handle(table);
  if (h == nullptr || mask == nullptr || cleared == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return to_c(h->table()
                  .clear_dirty(IpaRange{Ipa{ipa}, size}, DirtyBitmap{mask->words, mask->bits},
                               DirtyBitmap{cleared->words, cleared->bits})
                  .status);
}

s2pt_status s2pt_write_protect(s2pt_table* table, uint64_t ipa, uint64_t size,
                               uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().write_protect(IpaRange{Ipa{ipa}, size}), bytes_done);
}

s2pt_status s2pt_relax(s2pt_table* table, uint64_t ipa, uint64_t size, uint32_t perm,
                       uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  if ((perm & ~uint32_t{kPermMask}) != 0) return S2PT_ERR_BAD_ATTRIBUTES;
  return finish(h->table().relax(IpaRange{Ipa{ipa}, size}, Perm(perm)), bytes_done);
}

s2pt_status s2pt_mkyoung(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().mkyoung(IpaRange{Ipa{ipa}, size}), bytes_done);
}

s2pt_status s2pt_mkold(s2pt_table* table, uint64_t ipa, uint64_t size, uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().mkold(IpaRange{Ipa{ipa}, size}), bytes_done);
}

s2pt_status s2pt_test_and_clear_young(s2pt_table* table, uint64_t ipa, uint64_t size,
                                      bool* was_young) {
  Handle* h = handle(table);
  if (h == nullptr || was_young == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  *was_young = false;
  const Result<bool> young = h->table().test_and_clear_young(IpaRange{Ipa{ipa}, size});
  if (!young.ok()) return to_c(young.status());
  *was_young = young.value();
  return S2PT_OK;
}

s2pt_status s2pt_annotate(s2pt_table* table, uint64_t ipa, uint64_t size, uint8_t owner,
                          uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().annotate(IpaRange{Ipa{ipa}, size}, OwnerId{owner}), bytes_done);
}

uint8_t s2pt_owner(const s2pt_table* table, uint64_t ipa) {
  const Handle* h = handle(table);
  return h == nullptr ? 0 : h->table().owner(Ipa{ipa}).raw;
}

s2pt_status s2pt_flush_dcache(s2pt_table* table, uint64_t ipa, uint64_t size,
                              uint64_t* bytes_done) {
  if (bytes_done != nullptr) *bytes_done = 0;
  Handle* h = handle(table);
  if (h == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  return finish(h->table().flush_dcache(IpaRange{Ipa{ipa}, size}), bytes_done);
}

s2pt_status s2pt_lookup(const s2pt_table* table, uint64_t ipa, s2pt_translation* out) {
  const Handle* h = handle(table);
  if (h == nullptr || out == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  const Result<Translation> t = h->table().lookup(Ipa{ipa});
  if (!t.ok()) return to_c(t.status());
  *out = s2pt_translation{.base = t->base.raw,
                          .size = t->size,
                          .pa = t->pa.raw,
                          .level = t->level.value(),
                          .attrs = to_c(t->attrs)};
  return S2PT_OK;
}

uint64_t s2pt_vttbr(const s2pt_table* table) {
  const Handle* h = handle(table);
  return h == nullptr || h->table().destroyed() ? 0 : h->table().vttbr();
}

uint64_t s2pt_vtcr(const s2pt_table* table) {
  const Handle* h = handle(table);
  return h == nullptr ? 0 : h->table().vtcr();
}

s2pt_status s2pt_get_stats(const s2pt_table* table, s2pt_stats* out) {
  const Handle* h = handle(table);
  if (h == nullptr || out == nullptr) return S2PT_ERR_INVALID_ARGUMENT;
  const TableStats s = h->table().stats();
  const MaintenanceCounters& m = s.maintenance;
  *out = s2pt_stats{.table_pages = s.table_pages,
                    .tlbi_ipa = m.tlbi_ipa,
                    .tlbi_range = m.tlbi_range,
                    .tlbi_vmid = m.tlbi_vmid,
                    .tlbi_s1 = m.tlbi_s1,
                    .tlbi_local = m.tlbi_local,
                    .dsb_ishst = m.dsb_ishst,
                    .dsb_ish = m.dsb_ish,
                    .dsb_nshst = m.dsb_nshst,
                    .dsb_nsh = m.dsb_nsh,
                    .isb = m.isb,
                    .dc_civac_calls = m.dc_civac_calls,
                    .dc_civac_bytes = m.dc_civac_bytes,
                    .ic_ivau_calls = m.ic_ivau_calls,
                    .ic_ivau_bytes = m.ic_ivau_bytes,
                    .ic_ialluis = m.ic_ialluis};
  return S2PT_OK;
}

}  // extern "C"
