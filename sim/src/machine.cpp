// The machine's CPUs: guest accesses, the hardware walker, fills, and the maintenance
// instructions with their delayed completion. The oracles' checks are in oracles.cpp.
#include "s2pt/sim/machine.hpp"

#include <algorithm>
#include <optional>

#include "bbm_tracker.hpp"
#include "cpu.hpp"
#include "entry.hpp"
#include "live_table.hpp"
#include "s2pt/table.hpp"

namespace s2pt::sim {

const char* name(AccessResult r) {
  switch (r) {
    case AccessResult::ok:
      return "ok";
    case AccessResult::translation_fault:
      return "translation fault";
    case AccessResult::access_flag_fault:
      return "access flag fault";
    case AccessResult::permission_fault:
      return "permission fault";
    case AccessResult::walk_aborted:
      return "walk aborted";
  }
  return "?";
}

Machine::Machine(const MachineConfig& config, SimMm& mm)
    : config_(config), mm_(mm), bbm_(std::make_unique<BbmTracker>()), step_rng_(config.seed) {
  const unsigned n = std::max(config.cpus, 1u);
  for (unsigned i = 0; i < n; ++i) {
    cpus_.push_back(std::make_unique<Cpu>(i, config.seed * 0x100000001B3ull + i + 1));
  }
  mm_.attach(this);
  allocs_at_start_ = mm_.allocs();
  frees_at_start_ = mm_.frees();
}

Machine::~Machine() {
  mm_.attach(nullptr);
}

void Machine::attach(const Table& table) {
  attach(AttachedTable{.vmid = table.vmid(),
                       .geometry = table.geometry(),
                       .format = table.format().memattr,
                       .root = table.root(),
                       .hardware_dirty = (table.vtcr() & vtcr::kHd) != 0});
}

void Machine::attach(const AttachedTable& table) {
  detach(table.vmid);
  tables_.push_back(table);
  bbm_->observe(*this);
}

void Machine::detach(Vmid vmid) {
  std::erase_if(tables_, [&](const AttachedTable& t) { return t.vmid == vmid; });
}

const AttachedTable* Machine::table_of(Vmid vmid) const {
  for (const AttachedTable& t : tables_) {
    if (t.vmid == vmid) return &t;
  }
  return nullptr;
}

// --- caches -------------------------------------------------------------------------------

namespace {

// A pseudo-random entry among the first few of a map (end() if empty): stepping a hash-map
// iterator is linear, so "random" stays cheap.
template <class Map>
typename Map::iterator near_begin(Cpu& cpu, Map& map) {
  if (map.empty()) return map.end();
  return std::next(map.begin(), static_cast<long>(cpu.rng.below(std::min<u64>(map.size(), 64))));
}

}  // namespace

void Machine::fill(Cpu& cpu, const TlbEntry& entry) {
  Tlb::Map& entries = cpu.tlb.entries(entry.combined);
  const u64 key = Tlb::key(entry.vmid, entry.level, entry.base);
  if (auto it = entries.find(key); it != entries.end()) {
    it->second = entry;
    return;
  }
  if (!config_.adversary.no_eviction && !entries.empty() &&
      (cpu.tlb.size() >= config_.tlb_entries || cpu.rng.chance(5))) {
    entries.erase(near_begin(cpu, entries));
  }
  if (cpu.tlb.size() >= config_.tlb_entries) make_room(cpu, entries);
  // Full with nothing that may go: the new translation is simply not cached.
  if (cpu.tlb.size() >= config_.tlb_entries) return;
  entries.emplace(key, entry);
}

// Without eviction a full TLB would stop caching for good. It gives up instead an entry that still
// matches the live table (dropping one that may be stale could hide a missing invalidation);
// if the few it looks at are all stale, nothing goes.
void Machine::make_room(Cpu& cpu, Tlb::Map& entries) {
  auto it = near_begin(cpu, entries);
  for (int tries = 0; tries < 8 && it != entries.end(); ++tries, ++it) {
    const AttachedTable* t = table_of(it->second.vmid);
    if (t != nullptr && still_matches_live(mm_, *t, it->second)) {
      entries.erase(it);
      return;
    }
  }
}

void Machine::fill_walk(Cpu& cpu, const WalkEntry& entry) {
  auto& walks = cpu.tlb.walks();
  const u64 key = Tlb::key(entry.vmid, entry.level, entry.base);
  if (auto it = walks.find(key); it != walks.end()) {
    it->second = entry;
    return;
  }
  if (!config_.adversary.no_eviction && !walks.empty() &&
      (walks.size() >= config_.walk_cache_entries || cpu.rng.chance(5))) {
    walks.erase(near_begin(cpu, walks));
  }
  auto it = walks.size() >= config_.walk_cache_entries ? near_begin(cpu, walks) : walks.end();
  for (int tries = 0; tries < 8 && it != walks.end(); ++tries) {
    const AttachedTable* t = table_of(it->second.vmid);
    if (t != nullptr && still_matches_live(mm_, *t, it->second)) {
      walks.erase(it);
      break;
    }
    ++it;
  }
  if (walks.size() >= config_.walk_cache_entries) return;
  walks.emplace(key, entry);
}

// The hardware walker: starts from the deepest walk-cache entry that covers `ipa` (or the root)
// and reads the live descriptors with single-copy-atomic loads, filling as it goes.
Machine::Translation Machine::walk(Cpu& cpu, const AttachedTable& t, Ipa ipa) {
  const Geometry& g = t.geometry;
  Level level = g.start_level();
  Pa table = t.root;
  for (int l = Level::kLast - 1; l >= g.start_level().value(); --l) {
    if (WalkEntry* w = cpu.tlb.find_walk(t.vmid, Level{l}, ipa, g.level_bytes(Level{l}))) {
      table = w->next;
      level = Level{l + 1};
      break;
    }
  }
  Translation out{AccessResult::translation_fault, TlbEntry{}};
  out.entry.level = level;
  for (;;) {
    out.entry.level = level;
    out.entry.base = ipa.align_down(g.level_bytes(level));
    out.entry.bytes = g.level_bytes(level);
    if (!mm_.contains(table) || mm_.is_freed(table)) {
      report(Violation{.kind = ViolationKind::walker_read_freed,
                       .cpu = static_cast<int>(cpu.index),
                       .ipa = ipa,
                       .pa = table,
                       .time = now(),
                       .detail = "hardware walk reached a page that is not a live table page"});
      out.result = AccessResult::walk_aborted;
      return out;
    }
    const Pte d = entry::load(static_cast<const u64*>(mm_.raw(table)) + g.index(ipa, level));
    if (d.is_table(level)) {
      fill_walk(cpu, WalkEntry{.vmid = t.vmid,
                               .level = level,
                               .base = out.entry.base,
                               .bytes = out.entry.bytes,
                               .next = d.table_address(t.geometry.oa_layout()),
                               .fill_time = now()});
      table = d.table_address(t.geometry.oa_layout());
      level = level.deeper();
      continue;
    }
    if (!d.is_leaf(level) || !g.leaf_allowed(level)) return out;
    // A translation whose AF is 0 faults and is never cached (no hardware AF update modelled).
    if (!d.af()) {
      out.result = AccessResult::access_flag_fault;
      return out;
    }
    const Result<MemType> mem = decode_memattr(d.memattr(), t.format);
    TlbEntry& e = out.entry;
    e.vmid = t.vmid;
    e.pa = d.output_address(t.geometry.oa_layout());
    e.perm = d.perm();
    e.mem = mem.ok() ? mem.value() : MemType::device_ngnrne;
    e.descriptor = d.raw();
    e.fill_time = now();
    check_prepared(cpu, t, e);
    fill(cpu, e);
    if (config_.adversary.combined_entries) {
      TlbEntry combined = e;
      combined.combined = true;
      fill(cpu, combined);
    }
    out.result = AccessResult::ok;
    return out;
  }
}

// --- guest activity -------------------------------------------------------------------------

void Machine::record(Cpu& cpu, const Access& a) {
  ++cpu.accesses;
  if (a.result == AccessResult::ok) ++cpu.accesses_ok;
  if (cpu.log.size() < config_.access_log_limit) cpu.log.push_back(a);
}

Machine::AccessCounts Machine::access_counts() const {
  AccessCounts n;
  for (const auto& cpu : cpus_) {
    std::lock_guard lock(cpu->mutex);
    n.total += cpu->accesses;
    n.ok += cpu->accesses_ok;
  }
  return n;
}

Access Machine::access(unsigned c, Vmid vmid, Ipa ipa, bool write) {
  Cpu& cpu = *cpus_.at(c);
  const AttachedTable* t = table_of(vmid);
  std::lock_guard lock(cpu.mutex);
  Access a{.time = tick(), .cpu = c, .ipa = ipa, .write = write};
  if (t == nullptr) {
    record(cpu, a);
    return a;
  }
  const Geometry& g = t->geometry;
  std::optional<TlbEntry> used;
  // A combined entry answers first; without one, a stage-2 entry may build one (which is how a
  // combined entry can be refilled from a stage-2 entry that a TLBI is about to remove).
  for (int l = Level::kLast; l >= g.start_level().value() && !used; --l) {
    if (!config_.adversary.combined_entries) break;
    if (TlbEntry* e = cpu.tlb.find(vmid, true, Level{l}, ipa, g.level_bytes(Level{l}))) used = *e;
  }
  for (int l = Level::kLast; l >= g.start_level().value() && !used; --l) {
    if (TlbEntry* e = cpu.tlb.find(vmid, false, Level{l}, ipa, g.level_bytes(Level{l}))) {
      used = *e;
      if (config_.adversary.combined_entries) {
        TlbEntry combined = *e;
        combined.combined = true;
        fill(cpu, combined);
      }
    }
  }
  a.tlb_hit = used.has_value();
  // A walk of the live tables; a fault it meets is the access's result.
  auto translate = [&] {
    const Translation tr = walk(cpu, *t, ipa);
    if (tr.result != AccessResult::ok) {
      a.result = tr.result;
      record(cpu, a);
      return false;
    }
    used = tr.entry;
    return true;
  };
  if (!used && !translate()) return a;
  if (write && !has(used->perm, Perm::write) && t->hardware_dirty &&
      Pte::from_raw(used->descriptor).dbm() && !dirty_update(cpu, *t, ipa, *used)) {
    // The live descriptor is no longer the writable-clean leaf the TLB held (unmapped, replaced,
    // write-protected): the update uses, and faults on, what is there now (Arm ARM D8.4.7, the
    // update is an atomic read-modify-write of the descriptor), so translate afresh.
    if (!translate()) return a;
    if (!has(used->perm, Perm::write) && Pte::from_raw(used->descriptor).dbm()) {
      dirty_update(cpu, *t, ipa, *used);
    }
  }
  if (!has(used->perm, write ? Perm::write : Perm::read)) {
    a.result = AccessResult::permission_fault;
    record(cpu, a);
    return a;
  }
  a.result = AccessResult::ok;
  a.pa = used->pa + (ipa - used->base);
  if (used->stale) {
    report(Violation{.kind = ViolationKind::stale_access,
                     .cpu = static_cast<int>(c),
                     .ipa = ipa,
                     .pa = a.pa,
                     .time = a.time,
                     .detail = write ? "write through a stale translation"
                                     : "read through a stale translation"});
  }
  // Without FWB a write through a cacheable translation may leave dirty lines the host cannot
  // see; with FWB the stage-2 attributes force coherency with the host's view.
  if (write && t->format == MemAttrFormat::classic && used->mem == MemType::normal_wb) {
    mark_dirty(a.pa);
  }
  if (write) note_write(vmid, ipa, a.time);
  record(cpu, a);
  return a;
}

bool Machine::dirty_update(Cpu& cpu, const AttachedTable& t, Ipa ipa, TlbEntry& used) {
  // Find the live leaf (a walk that caches nothing) and update it as the hardware does: one
  // atomic read-modify-write of the descriptor, only while it is still a valid DBM leaf.
  const Geometry& g = t.geometry;
  Pa table = t.root;
  for (Level level = g.start_level();; level = level.deeper()) {
    if (!mm_.contains(table) || mm_.is_freed(table)) return false;
    u64* slot = static_cast<u64*>(mm_.raw(table)) + g.index(ipa, level);
    Pte d = entry::load(slot);
    if (d.is_table(level)) {
      table = d.table_address(t.geometry.oa_layout());
      continue;
    }
    if (!d.is_leaf(level) || !d.af()) return false;
    while (d.dbm() && !has(d.perm(), Perm::write)) {
      const Pte dirty = d.with_perm(d.perm() | Perm::write);
      if (entry::compare_exchange(slot, d, dirty)) {
        d = dirty;
        break;
      }
    }
    if (!d.dbm() || !has(d.perm(), Perm::write)) return false;
    used.perm = d.perm();
    used.descriptor = d.raw();
    used.fill_time = now();
    used.stale = false;
    fill(cpu, used);
    return true;
  }
}

void Machine::watch_writes(Vmid vmid, IpaRange range) {
  std::lock_guard lock(watch_mutex_);
  const AttachedTable* t = table_of(vmid);
  watch_.vmid = vmid;
  watch_.range = range;
  watch_.page_bytes = t != nullptr ? t->geometry.page_bytes() : 4096;
  watch_.written.assign(range.size / watch_.page_bytes, 0);
  watch_.reported.assign(range.size / watch_.page_bytes, 0);
}

void Machine::note_write(Vmid vmid, Ipa ipa, u64 time) {
  std::lock_guard lock(watch_mutex_);
  if (watch_.written.empty() || vmid != watch_.vmid || !watch_.range.contains(ipa)) return;
  u64& last = watch_.written[(ipa - watch_.range.start) / watch_.page_bytes];
  last = last > time ? last : time;
}

void Machine::harvested(const std::vector<Ipa>& pages) {
  const u64 at = tick();
  std::lock_guard lock(watch_mutex_);
  for (Ipa page : pages) {
    if (watch_.range.contains(page))
      watch_.reported[(page - watch_.range.start) / watch_.page_bytes] = at;
  }
}

std::vector<Ipa> Machine::lost_writes() const {
  std::lock_guard lock(watch_mutex_);
  std::vector<Ipa> lost;
  for (u64 i = 0; i < watch_.written.size(); ++i) {
    if (watch_.written[i] != 0 && watch_.reported[i] < watch_.written[i]) {
      lost.push_back(watch_.range.start + i * watch_.page_bytes);
    }
  }
  return lost;
}

void Machine::prefetch(unsigned c, Vmid vmid, Ipa ipa) {
  if (!config_.adversary.speculative_fills) return;
  const AttachedTable* t = table_of(vmid);
  if (t == nullptr) return;
  Cpu& cpu = *cpus_.at(c);
  std::lock_guard lock(cpu.mutex);
  tick();
  walk(cpu, *t, ipa);
}

void Machine::prefetch_all(unsigned c, Vmid vmid, IpaRange range, u64 max_walks) {
  if (!config_.adversary.speculative_fills) return;
  const AttachedTable* t = table_of(vmid);
  if (t == nullptr) return;
  Cpu& cpu = *cpus_.at(c);
  std::lock_guard lock(cpu.mutex);
  for (Ipa ipa = range.start; ipa < range.end() && max_walks != 0; --max_walks) {
    // Whatever the outcome, the walk tells how large a region its last descriptor covered.
    const Translation tr = walk(cpu, *t, ipa);
    ipa = tr.entry.base + tr.entry.bytes;
  }
}

std::vector<Access> Machine::accesses(unsigned c) const {
  std::lock_guard lock(cpus_.at(c)->mutex);
  return cpus_.at(c)->log;
}

u64 Machine::access_digest() const {
  u64 h = 0xCBF29CE484222325ull;
  auto mix = [&](u64 v) { h = (h ^ v) * 0x100000001B3ull; };
  for (const auto& cpu : cpus_) {
    std::lock_guard lock(cpu->mutex);
    for (const Access& a : cpu->log) {
      mix(a.time);
      mix(a.ipa.raw);
      mix(a.pa.raw);
      mix((u64{a.write} << 8) | static_cast<u64>(a.result));
    }
  }
  return h;
}

// --- caches of guest memory ------------------------------------------------------------------

void Machine::mark_dirty(Pa pa) {
  std::lock_guard lock(dirty_mutex_);
  dirty_pages_.insert(pa.raw >> 12);
}

// DC CIVAC takes effect when executed: a write after it (through a translation that is still
// cached) dirties the line again, however soon the DSB comes.
void Machine::clean(Pa pa, u64 bytes) {
  const u64 first = (pa.raw + 4095) >> 12;  // only 4K pages the range covers whole
  const u64 last = (pa.raw + bytes) >> 12;
  std::lock_guard lock(dirty_mutex_);
  if (last - first < dirty_pages_.size()) {
    for (u64 p = first; p < last; ++p)
      dirty_pages_.erase(p);
  } else {
    std::erase_if(dirty_pages_, [&](u64 p) { return p >= first && p < last; });
  }
}

bool Machine::may_be_dirty(Pa pa) const {
  std::lock_guard lock(dirty_mutex_);
  return dirty_pages_.count(pa.raw >> 12) != 0;
}

// --- maintenance instructions -------------------------------------------------------------

void Machine::charge(unsigned c, double ns) {
  Cpu& cpu = *cpus_.at(c);
  std::lock_guard lock(cpu.mutex);
  cpu.modeled_ns += ns;
}

namespace {

// Removes what `scope` removes from one CPU's caches. A by-IPA operation looks its few candidate
// entries up; anything wider scans.
void apply_to(Tlb& tlb, const TlbiScope& scope, const Geometry* g) {
  if (scope.kind == TlbiScope::Kind::by_ipa && g != nullptr) {
    for (Level l = g->start_level(); l <= kLastLevel; l = l.deeper()) {
      const u64 key = Tlb::key(scope.vmid, l, scope.start.align_down(g->level_bytes(l)));
      if (auto it = tlb.entries(false).find(key);
          it != tlb.entries(false).end() && scope.removes(it->second)) {
        tlb.entries(false).erase(it);
      }
      if (auto it = tlb.walks().find(key); it != tlb.walks().end() && scope.removes(it->second)) {
        tlb.walks().erase(it);
      }
    }
    return;
  }
  if (scope.kind != TlbiScope::Kind::stage1_all) {
    std::erase_if(tlb.entries(false), [&](const auto& e) { return scope.removes(e.second); });
    std::erase_if(tlb.walks(), [&](const auto& e) { return scope.removes(e.second); });
  }
  std::erase_if(tlb.entries(true), [&](const auto& e) { return scope.removes(e.second); });
}

}  // namespace

void Machine::apply(const TlbiScope& scope, unsigned issuer) {
  const AttachedTable* t = table_of(scope.vmid);
  for (auto& cpu : cpus_) {
    if (scope.local && cpu->index != issuer) continue;
    std::lock_guard lock(cpu->mutex);
    apply_to(cpu->tlb, scope, t != nullptr ? &t->geometry : nullptr);
  }
}

void Machine::tlbi(unsigned c, const Stage2Context& context, TlbiOp op, u64 operand) {
  const Vmid vmid = context.vmid();
  const AttachedTable* t = table_of(vmid);
  if (t != nullptr && context.root() != t->root) {
    report(
        Violation{.kind = ViolationKind::wrong_context,
                  .cpu = static_cast<int>(c),
                  .pa = context.root(),
                  .time = now(),
                  .detail = std::string("TLBI ") + name(op) + " with the root of another table"});
  }
  const TlbiScope scope = t != nullptr
                              ? TlbiScope::decode(vmid, op, operand, t->geometry.granule(),
                                                  t->geometry.oa_layout() == OaLayout::lpa2)
                              : TlbiScope::decode(vmid, op, operand, Granule::k4);
  Cpu& cpu = *cpus_.at(c);
  {
    std::lock_guard lock(cpu.mutex);
    const CostModel& m = config_.costs;
    if (is_local(op)) {
      ++cpu.counters.tlbi_local;
      cpu.modeled_ns += m.tlbi_local_ns;
    } else if (is_by_ipa(op)) {
      ++cpu.counters.tlbi_ipa;
      cpu.modeled_ns += m.tlbi_ipa_ns;
    } else if (is_range(op)) {
      ++cpu.counters.tlbi_range;
      cpu.modeled_ns += m.tlbi_range_ns;
    } else if (op == TlbiOp::vmalle1is) {
      ++cpu.counters.tlbi_s1;
      cpu.modeled_ns += m.tlbi_vmalle1is_ns;
    } else {
      ++cpu.counters.tlbi_vmid;
      cpu.modeled_ns += m.tlbi_vmalls12e1is_ns;
    }
    if (config_.adversary.delayed_completion) cpu.pending.push_back(PendingTlbi{scope});
  }
  if (!config_.adversary.delayed_completion) {
    bbm_->observe(*this, std::vector<TlbiScope>{scope});
    apply(scope, c);
    bbm_->completed(scope);
  }
  step(c, name(op));
}

void Machine::count(unsigned c, u64 MaintenanceCounters::*counter, double ns) {
  Cpu& cpu = *cpus_.at(c);
  std::lock_guard lock(cpu.mutex);
  ++(cpu.counters.*counter);
  cpu.modeled_ns += ns;
}

void Machine::dsb_ishst(unsigned c) {
  count(c, &MaintenanceCounters::dsb_ishst, config_.costs.dsb_ishst_ns);
  step(c, "DSB ISHST");
}

void Machine::dsb_ish(unsigned c) {
  Cpu& cpu = *cpus_.at(c);
  std::vector<PendingTlbi> done;
  {
    std::lock_guard lock(cpu.mutex);
    ++cpu.counters.dsb_ish;
    cpu.modeled_ns += config_.costs.dsb_ish_ns;
    done.swap(cpu.pending);
    cpu.pending_cmos = 0;
    cpu.cmos_reported = false;
  }
  // What the writer did since the last DSB is judged before this DSB completes anything.
  if (!done.empty()) {
    std::vector<TlbiScope> scopes;
    scopes.reserve(done.size());
    for (const PendingTlbi& p : done)
      scopes.push_back(p.scope);
    bbm_->observe(*this, scopes);
  }
  if (config_.adversary.reorder_completion) {
    std::stable_partition(done.begin(), done.end(), [](const PendingTlbi& p) {
      return p.scope.kind == TlbiScope::Kind::stage1_all;
    });
  }
  for (const PendingTlbi& p : done) {
    apply(p.scope, c);
    bbm_->completed(p.scope);
    // Other CPUs keep running between two completions of the same batch.
    if (done.size() > 1) step(c, "TLBI completion");
  }
  step(c, "DSB ISH");
}

void Machine::dsb_nshst(unsigned c) {
  count(c, &MaintenanceCounters::dsb_nshst, config_.costs.dsb_nshst_ns);
  step(c, "DSB NSHST");
}

void Machine::dsb_nsh(unsigned c) {
  Cpu& cpu = *cpus_.at(c);
  std::vector<PendingTlbi> done;
  {
    std::lock_guard lock(cpu.mutex);
    ++cpu.counters.dsb_nsh;
    cpu.modeled_ns += config_.costs.dsb_nsh_ns;
    const auto local = std::stable_partition(cpu.pending.begin(), cpu.pending.end(),
                                             [](const PendingTlbi& p) { return !p.scope.local; });
    done.assign(local, cpu.pending.end());
    cpu.pending.erase(local, cpu.pending.end());
  }
  for (const PendingTlbi& p : done)
    apply(p.scope, c);
  step(c, "DSB NSH");
}

void Machine::isb(unsigned c) {
  count(c, &MaintenanceCounters::isb, config_.costs.isb_ns);
  step(c, "ISB");
}

void Machine::dc_civac(unsigned c, Pa pa, u64 bytes) {
  {
    Cpu& cpu = *cpus_.at(c);
    std::lock_guard lock(cpu.mutex);
    ++cpu.counters.dc_civac_calls;
    cpu.counters.dc_civac_bytes += bytes;
    const u64 lines =
        (bytes + MaintenanceCounters::kCacheLine - 1) / MaintenanceCounters::kCacheLine;
    cpu.modeled_ns += config_.costs.dc_civac_line_ns * static_cast<double>(lines);
    ++cpu.pending_cmos;
  }
  clean(pa, bytes);
  {
    std::lock_guard lock(dirty_mutex_);
    cleaned_.add(pa.raw, pa.raw + bytes);
  }
  step(c, "DC CIVAC");
}

void Machine::ic_ivau(unsigned c, Pa pa, u64 bytes) {
  {
    Cpu& cpu = *cpus_.at(c);
    std::lock_guard lock(cpu.mutex);
    ++cpu.counters.ic_ivau_calls;
    cpu.counters.ic_ivau_bytes += bytes;
    const u64 lines =
        (bytes + MaintenanceCounters::kCacheLine - 1) / MaintenanceCounters::kCacheLine;
    cpu.modeled_ns += config_.costs.ic_ivau_line_ns * static_cast<double>(lines);
  }
  {
    std::lock_guard lock(dirty_mutex_);
    icache_invalidated_.add(pa.raw, pa.raw + bytes);
  }
  step(c, "IC IVAU");
}

void Machine::ic_ialluis(unsigned c) {
  count(c, &MaintenanceCounters::ic_ialluis, config_.costs.ic_ialluis_ns);
  {
    std::lock_guard lock(dirty_mutex_);
    icache_invalidated_.add(0, ~u64{0});
  }
  step(c, "IC IALLUIS");
}

// Stepped mode: the other CPUs' activity, drawn from the seed, at this point of the sequence.
void Machine::step(unsigned c, const char* what) {
  tick();
  // Activity run from here may issue instructions itself; it must not recurse. Per thread: CPUs
  // driven by other threads (the fault path) execute instructions at the same time.
  static thread_local bool in_step = false;
  if (in_step) return;
  in_step = true;
  if (stepping_.enabled && stepping_.window.size != 0) {
    auto random_ipa = [&] {
      const IpaRange& r = focus_.size != 0 && step_rng_.chance(75) ? focus_ : stepping_.window;
      return r.start + (step_rng_.below(r.size) & ~u64{7});
    };
    for (unsigned i = 0; i < stepping_.accesses_per_step; ++i) {
      const auto cpu = static_cast<unsigned>(step_rng_.below(cpus()));
      const Ipa ipa = random_ipa();
      access(cpu, stepping_.vmid, ipa, step_rng_.chance(50));
    }
    for (unsigned i = 0; i < stepping_.prefetches_per_step; ++i) {
      const auto cpu = static_cast<unsigned>(step_rng_.below(cpus()));
      prefetch(cpu, stepping_.vmid, random_ipa());
    }
  }
  if (hook_) hook_(what, c);
  in_step = false;
}

// --- accounting ------------------------------------------------------------------------------

double Machine::modeled_ns(unsigned c) const {
  std::lock_guard lock(cpus_.at(c)->mutex);
  return cpus_.at(c)->modeled_ns;
}

double Machine::modeled_ns() const {
  double total = 0;
  for (unsigned c = 0; c < cpus(); ++c)
    total += modeled_ns(c);
  total += static_cast<double>(mm_.allocs() - allocs_at_start_) * config_.costs.table_alloc_ns;
  total += static_cast<double>(mm_.frees() - frees_at_start_) * config_.costs.table_free_ns;
  return total;
}

MaintenanceCounters Machine::counters() const {
  MaintenanceCounters sum;
  for (const auto& cpu : cpus_) {
    std::lock_guard lock(cpu->mutex);
    const MaintenanceCounters& c = cpu->counters;
    sum.tlbi_ipa += c.tlbi_ipa;
    sum.tlbi_range += c.tlbi_range;
    sum.tlbi_vmid += c.tlbi_vmid;
    sum.tlbi_s1 += c.tlbi_s1;
    sum.dsb_ishst += c.dsb_ishst;
    sum.dsb_ish += c.dsb_ish;
    sum.isb += c.isb;
    sum.dc_civac_calls += c.dc_civac_calls;
    sum.dc_civac_bytes += c.dc_civac_bytes;
    sum.ic_ivau_calls += c.ic_ivau_calls;
    sum.ic_ivau_bytes += c.ic_ivau_bytes;
  }
  return sum;
}

std::vector<TlbEntry> Machine::tlb_entries(unsigned c) const {
  std::lock_guard lock(cpus_.at(c)->mutex);
  std::vector<TlbEntry> out;
  for (const bool combined : {false, true}) {
    for (const auto& [key, e] : cpus_.at(c)->tlb.entries(combined))
      out.push_back(e);
  }
  return out;
}

std::vector<WalkEntry> Machine::walk_entries(unsigned c) const {
  std::lock_guard lock(cpus_.at(c)->mutex);
  std::vector<WalkEntry> out;
  for (const auto& [key, e] : cpus_.at(c)->tlb.walks())
    out.push_back(e);
  return out;
}

}  // namespace s2pt::sim
