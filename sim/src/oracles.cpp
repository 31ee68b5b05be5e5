// The oracles' checks at an operation's return, and the reporting of violations.
#include <algorithm>
#include <cstdio>

#include "bbm_tracker.hpp"
#include "cpu.hpp"
#include "live_table.hpp"

namespace s2pt::sim {
namespace {

std::string hex(u64 v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string describe(const TlbEntry& e) {
  return std::string(e.combined ? "combined" : "stage-2") + " L" + std::to_string(e.level.value()) +
         " descriptor " + hex(e.descriptor);
}

bool still_valid(SimMm& mm, const AttachedTable& t, const TlbEntry& e) {
  return still_matches_live(mm, t, e);
}

bool still_valid(SimMm& mm, const AttachedTable& t, const WalkEntry& w) {
  return still_matches_live(mm, t, w);
}

}  // namespace

void Machine::report(Violation v) {
  std::lock_guard lock(violations_mutex_);
  if (v.time == 0) v.time = now();
  if (v.op.empty()) v.op = op_;
  violations_.push_back(std::move(v));
}

std::vector<Violation> Machine::violations() const {
  std::lock_guard lock(violations_mutex_);
  return violations_;
}

std::size_t Machine::violation_count() const {
  std::lock_guard lock(violations_mutex_);
  return violations_.size();
}

std::size_t Machine::violation_count(ViolationKind kind) const {
  std::lock_guard lock(violations_mutex_);
  return static_cast<std::size_t>(std::count_if(
      violations_.begin(), violations_.end(), [&](const Violation& v) { return v.kind == kind; }));
}

void Machine::clear_violations() {
  std::lock_guard lock(violations_mutex_);
  violations_.clear();
  op_first_ = 0;
}

void Machine::begin_op(std::string label) {
  std::lock_guard lock(violations_mutex_);
  op_ = std::move(label);
  op_first_ = violations_.size();
}

std::vector<Violation> Machine::end_op() {
  bbm_->observe(*this);
  check_caches();
  check_tables();
  check_dirty();
  std::lock_guard lock(violations_mutex_);
  std::vector<Violation> found(violations_.begin() + static_cast<long>(op_first_),
                               violations_.end());
  op_first_ = violations_.size();
  op_.clear();
  return found;
}

void Machine::check_caches() {
  for (auto& cpu_ptr : cpus_) {
    Cpu& cpu = *cpu_ptr;
    std::lock_guard lock(cpu.mutex);
    const int c = static_cast<int>(cpu.index);
    for (PendingTlbi& p : cpu.pending) {
      if (p.reported) continue;
      p.reported = true;
      report(Violation{.kind = ViolationKind::incomplete_tlbi,
                       .cpu = c,
                       .ipa = p.scope.start,
                       .detail = std::string("TLBI ") + name(p.scope.op) + " operand " +
                                 hex(p.scope.operand) + " still pending"});
    }
    if (cpu.pending_cmos != 0 && !cpu.cmos_reported) {
      cpu.cmos_reported = true;
      report(Violation{.kind = ViolationKind::incomplete_cmo,
                       .cpu = c,
                       .detail = std::to_string(cpu.pending_cmos) + " DC CIVAC still pending"});
    }
    for (const bool combined : {false, true}) {
      for (auto& [key, e] : cpu.tlb.entries(combined)) {
        const AttachedTable* t = table_of(e.vmid);
        // A VMID with no table any more (destroyed) may have nothing cached at all.
        if (e.stale || (t != nullptr && still_valid(mm_, *t, e))) continue;
        e.stale = true;
        report(Violation{.kind = ViolationKind::stale_tlb,
                         .cpu = c,
                         .ipa = e.base,
                         .pa = e.pa,
                         .detail = describe(e) + " filled at t=" + std::to_string(e.fill_time)});
      }
    }
    for (auto& [key, w] : cpu.tlb.walks()) {
      const AttachedTable* t = table_of(w.vmid);
      if (w.stale) continue;
      if (mm_.is_freed(w.next)) {
        w.stale = true;
        report(Violation{.kind = ViolationKind::walk_cache_to_freed,
                         .cpu = c,
                         .ipa = w.base,
                         .pa = w.next,
                         .detail = "L" + std::to_string(w.level.value()) +
                                   " walk-cache entry points into a freed page"});
      } else if (t == nullptr || !still_valid(mm_, *t, w)) {
        w.stale = true;
        report(Violation{.kind = ViolationKind::stale_walk_cache,
                         .cpu = c,
                         .ipa = w.base,
                         .pa = w.next,
                         .detail = "L" + std::to_string(w.level.value()) +
                                   " table entry, filled at t=" + std::to_string(w.fill_time)});
      }
    }
  }
}

// Oracle 5 (while linked): every non-root table page counts 1 + its non-zero entries.
void Machine::check_tables() {
  for (const AttachedTable& t : tables_) {
    auto visit = [&](Pa pa, Level level, Ipa base, const u64* slots, u64 entries, bool root) {
      if (root) return;
      u32 non_zero = 0;
      for (u64 i = 0; i < entries; ++i)
        non_zero += entry::load(slots + i).is_zero() ? 0 : 1;
      const u32 count = __atomic_load_n(mm_.raw_refcount(pa), __ATOMIC_ACQUIRE);
      if (count != non_zero + 1) {
        report(Violation{.kind = ViolationKind::refcount,
                         .ipa = base,
                         .pa = pa,
                         .detail = "L" + std::to_string(level.value()) + " table: count " +
                                   std::to_string(count) + ", expected " +
                                   std::to_string(non_zero + 1)});
      }
    };
    auto bad = [&](Pa pa, Level level, Ipa base) {
      report(Violation{.kind = ViolationKind::walker_read_freed,
                       .ipa = base,
                       .pa = pa,
                       .detail = "the live table links a freed or foreign page at L" +
                                 std::to_string(level.value())});
    };
    for_each_live_page(mm_, t, visit, bad);
  }
}

// Oracle 4: without FWB, a page that may hold dirty lines must still be mapped cacheably by a
// live table; otherwise the host may read stale memory.
void Machine::check_dirty() {
  {
    std::lock_guard lock(dirty_mutex_);
    if (dirty_pages_.empty()) return;
  }
  std::vector<std::pair<u64, u64>> mapped;  // [pa, pa + bytes) of cacheable leaves
  for (const AttachedTable& t : tables_) {
    const Geometry& g = t.geometry;
    auto visit = [&](Pa, Level level, Ipa, const u64* slots, u64 entries, bool) {
      if (!g.leaf_allowed(level)) return;
      for (u64 i = 0; i < entries; ++i) {
        const Pte d = entry::load(slots + i);
        if (!d.is_leaf(level)) continue;
        const Result<MemType> mem = decode_memattr(d.memattr(), t.format);
        if (mem.ok() && mem.value() == MemType::normal_wb) {
          mapped.emplace_back(d.output_address(g.oa_layout()).raw,
                              d.output_address(g.oa_layout()).raw + g.level_bytes(level));
        }
      }
    };
    for_each_live_page(mm_, t, visit, [](Pa, Level, Ipa) {});
  }
  // One PA may be mapped at several IPAs (aliases): merge the ranges so that each page is looked
  // up among disjoint ones.
  std::sort(mapped.begin(), mapped.end());
  std::vector<std::pair<u64, u64>> merged;
  for (const auto& [start, end] : mapped) {
    if (!merged.empty() && start <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, end);
    } else {
      merged.emplace_back(start, end);
    }
  }
  mapped = std::move(merged);
  std::vector<u64> orphans;
  {
    std::lock_guard lock(dirty_mutex_);
    for (u64 page : dirty_pages_) {
      const u64 pa = page << 12;
      auto it = std::upper_bound(mapped.begin(), mapped.end(), std::make_pair(pa, ~u64{0}));
      const bool covered = it != mapped.begin() && std::prev(it)->second > pa;
      if (!covered) orphans.push_back(page);
    }
    for (u64 page : orphans)
      dirty_pages_.erase(page);  // reported once
  }
  std::sort(orphans.begin(), orphans.end());
  for (u64 page : orphans) {
    report(Violation{.kind = ViolationKind::dirty_after_unmap,
                     .pa = Pa{page << 12},
                     .detail = "cacheable page no longer mapped may hold dirty lines"});
  }
}

// Oracle 5, at the moment memory becomes reachable (a walk fills a TLB entry from a leaf): without
// FWB, cacheable memory must have been cleaned to PoC, since a guest running with its stage 1 off
// accesses it non-cacheably, around dirty host lines; without DIC, executable memory must have
// had its I-cache invalidated. Device and Normal-NC leaves are the caller's (s2pt, like Linux,
// prepares only memory it maps cacheable or executable). Each leaf is reported once.
void Machine::check_prepared(const Cpu& cpu, const AttachedTable& t, const TlbEntry& e) {
  const bool needs_clean = t.format == MemAttrFormat::classic && e.mem == MemType::normal_wb;
  const bool needs_icache = has(e.perm, Perm::exec) && !config_.features.dic;
  if (!needs_clean && !needs_icache) return;
  const u64 start = e.pa.raw;
  const u64 end = start + e.bytes;
  bool unclean = false;
  bool stale_code = false;
  {
    std::lock_guard lock(dirty_mutex_);
    unclean = needs_clean && !cleaned_.covers(start, end);
    stale_code = needs_icache && !icache_invalidated_.covers(start, end);
    if ((!unclean && !stale_code) || !unprepared_reported_.insert(e.descriptor).second) return;
  }
  const auto report_one = [&](ViolationKind kind, const char* what) {
    report(Violation{.kind = kind,
                     .cpu = static_cast<int>(cpu.index),
                     .ipa = e.base,
                     .pa = e.pa,
                     .time = now(),
                     .detail = what});
  };
  if (unclean)
    report_one(ViolationKind::unprepared_memory,
               "leaf reached before its memory was cleaned to PoC");
  if (stale_code) {
    report_one(ViolationKind::stale_icache,
               "executable leaf reached before its memory's I-cache lines were invalidated");
  }
}

std::vector<Violation> Machine::check_no_leak() {
  std::vector<Violation> found;
  if (mm_.live_bytes() != 0) {
    Violation v{
        .kind = ViolationKind::leak,
        .detail = std::to_string(mm_.live_bytes()) + " bytes of table pages still allocated"};
    report(v);
    found.push_back(v);
  }
  return found;
}

// Oracle 2: freeing a page while a walk cache still points at it lets a hardware walker read it.
void Machine::on_page_freed(Pa pa, u64 bytes) {
  for (auto& cpu_ptr : cpus_) {
    Cpu& cpu = *cpu_ptr;
    std::lock_guard lock(cpu.mutex);
    for (auto& [key, w] : cpu.tlb.walks()) {
      if (w.next < pa || w.next - pa >= bytes || w.stale) continue;
      w.stale = true;
      report(Violation{.kind = ViolationKind::walk_cache_to_freed,
                       .cpu = static_cast<int>(cpu.index),
                       .ipa = w.base,
                       .pa = w.next,
                       .detail = "page freed while a walk cache points at it"});
    }
  }
}

}  // namespace s2pt::sim
